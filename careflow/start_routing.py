"""Whether a pathway can start for a child: the steps it takes first must have a unit for the child's area.

:func:`check_first_steps_routable` runs in :func:`careflow.cases.create_pathway_run` (the web page, the API and the
command line all start through it), before anything is stored: a guardianship pathway for a child whose residence is
recorded only down to the township (城厢区龙桥街道) would otherwise be created, its flow run would fail on the village
committee's step (``NoUnitForAgency``) and be restarted for minutes, and end 受阻 with the engine's text. The refusal
(:class:`PathwayNotRoutable`) names the step, the agency and the child's area as recorded, and what to do: record the
child's village, or ask the administrator to add the unit to the directory.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from careflow.key_care import SCREENING_PATHWAY
from careflow.registration_place import step_level
from careflow.routing import NoUnitForAgency, coarser_than, resolve_unit, step_area
from core.i18n import LANGUAGES, gettext, label
from models.areas import area_name
from models.case import Case
from models.child import Child
from models.pathways import PathwayStep
from models.policy import load_policy
from models.service_list import referral_item


class PathwayNotRoutable(ValueError):
    """A step the pathway takes first cannot be given to any unit for this child (:func:`check_first_steps_routable`):
    the child's area is coarser than the step's agency needs (``case.refused.area_too_coarse``: a village committee's
    step for a child registered only down to the township), or the agency directory has no unit for the area
    (``case.refused.no_unit``: the administrator adds one). Worded by :meth:`text` in the reader's language (as
    :class:`careflow.cases.CaseRefused`); ``str()`` is the Chinese text."""

    def __init__(self, key: str, **values):
        self.key, self.values = key, values
        super().__init__(self.text("zh"))

    def text(self, lang: str) -> str:
        """The refusal in ``lang`` (``zh`` or ``en``); a value given by language is read in that language."""
        return gettext(self.key, lang, **{name: value.get(lang, value.get("zh")) if isinstance(value, dict) else value
                                          for name, value in self.values.items()})


def first_requests(pathway: str, parameters: Mapping[str, Any]) -> list[tuple[PathwayStep, str]]:
    """The ``(step, agency type)`` pairs a run of ``pathway`` with these (validated) start ``parameters`` certainly
    requests first, as its flow does: the first step's agencies; for a service-list referral the item's step and
    departments. None for what is decided only as the run goes: a programme item (18-20, no department's task), a
    normal screening result (no step), a step at the registration place (省内 or 跨省通办, decided by the directory
    when the step is reached)."""
    definition = load_policy().pathway(pathway)
    if definition.item_steps or pathway == "service_referral":
        item = referral_item(parameters)
        if item.delivery == "programme":
            return []
        step, agencies = definition.step_for_item(item.number), list(item.departments)
    else:
        if pathway == SCREENING_PATHWAY and parameters.get("screening_result") == "normal":
            return []
        step = definition.steps[0]
        agencies = step.agencies
    if step.jurisdiction_basis == "registration_place":
        return []
    return [(step, agency) for agency in agencies]


def check_first_steps_routable(session: Session, case: Case, pathway: str, parameters: Mapping[str, Any]) -> None:
    """Refuse to start ``pathway`` on ``case`` when a step it takes first (:func:`first_requests`) cannot be given to
    any unit: routed as the flow routes it (:func:`careflow.routing.step_area`, at the step's level), before anything
    is stored, so a run that could only fail (``NoUnitForAgency`` in its flow) is never created.

    Raises:
        PathwayNotRoutable: ``case.refused.area_too_coarse`` when the area is coarser than the step's level (a
            township where a village committee acts: add the child's village), else ``case.refused.no_unit`` (the
            directory lacks the unit: ask the administrator); naming the step, the agency and the area.
    """
    child = session.get(Child, case.child_id)
    for step, agency in first_requests(pathway, parameters):
        level = step_level(step, agency)
        area = step_area(step, child, parameters)
        try:
            resolve_unit(session, agency, area, level=level)
        except NoUnitForAgency:
            raise _not_routable(step, agency, area, level) from None


#: What the child's residence is recorded down to, by the length of its code.
_AREA_LEVEL = {6: "county", 9: "township"}


def _not_routable(step: PathwayStep, agency: str, area: str, level: str) -> PathwayNotRoutable:
    values = {"step": {"zh": step.title_zh, "en": step.title_en},
              "agency": {lang: label(agency, "agency", lang) for lang in LANGUAGES},
              "area": area_name(area) or area}
    if step.jurisdiction_basis in ("residence", "school_place") and coarser_than(area, level):
        return PathwayNotRoutable(
            "case.refused.area_too_coarse", **values,
            recorded={lang: gettext(f"case.area_level.{_AREA_LEVEL[len(area)]}", lang) for lang in LANGUAGES},
            needed={lang: gettext(f"case.area_level.{level}", lang) for lang in LANGUAGES})
    return PathwayNotRoutable("case.refused.no_unit", **values)
