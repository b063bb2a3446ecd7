"""The regular joint meeting (定期会商) of 闽民童〔2025〕5号 measure 十一, as data: its policy, periods, duty keys and
what a message or a page says about the duty.

检察院、公安等部门要及时通报流动儿童的涉罪或严重不良行为情况，并定期会商研究防范措施办法: each county's convener
(``policy/joint_meeting.yaml``: the procuratorate, *default*) holds one dated duty per period (``every_months``:
3, quarterly, *default*), keyed ``joint_meeting:<county code>:<first month of the period>``
(``joint_meeting:350302:2026-10``), due on the period's last day at 24:00 (Asia/Shanghai). Completing it records the
meeting: its date, who took part, the minutes and the agreed measures (:data:`MEETING_OUTCOME`). Pure: no tables;
:mod:`careflow.joint_meeting` opens the duties.
"""
from __future__ import annotations

import calendar
import datetime as dt
import functools
from pathlib import Path
from typing import NamedTuple

from pydantic import Field, field_validator

from models.outcome_fields import OutcomeField
from models.policy import load_policy
from models.policy_files import (
    Code, Detail, PolicyError, PolicyModel, PolicyProblem, Text, default_policy_dir, read_yaml, validate_file,
)
from models.regions import load_regions

__all__ = ["KIND", "MEETING_OUTCOME", "JointMeetingPolicy", "MeetingPeriod", "describe_meeting_duty",
           "load_joint_meeting_policy", "meeting_key", "meeting_period"]

#: The duty key's prefix and the task's ``step_key``.
KIND = "joint_meeting"


class JointMeetingPolicy(PolicyModel):
    """``policy/joint_meeting.yaml``.

    Attributes:
        every_months: the length of a period in months (1, 2, 3, 4, 6 or 12; periods start in January).
        convener: the agency type whose county unit holds the duty; participants: the others who meet.
    """

    source: Text
    every_months: int
    every_months_is_default: bool
    convener: Code
    participants: list[Code] = Field(default_factory=list)

    @field_validator("every_months")
    @classmethod
    def _divides_the_year(cls, value: int) -> int:
        if value not in (1, 2, 3, 4, 6, 12):
            raise ValueError(f"{value!r}: a period must be 1, 2, 3, 4, 6 or 12 months (periods start in January)")
        return value


@functools.lru_cache(maxsize=4)
def load_joint_meeting_policy(policy_dir: Path | None = None) -> JointMeetingPolicy:
    """Read and check ``<policy dir>/joint_meeting.yaml``: the period, and the convener and participants against the
    agency types of ``agencies.yaml`` (PolicyError naming the file, the field and the value)."""
    base = policy_dir or default_policy_dir()
    raw, rel = read_yaml(base / "joint_meeting.yaml", base.parent)
    meeting = validate_file(JointMeetingPolicy, raw, rel)
    known = load_policy(base).agencies
    unknown = [code for code in (meeting.convener, *meeting.participants) if code not in known]
    if unknown:
        raise PolicyError(PolicyProblem(rel, [], "", Detail("policy.problem.unknown_agencies", value=unknown)))
    return meeting


class MeetingPeriod(NamedTuple):
    """A meeting period: its first and last day; ``label`` is the first month (``2026-10``)."""

    first: dt.date
    last: dt.date

    @property
    def label(self) -> str:
        return self.first.strftime("%Y-%m")


def meeting_period(day: dt.date, every_months: int) -> MeetingPeriod:
    """The period of ``every_months`` months (aligned on January) that holds ``day``: quarterly, 2026-11-20 →
    2026-10-01 … 2026-12-31."""
    start_month = (day.month - 1) // every_months * every_months + 1
    end_month = start_month + every_months - 1
    last = dt.date(day.year, end_month, calendar.monthrange(day.year, end_month)[1])
    return MeetingPeriod(dt.date(day.year, start_month, 1), last)


def meeting_key(county_code: str, period: MeetingPeriod) -> str:
    """``joint_meeting:350302:2026-10``: one duty per county and period."""
    return f"{KIND}:{county_code}:{period.label}"


#: What the convener records when completing the duty: the meeting as held.
MEETING_OUTCOME: tuple[OutcomeField, ...] = (
    OutcomeField(name="held_on", type="text", label_zh="会商日期（YYYY-MM-DD）", label_en="Date of the meeting",
                 required=True),
    OutcomeField(name="participants", type="text", label_zh="参加单位", label_en="Participating units", required=True),
    OutcomeField(name="minutes", type="text", label_zh="会商纪要", label_en="Minutes", required=True),
    OutcomeField(name="measures", type="text", label_zh="商定的防范措施", label_en="Agreed prevention measures",
                 required=True),
)


def _period_text(label: str, every_months: int, en: bool = False) -> str:
    year, month = int(label[:4]), int(label[5:7])
    if every_months == 3:
        return f"Q{(month - 1) // 3 + 1} {year}" if en else f"{year}年第{(month - 1) // 3 + 1}季度"
    if every_months == 12:
        return str(year) if en else f"{year}年度"
    return f"{every_months} months from {label}" if en else f"{year}年{month}月起{every_months}个月"


def describe_meeting_duty(key: str, title: str = "", lang: str = "zh"):
    """The :class:`models.dated_duties.DutyDescription` fields of a joint-meeting duty ``key``, as a tuple
    (subject, pathway title, step title, instructions, outcome), in English when ``lang`` is ``"en"`` (else Chinese;
    the county's name as the regions file writes it, the stored ``title`` in Chinese only); None when ``key`` is not
    one."""
    kind, _, rest = key.partition(":")
    county_code, _, label = rest.partition(":")
    if kind != KIND or len(label) != 7:
        return None
    policy = load_joint_meeting_policy()
    try:
        name = load_regions().get_county(county_code).full_name
    except ValueError:
        name = county_code
    period = _period_text(label, policy.every_months, lang == "en")
    if lang == "en":
        subject = f"Joint meeting on preventing offences and serious misconduct of migrant children, {name} ({period})"
        instructions = ("Under Min Min Tong [2025] No. 5, measure 11, the procuratorate, the police and other "
                        "departments promptly report offences or serious misconduct of migrant children and meet "
                        f"regularly to agree on prevention measures. Before the end of {period}, please convene the "
                        "police, civil affairs, education and other departments, and record the date of the meeting, "
                        "the participating units, the minutes and the agreed prevention measures.")
        return subject, "Joint meeting (measure 11)", f"Joint meeting ({period})", instructions, MEETING_OUTCOME
    subject = f"{name}流动儿童涉罪和严重不良行为防范定期会商（{period}）"
    instructions = (f"按照闽民童〔2025〕5号（十一），检察院、公安等部门要及时通报流动儿童的涉罪或严重不良行为情况，并定期会商"
                    f"研究防范措施办法。请于{period}结束前召集公安、民政、教育等部门会商，并登记会商日期、参加单位、会商纪要和"
                    f"商定的防范措施。")
    return subject, "定期会商（方案十一）", title or f"定期会商（{period}）", instructions, MEETING_OUTCOME
