"""County names of all China, for a household registration (户籍地) typed by name (issue 12, item 7).

A migrant child's household-registration county is usually outside Fujian (``四川省南充市南部县``), and people
know it by name, not by its GB/T 2260 code. :func:`find_county` looks a current county-level name up in
python-stdnum's ``cn/loc.dat`` (the table :mod:`models.regions` already uses for codes outside Fujian): the
county alone (``南部县``), with its city (``南充市南部县``), its province (``四川省南部县``) or both. Fujian's
own names are resolved by :mod:`models.regions` from ``policy/regions.yaml`` first.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re

#: Placeholders of the table that name no county (a city's own row, 市辖区 of a 直辖市, …).
_NOT_COUNTY = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划", "省直辖行政单位"}
_ENTRY = re.compile(r'^(\s*)(\d+) (province|county)="(.*)"$')


def _current(entry: str) -> str:
    """The name in force now of an entry like ``[1983-1994]郊区,[1995-]晋安区`` (``""`` when none is)."""
    for part in entry.split(","):
        match = re.match(r"^\[(\d*)-(\d*)\](.*)$", part)
        if not match:
            return part
        if not match.group(2):
            return match.group(3)
    return ""


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, frozenset[str]]:
    # The table's folder, found without importing python-stdnum (~50 ms a flow-run process loading models.regions
    # does not need).
    path = os.path.join(os.path.dirname(importlib.util.find_spec("stdnum").origin), "cn", "loc.dat")
    names: dict[str, set[str]] = {}
    province, cities = "", {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = _ENTRY.match(line.rstrip("\n"))
            if not match:
                continue
            _indent, code, kind, entry = match.groups()
            if kind == "province":
                prefix, province, cities = code, entry, {}
                continue
            name = _current(entry)
            full = prefix + code
            if not name or name in _NOT_COUNTY:
                continue
            if code.endswith("00"):
                cities[code[:2]] = name
                continue
            city = cities.get(code[:2], "")
            keys = {name, province + name, city + name, province + city + name}
            for key in keys:
                names.setdefault(key, set()).add(full)
    return {key: frozenset(codes) for key, codes in names.items()}


def find_county(name: str) -> tuple[str | None, list[str]]:
    """``(code, [])`` for a county-level name naming one current county of China; ``(None, codes)`` for a name
    several share (``朝阳区``: Beijing's and Changchun's); ``(None, [])`` for an unknown name."""
    codes = _index().get(name, frozenset())
    if len(codes) == 1:
        return next(iter(codes)), []
    return None, sorted(codes)
