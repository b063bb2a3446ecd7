"""What comes in: the shapes of forms and of the JSON API's request bodies (``/api``), and the field types they
are made of.

Inputs are validated before anything touches the database: text is length-bounded and may not hold
control characters or lone surrogates (PostgreSQL refuses NUL; neither database stores a lone surrogate; the
message, in the reader's language, names the character and its position), codes have patterns (a jurisdiction or
an area may be typed by name: :mod:`models.areas`), dates a plausible range (1990–2100), amounts ±10¹² yuan. Every
model refuses unknown fields. What goes out is :mod:`web.outputs`.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from models.areas import find_area, resolve_area
from models.eligibility import KeyCareCriterion
from models.errors import FieldValueError
from models.phone import check_phone
from models.user import UserRole

# --------------------------------------------------------------------------------------------- field types


#: Control characters a single-line text may not hold: C0 (tab, newline and carriage return included), DEL, C1.
_CONTROL = frozenset(chr(c) for c in [*range(32), *range(127, 160)])
#: What multi-line text (a report, a reason, a note) may hold besides: tab and line breaks.
_LINE_BREAKS = frozenset("\t\n\r")


def control_character_problem(value: str, *, multiline: bool = True) -> FieldValueError | None:
    """The first control character (or lone surrogate) of ``value`` and its position, as a problem worded in the
    reader's language (``problem.typed_control_character``: 第 3 个字符是控制字符 U+0000 …), or None.

    PostgreSQL refuses NUL in text and neither database stores a lone surrogate; the other control characters
    are refused so that what is stored is what a person sees. ``multiline`` allows tab, newline and carriage
    return.
    """
    for position, ch in enumerate(value, start=1):
        code = ord(ch)
        if (ch in _CONTROL and not (multiline and ch in _LINE_BREAKS)) or 0xD800 <= code <= 0xDFFF:
            kind = "surrogate_character" if 0xD800 <= code <= 0xDFFF else "control_character"
            return FieldValueError("", f"problem.typed_{kind}", position=position, code=f"U+{code:04X}")
    return None


def _printable(value: str) -> str:
    problem = control_character_problem(value)
    if problem:
        raise problem
    return value


def _one_line(value: str) -> str:
    problem = control_character_problem(value, multiline=False)
    if problem:
        raise problem
    return value


def Text(max_length: int, min_length: int = 0, *, multiline: bool = False):  # noqa: N802 - a type factory
    """A stripped string of ``min_length``..``max_length`` characters without control characters (with
    ``multiline``, tab and line breaks are allowed). The error names the character and its position; the
    field is named by the error's location."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     AfterValidator(_printable if multiline else _one_line)]


CASE_REFERENCE = r"^[A-Za-z0-9-]{1,40}$"
UNIT_CODE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
AREA_CODE = r"^\d{6}(\d{3}(\d{3})?)?$"
FIELD_NAME = r"^[a-z][a-z0-9_]{0,47}$"
EARLIEST = dt.date(1990, 1, 1)
LATEST = dt.date(2100, 12, 31)
PlausibleDate = Annotated[dt.date, Field(ge=EARLIEST, le=LATEST)]
#: A number in an answer (an amount in yuan): JSON numbers are accepted as well as digits in text.
Number = Annotated[Decimal, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]
#: Service-list items as a list (an onward referral): numbers, or the services' names.
ItemList = Annotated[list[Annotated[int, Field(ge=0, le=999)] | Text(60)], Field(max_length=40)]
FieldValue = bool | Number | Text(1000, multiline=True) | ItemList


def _any_area(value):
    """A jurisdiction typed by name (``莆田市``, ``城厢区``, ``城厢区龙桥街道``) or code, as its code
    (:func:`models.areas.resolve_area`); anything else is left for the pattern to refuse."""
    return (resolve_area(value) or value.strip()) if isinstance(value, str) and value.strip() else value


#: A jurisdiction (province, city, county, township or village): a code or a name.
Jurisdiction = Annotated[str, BeforeValidator(_any_area), Field(pattern=r"^(\d{6}(\d{3}(\d{3})?)?)?$")]
AreaCode = Annotated[str, BeforeValidator(_any_area), Field(pattern=AREA_CODE)]


def _area_code(value):
    """A township/village typed by name (``城厢区龙桥街道凤山社区``) or code, as its code (:func:`models.areas.find_area`);
    text naming no listed area is left as typed, for the pattern to refuse naming the field."""
    return (find_area(value) or value.strip()) if isinstance(value, str) else value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------- shapes


def _guardian_phone(value: str) -> str:
    """A guardian's phone by :func:`models.phone.check_phone` (mobile or landline with its area code)."""
    return check_phone(value)


class GuardianIn(_In):
    full_name: Text(64, 1)
    relation: Text(32, 1) = Field(description="e.g. 父亲, 母亲, 祖母")
    phone: Annotated[Text(32), AfterValidator(_guardian_phone)] = Field(
        "", description="mobile (11 digits starting with 1) or landline with its area code; spaces, +, -, () allowed")


#: A child's sex as stored (the registration form's values) → the catalogue key of its label.
SEXES = {"男": "child.sex_m", "女": "child.sex_f"}


class ChildCreate(_In):
    """A child to register (方案 一: the migrant-child test is run on these facts)."""

    resident_id: Text(32, 1) = Field(description="18-character resident ID (GB 11643)")
    full_name: Text(64, 1)
    sex: Literal["", "男", "女"] = ""
    hukou_county: Text(40, 1) = Field(description="household-registration county: GB/T 2260 code or name")
    residence_county: Text(40, 1) = Field(description="residence county: code or name")
    residence_area_code: Annotated[str, BeforeValidator(_area_code), Field(pattern=r"^(\d{9}|\d{12})?$")] = Field(
        "", description="township (9) or village/community (12 digit) code inside the residence county, or its "
                        "name (e.g. 城厢区龙桥街道凤山社区, policy/areas.yaml)")
    residence_address: Text(200, multiline=True) = ""
    arrival_date: PlausibleDate = Field(description="when the child came to live in the residence county")
    key_care_criteria: list[KeyCareCriterion] = Field(default_factory=list, max_length=6)
    guardians: list[GuardianIn] = Field(default_factory=list, max_length=4)


class ReportCreate(_In):
    """A report about a child (报告): recorded by opening a case whose summary it becomes. Key care grounds the
    report shows (方案 一（二）) are added to the child's and, for a key care target, open the file (一人一档), its
    duties and the family guardianship assessment at once (``careflow.key_care.open_key_care``)."""

    summary: Text(400, 1, multiline=True) = Field(description="what was reported")
    reported_by: Text(60) = ""
    mandatory_report: bool = Field(False, description="made by a mandatory reporter (强制报告)")
    key_care_criteria: list[KeyCareCriterion] = Field(default_factory=list, max_length=6,
                                                      description="key care grounds the report shows (重点关爱情形)")


class PathwayStart(_In):
    """Start a pathway (a key of ``careflow.deployments.PATHWAY_DEPLOYMENTS``) with its policy start parameters."""

    pathway: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    parameters: dict[Annotated[str, Field(pattern=FIELD_NAME)], FieldValue] = Field(default_factory=dict,
                                                                                   max_length=20)


class RejectIn(_In):
    reason: Text(1000, 1, multiline=True)
    rejection_kind: str = Field("", max_length=40, description="not_ours | wrong_area | need_more_information | "
                                                               "other ('' not given): careflow.reroute")
    reroute_unit: str = Field("", max_length=64, description="not_ours/wrong_area: the unit code the step belongs to")


class CompleteIn(_In):
    """The step's outcome: field name → value (``true``/``false`` or text: yes/no, 是/否 accepted)."""

    outcome: dict[Annotated[str, Field(pattern=FIELD_NAME)], FieldValue] = Field(default_factory=dict, max_length=20)


#: A work phone: digits, spaces, +, - and parentheses (e.g. ``0594-2288123`` or ``138 0000 0000``).
PHONE = r"^[0-9+()\- ]*$"


class UserCreate(_In):
    username: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$")]
    display_name: Text(64) = ""
    phone: Annotated[str, Field(max_length=32, pattern=PHONE)] = ""
    role: UserRole
    jurisdiction_code: Jurisdiction = ""
    unit_code: Annotated[str, Field(pattern=r"^([a-z0-9][a-z0-9_.-]{0,63})?$")] | None = None
    password: Annotated[str, Field(min_length=10, max_length=200), AfterValidator(_printable)]


class UserUpdate(_In):
    display_name: Text(64) | None = None
    phone: Annotated[str, Field(max_length=32, pattern=PHONE)] | None = None
    role: UserRole | None = None
    jurisdiction_code: Jurisdiction | None = None
    unit_code: Annotated[str, Field(pattern=r"^([a-z0-9][a-z0-9_.-]{0,63})?$")] | None = None
    active: bool | None = None
    password: Annotated[str, Field(min_length=10, max_length=200), AfterValidator(_printable)] | None = None


class TokenCreate(_In):
    name: Text(64) = Field("", description="what the token is for")


class UnitCreate(_In):
    code: Annotated[str, Field(pattern=UNIT_CODE)]
    agency_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    jurisdiction_code: AreaCode
    name: Text(120, 1)
    active: bool = True
    answers_by_command: bool = False


class UnitUpdate(_In):
    agency_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] | None = None
    jurisdiction_code: AreaCode | None = None
    name: Text(120, 1) | None = None
    active: bool | None = None
    answers_by_command: bool | None = None
