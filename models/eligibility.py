"""Who is a migrant child (流动儿童) and who is a key care target (重点关爱服务对象).

Policy: 福建省加强流动儿童关爱保护行动实施方案 (闽民童〔2025〕5号), section 一:

    流动儿童是指随父母或其他监护人双方或一方离开户籍地，跨县域异地居住或生活 6 个月以上、不满十六周岁的未成年人
    （城市中心城区的市辖区之间异地居住或生活的除外）。

and 一（二）: migrant children with family hardship, disability, missing guardianship, vagrancy or psychological and
behavioural abnormality, and those across a township who ask for help, are key care targets (重点关爱服务对象).

Date rules (all dates are calendar dates in Asia/Shanghai; no times):

* **Age 16 (不满十六周岁).** Chinese law counts 周岁 by the day and a person is 已满十六周岁 only from the day
  *after* the 16th birthday (过了周岁生日，从第二天起 — 法释〔2006〕1号 art. 2; likewise 民法典 arts. 201-202:
  a period in years ends on the corresponding day). So a child is still under 16 *on* the 16th birthday and
  ages out the next day (:func:`aged_16_from`). A child born on 29 February whose 16th anniversary falls in a
  non-leap year has no corresponding day; by 民法典 art. 202 the period ends on the last day of February
  (:func:`sixteenth_birthday` gives 28 Feb) and the child is 16 from 1 March. Born 2012-02-29: 2028 is a leap
  year, the birthday is 2028-02-29 and the child is 16 from 2028-03-01.
* **Six months of residence (6 个月以上).** Residence reaches six months on ``start + 6 calendar months``,
  clipped to the end of a shorter month (arrival 2025-08-31 → 2026-02-28; arrival 2025-03-31 → 2025-09-30),
  and that day itself counts (以上 includes the number): the test is ``six_months_on <= on``.
  ``start`` is the arrival date, or the birth date for a child born after the family arrived.

Both boundaries fall on the child's side (the 16th birthday and the six-month day are inside the definition).
"""
from __future__ import annotations

import calendar
import datetime
from enum import StrEnum
from typing import Collection, Iterable, NamedTuple

from pydantic import BaseModel, ConfigDict

from models.regions import Region, get_county

__all__ = [
    "KeyCareCriterion",
    "MigrantAssessment",
    "Reason",
    "MigrantDateBounds",
    "add_months",
    "last_start_within",
    "migrant_date_bounds",
    "ArrivalDateProblem",
    "aged_16_from",
    "assess_key_care",
    "key_care_target",
    "assess_migrant_child",
    "is_under_16",
    "check_arrival_date",
    "sixteenth_birthday",
]


class KeyCareCriterion(StrEnum):
    """Grounds for being a key care target (重点关爱服务对象), policy section 一（二）.

    The value is the stored code; :attr:`zh` is the policy's wording.
    """

    family_hardship = "family_hardship"
    disability = "disability"
    missing_guardianship = "missing_guardianship"
    vagrancy = "vagrancy"
    psychological_behavioural = "psychological_behavioural"
    cross_township_help_request = "cross_township_help_request"

    @property
    def zh(self) -> str:
        """Chinese label, e.g. ``家庭生活困难``."""
        return _CRITERION_ZH[self]


_CRITERION_ZH = {
    KeyCareCriterion.family_hardship: "家庭生活困难",
    KeyCareCriterion.disability: "自身残疾",
    KeyCareCriterion.missing_guardianship: "监护缺失",
    KeyCareCriterion.vagrancy: "流浪",
    KeyCareCriterion.psychological_behavioural: "心理和行为异常",
    KeyCareCriterion.cross_township_help_request: "主动提出救助帮扶需求的跨乡镇（街道）流动儿童",
}


class ArrivalDateProblem(NamedTuple):
    """Why an arrival date cannot be true: ``code`` (``before_birth`` | ``in_future`` | ``after_round``) and a
    Chinese ``message`` that names the dates."""

    code: str
    message: str


def check_arrival_date(arrival_date: datetime.date, *, birth_date: datetime.date, today: datetime.date,
                       round_end: datetime.date | None = None) -> ArrivalDateProblem | None:
    """The one rule for an arrival date typed by a person (web, API, CLI registration and the survey import).

    A child cannot arrive before being born (a child born in the residence county arrived on the birth date), nor
    after ``today`` (a calendar date in Asia/Shanghai), nor — for a survey row — after the end of the survey round
    it is reported in (``round_end``: :func:`models.survey.round_as_of`, the last day of the round month).

    Returns:
        None when the date is possible, else the first :class:`ArrivalDateProblem` found.
    """
    if arrival_date < birth_date:
        return ArrivalDateProblem("before_birth", f"{arrival_date.isoformat()} 早于出生日期 {birth_date.isoformat()}"
                                                  "（在居住地出生的儿童，请填写出生日期）")
    if arrival_date > today:
        return ArrivalDateProblem("in_future", f"{arrival_date.isoformat()} 晚于今天 {today.isoformat()}")
    if round_end is not None and arrival_date > round_end:
        return ArrivalDateProblem("after_round", f"{arrival_date.isoformat()} 晚于本轮摸排的截止日期 "
                                                 f"{round_end.isoformat()}")
    return None


class Reason(BaseModel):
    """One test of the migrant-child definition and its outcome, for the caseworker.

    Attributes:
        code: ``under_16`` | ``aged_out`` | ``birth_date_in_future`` (age);
            ``cross_county`` | ``same_county`` | ``central_districts_same_city`` (place);
            ``resided_6_months`` | ``resided_under_6_months`` | ``arrival_in_future`` (residence);
            ``residence_from_birth`` (informational, passed: residence counted from the birth date).
        passed: whether the test is met.
        text_zh, text_en: the explanation with the dates and places involved.
    """

    model_config = ConfigDict(frozen=True)

    code: str
    passed: bool
    text_zh: str
    text_en: str


class MigrantAssessment(BaseModel):
    """Outcome of :func:`assess_migrant_child`.

    Attributes:
        is_migrant: True when every reason passed.
        reasons: every test, passing and failing, in the order age, place, residence.
        turns_16_on: first day on which the child is 已满十六周岁 (the day after the 16th birthday).
        six_months_on: the day residence reaches six months (counted from arrival, or from birth if later).
        hukou_county, residence_county: the resolved counties.
    """

    model_config = ConfigDict(frozen=True)

    is_migrant: bool
    reasons: list[Reason]
    turns_16_on: datetime.date
    six_months_on: datetime.date
    hukou_county: Region
    residence_county: Region

    @property
    def failed(self) -> list[Reason]:
        """The reasons that did not pass (empty for a migrant child)."""
        return [reason for reason in self.reasons if not reason.passed]

    def reason(self, code: str) -> Reason | None:
        """The reason with ``code``, or None."""
        return next((reason for reason in self.reasons if reason.code == code), None)


def _as_date(value: datetime.date, name: str) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if not isinstance(value, datetime.date):
        raise TypeError(f"{name} must be a date, got {type(value).__name__}")
    return value


def add_months(start: datetime.date, months: int) -> datetime.date:
    """``start`` plus ``months`` calendar months, clipped to the last day of a shorter month.

    ``add_months(date(2025, 8, 31), 6)`` → 2026-02-28.
    """
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return datetime.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def last_start_within(months: int, on: datetime.date) -> datetime.date:
    """The latest day ``start`` with ``add_months(start, months) <= on``; every earlier day also has it
    (:func:`add_months` never decreases as ``start`` grows). Turns the date rules into bounds on a stored date
    (:func:`migrant_date_bounds`, :func:`models.eligibility_rules.aged_by`). ``last_start_within(6, 2026-02-28)``
    → 2025-08-31 (+6 months clips to 2026-02-28)."""
    start = add_months(on, -months)  # its day is at most on's, so adding the months back lands on or before on
    while add_months(start + datetime.timedelta(days=1), months) <= on:
        start += datetime.timedelta(days=1)
    return start


class MigrantDateBounds(NamedTuple):
    """The date tests of :func:`assess_migrant_child` on one day as bounds on the stored dates: the age test and the
    residence tests pass exactly when ``born_after < birth_date <= resident_by`` and ``arrival_date <= resident_by``
    (the place test is not a date test)."""

    born_after: datetime.date
    resident_by: datetime.date


def migrant_date_bounds(on: datetime.date) -> MigrantDateBounds:
    """:class:`MigrantDateBounds` on ``on``, by the module's date rules:

    * under 16 (:func:`_age_test`): ``on < aged_16_from(b) = add_months(b, 192) + 1 day`` ⟺ ``add_months(b, 192)
      > on - 1 day`` ⟺ ``b > last_start_within(192, on - 1 day)``;
    * six months (:func:`_residence_tests`): counted from ``start``, the arrival date, or the birth date when later
      and not after ``on`` — i.e. ``max(arrival, birth)`` for a child born by ``on`` —, reached when
      ``add_months(start, 6) <= on`` ⟺ ``start <= last_start_within(6, on)`` ⟺ both dates are. That bound lies
      before ``on``, so it also refuses a birth or an arrival after ``on`` (``birth_date_in_future``,
      ``arrival_in_future``).
    """
    on = _as_date(on, "on")
    return MigrantDateBounds(born_after=last_start_within(16 * 12, on - datetime.timedelta(days=1)),
                             resident_by=last_start_within(6, on))


def sixteenth_birthday(birth_date: datetime.date) -> datetime.date:
    """The 16th birthday: the same month and day 16 years after ``birth_date``.

    For a child born on 29 February whose 16th anniversary falls in a non-leap year (e.g. born 2084-02-29,
    2100 is not a leap year), this is 28 February (民法典 art. 202: no corresponding day → end of the month),
    and the child is 16 from 1 March (:func:`aged_16_from`). Most 29 February births reach 16 in a leap year
    (born 2012-02-29 → 2028-02-29).
    """
    birth_date = _as_date(birth_date, "birth_date")
    return add_months(birth_date, 16 * 12)


def aged_16_from(birth_date: datetime.date) -> datetime.date:
    """First day on which the child is 已满十六周岁: the day after :func:`sixteenth_birthday`.

    Born 2010-03-15 → 2026-03-16; born 2012-02-29 → 2028-03-01. See the module docstring for the legal basis.
    """
    return sixteenth_birthday(birth_date) + datetime.timedelta(days=1)


def is_under_16(birth_date: datetime.date, on: datetime.date) -> bool:
    """Whether the child is 不满十六周岁 on ``on`` (still True on the 16th birthday itself).

    A ``birth_date`` after ``on`` also returns True (not yet born is not "16 or over"); callers assessing
    eligibility should use :func:`assess_migrant_child`, which reports that as ``birth_date_in_future``.
    """
    return _as_date(on, "on") < aged_16_from(birth_date)


def _resolve(value: str | Region) -> Region:
    return value if isinstance(value, Region) else get_county(value)


def assess_migrant_child(
    *,
    birth_date: datetime.date,
    hukou_county: str | Region,
    residence_county: str | Region,
    arrival_date: datetime.date,
    on: datetime.date,
) -> MigrantAssessment:
    """Assess the migrant-child definition of policy section 一 on the date ``on``.

    Args:
        birth_date: the child's date of birth (e.g. from :func:`models.resident_id.birth_date_of`).
        hukou_county: household-registration county (户籍地), a code or name accepted by
            :func:`models.regions.get_county` (any Chinese county code) or a :class:`Region`.
        residence_county: county of residence (居住地), same forms.
        arrival_date: date the child started living in the residence county.
        on: the assessment date (e.g. the survey date).

    The three tests — under 16 (:func:`_age_test`); registration and residence in different counties that are not
    two central districts of one city (:func:`_place_test`); six months of residence by ``on``
    (:func:`_residence_tests`) — are all evaluated and all reported, passing or failing, so a caseworker sees why.
    See the module docstring for the date rules.

    Returns:
        :class:`MigrantAssessment`.

    Raises:
        models.regions.UnknownRegion: (a ValueError) when a county cannot be resolved.
        TypeError: when a date argument is not a date.
    """
    birth_date = _as_date(birth_date, "birth_date")
    arrival_date = _as_date(arrival_date, "arrival_date")
    on = _as_date(on, "on")
    hukou, residence = _resolve(hukou_county), _resolve(residence_county)
    turns_16_on = aged_16_from(birth_date)
    age, place = _age_test(birth_date, turns_16_on, on), _place_test(hukou, residence)
    six_months_on, residence_reasons = _residence_tests(birth_date, arrival_date, on)
    reasons = [age, place, *residence_reasons]
    return MigrantAssessment(
        is_migrant=all(reason.passed for reason in reasons),
        reasons=reasons,
        turns_16_on=turns_16_on,
        six_months_on=six_months_on,
        hukou_county=hukou,
        residence_county=residence,
    )


def _age_test(birth_date: datetime.date, turns_16_on: datetime.date, on: datetime.date) -> Reason:
    """方案 一: 不满十六周岁 — ``under_16`` until the 16th birthday included, then ``aged_out``
    (``birth_date_in_future`` for a birth date after ``on``)."""
    if birth_date > on:
        return Reason(
            code="birth_date_in_future", passed=False,
            text_zh=f"出生日期 {birth_date} 晚于评估日期 {on}，请核对出生日期",
            text_en=f"Birth date {birth_date} is after the assessment date {on}; check the birth date",
        )
    if on < turns_16_on:
        return Reason(
            code="under_16", passed=True,
            text_zh=f"{on} 时未满十六周岁（{turns_16_on} 起年满十六周岁）",
            text_en=f"Under 16 on {on} (aged 16 from {turns_16_on})",
        )
    return Reason(
        code="aged_out", passed=False,
        text_zh=f"{turns_16_on} 起已满十六周岁，不再属于流动儿童",
        text_en=f"Aged 16 since {turns_16_on}; no longer within the migrant-child definition",
    )


def _place_test(hukou: Region, residence: Region) -> Reason:
    """方案 一: 离开户籍地，跨县域异地居住或生活 — ``cross_county``; ``same_county`` when both are one county, and
    ``central_districts_same_city`` for 城市中心城区的市辖区之间异地居住或生活的除外."""
    h, r = hukou.full_name, residence.full_name
    if hukou.code == residence.code:
        return Reason(
            code="same_county", passed=False,
            text_zh=f"户籍地与居住地同为 {r}，未跨县域",
            text_en=f"Household registration and residence are both {r}: no county boundary crossed",
        )
    if hukou.central and residence.central and hukou.city_code == residence.city_code:
        return Reason(
            code="central_districts_same_city", passed=False,
            text_zh=(f"户籍地 {h} 与居住地 {r} 同为{residence.city_name}中心城区的市辖区，"
                     "市辖区之间异地居住或生活的除外（实施方案第一部分）"),
            text_en=(f"Household registration {h} and residence {r} are both central districts of "
                     f"{residence.city_name}; moves between them do not count (policy section 1)"),
        )
    return Reason(
        code="cross_county", passed=True,
        text_zh=f"户籍地 {hukou.province_name}{h}，居住地 {r}，跨县域居住",
        text_en=f"Household registration {hukou.province_name}{h}, residence {r}: across a county boundary",
    )


def _residence_tests(birth_date: datetime.date, arrival_date: datetime.date,
                     on: datetime.date) -> tuple[datetime.date, list[Reason]]:
    """方案 一: 居住或生活 6 个月以上 — the day six months are reached, and the reasons: ``residence_from_birth``
    (informational) when the child was born after arriving, then ``resided_6_months`` | ``resided_under_6_months``
    | ``arrival_in_future``."""
    reasons: list[Reason] = []
    start = arrival_date
    if birth_date > arrival_date and birth_date <= on:
        start = birth_date
        reasons.append(Reason(
            code="residence_from_birth", passed=True,
            text_zh=f"到达日期 {arrival_date} 早于出生日期，居住时间自出生日 {birth_date} 起计算",
            text_en=f"Arrival {arrival_date} is before birth; residence counted from the birth date {birth_date}",
        ))
    six_months_on = add_months(start, 6)
    if arrival_date > on:
        reasons.append(Reason(
            code="arrival_in_future", passed=False,
            text_zh=f"到达居住地日期 {arrival_date} 晚于评估日期 {on}，请核对",
            text_en=f"Arrival date {arrival_date} is after the assessment date {on}; check it",
        ))
    elif six_months_on <= on:
        reasons.append(Reason(
            code="resided_6_months", passed=True,
            text_zh=f"自 {start} 起在居住地生活，{six_months_on} 已满 6 个月",
            text_en=f"Living in the residence county since {start}; six months reached on {six_months_on}",
        ))
    else:
        reasons.append(Reason(
            code="resided_under_6_months", passed=False,
            text_zh=f"自 {start} 起在居住地生活，至 {six_months_on} 才满 6 个月",
            text_en=f"Living in the residence county since {start}; six months only on {six_months_on}",
        ))
    return six_months_on, reasons


def assess_key_care(criteria: Iterable[KeyCareCriterion | str], is_migrant: bool) -> bool:
    """Whether a child is a key care target (重点关爱服务对象), policy section 一（二）.

    True when the child is a migrant child and meets at least one :class:`KeyCareCriterion` (family hardship,
    disability, missing guardianship, vagrancy, psychological/behavioural abnormality, or — for a child who
    crossed a township — an own request for help). Such a child gets a file at the township of residence
    (一人一档) and the child director contacts them at least monthly and visits the home at least every three
    months.

    Args:
        criteria: the criteria met (enum members or their string values).
        is_migrant: e.g. ``assess_migrant_child(...).is_migrant``.

    Raises:
        ValueError: for a string that is not a criterion.
    """
    return key_care_target(bool(is_migrant), {KeyCareCriterion(criterion) for criterion in criteria})


def key_care_target(is_migrant: bool, criteria: Collection[str]) -> bool:
    """The one rule of 方案 一（二）, on criteria already checked: a migrant child with at least one criterion. The
    survey's row test (:func:`models.survey_rules.classify`) and every other door (:mod:`careflow.key_care`) call
    it."""
    return is_migrant and len(criteria) > 0
