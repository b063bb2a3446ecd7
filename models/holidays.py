"""Official holiday arrangements (国务院办公厅关于<year>年部分节假日安排的通知) and the fixed-date statutory holidays.

* :data:`FIXED_HOLIDAYS` / :func:`fixed_holidays` — the statutory holidays that fall on a fixed Gregorian date every
  year under 《全国年节及纪念日放假办法》 (as revised by 国务院令第795号, in force 1 January 2025), 第二条:
  新年 1月1日; 劳动节 5月1日、2日; 国庆节 10月1日至3日. The other statutory holidays — 春节 (农历除夕、正月初一至初三),
  清明节 (农历清明当日), 端午节, 中秋节 — follow the lunar calendar or a solar term, and every holiday's bridging days and
  adjusted working weekends (调休) are fixed only by the State Council's yearly arrangement; so without that
  arrangement only these fixed dates can be known, and a count that uses them is still provisional.
* :class:`Arrangement` — one year's official arrangement (days off, adjusted working days, its source).
* :func:`parse_arrangement` — read and check an arrangement file (YAML); errors name the field and the value, in
  the reader's language (:class:`ArrangementError`). The one reader of the shape below: ``careflow calendar
  load``, the admin page and the ``policy/calendar/<year>.yaml`` files of :class:`models.working_days.WorkingDayCalendar` all use it.
* :class:`HolidayArrangement` — the table holding each loaded year (migration 0011), the first source of truth of
  :class:`models.working_days.WorkingDayCalendar`.

File shape (``careflow calendar load FILE``)::

    year: 2027
    source: "国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕N号）"
    note: ""              # optional, e.g. where it was published
    holidays:             # every day off, weekend days inside a holiday period included
      - 2027-01-01
    working_days:         # adjusted working weekends (调休上班): Saturdays/Sundays only; may be empty
      - 2027-02-20
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import yaml
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow
from models.errors import wording

#: (month, day, name) of the statutory holidays on fixed Gregorian dates (《全国年节及纪念日放假办法》第二条, 2025 text).
FIXED_HOLIDAYS: tuple[tuple[int, int, str], ...] = (
    (1, 1, "新年"), (5, 1, "劳动节"), (5, 2, "劳动节"), (10, 1, "国庆节"), (10, 2, "国庆节"), (10, 3, "国庆节"),
)
#: The law naming them, for sources and messages.
HOLIDAY_LAW = "《全国年节及纪念日放假办法》"

_FIELDS = ("year", "source", "note", "holidays", "working_days")
_REQUIRED = ("year", "source", "holidays", "working_days")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: The catalogue key naming each fixed-date holiday (``holidays.name.<key>``).
_HOLIDAY_KEYS = {"新年": "new_year", "劳动节": "labour_day", "国庆节": "national_day"}
_SATURDAY = 5


def fixed_holidays(year: int) -> dict[_dt.date, str]:
    """The fixed-date statutory holidays of ``year``: date → holiday name (see :data:`FIXED_HOLIDAYS`)."""
    return {_dt.date(year, month, day): name for month, day, name in FIXED_HOLIDAYS}


def fixed_holiday_name(day: _dt.date) -> str | None:
    """The statutory holiday on fixed date ``day`` (``"新年"``, ``"劳动节"``, ``"国庆节"``), or None."""
    for month, dom, name in FIXED_HOLIDAYS:
        if day.month == month and day.day == dom:
            return name
    return None


@dataclass(frozen=True)
class Arrangement:
    """One year's official holiday arrangement.

    Attributes:
        year: the year the notice is for (e.g. 2027).
        source: the notice's title (and number), as published.
        holidays: local dates off work, weekend days inside a holiday period included; may include dates just
            outside ``year`` (a 元旦 period beginning 30 December).
        working_days: adjusted working weekends (调休上班), Saturdays and Sundays only.
        note: free text (where it was published; for a test file, that it is not the official one).
    """

    year: int
    source: str
    holidays: frozenset[_dt.date]
    working_days: frozenset[_dt.date]
    note: str = ""

    def as_row(self) -> dict:
        """The columns of :class:`HolidayArrangement` (dates as sorted ISO strings)."""
        return {"year": self.year, "source": self.source, "note": self.note,
                "holidays": sorted(d.isoformat() for d in self.holidays),
                "working_days": sorted(d.isoformat() for d in self.working_days)}

    @classmethod
    def from_row(cls, row) -> "Arrangement":
        """From a :class:`HolidayArrangement` (or a row with its columns)."""
        return cls(year=row.year, source=row.source, note=row.note or "",
                   holidays=frozenset(_dt.date.fromisoformat(d) for d in row.holidays),
                   working_days=frozenset(_dt.date.fromisoformat(d) for d in row.working_days))


class Phrase:
    """Words by catalogue ``key`` (``holidays.…``) with ``values`` formatted in, worded in the reader's language when
    shown (a value with a ``text(lang)`` method is worded too; a tuple of names is joined with 「、」, ``, `` in
    English). ``str()`` is the Chinese text."""

    def __init__(self, key: str, **values):
        self.key, self.values = key, values

    def text(self, lang: str) -> str:
        """The words in ``lang`` (``zh`` or ``en``); the key and values before core.i18n lends its words."""
        values = {name: _worded(value, lang) for name, value in self.values.items()}
        word = wording("message")
        return word(self.key, lang, **values) if word else f"{self.key} {values}"

    def __str__(self) -> str:
        return self.text("zh")


class _Shown:
    """A value an arrangement gave, quoted as written: 「“2027-02-30”」 / ``"2027-02-30"``."""

    def __init__(self, value: object):
        self.value = value

    def text(self, lang: str) -> str:
        return _show(self.value, lang)


def _worded(value: object, lang: str) -> object:
    if callable(getattr(value, "text", None)):
        return value.text(lang)
    if isinstance(value, tuple):
        return ("、" if lang != "en" else ", ").join(str(_worded(v, lang)) for v in value)
    return value


def _field(name: str) -> Phrase | str:
    """A field of the file by its label (``year（年份）`` / ``year``); an unknown field as written."""
    return Phrase(f"holidays.field.{name}") if name in _FIELDS else name


class ArrangementError(ValueError):
    """An arrangement is malformed (or cannot be stored): message ``key`` (``holidays.problem.…``) with ``values``,
    prefixed by the file's name ``where`` (a :class:`Phrase` or a path as written), worded in the reader's
    language by :meth:`text` and naming the file, the field and the value. ``str()`` is the Chinese text (logs)."""

    def __init__(self, key: str, *, where: object = None, **values):
        super().__init__(key, values)
        self.key, self.where, self.values = key, where, values

    def text(self, lang: str) -> str:
        """The message in ``lang`` (``zh`` or ``en``)."""
        what = Phrase(self.key, **self.values).text(lang)
        if self.where is None:
            return what
        return Phrase("holidays.error.where", where=self.where, what=what).text(lang)

    def __str__(self) -> str:
        return self.text("zh")

    @classmethod
    def at(cls, where: object, field: str, value: object, key: str, **values) -> "ArrangementError":
        """``<where>：字段 <field（中文）> 的值 <value> <why>`` (``key`` with ``values``): the one shape of a message
        about a field."""
        return cls("holidays.error.field", where=where, field=_field(field), value=_Shown(value),
                   why=Phrase(key, **values))


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as strings, so a bad date is reported as written."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _show(value: object, lang: str = "zh") -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v, lang) for v in value[:5]) + (", …" if len(value) > 5 else "") + "]"
    if isinstance(value, _dt.date):
        return value.isoformat()
    if value is None:
        return "(empty)" if lang == "en" else "（空）"
    return f'"{value}"' if lang == "en" else f"“{value}”"


def _date(value: object) -> _dt.date | None:
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def parse_arrangement(text: str, where: object = None, year: int | None = None) -> Arrangement:
    """Parse and check an arrangement (the YAML shape in the module docstring): the one reader of an arrangement,
    whether loaded with ``careflow calendar load``, pasted on ``/admin/calendar`` or kept in ``policy/calendar``.

    Checks: a mapping with exactly the known fields; ``year`` a whole number 2000–2100; ``source`` non-empty;
    ``holidays`` a non-empty list of ``YYYY-MM-DD`` dates between 1 December of the year before and 31 January
    of the year after, including every fixed-date statutory holiday of ``year`` (:func:`fixed_holidays`: a
    notice always gives them); ``working_days`` a list (possibly empty) of such dates, each a Saturday or
    Sunday, none also a holiday; no date listed twice.

    Args:
        text: the file's text.
        where: how the file is named in errors: a :class:`Phrase` (``holidays.where.file`` with its path) or text
            as written; default 「节假日安排文件」 / ``holiday arrangement file``.
        year: the year the arrangement must be for, when the file's name says it (``policy/calendar/2027.yaml``);
            another ``year`` is refused naming the file.

    Raises:
        ArrangementError: naming ``where``, the field and the offending value, worded in the reader's language
            (``.text(lang)``; ``str()`` Chinese), e.g. ``节假日安排文件 x.yaml：字段 working_days（调休上班日期）的值
            “2027-02-10” 是星期三，调休上班日只能是星期六或星期日``.
    """
    where = Phrase("holidays.where.default") if where is None else where
    data = _read_mapping(text, where)
    year, source, note = _year(data, where, year), _source(data, where), _note(data, where)
    holidays = _dates(data, "holidays", year, where)
    working_days = _dates(data, "working_days", year, where)
    _check_holidays(data["holidays"], holidays, working_days, year, where)
    return Arrangement(year=year, source=source, note=note,
                       holidays=frozenset(holidays), working_days=frozenset(working_days))


def _read_mapping(text: str, where: str) -> dict:
    """The YAML text as a mapping with only known fields and every required one."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a malformed number such as 0b_
        raise ArrangementError("holidays.problem.not_yaml", where=where, detail=exc) from None
    if not isinstance(data, dict):
        raise ArrangementError("holidays.problem.not_mapping", where=where, fields=_REQUIRED, value=_Shown(data))
    for field in data:
        if field not in _FIELDS:
            raise ArrangementError.at(where, str(field), data[field], "holidays.problem.unknown_field",
                                      fields=_FIELDS)
    for field in _REQUIRED:
        if field not in data:
            raise ArrangementError("holidays.problem.missing_field", where=where, field=_field(field))
    return data


def _year(data: dict, where: str, expected: int | None) -> int:
    year = data["year"]
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise ArrangementError.at(where, "year", year, "holidays.problem.bad_year")
    if expected is not None and year != expected:
        raise ArrangementError.at(where, "year", year, "holidays.problem.year_not_file_name",
                                  expected=expected)
    return year


def _source(data: dict, where: str) -> str:
    source = data["source"]
    if not isinstance(source, str) or not source.strip():
        raise ArrangementError.at(where, "source", source, "holidays.problem.no_source")
    return source.strip()


def _note(data: dict, where: str) -> str:
    note = data.get("note") or ""
    if not isinstance(note, str):
        raise ArrangementError.at(where, "note", note, "holidays.problem.note_not_text")
    return note.strip()


def _dates(data: dict, field: str, year: int, where: str) -> set[_dt.date]:
    """The dates of ``holidays`` or ``working_days``: each a date a notice for ``year`` may list (its own year, and a
    holiday period straddling New Year: 1 December before to 31 January after); 调休 days on weekends only."""
    values = data[field]
    if values is None and field == "working_days":
        values = []
    if not isinstance(values, list):
        raise ArrangementError.at(where, field, values, "holidays.problem.not_date_list")
    first, last = _dt.date(year - 1, 12, 1), _dt.date(year + 1, 1, 31)
    dates: set[_dt.date] = set()
    for value in values:
        day = _date(value)
        if day is None:
            raise ArrangementError.at(where, field, value, "holidays.problem.not_date")
        if not first <= day <= last:
            raise ArrangementError.at(where, field, value, "holidays.problem.out_of_range", year=year,
                                      first=first.isoformat(), last=last.isoformat())
        if field == "working_days" and day.weekday() < _SATURDAY:
            raise ArrangementError.at(where, field, value, "holidays.problem.working_weekday",
                                      weekday=Phrase(f"holidays.weekday.{day.weekday()}"))
        if day in dates:
            raise ArrangementError.at(where, field, value, "holidays.problem.duplicate")
        dates.add(day)
    return dates


def _check_holidays(listed: object, holidays: set[_dt.date], working_days: set[_dt.date], year: int,
                    where: str) -> None:
    """Some days off, none also a working day, and every fixed-date statutory holiday of ``year`` among them."""
    if not holidays:
        raise ArrangementError.at(where, "holidays", listed, "holidays.problem.no_holidays")
    both = holidays & working_days
    if both:
        raise ArrangementError.at(where, "working_days", min(both), "holidays.problem.also_holiday",
                                  other=_field("holidays"))
    for day, name in fixed_holidays(year).items():
        if day not in holidays:
            raise ArrangementError.at(where, "holidays", listed, "holidays.problem.missing_statutory",
                                      day=day.isoformat(), name=Phrase(f"holidays.name.{_HOLIDAY_KEYS[name]}"))


class HolidayArrangement(SQLModel, table=True):
    """A year's official holiday arrangement as loaded by ``careflow calendar load`` (migration 0011).

    One row per year; dates are ISO strings (``YYYY-MM-DD``) in JSON lists. ``sha256`` is the loaded file's
    digest; ``recomputed_at`` (UTC) is set when every open provisional task of the year has been recomputed
    (NULL while a recomputation is unfinished: loading the file again finishes it).
    """

    __tablename__ = "holiday_arrangement"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(max_length=300)
    note: str = Field(default="", max_length=300)
    holidays: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    working_days: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    sha256: str = Field(default="", max_length=64)
    loaded_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    loaded_by: str = Field(default="", max_length=64)
    recomputed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
