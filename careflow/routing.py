"""Routing a step to a concrete agency unit (承办单位) by agency type and jurisdiction."""
from __future__ import annotations

from pathlib import Path

import yaml
from sqlmodel import Session, select

import core.i18n  # noqa: F401  (the catalogues the errors raised here are worded from)
from models.agency import AgencyUnit
from models.errors import FieldLookupError, FieldValueError, Labels
from models.areas import area_name


class NoUnitForAgency(FieldLookupError):
    """No active unit of the agency type covers the area: ``problem.no_unit_for_agency`` (``…_at`` with a level)
    names both, worded in the reader's language by :meth:`text`; ``str()`` stays the Chinese text, which callers
    store (a survey import's unrouted areas)."""

    def __str__(self) -> str:
        return self.text("zh")


def jurisdiction_prefix(code: str) -> str:
    """The prefix every area inside ``code`` starts with.

    GB/T 2260 codes pad with zeros: ``350000`` (province) → ``35``, ``350300`` (city) → ``3503``,
    ``350302`` (county) → ``350302``. Township (9) and village (12) codes are used as they are.
    """
    if len(code) == 6:
        for _ in range(2):
            if code.endswith("00"):
                code = code[:-2]
        return code
    return code


#: Length of a jurisdiction prefix at each level (see :func:`jurisdiction_prefix`).
LEVEL_PREFIX_LENGTH = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}


def resolve_unit(session: Session, agency_type: str, area_code: str, level: str | None = None) -> AgencyUnit:
    """The active unit of ``agency_type`` whose jurisdiction most closely contains ``area_code``.

    A village unit beats its township's, a township's the county's, the county's the city's — but never
    a unit finer than ``level`` (``village``/``township``/``county``/``city``): the guardianship assessment
    is the county civil affairs bureau's even where a township civil affairs office exists. A province-level unit
    (省民政厅, which confirms the cities' list filings) is chosen only when ``level`` is ``province``: a child's step
    in a county without a unit is a gap in the directory, not the province's task.

    Raises:
        NoUnitForAgency: when no unit of that type covers the area at that level or above.
    """
    return choose_unit(active_units(session, agency_type), agency_type, area_code, level)


def active_units(session: Session, agency_type: str) -> list[AgencyUnit]:
    """The active units of ``agency_type`` (what :func:`choose_unit` chooses among)."""
    return list(session.exec(
        select(AgencyUnit).where(AgencyUnit.agency_type == agency_type, AgencyUnit.active == True)  # noqa: E712
    ).all())


def choose_unit(units: list[AgencyUnit], agency_type: str, area_code: str, level: str | None = None) -> AgencyUnit:
    """:func:`resolve_unit` among ``units`` (the active units of ``agency_type``, :func:`active_units`), for a
    caller routing many areas with one read of the directory.

    Raises:
        NoUnitForAgency: as :func:`resolve_unit`.
    """
    finest = LEVEL_PREFIX_LENGTH.get(level or "village", 12)
    covering = [
        u for u in units
        if area_code.startswith(jurisdiction_prefix(u.jurisdiction_code))
        and len(jurisdiction_prefix(u.jurisdiction_code)) <= finest
        and (len(jurisdiction_prefix(u.jurisdiction_code)) > 2 or level == "province")
    ]
    if not covering:
        area = area_name(area_code) or Labels(["unnamed"], "routing.area")
        raise NoUnitForAgency("", "problem.no_unit_for_agency_at" if level else "problem.no_unit_for_agency",
                              agency=Labels([agency_type], "agency"), code=agency_type, area=area,
                              area_code=area_code, level=Labels([level or "village"], "routing.level"))
    return max(covering, key=lambda u: len(jurisdiction_prefix(u.jurisdiction_code)))


def step_area(step, child, parameters) -> str:
    """The area code a pathway step is routed by, for ``child`` and the run's start ``parameters``: the child's
    residence (village, township or county code), or for ``jurisdiction_basis: emergency_place`` the
    ``emergency_area_code`` of the parameters (临时救助 is given where the emergency happens, 方案 六); for
    ``school_place`` the ``school_area_code`` when given, else the residence; for ``registration_place`` the
    child's registration county. One rule for the flow's routing (:func:`careflow.step_tasks.routing_area`) and the
    check before a pathway starts (:func:`careflow.cases.check_first_steps_routable`).

    Raises:
        ValueError: an emergency-place step without ``emergency_area_code``.
    """
    if step.jurisdiction_basis == "emergency_place":
        code = str(parameters.get("emergency_area_code", "")).strip()
        if not code:
            raise FieldValueError("emergency_area_code", "problem.emergency_place_needed", step=step.key)
        return code
    if step.jurisdiction_basis == "school_place" and str(parameters.get("school_area_code") or "").strip():
        return str(parameters["school_area_code"]).strip()  # the school's place (方案 十一), else the residence
    if step.jurisdiction_basis == "registration_place":
        return child.hukou_county_code
    return child.residence_area_code or child.residence_county_code


def coarser_than(area_code: str, level: str | None) -> bool:
    """Whether ``area_code`` (a county's 6 or a township's 9 digits) is coarser than the ``level`` a unit is found at:
    a child whose residence is recorded only down to the township has no village committee, whatever the directory
    holds; the child's village must be recorded."""
    return len(area_code) in (6, 9) and len(area_code) < LEVEL_PREFIX_LENGTH.get(level or "village", 12)


def gap_outcome(gap: NoUnitForAgency, pathway: str, step_key: str):
    """How a pathway run stopped at ``step_key`` because no unit takes it (``gap``), as the outcome people read
    (:class:`core.outcome.Outcome`, worded in the reader's language): ``no_unit_area`` when the child's area is
    coarser than the step's level (add the village), else ``no_unit`` (the administrator adds the unit). No class
    name, agency code or file name."""
    from core.outcome import Outcome  # start-up: only when a step cannot be routed

    area_code = str(gap.values.get("area_code", ""))
    level = next(iter(gap.values.get("level") or ()), "village")
    values = {"step": f"{pathway}/{step_key}", "agency": gap.values.get("code", ""),
              "area": area_name(area_code) or area_code}
    if coarser_than(area_code, level):
        return Outcome().add("no_unit_area", **values, needed=level)
    return Outcome().add("no_unit", **values)


class DirectoryError(FieldValueError):
    """A malformed agency directory file (``policy/agency_units.yaml``): the problem of one field, labelled with its
    place in the file (``agency_units.yaml：第 3 项（police-350302）的 jurisdiction_code`` /
    ``agency_units.yaml: units[2] (police-350302): field 'jurisdiction_code'``); ``str()`` is the Chinese text."""

    def __str__(self) -> str:
        return self.text("zh")


def load_agency_units(session: Session, path: Path) -> int:
    """Insert or update the units listed in a directory YAML file; returns how many were read.

    File shape: ``units: [{code, agency_type, jurisdiction_code, name}, ...]``.

    Raises:
        DirectoryError (a ValueError): naming the file, the entry and the field when the file is not YAML or an
            entry is malformed, worded in the reader's language.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:  # the parser's own words quoted
        raise DirectoryError("units", "problem.units_not_yaml", labels=_place(path),
                             detail=getattr(exc, "problem", None) or str(exc)) from None
    entries = data.get("units") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DirectoryError("units", "problem.units_not_a_list", labels=_place(path))
    for index, entry in enumerate(entries):
        for field in ("code", "agency_type", "jurisdiction_code", "name"):
            if not isinstance(entry, dict) or not str(entry.get(field, "")).strip():
                raise DirectoryError(field, "problem.required", labels=_place(path, index, entry, field))
        code = str(entry["jurisdiction_code"])
        if not code.isdigit() or len(code) not in (6, 9, 12):
            raise DirectoryError("jurisdiction_code", "problem.units_area_code", value=code,
                                 labels=_place(path, index, entry, "jurisdiction_code"))
        unit = session.get(AgencyUnit, entry["code"]) or AgencyUnit(code=entry["code"])
        unit.agency_type = entry["agency_type"]
        unit.jurisdiction_code = code
        unit.name = entry["name"]
        unit.active = bool(entry.get("active", True))
        unit.answers_by_command = bool(entry.get("answers_by_command", False))
        session.add(unit)
    return len(entries)


def _place(path: Path, index: int | None = None, entry=None, field: str = "") -> dict[str, str]:
    """The place of a directory file's problem by language: the file, and the entry (its position, its code) and
    field when given."""
    if index is None:
        return {"zh": str(path), "en": str(path)}
    code = entry.get("code") if isinstance(entry, dict) else None
    return {"zh": f"{path}：第 {index + 1} 项" + (f"（{code}）" if code else "") + f"的 {field}",
            "en": f"{path}: units[{index}]" + (f" ({code})" if code else "") + f": field {field!r}"}
