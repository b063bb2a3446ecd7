"""Names instead of codes on pages (issue 12, item 7): areas, units and people as people call them.

- :func:`county_label`: a county code as ``莆田市城厢区`` (outside Fujian with its province: ``四川省南充市南部县``);
- :func:`area_label`: any area code (county, township, village) by name (:func:`models.areas.area_name`);
- :func:`people_names`: logins → display names (one statement; a login without an account, or a name typed by a
  command-line officer, stays as written).

Unit names come from the agency directory (:func:`careflow.facts.unit_names`).
"""
from __future__ import annotations

from sqlmodel import Session, select

from models.areas import area_choices, area_name, find_area
from models.regions import UnknownRegion, get_county, load_regions
from models.user import WebUser

__all__ = ["area_input", "area_label", "county_label", "county_options", "people_names", "area_options"]


def county_label(code: str) -> str:
    """``莆田市城厢区`` for ``350302``; ``四川省南充市南部县`` for a county outside Fujian; the code when unknown."""
    try:
        region = get_county(code)
    except (UnknownRegion, ValueError):
        return code or ""
    return region.full_name if region.in_fujian else f"{region.province_name}{region.full_name}"


def area_label(code: str | None) -> str:
    """An area code of any level by name (``城厢区龙桥街道凤山社区``); ``""`` for none."""
    code = str(code or "")
    return county_label(code) if len(code) == 6 and not code.endswith("00") else area_name(code)


def county_options() -> list[str]:
    """Every county of Fujian as ``莆田市城厢区``, for a form's datalist (a code or another name is accepted too)."""
    return [region.full_name for region in load_regions().counties]


def area_options(prefix: str = "") -> list[str]:
    """Every listed township and village (inside ``prefix``) by name, for a form's datalist."""
    return [name for _code, name in area_choices(prefix)]


def area_input(code: str) -> str:
    """What a form's area input shows for ``code``: its name when the name leads back to it, else the code."""
    name = area_name(code)
    return name if code and find_area(name) == code else code


def people_names(session: Session, logins: list[str]) -> dict[str, str]:
    """Login → display name for ``logins`` (one statement); a value that is no account's login maps to itself."""
    wanted = sorted({login for login in logins if login})
    if not wanted:
        return {}
    found = dict(session.exec(select(WebUser.username, WebUser.display_name)
                              .where(WebUser.username.in_(wanted))).all())
    return {login: found.get(login) or login for login in wanted}
