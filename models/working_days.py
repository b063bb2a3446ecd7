"""The working-day calendar (Asia/Shanghai local dates): is a date a working day, and is that answer official?

Public API
----------
* :class:`CalendarDay` — one date's answer: working or not, provisional or not, and its source.
* :class:`WorkingDayCalendar` — the answers, from the official arrangements first, and the counting of a period in
  calendar or working days that :func:`models.deadlines.compute_deadline` uses.
* :func:`default_calendar`, :func:`set_arrangement_source` — the shared calendar, rebuilt when the arrangements
  stored in the database change (:mod:`core.db` registers where they come from).

The State Council's official arrangement of public holidays for one year (国务院办公厅关于<year>年部分节假日安排的通知)
is normally loaded into the database with ``careflow calendar load FILE`` (:mod:`careflow.holidays`, table
``holiday_arrangement``), which :func:`default_calendar` reads first. Working-day calendar files
(``policy/calendar/<year>.yaml``) can hold one too, in the same shape, read and checked by the same
:func:`models.holidays.parse_arrangement` (errors naming the file, the field and the value, Chinese unless
the reader asked for English). Only add one when the notice is published.
"""
from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import chinese_calendar

from models.holidays import (
    HOLIDAY_LAW, Arrangement, ArrangementError, Phrase, fixed_holiday_name, parse_arrangement,
)
from policy import POLICY_DIR

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
    2. an official arrangement loaded from ``<calendar_dir>/<year>.yaml`` (the shape of :mod:`models.holidays`).
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
        ArrangementError: a calendar file is malformed (a ValueError; in the reader's language, naming the file,
            the field and the offending value, as :func:`models.holidays.parse_arrangement`), is not named
            ``<year>.yaml`` after its year, repeats a year or contradicts another file.
        FileNotFoundError: an explicit ``calendar_dir`` does not exist.
    """

    def __init__(self, calendar_dir: Path | None = None, arrangements: Iterable[Arrangement] = ()) -> None:
        if calendar_dir is None:
            calendar_dir = POLICY_DIR / "calendar"
        elif not Path(calendar_dir).is_dir():
            # English: only code and tests pass a folder (careflow reads the default one): for developers
            raise FileNotFoundError(f"calendar folder {calendar_dir} does not exist")
        self.calendar_dir = calendar_dir = Path(calendar_dir)
        #: year -> "file name: source" (or "数据库：source") for every loaded official arrangement
        self._sources: dict[int, str] = {}
        #: date -> (working?, label) for every date listed in an arrangement
        self._listed: dict[_dt.date, tuple[bool, str]] = {}
        #: such a label -> how an error names it in the reader's language (a file's label is the same in both)
        self._origins: dict[str, Phrase] = {}
        self._cache: dict[_dt.date, CalendarDay] = {}
        self._count_cache: dict[tuple[_dt.date, str, int], tuple[_dt.date, tuple[int, ...]]] = {}
        for arrangement in arrangements:
            self._add_stored(arrangement)
        stored = set(self._sources)
        if calendar_dir.is_dir():
            for path in sorted(calendar_dir.iterdir()):
                if path.is_file() and path.suffix in (".yaml", ".yml") and not (
                        path.stem.isdigit() and int(path.stem) in stored):
                    self._read_file(path)

    def _add_stored(self, arrangement: Arrangement) -> None:
        """Take an arrangement stored in the database (already checked by :func:`models.holidays.parse_arrangement`)."""
        label = f"数据库：{arrangement.source}"
        self._origins[label] = Phrase("holidays.where.database", source=arrangement.source)
        for days, working in ((arrangement.holidays, False), (arrangement.working_days, True)):
            for day in days:
                self._listed[day] = (working, label)
        self._sources[arrangement.year] = label

    def _read_file(self, path: Path) -> None:
        """Take ``<year>.yaml``: checked by :func:`models.holidays.parse_arrangement`, then against its file name and
        the arrangements taken before it."""
        where = Phrase("holidays.where.calendar_file", path=str(path))
        if not _YEAR_FILE.match(path.stem):
            raise ArrangementError("holidays.problem.file_name", where=where, name=path.name)
        arrangement = parse_arrangement(path.read_text(encoding="utf-8"), where=where, year=int(path.stem))
        year = arrangement.year
        if year in self._sources:
            raise ArrangementError.at(where, "year", year, "holidays.problem.already_read",
                                      origin=self._origins.get(self._sources[year], self._sources[year]))
        label = f"{path.name}: {arrangement.source}"
        for field, days, working in (("holidays", arrangement.holidays, False),
                                     ("working_days", arrangement.working_days, True)):
            for day in sorted(days):
                earlier = self._listed.get(day)
                if earlier is not None and earlier[0] != working:
                    raise ArrangementError.at(where, field, day, "holidays.problem.contradicts",
                                              origin=self._origins.get(earlier[1], earlier[1]))
                self._listed[day] = (working, label)
        self._sources[year] = label

    # -- queries --------------------------------------------------------------------------------------------------

    @property
    def official_years(self) -> tuple[int, ...]:
        """Years with an official arrangement (stored or from ``calendar_dir``; not counting ``chinese_calendar``)."""
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
            # English: a programming error (a caller passed a datetime), for developers
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

    # -- counting (used by models.deadlines.compute_deadline; cached) ---------------------------------------------

    def last_day(self, start: _dt.date, unit: str, amount: int) -> tuple[_dt.date, tuple[int, ...]]:
        """Last day of a period of ``amount`` ``calendar_days``/``working_days`` starting on ``start`` (not counted).

        ``working_days``: the ``amount``-th working day after ``start``. ``calendar_days``: ``start + amount``, moved
        to the next working day when it is a rest day (民法典 第二百零三条).

        Returns:
            the last day and the sorted years of any provisional day consulted.

        Raises:
            RuntimeError: no working day for 400 days (a broken calendar).
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
                    if idle > _SAFETY_DAYS:  # English: a safety net for a broken calendar, for developers
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
            else:  # English: the same safety net, for developers
                raise RuntimeError(f"no working day for {_SAFETY_DAYS} days after {start}: check the calendar")
        result = (day, tuple(sorted(provisional)))
        self._count_cache[key] = result
        return result


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
