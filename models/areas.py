"""Names of areas below the county (乡镇/街道 9 digits, 村/社区 12 digits), so that people read names, not codes.

``policy/areas.yaml`` lists the townships and villages of the deployment; county-level names come from
:mod:`models.regions`. :func:`area_name` shows a code as a name (``350302001001`` → ``城厢区龙桥街道凤山社区``);
:func:`find_area` reads what a person typed in a form — a code, or a name with or without its county
(``霞林街道``, ``城厢区霞林街道霞林社区``) — and returns the code; :func:`area_choices` offers the names a form's
datalist lists.
"""
from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

import yaml

from models.regions import UnknownRegion, get_county, load_regions

DEFAULT_AREAS_PATH = Path(__file__).resolve().parent.parent / "policy" / "areas.yaml"


@functools.lru_cache(maxsize=4)
def _areas(path: str) -> dict[str, str]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    names: dict[str, str] = {}
    for entry in data.get("areas") or []:
        code, name = str(entry["code"]), str(entry["name"])
        if not code.isdigit() or len(code) not in (9, 12):
            raise ValueError(f"areas: {code!r} is not a township (9 digits) or village (12 digits) code")
        names[code] = name
    return names


def load_areas(path: str | Path | None = None) -> dict[str, str]:
    """Area code → its own name (``350302001`` → ``龙桥街道``), read once."""
    return _areas(str(Path(path or DEFAULT_AREAS_PATH).resolve()))


def _county_name(code: str) -> str:
    try:
        return get_county(code[:6]).name
    except (UnknownRegion, ValueError):
        return ""


def area_name(code: str | None, *, with_county: bool = True) -> str:
    """The name of a county (6), township (9) or village (12 digits) code: ``城厢区龙桥街道凤山社区``; a city or
    province code by its name; a code whose name is unknown keeps the known part and the code
    (``城厢区 350302009``); ``""`` for none."""
    code = str(code or "").strip()
    if not code:
        return ""
    if not code.isdigit():
        return code
    regions = load_regions()
    if len(code) == 6:
        if code in regions.cities:
            return regions.cities[code]
        if code.endswith("0000"):
            return regions.province_name
        return _county_name(code) or code
    areas = load_areas()
    parts = [_county_name(code)] if with_county else []
    township = areas.get(code[:9], "")
    parts.append(township)
    if len(code) == 12:
        parts.append(areas.get(code, ""))
    known = "".join(p for p in parts if p)
    if (len(code) == 12 and code not in areas) or (len(code) == 9 and not township):
        return f"{known} {code}".strip()
    return known or code


def jurisdiction_choices() -> list[str]:
    """Names a jurisdiction may be chosen by: the province, its cities, counties, townships and villages."""
    regions = load_regions()
    return [regions.province_name, *regions.cities.values(), *(r.full_name for r in regions.counties),
            *(name for _code, name in area_choices())]


def area_choices(prefix: str = "") -> list[tuple[str, str]]:
    """``(code, full name)`` of every listed township and village whose code starts with ``prefix``."""
    return [(code, area_name(code)) for code in sorted(load_areas()) if code.startswith(prefix)]


def resolve_area(text: str) -> str | None:
    """The code of any area ``text`` names or is: a code of 2-12 digits as given, a township or village
    (:func:`find_area`), a Fujian city (``莆田市`` → ``350300``), the province (``福建省`` → ``350000``) or a county by
    name (:func:`models.regions.get_county`); None when none."""
    value = unicodedata.normalize("NFKC", str(text or "")).strip().replace(" ", "")
    if value.isdigit():
        return value
    found = find_area(value)
    if found:
        return found
    regions = load_regions()
    cities = [code for code, name in regions.cities.items() if value in (name, regions.province_name + name)]
    if len(cities) == 1:
        return cities[0]
    if value == regions.province_name:
        return next(iter(regions.cities))[:2] + "0000"
    try:
        return get_county(value).code
    except (UnknownRegion, ValueError):
        return None


def find_area(text: str) -> str | None:
    """The code of the area ``text`` names: a 9/12-digit code as given, or a listed name — its own
    (``霞林街道``), with its township (``霞林街道霞林社区``) or with its county (``城厢区霞林街道霞林社区``).
    None when no single area has that name."""
    value = unicodedata.normalize("NFKC", str(text or "")).strip().replace(" ", "")
    if value.isdigit():
        return value if len(value) in (9, 12) else None
    matches = [code for code in load_areas()
               if value in (area_name(code), area_name(code, with_county=False), load_areas()[code])]
    return matches[0] if len(matches) == 1 else None


def overdue_area(jurisdiction_code: str, case_county: str | None) -> str | None:
    """The area (6-digit GB/T 2260 code) whose civil affairs manager a task past its deadline goes to (the escalation
    ladder's ``overdue`` rung, DOMAIN.md §6): the case's county; else, for a duty without a case, the level above the
    unit's own jurisdiction — a county's (or a township's, a village's) county; for a city-level unit (a code ending in
    ``00``: a city has no county manager) the province (``350000``, 省民政厅, with whom cities file their service
    lists, 方案 四); None for a province-level unit (nothing above it)."""
    if case_county:
        return case_county
    code = (jurisdiction_code or "")[:6]
    if len(code) < 6 or code.endswith("0000"):
        return None
    return code[:2] + "0000" if code.endswith("00") else code
