"""Dated duties (法定定期事项): tasks a date sets rather than a pathway step — their kinds, keys and what a message
about one says.

* A published city list creates two (闽民童〔2025〕5号 四、工作要求, :data:`DUTY_KINDS`): filing with the provincial
  civil affairs department within 10 days (制定下发后10日内报送省民政厅备案) and republication every two years
  (每两年更新发布一次); ``careflow.city_list`` stores them. When the city records its filing, the provincial
  department gets a third, to confirm receipt (``city_list_filing_receipt``): the list is filed once it confirms.
* Each county's convener holds the joint meeting of 方案 十一 (定期会商, :mod:`models.joint_meeting`), one duty a
  period (``joint_meeting:350302:2026-10``), completed with the minutes and the agreed measures.
* A department that organises programmes (service-list items 18-20, 方案 （九）（十）（十一）) reports them every
  quarter (``programme_report:<2026Q4>:<unit>``, :mod:`models.programmes`); ``careflow.programme_reports`` opens them.
* A key care target's file gives the child director two (方案 一（二）, :class:`ContactKind`): a contact every month
  (每个月联系一次) and a home visit every three months (每三个月入户走访一次); ``careflow.survey.duties`` plans them.
* Opening that file puts the child into the family guardianship assessment (方案 七, :data:`ASSESSMENT_DUTY`), a task
  for the county civil affairs bureau described by the guardianship pathway's step of that name;
  ``careflow.key_care`` opens it.

A duty is an :class:`models.task.AgencyTask` with a ``duty_key`` (``city_list_filing:350300:2025-03-01``,
``contact:<child id>:2026-11``); :func:`describe_duty` gives what a message or a page says in place of a case and a
step, in Chinese or, on request, English: the city list duties' own ``title_en``/``instructions_en``
(:data:`DUTY_KINDS`), the guardianship step's, the other kinds' English words beside their Chinese here and in
:mod:`models.joint_meeting` (models name no catalogue: :mod:`core.i18n` is a layer above). Place names stay as the
regions file writes them. Pure: no tables here (a flow-run process describes duties without loading the survey's).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from models.joint_meeting import describe_meeting_duty
from models.outcome_fields import OutcomeField
from models.policy import load_policy
from models.programmes import PROGRAMME_REPORT_OUTCOME, REPORT_STEP, quarter_label
from models.regions import load_regions

__all__ = [
    "ASSESSMENT_DUTY", "ContactKind", "DUTY_KINDS", "PROVINCE_CODE", "DutyDescription", "DutyKind",
    "KEY_CARE_DUTY_OUTCOME", "assessment_duty_key", "describe_duty", "duty_key", "is_contact_duty_key",
    "split_duty_key",
]


@dataclass(frozen=True)
class DutyKind:
    """A dated duty of a city list, as data.

    Attributes:
        kind: the duty key's prefix (``city_list_filing``), also the task's ``step_key``.
        title_zh / title_en: the task title in Chinese / English.
        period_days / period_years: when it is due, counted from the publication date in calendar days
            (民法典 第二百零一条-第二百零三条: the day of publication is not counted; a last day that is a rest
            day moves to the next working day); exactly one is set.
        source: the policy's words.
        instructions_zh / instructions_en: what the unit must do (``{city}``, ``{published}`` filled in).
        outcome: the fields of the answer.
        period_working_days: instead of the two periods, working days counted from when the duty is requested (the
            provincial department's confirmation of receipt: a *default*, no law fixes it).
        unit_level: whose duty it is: ``city`` (the city's civil affairs bureau, ``civil_affairs-<city>``) or
            ``province`` (the provincial department, ``civil_affairs-350000``).
    """

    kind: str
    title_zh: str
    period_days: int | None
    period_years: int | None
    source: str
    instructions_zh: str
    outcome: tuple[OutcomeField, ...]
    period_working_days: int | None = None
    unit_level: str = "city"
    title_en: str = ""
    instructions_en: str = ""

    @property
    def counted_from_publication(self) -> bool:
        """True when the deadline counts from the list's publication date (else from the request)."""
        return self.period_working_days is None


#: The two duties a published city list creates (闽民童〔2025〕5号 四、工作要求), and the provincial department's
#: confirmation of receipt, opened when the city records its filing (the list is 已备案 only once it is confirmed).
DUTY_KINDS: dict[str, DutyKind] = {
    "city_list_filing": DutyKind(
        kind="city_list_filing", title_zh="关爱服务清单报送省民政厅备案", period_days=10, period_years=None,
        source="闽民童〔2025〕5号 四：各地市关爱服务清单……于制定下发后10日内报送省民政厅备案",
        instructions_zh="{city}流动儿童关爱服务清单已于{published}制定下发。请于制定下发后10日内报送省民政厅备案"
                        "（闽民童〔2025〕5号 四、工作要求）。",
        outcome=(
            OutcomeField(name="filed", type="bool", label_zh="已报送省民政厅备案", label_en="Filed with the "
                         "provincial civil affairs department", required=True),
            OutcomeField(name="note", type="text", label_zh="情况说明", label_en="Note"),
        ),
        title_en="File the city care service list with the provincial civil affairs department",
        instructions_en="The care service list for migrant children of {city} was issued on {published}. Please file "
                        "it with the provincial civil affairs department within 10 days of its issue (Min Min Tong "
                        "[2025] No. 5, section 4, work requirements).",
    ),
    "city_list_republication": DutyKind(
        kind="city_list_republication", title_zh="关爱服务清单两年更新发布", period_days=None, period_years=2,
        source="闽民童〔2025〕5号 四：各地市关爱服务清单应每两年更新发布一次",
        instructions_zh="{city}流动儿童关爱服务清单于{published}发布，应每两年更新发布一次：请在截止日期前会同相关部门"
                        "更新发布，覆盖范围和实现程度不得低于省级关爱服务清单，并于制定下发后10日内报送省民政厅备案。",
        outcome=(
            OutcomeField(name="republished_on", type="text", label_zh="更新发布日期", label_en="Date republished",
                         required=True),
            OutcomeField(name="note", type="text", label_zh="情况说明", label_en="Note"),
        ),
        title_en="Republish the care service list every two years",
        instructions_en="The care service list for migrant children of {city} was published on {published} and must "
                        "be republished every two years: please republish it with the departments concerned before "
                        "the deadline, with a scope and level of service no lower than the provincial care service "
                        "list, and file it with the provincial civil affairs department within 10 days of its issue.",
    ),
    "city_list_filing_receipt": DutyKind(
        kind="city_list_filing_receipt", title_zh="确认收到市级关爱服务清单备案", period_days=None, period_years=None,
        source="闽民童〔2025〕5号 四：各地市关爱服务清单……于制定下发后10日内报送省民政厅备案（省民政厅确认收到）",
        instructions_zh="{city}民政局已登记将{published}制定下发的流动儿童关爱服务清单报送省民政厅备案。请核对是否收到，"
                        "并确认备案（闽民童〔2025〕5号 四、工作要求）；未收到的，请退回并说明原因。",
        outcome=(
            OutcomeField(name="received", type="bool", label_zh="已收到并备案", label_en="Received and filed",
                         required=True),
            OutcomeField(name="note", type="text", label_zh="情况说明", label_en="Note"),
        ),
        period_working_days=5, unit_level="province",
        title_en="Confirm receipt of a city care service list's filing",
        instructions_en="The civil affairs bureau of {city} has recorded that it filed the care service list for "
                        "migrant children issued on {published} with the provincial civil affairs department. Please "
                        "check whether it was received and confirm the filing (Min Min Tong [2025] No. 5, section 4, "
                        "work requirements); if nothing was received, return the task and say why.",
    ),
}

#: What a filing duty's later attempt adds to its instructions (the province answered that it received nothing).
REFILING_ZH = "省民政厅答复未收到前次报送的备案材料，请重新报送，并于办结时注明报送方式和日期。"
REFILING_EN = (" The provincial civil affairs department answered that it did not receive the earlier filing: please "
               "file again, and say how and when you filed when you complete the task.")

#: The provincial civil affairs department's area code (福建省民政厅: unit ``civil_affairs-350000``).
PROVINCE_CODE = "350000"


def duty_key(kind: str, city_code: str, published_on: date, attempt: int = 1) -> str:
    """``"<kind>:<city code>:<publication date>"``, e.g. ``city_list_filing:350300:2025-03-01``: one duty each; a
    later attempt of the same duty (the city filing again after the province received nothing) ends ``:r<n>``
    (``city_list_filing:350300:2025-03-01:r2``)."""
    if kind not in DUTY_KINDS:
        raise KeyError(f"unknown duty kind {kind!r}; known: {sorted(DUTY_KINDS)}")
    return f"{kind}:{city_code}:{published_on.isoformat()}" + (f":r{attempt}" if attempt > 1 else "")


def split_duty_key(key: str) -> tuple[str, str, str, int]:
    """A city list duty's key as ``(kind, city code, publication date as written, attempt)``; the inverse of
    :func:`duty_key` (``attempt`` 1 when the key has no ``:r<n>``). Other keys give their parts as far as they go."""
    kind, _, rest = (key or "").partition(":")
    city_code, _, rest = rest.partition(":")
    published, _, suffix = rest.partition(":")
    attempt = int(suffix[1:]) if suffix.startswith("r") and suffix[1:].isdigit() else 1
    return kind, city_code, published, attempt


class ContactKind(enum.StrEnum):
    """``contact``: the monthly contact (每个月联系一次); ``visit``: the home visit (每三个月入户走访一次)."""

    contact = "contact"
    visit = "visit"


def is_contact_duty_key(key: str) -> bool:
    """Whether ``key`` is the duty key of a child director's contact or visit (``contact:<child id>:2026-11``)."""
    return key.partition(":")[0] in ContactKind._value2member_map_


#: What a child director answers when completing a key care target's contact or visit duty as a task
#: (:func:`careflow.survey.care_files.complete_duty`): the day it happened (default today; a date picker on the page,
#: never after today, checked again by ``complete_duty``) and a note.
KEY_CARE_DUTY_OUTCOME: tuple[OutcomeField, ...] = (
    OutcomeField(name="contact_on", type="date", label_zh="联系/走访日期（不填为今天）",
                 label_en="Date of the contact or visit (default today)"),
    OutcomeField(name="note", type="text", label_zh="情况说明", label_en="Note"),
)


@dataclass(frozen=True)
class DutyDescription:
    """What a message about a dated duty says in place of a case and a pathway step.

    ``subject`` stands where a case reference would (e.g. ``莆田市流动儿童关爱服务清单（2025-03-01发布）``, in English
    ``Care service list for migrant children of 莆田市 (published 2025-03-01)``); every text in the language
    :func:`describe_duty` was asked for.
    """

    subject: str
    pathway_title: str
    step_title: str
    instructions: str
    outcome: tuple[OutcomeField, ...]


#: The family guardianship assessment a key care file opens (方案 七): its duty key's kind, the step key of the
#: guardianship pathway's step that describes it (``policy/pathways/guardianship.yaml``).
ASSESSMENT_DUTY = "guardianship_assessment"


def assessment_duty_key(child_id, day: date) -> str:
    """``guardianship_assessment:<child id>:<YYYY-MM-DD>``: the assessment a key care file opened on ``day``."""
    return f"{ASSESSMENT_DUTY}:{child_id}:{day.isoformat()}"


def describe_duty(key: str, title: str = "", lang: str = "zh") -> DutyDescription:
    """The subject, titles, instructions and answer fields of the duty with ``duty_key`` ``key``, in Chinese or, when
    ``lang`` is ``"en"``, English (any other value: Chinese).

    An unknown kind (a duty some other part of careflow created) is described by its key and ``title`` (as stored,
    in either language: a contact's or visit's English words are :mod:`web.duty_words`'); a family guardianship
    assessment by the guardianship pathway's ``guardianship_assessment`` step (its answer fields too).
    """
    en = lang == "en"
    meeting = describe_meeting_duty(key, title, lang)  # the joint meeting of 方案 十一 (models.joint_meeting)
    if meeting is not None:
        return DutyDescription(*meeting)
    kind, _, rest = key.partition(":")
    if kind == ASSESSMENT_DUTY:
        step = load_policy().pathway("guardianship").step(ASSESSMENT_DUTY)
        return DutyDescription(subject=title or key,
                               pathway_title="Key care targets (one file per child)" if en else "重点关爱服务对象（一人一档）",
                               step_title=(en and step.title_en) or step.title_zh,
                               instructions=(en and step.instructions_en) or step.instructions_zh,
                               outcome=tuple(step.outcome))
    if kind == REPORT_STEP:
        return _describe_report(rest, title, en)
    kind, city_code, published, attempt = split_duty_key(key)
    duty = DUTY_KINDS.get(kind)
    if duty is None or not published:
        return DutyDescription(subject=key, pathway_title="Dated duty" if en else "法定定期事项",
                               step_title=title or key, instructions=title or key,
                               outcome=KEY_CARE_DUTY_OUTCOME if is_contact_duty_key(key) else ())
    city = load_regions().cities.get(city_code, city_code)
    if en:
        return DutyDescription(
            subject=f"Care service list for migrant children of {city} (published {published})",
            pathway_title="Statutory duties of a city's care service list",
            step_title=duty.title_en + (f" (filing no. {attempt})" if attempt > 1 else ""),
            instructions=duty.instructions_en.format(city=city, published=published)
            + (REFILING_EN if attempt > 1 and kind == "city_list_filing" else ""),
            outcome=duty.outcome,
        )
    return DutyDescription(
        subject=f"{city}流动儿童关爱服务清单（{published}发布）", pathway_title="流动儿童关爱服务清单法定事项",
        step_title=duty.title_zh + (f"（第 {attempt} 次报送）" if attempt > 1 else ""),
        instructions=duty.instructions_zh.format(city=city, published=published)
        + (REFILING_ZH if attempt > 1 and kind == "city_list_filing" else ""),
        outcome=duty.outcome,
    )


def _describe_report(rest: str, title: str, en: bool = False) -> DutyDescription:
    """A department's quarterly programme report (``<2026Q4>:<unit code>``), in English when ``en``. The stored
    ``title`` (Chinese) is its step title in Chinese only."""
    quarter = rest.partition(":")[0]  # the unit is the recipient: its code is not repeated
    try:
        period = quarter_label(quarter)
    except ValueError:
        period = quarter
    else:
        period = f"Q{quarter[-1]} {quarter[:4]}" if en else period
    if en:
        return DutyDescription(
            subject=f"Report of care programmes, {period}", pathway_title="Quarterly report of care programmes",
            step_title=f"Quarterly report of care programmes, {period}",
            instructions=(f"Before the deadline, record the care programmes for migrant children your unit organised "
                          f"in {period} (items 18-20 of the service list: cultural life, city integration, legal and "
                          "safety education; Min Min Tong [2025] No. 5, measures 9, 10 and 11), with the children "
                          "invited and who took part, then confirm here."),
            outcome=PROGRAMME_REPORT_OUTCOME)
    return DutyDescription(
        subject=f"{period}关爱服务活动报告", pathway_title="关爱服务活动季度报告",
        step_title=title or "关爱服务活动季度报告",
        instructions=(f"请在截止日期前登记本单位{period}组织开展的流动儿童关爱服务活动（清单第18-20项：精神文化生活、"
                      "城市融入、法治安全教育；闽民童〔2025〕5号 （九）（十）（十一）），包括受邀儿童和实际参加情况，"
                      "登记完毕后在此确认。"),
        outcome=PROGRAMME_REPORT_OUTCOME)
