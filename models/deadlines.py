"""Deadlines in hours, calendar days and working days (Asia/Shanghai).

Public API
----------
* :class:`DeadlineRule` — ``24h`` / ``3d`` / ``15wd`` as written in policy files.
* :class:`WorkingDayCalendar` — is a local date a working day, and is that answer official or provisional?
* :class:`Deadline` — the computed due time (Asia/Shanghai), whether it is provisional, and why.
* :func:`compute_deadline` — start time + rule -> :class:`Deadline`.
* :func:`is_overdue`, :func:`format_local` — small helpers for reminders, escalation and display.

Legal basis for counting periods (中华人民共和国民法典, 总则编 第十章 期间计算):

* 第二百条: periods are counted in calendar years, months, days and hours (公历年、月、日、小时).
* 第二百零一条: a period counted in days does not count the day on which it starts; counting starts the next day.
  A period counted in hours starts at the stated time.
* 第二百零三条: if the last day of a period is a statutory rest day (法定休假日), the period ends on the day after the
  rest days; the period ends at 24:00 of its last day.

The State Council's official arrangement of public holidays for one year (国务院办公厅关于<year>年部分节假日安排的通知)
is normally loaded into the database with ``careflow calendar load FILE`` (:mod:`careflow.holidays`, table
``holiday_arrangement``), which :func:`default_calendar` reads first. Working-day calendar files
(``policy/calendar/<year>.yaml``) can hold one too. Only add one when the notice is published; the shape is::

    year: 2027
    source: "国务院办公厅关于2027年部分节假日安排的通知"
    holidays:            # days off, including the weekend days inside a holiday period
      - 2027-01-01
      - ...
    working_days:        # adjusted working weekends (调休上班), Saturdays/Sundays only
      - 2027-02-07
      - ...
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

import chinese_calendar
import pendulum
import yaml
from pydantic import BaseModel, ConfigDict, Field

from models.holidays import HOLIDAY_LAW, Arrangement, fixed_holiday_name
from policy import POLICY_DIR

_RULE = re.compile(r"^\s*(\d+)\s*(h|d|wd)\s*$")
_UNITS = {"h": "hours", "d": "calendar_days", "wd": "working_days"}


class DeadlineRule(BaseModel):
    """How long an agency has for a step: ``amount`` of ``unit``.

    Written in policy files as ``24h`` (clock hours), ``3d`` (calendar days) or ``15wd`` (working days).
    """

    model_config = ConfigDict(frozen=True)

    amount: int = Field(gt=0)
    unit: Literal["hours", "calendar_days", "working_days"]

    @classmethod
    def parse(cls, text: str) -> "DeadlineRule":
        """Parse ``"24h"``, ``"3d"`` or ``"15wd"``.

        Raises:
            ValueError: naming the value, when it is not one of those forms.
        """
        match = _RULE.match(str(text))
        if not match or int(match.group(1)) == 0:
            raise ValueError(f"{text!r} is not a deadline (write e.g. 24h, 3d or 15wd)")
        return cls(amount=int(match.group(1)), unit=_UNITS[match.group(2)])

    def __str__(self) -> str:
        names = {"hours": "hours", "calendar_days": "days", "working_days": "working days"}
        return f"{self.amount} {names[self.unit]}"

    def describe_zh(self) -> str:
        """The rule in Chinese, e.g. ``3个工作日``, ``24小时``, ``3日``."""
        names = {"hours": "小时", "calendar_days": "日", "working_days": "个工作日"}
        return f"{self.amount}{names[self.unit]}"


# ---------------------------------------------------------------------------------------------------------------------
# Working-day calendar
# ---------------------------------------------------------------------------------------------------------------------

#: Time zone in which local dates (and so working days) are determined.
DEFAULT_TZ = "Asia/Shanghai"

_FIELDS = ("year", "holidays", "working_days", "source")
_YEAR_FILE = re.compile(r"^\d{4}$")
_SATURDAY = 5
_SAFETY_DAYS = 400  # no official arrangement has anywhere near this many consecutive days off
#: Source of a fallback answer on a fixed-date statutory holiday (still provisional: bridging days are unknown).
FIXED_HOLIDAY_SOURCE = f"{HOLIDAY_LAW}固定日期节日（暂定）"


class CalendarDay(NamedTuple):
    """What the calendar says about one local date.

    Attributes:
        working: True if the date is a working day (including an adjusted working weekend, 调休上班).
        provisional: True if the answer is the fallback (Monday–Friday less the fixed-date statutory holidays)
            because no official arrangement covers the date's year; False if it comes from the database, a
            ``policy/calendar`` file or ``chinese_calendar``.
        source: where the answer came from, for audit: ``数据库：<notice>``, the calendar file and its notice,
            ``chinese_calendar <ver>``, :data:`FIXED_HOLIDAY_SOURCE` or ``weekday fallback (provisional)``.
    """

    working: bool
    provisional: bool
    source: str


@lru_cache(maxsize=None)
def _library_is_workday(day: _dt.date) -> bool | None:
    """``chinese_calendar``'s answer for ``day``, or None for a year it does not cover (it raises NotImplementedError)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def _library_source() -> str:
    version = getattr(chinese_calendar, "__version__", "")
    return f"chinese_calendar {version}".strip()


class WorkingDayCalendar:
    """Chinese working days, with each answer marked official or provisional.

    Order of truth for a local date ``d``:

    1. an official arrangement stored in the database (``careflow calendar load``), passed as ``arrangements``
       (:func:`default_calendar` reads them); a year stored there ignores its ``<year>.yaml`` file;
    2. an official arrangement loaded from ``<calendar_dir>/<year>.yaml`` (see the module docstring for the shape).
       For 1 and 2: listed ``holidays`` are days off, listed ``working_days`` are adjusted working weekends (调休),
       any other day of a year with an arrangement is a working day Monday–Friday; dates listed just outside the
       year (e.g. a 元旦 holiday starting 30 December of the previous year) are honoured too;
    3. the ``chinese_calendar`` library for the years it covers (2004–2026 in version 1.11);
    4. otherwise Monday–Friday without the fixed-date statutory holidays (1 January, 1–2 May, 1–3 October:
       :data:`models.holidays.FIXED_HOLIDAYS`, 《全国年节及纪念日放假办法》第二条 as in force from 2025), and the
       answer is **provisional** (:attr:`CalendarDay.provisional`): the Spring Festival, 清明, 端午 and 中秋 follow
       the lunar calendar and every bridging day and 调休 weekend is set only by the State Council's arrangement.

    Use :meth:`day` to get both answers at once, or :meth:`is_working_day` / :meth:`is_provisional`. Lookups are cached
    per date; files are read once, in the constructor (construct a new calendar to pick up a new file).

    Args:
        arrangements: official arrangements from the database (:class:`models.holidays.Arrangement`), first in
            the order of truth.
        calendar_dir: folder holding ``<year>.yaml`` files. ``None`` means ``policy/calendar``;
            if that default folder is missing the calendar simply has no official files. An explicit folder that
            does not exist raises :class:`FileNotFoundError`. Files not ending in ``.yaml``/``.yml`` (e.g.
            ``.gitkeep``) are ignored.

    Raises:
        ValueError: a calendar file is malformed; the message names the file, the field and the offending value.
        FileNotFoundError: an explicit ``calendar_dir`` does not exist.
    """

    def __init__(self, calendar_dir: Path | None = None, arrangements: Iterable[Arrangement] = ()) -> None:
        if calendar_dir is None:
            calendar_dir = POLICY_DIR / "calendar"
            must_exist = False
        else:
            calendar_dir = Path(calendar_dir)
            must_exist = True
        if not calendar_dir.is_dir():
            if must_exist:
                raise FileNotFoundError(f"calendar folder {calendar_dir} does not exist")
        self.calendar_dir = calendar_dir
        #: year -> "file name: source" for every loaded official arrangement
        self._sources: dict[int, str] = {}
        #: date -> (working?, file name) for every date listed in a file
        self._listed: dict[_dt.date, tuple[bool, str]] = {}
        self._cache: dict[_dt.date, CalendarDay] = {}
        self._count_cache: dict[tuple[_dt.date, str, int], tuple[_dt.date, tuple[int, ...]]] = {}
        for arrangement in arrangements:
            self._add(arrangement)
        stored = set(self._sources)
        if calendar_dir.is_dir():
            for path in sorted(calendar_dir.iterdir()):
                if path.is_file() and path.suffix in (".yaml", ".yml") and not (
                        path.stem.isdigit() and int(path.stem) in stored):
                    self._load(path)

    def _add(self, arrangement: Arrangement) -> None:
        """Take an arrangement stored in the database (already checked by :func:`models.holidays.parse_arrangement`)."""
        label = f"数据库：{arrangement.source}"
        for days, working in ((arrangement.holidays, False), (arrangement.working_days, True)):
            for day in days:
                self._listed[day] = (working, label)
        self._sources[arrangement.year] = label

    # -- loading --------------------------------------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        name = path.name

        def bad(field: str, value: object, why: str) -> ValueError:
            return ValueError(f"calendar file {path}: field {field!r} = {_show(value)}: {why}")

        if not _YEAR_FILE.match(path.stem):
            raise ValueError(f"calendar file {path}: file name {name!r} must be <year>.yaml, e.g. 2027.yaml")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CalendarLoader)  # noqa: S506 (safe loader)
        except (yaml.YAMLError, ValueError) as exc:
            raise ValueError(f"calendar file {path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"calendar file {path}: expected a mapping with fields {', '.join(_FIELDS)}, "
                             f"got {type(data).__name__}")
        for field in data:
            if field not in _FIELDS:
                raise bad(str(field), data[field], f"unknown field (allowed: {', '.join(_FIELDS)})")
        for field in _FIELDS:
            if field not in data:
                raise ValueError(f"calendar file {path}: field {field!r} is missing")

        year = data["year"]
        if not isinstance(year, int) or isinstance(year, bool):
            raise bad("year", year, "must be a year such as 2027")
        if str(year) != path.stem:
            raise bad("year", year, f"does not match the file name {name!r}")
        if year in self._sources:
            raise bad("year", year, f"already loaded from {self._sources[year]}")

        source = data["source"]
        if not isinstance(source, str) or not source.strip():
            raise bad("source", source, "must name the official notice, e.g. 国务院办公厅关于2027年部分节假日安排的通知")

        # Dates a notice may list: its own year, plus a holiday period straddling New Year.
        first, last = _dt.date(year - 1, 12, 1), _dt.date(year + 1, 1, 31)
        parsed: dict[str, set[_dt.date]] = {}
        for field in ("holidays", "working_days"):
            values = data[field]
            if values is None and field == "working_days":
                values = []
            if not isinstance(values, list):
                raise bad(field, values, "must be a list of dates (YYYY-MM-DD)")
            dates: set[_dt.date] = set()
            for value in values:
                day = _parse_date(value)
                if day is None:
                    raise bad(field, value, "is not a date (write YYYY-MM-DD)")
                if not first <= day <= last:
                    raise bad(field, value, f"is outside the arrangement for {year}")
                if field == "working_days" and day.weekday() < _SATURDAY:
                    raise bad(field, value, f"is a {day:%A}; adjusted working days (调休) are Saturdays or Sundays")
                dates.add(day)
            parsed[field] = dates
        if not parsed["holidays"]:
            raise bad("holidays", data["holidays"], "lists no holidays; every official arrangement has some")
        both = parsed["holidays"] & parsed["working_days"]
        if both:
            day = min(both)
            raise bad("working_days", day, "is also listed in 'holidays'")

        label = f"{name}: {source.strip()}"
        for field, working in (("holidays", False), ("working_days", True)):
            for day in parsed[field]:
                earlier = self._listed.get(day)
                if earlier is not None and earlier[0] != working:
                    raise bad(field, day, f"contradicts {earlier[1]}")
                self._listed[day] = (working, label)
        self._sources[year] = label

    # -- queries --------------------------------------------------------------------------------------------------

    @property
    def official_years(self) -> tuple[int, ...]:
        """Years with an official arrangement loaded from ``calendar_dir`` (not counting ``chinese_calendar``)."""
        return tuple(sorted(self._sources))

    def day(self, d: _dt.date) -> CalendarDay:
        """Whether local date ``d`` is a working day, whether that is provisional, and the source.

        Args:
            d: a local (Asia/Shanghai) calendar date; ``pendulum.Date`` is fine.

        Raises:
            TypeError: ``d`` is a datetime (convert it to a local date first: the date depends on the time zone).
        """
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        if isinstance(d, _dt.datetime) or not isinstance(d, _dt.date):
            raise TypeError(f"expected a local date, got {d!r}")
        d = _dt.date(d.year, d.month, d.day)
        listed = self._listed.get(d)
        if listed is not None:
            answer = CalendarDay(listed[0], False, listed[1])
        elif d.year in self._sources:
            answer = CalendarDay(d.weekday() < _SATURDAY, False, self._sources[d.year])
        else:
            library = _library_is_workday(d)
            if library is not None:
                answer = CalendarDay(library, False, _library_source())
            elif fixed_holiday_name(d) is not None:
                answer = CalendarDay(False, True, FIXED_HOLIDAY_SOURCE)
            else:
                answer = CalendarDay(d.weekday() < _SATURDAY, True, "weekday fallback (provisional)")
        self._cache[d] = answer
        return answer

    def is_working_day(self, d: _dt.date) -> bool:
        """True if local date ``d`` is a working day (调休 weekends included, statutory holidays excluded).

        Never raises for a year without data: it then answers Monday–Friday (see :meth:`is_provisional`).
        """
        return self.day(d).working

    def is_provisional(self, d: _dt.date) -> bool:
        """True if :meth:`is_working_day` for ``d`` is only the Monday–Friday fallback (no official arrangement)."""
        return self.day(d).provisional

    # -- counting (used by compute_deadline; cached) --------------------------------------------------------------

    def _last_day(self, start: _dt.date, unit: str, amount: int) -> tuple[_dt.date, tuple[int, ...]]:
        """Last day of a ``calendar_days``/``working_days`` period starting on ``start`` (not counted).

        Returns the last day and the sorted years of any provisional day consulted.
        """
        key = (start, unit, amount)
        cached = self._count_cache.get(key)
        if cached is not None:
            return cached
        one = _dt.timedelta(days=1)
        provisional: set[int] = set()
        day = start
        if unit == "working_days":
            remaining, idle = amount, 0
            while remaining:
                day += one
                info = self.day(day)
                if info.provisional:
                    provisional.add(day.year)
                if info.working:
                    remaining -= 1
                    idle = 0
                else:
                    idle += 1
                    if idle > _SAFETY_DAYS:
                        raise RuntimeError(f"no working day for {_SAFETY_DAYS} days after {start}: check the calendar")
        else:  # calendar_days: 民法典 第二百零三条 — move a last day that is a rest day to the next working day
            day = start + _dt.timedelta(days=amount)
            for _ in range(_SAFETY_DAYS):
                info = self.day(day)
                if info.provisional:
                    provisional.add(day.year)
                if info.working:
                    break
                day += one
            else:
                raise RuntimeError(f"no working day for {_SAFETY_DAYS} days after {start}: check the calendar")
        result = (day, tuple(sorted(provisional)))
        self._count_cache[key] = result
        return result


class _CalendarLoader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as strings, so a bad date is reported with its file and field."""


_CalendarLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_date(value: object) -> _dt.date | None:
    """A ``YYYY-MM-DD`` date (quoted or not); None for anything else, including date-times."""
    if isinstance(value, _dt.datetime):
        return None
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _show(value: object) -> str:
    """A value from a calendar file as the user wrote it (dates as YYYY-MM-DD)."""
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


#: Where :func:`default_calendar` gets the arrangements stored in the database: a callable returning them (the
#: same tuple object while unchanged), registered by :mod:`core.db` (models cannot import the layers above).
_stored_arrangements: Callable[[], tuple[Arrangement, ...]] | None = None
_default: tuple[tuple[Arrangement, ...], WorkingDayCalendar] | None = None


def set_arrangement_source(source: Callable[[], tuple[Arrangement, ...]] | None) -> None:
    """Register where :func:`default_calendar` reads stored arrangements (None: files and library only)."""
    global _stored_arrangements, _default
    _stored_arrangements, _default = source, None


def default_calendar() -> WorkingDayCalendar:
    """The shared calendar: arrangements stored in the database (through the registered source, which caches them
    briefly), then ``policy/calendar``, then the library. Rebuilt when the stored arrangements change."""
    global _default
    stored = _stored_arrangements() if _stored_arrangements is not None else ()
    current = _default
    if current is None or (current[0] is not stored and current[0] != stored):
        current = _default = (stored, WorkingDayCalendar(arrangements=stored))
    return current[1]


# ---------------------------------------------------------------------------------------------------------------------
# Deadlines
# ---------------------------------------------------------------------------------------------------------------------


def _require_aware(value: object, name: str) -> pendulum.DateTime:
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"{name} must be a timezone-aware datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    if isinstance(value, pendulum.DateTime):
        return value
    return pendulum.instance(value)


@dataclass(frozen=True)
class Deadline:
    """A computed deadline.

    Attributes:
        due_at: the moment the period ends, as a timezone-aware ``pendulum.DateTime`` in the local zone
            (Asia/Shanghai unless ``compute_deadline`` was given another ``tz``). For ``hours`` rules it is the start
            plus N hours; for day rules it is the end of the last day, represented as 23:59:59 local time (the law's
            24:00, 民法典 第二百零三条).
        provisional: True if a day consulted while counting fell in a year without an official holiday arrangement
            and was counted Monday–Friday; the due date may move when that year's arrangement is loaded.
        rule: the :class:`DeadlineRule` that produced it.
        note: why it is provisional (names the year(s)); empty when not provisional.

    Raises:
        ValueError: ``due_at`` is naive.
    """

    due_at: pendulum.DateTime
    provisional: bool
    rule: DeadlineRule
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "due_at", _require_aware(self.due_at, "due_at"))

    def due_at_utc(self) -> pendulum.DateTime:
        """``due_at`` converted to UTC (for storage and schedulers)."""
        return self.due_at.in_timezone("UTC")


def _provisional_note(years: tuple[int, ...]) -> str:
    if not years:
        return ""
    listed = ", ".join(str(y) for y in years)
    files = ", ".join(f"policy/calendar/{y}.yaml" for y in years)
    return (f"Provisional: no official holiday arrangement is loaded for {listed}; days in "
            f"{'that year' if len(years) == 1 else 'those years'} were counted Monday–Friday. "
            f"Load the State Council notice (国务院办公厅关于部分节假日安排的通知) with `careflow calendar load` "
            f"(or add {files}) to confirm.")


def compute_deadline(
    start: _dt.datetime | pendulum.DateTime,
    rule: DeadlineRule,
    calendar: WorkingDayCalendar | None = None,
    tz: str = DEFAULT_TZ,
) -> Deadline:
    """Compute when a period of ``rule`` starting at ``start`` ends.

    Args:
        start: when the period starts (e.g. the referral was received); timezone-aware, any zone — it is
            converted to ``tz`` and the local date in ``tz`` is what counts.
        rule: the period, e.g. ``DeadlineRule.parse("15wd")``.
        calendar: working-day calendar; ``None`` uses :func:`default_calendar` (``policy/calendar``).
        tz: IANA zone for local dates and for ``Deadline.due_at``; default Asia/Shanghai.

    Semantics (民法典 第二百条–第二百零三条):

    * ``hours``: ``start`` + N clock hours, holidays and nights included (第二百零一条第二款: counted from the stated
      time; emergencies do not wait). Never provisional.
    * ``calendar_days``: the start day is not counted, counting starts the next day (第二百零一条第一款); the last
      day is start date + N. If that day is not a working day (weekend or statutory holiday) the last day becomes
      the first working day after it (第二百零三条第一款).
    * ``working_days``: the start day is not counted; the last day is the N-th working day after the start date
      (adjusted working weekends 调休 count, statutory holidays and ordinary weekends do not).
    * For both day units the deadline is the end of the last day, 24:00 (第二百零三条第二款), represented as
      23:59:59 local time on the last day. :func:`is_overdue` treats it as overdue from 24:00.
    * ``provisional`` is True if any day consulted (each counted day, the last day, and any day it was moved across)
      came from the Monday–Friday fallback; ``note`` names the year(s) lacking an official arrangement.

    Results for a given (local start date, rule) are cached in the calendar, so bulk computation is cheap.

    Returns:
        a :class:`Deadline` whose ``due_at`` is in ``tz``.

    Raises:
        ValueError: ``start`` is naive ("start must be timezone-aware, got ..."), or ``tz`` is not a valid zone.
        TypeError: ``start`` is not a datetime (e.g. a plain date).
    """
    local = _require_aware(start, "start").in_timezone(tz)
    if rule.unit == "hours":
        return Deadline(due_at=local.add(hours=rule.amount), provisional=False, rule=rule, note="")
    if calendar is None:
        calendar = default_calendar()
    last, years = calendar._last_day(_dt.date(local.year, local.month, local.day), rule.unit, rule.amount)
    due = pendulum.datetime(last.year, last.month, last.day, 23, 59, 59, tz=tz)
    return Deadline(due_at=due, provisional=bool(years), rule=rule, note=_provisional_note(years))


def is_overdue(deadline_or_due_at: Deadline | _dt.datetime, now: _dt.datetime) -> bool:
    """True if ``now`` is past the deadline.

    Compared at whole-second resolution: ``now`` is overdue once its second is after ``due_at``'s, so a day deadline
    stored as 23:59:59 is overdue from 24:00 (00:00:00 the next day, 民法典 第二百零三条) and a 24h deadline due at
    18:00:00 is overdue from 18:00:01.

    Args:
        deadline_or_due_at: a :class:`Deadline` or its aware ``due_at``.
        now: the current time, timezone-aware (any zone).

    Raises:
        ValueError: either time is naive.
    """
    due = deadline_or_due_at.due_at if isinstance(deadline_or_due_at, Deadline) else deadline_or_due_at
    due = _require_aware(due, "due_at")
    now = _require_aware(now, "now")
    return now.replace(microsecond=0) > due.replace(microsecond=0)


def format_local(dt: Deadline | _dt.datetime, tz: str = DEFAULT_TZ) -> str:
    """``dt`` in ``tz`` as ``"YYYY-MM-DD HH:MM"``, e.g. ``"2026-10-10 23:59"`` (for notices to caseworkers).

    Accepts a :class:`Deadline` (its ``due_at``) or an aware datetime.

    Raises:
        ValueError: ``dt`` is naive.
    """
    value = dt.due_at if isinstance(dt, Deadline) else dt
    if isinstance(value, _dt.datetime) and value.utcoffset() is not None:  # the common case, without pendulum
        return value.astimezone(_zone(tz)).strftime("%Y-%m-%d %H:%M")
    return _require_aware(value, "dt").in_timezone(tz).strftime("%Y-%m-%d %H:%M")


@lru_cache(maxsize=None)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)
