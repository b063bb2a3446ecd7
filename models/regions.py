"""County-level administrative divisions (GB/T 2260) for Fujian, and county codes elsewhere in China.

Fujian's divisions — the 9 设区市 plus 平潭综合实验区, and every 县、县级市、市辖区 — come from
``policy/regions.yaml``, which also says which districts form each city's central urban area (中心城区).
That marking is *default* data (no law fixes it); see the YAML's ``central_urban_area`` note.

Counties outside Fujian (a child's household registration, 户籍地, may be in 四川, 江西 …) are resolved by
their 6-digit code through python-stdnum's ``stdnum/cn/loc.dat`` (the table behind
``stdnum.cn.ric.get_birth_place``); they are never central.

Policy: 闽民童〔2025〕5号 section 一 — a move between central districts of one city (城市中心城区的市辖区之间)
does not make a child a migrant child; see :func:`is_same_city_central_move`.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from models.county_names import find_county
from models.errors import FieldValueError

__all__ = [
    "DEFAULT_REGIONS_PATH",
    "Region",
    "RegionIndex",
    "RegionKind",
    "UnknownRegion",
    "get_county",
    "is_same_city_central_move",
    "load_regions",
]

DEFAULT_REGIONS_PATH = Path(__file__).resolve().parent.parent / "policy" / "regions.yaml"
FUJIAN_PREFIX = "35"

RegionKind = Literal["district", "county", "county_city"]
_CODE = re.compile(r"^\d{6}$")
# Entries of loc.dat that are not counties (city / province placeholders).
_NOT_COUNTY_NAMES = {"市辖区", "县", "省直辖县级行政单位", "自治区直辖县级行政单位", "省直辖行政单位"}


class UnknownRegion(FieldValueError):
    """A county code or name that cannot be resolved to one county-level division: a :class:`FieldValueError` of
    field ``county`` (a caller that knows which county it was, the child's 户籍地 or 居住地, names it with
    :meth:`for_field`), worded by the catalogues' ``problem.county_*`` keys.

    Attributes:
        value: the value as given.
        candidates: for an ambiguous name, the matching counties as ``"<code> <city><name>"`` strings; for a
            city's name, its counties' names; otherwise empty.
    """

    def __init__(self, value: Any, key: str, candidates: Iterable[str] = (), **values: Any) -> None:
        self.value = value
        self.candidates = tuple(candidates)
        super().__init__("county", f"problem.county_{key}", value=value, **values)

    def for_field(self, field: str) -> "UnknownRegion":
        """This problem, said of field ``field`` (``hukou_county``, ``residence_county``)."""
        self.field = field
        return self


class Region(BaseModel):
    """One county-level division (县、县级市、市辖区).

    Attributes:
        code: 6-digit GB/T 2260 code, e.g. ``"350302"``.
        name: e.g. ``"城厢区"``.
        city_code: code of the city-level area, e.g. ``"350300"``; ``"350128"`` for 平潭综合实验区
            (no separate city code exists). For 直辖市 counties it is the ``xx0100``/``xx0200`` code.
        city_name: e.g. ``"莆田市"``, ``"平潭综合实验区"``; for 直辖市 the municipality's name.
        kind: ``district`` (市辖区), ``county`` (县, also 旗/自治县/特区 outside Fujian) or ``county_city`` (县级市).
        central: part of the city's central urban area (中心城区) — default data from ``policy/regions.yaml``;
            always False outside Fujian and for counties and county-level cities.
        province_name: e.g. ``"福建省"``, ``"四川省"``.
    """

    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^\d{6}$")
    name: str
    city_code: str = Field(pattern=r"^\d{6}$")
    city_name: str
    kind: RegionKind
    central: bool = False
    province_name: str = "福建省"

    @property
    def in_fujian(self) -> bool:
        """True for a county of 福建省 (code starting ``35``)."""
        return self.code.startswith(FUJIAN_PREFIX)

    @property
    def full_name(self) -> str:
        """City and county name, e.g. ``"莆田市城厢区"``."""
        return f"{self.city_name}{self.name}"


def _clean_input(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value))
    return "".join(text.split())


def _kind_from_name(name: str) -> RegionKind:
    if name.endswith("市"):
        return "county_city"
    if name.endswith("区") and not name.endswith(("特区", "林区")):
        return "district"
    return "county"


def _current_name(entry: str) -> str:
    """The name in force now from a loc.dat entry like ``"[1983-1994]郊区,[1995-]晋安区"``.

    Prefers an entry without an end year; else the one that ended last.
    """
    best_name, best_end = "", -1
    for part in entry.split(","):
        match = re.match(r"^\[(\d*)-(\d*)\](.*)$", part)
        if not match:
            return part
        end = int(match.group(2)) if match.group(2) else 10_000
        if end >= best_end:
            best_name, best_end = match.group(3), end
    return best_name


@functools.lru_cache(maxsize=4096)
def _stdnum_lookup(code: str) -> tuple[str, str] | None:
    """(province name, county entry) for a 6-digit code in stdnum's cn/loc table, or None."""
    from stdnum import numdb  # start-up: python-stdnum costs ~50 ms to import; only a code outside Fujian needs it

    results = numdb.get("cn/loc").info(code)
    if len(results) != 2 or results[0][0] != code[:2] or results[1][0] != code[2:]:
        return None
    province = results[0][1].get("province")
    county = results[1][1].get("county")
    if not province or not county:
        return None
    return province, county


def _stdnum_region(code: str, value: Any) -> Region:
    """A Region for a county code outside Fujian, named as stdnum names it; central=False."""
    found = _stdnum_lookup(code)
    if found is None:
        raise UnknownRegion(value, "code_unknown")
    province, entry = found
    name = _current_name(entry)
    if code.endswith("00") or name in _NOT_COUNTY_NAMES:
        raise UnknownRegion(value, "is_city_code", name=f"{province}{name}")
    city_code = code[:4] + "00"
    city = _stdnum_lookup(city_code)
    city_name = _current_name(city[1]) if city else ""
    if not city_name or city_name in _NOT_COUNTY_NAMES:
        city_name = province  # 直辖市 (市辖区 / 县 placeholders) and 省直辖县级行政单位
    return Region(
        code=code,
        name=name,
        city_code=city_code,
        city_name=city_name,
        kind=_kind_from_name(name),
        central=False,
        province_name=province,
    )


class RegionIndex:
    """Fujian's county-level divisions loaded from a regions YAML file, with lookups.

    Use :func:`load_regions` (cached) rather than constructing this directly.

    Attributes:
        counties: every current county-level division of Fujian, in file order.
        cities: city code → city name (the 9 设区市 and 平潭综合实验区).
        source: the YAML's ``source`` text.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.source: str = str(data.get("source", ""))
        province = data.get("province") or {}
        self.province_name: str = province.get("name", "福建省")
        self.cities: dict[str, str] = {}
        self._by_code: dict[str, Region] = {}
        self._names: dict[str, set[str]] = {}
        self._former_names: dict[str, set[str]] = {}
        self._former: dict[str, tuple[str, str]] = {}
        counties: list[Region] = []

        for city in data.get("cities") or []:
            city_code, city_name = str(city["code"]), str(city["name"])
            if not _CODE.match(city_code):
                raise ValueError(f"regions: city code {city_code!r} is not 6 digits")
            self.cities[city_code] = city_name
            for item in city.get("counties") or []:
                region = Region(
                    code=str(item["code"]),
                    name=str(item["name"]),
                    city_code=city_code,
                    city_name=city_name,
                    kind=item["kind"],
                    central=bool(item.get("central", False)),
                    province_name=self.province_name,
                )
                if region.code in self._by_code:
                    raise ValueError(f"regions: county code {region.code} listed twice")
                if region.central and region.kind != "district":
                    raise ValueError(
                        f"regions: {region.code} {region.name} is a {region.kind}; only 市辖区 can be central"
                    )
                self._by_code[region.code] = region
                counties.append(region)
                keys = {region.name, city_name + region.name}
                for alias in item.get("aliases") or []:
                    keys |= {str(alias), city_name + str(alias)}
                for key in keys:
                    self._names.setdefault(key, set()).add(region.code)
        self.counties: tuple[Region, ...] = tuple(counties)

        # A county listed under its own city-level area (平潭) is also findable under its GB/T parent city.
        for region in self.counties:
            parent = self.cities.get(region.code[:4] + "00")
            if parent and region.city_code != region.code[:4] + "00":
                self._names.setdefault(parent + region.name, set()).add(region.code)

        for code, item in (data.get("former_codes") or {}).items():
            code, successor, name = str(code), str(item["successor"]), str(item["name"])
            if successor not in self._by_code:
                raise ValueError(f"regions: former code {code} points to unknown successor {successor}")
            if code in self._by_code:
                raise ValueError(f"regions: former code {code} is also a current code")
            self._former[code] = (name, successor)
            city_name = self._by_code[successor].city_name
            for key in (name, city_name + name):
                self._former_names.setdefault(key, set()).add(successor)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RegionIndex":
        """Load a regions YAML file (see ``policy/regions.yaml`` for the shape).

        Raises:
            ValueError: when the file is inconsistent (duplicate codes, a central county, a former code
                pointing nowhere).
        """
        with open(path, encoding="utf-8") as handle:
            return cls(yaml.safe_load(handle) or {})

    def _describe(self, code: str) -> str:
        region = self._by_code[code]
        return f"{region.code} {region.full_name}"

    def get_county(self, code_or_name: str | int) -> Region:
        """Resolve a county-level division by code or name.

        Accepts a 6-digit GB/T 2260 code (``"350302"``; any county code python-stdnum knows, for counties
        outside Fujian), a bare name (``"城厢区"``), a city-qualified name (``"莆田市城厢区"``), optionally
        prefixed ``"福建省"``, an alias (``"平潭综合实验区"``) or a former Fujian code/name listed in the YAML's
        ``former_codes`` (``"350182"``/``"长乐市"`` → 350112 长乐区). A name not of Fujian is looked up among
        China's current county names (:func:`models.county_names.find_county`: ``南充市南部县``).
        Full-width characters and whitespace are tolerated.

        Returns:
            The :class:`Region` (for a former code, its successor).

        Raises:
            UnknownRegion: naming the value — for an unknown code or name, a city or province code, a former
                Fujian code without a single successor, or an ambiguous name (``candidates`` lists the matches).
        """
        text = _clean_input(code_or_name)
        if not text:
            raise UnknownRegion(code_or_name, "empty")
        if text.isdigit():
            return self._by_code_value(text, code_or_name)
        return self._by_name_value(text, code_or_name)

    def _by_code_value(self, code: str, value: Any) -> Region:
        if not _CODE.match(code):
            raise UnknownRegion(value, "code_format")
        if code in self._by_code:
            return self._by_code[code]
        if code in self._former:
            return self._by_code[self._former[code][1]]
        if code.startswith(FUJIAN_PREFIX):
            if code in self.cities or code.endswith("00"):
                name = self.cities.get(code) or self.province_name
                raise UnknownRegion(value, "is_city_code", name=name)
            found = _stdnum_lookup(code)
            if found:
                raise UnknownRegion(value, "former_code", formerly=_current_name(found[1]), province=self.province_name)
            raise UnknownRegion(value, "not_current", province=self.province_name)
        return _stdnum_region(code, value)

    def _by_name_value(self, text: str, value: Any) -> Region:
        for prefix in (self.province_name, self.province_name.removesuffix("省")):
            if prefix and text.startswith(prefix) and len(text) > len(prefix):
                text = text[len(prefix):]
                break
        codes = self._names.get(text) or self._former_names.get(text)
        if not codes:
            city_codes = [code for code, name in self.cities.items() if name == text]
            if city_codes:
                options = [r.name for r in self.counties if r.city_code in city_codes]
                raise UnknownRegion(value, "is_city_name", options, counties="、".join(options))
            return self._outside(text, value)
        if len(codes) > 1:
            candidates = [self._describe(code) for code in sorted(codes)]
            raise UnknownRegion(value, "ambiguous", candidates, names=", ".join(candidates))
        return self._by_code[next(iter(codes))]

    def _outside(self, text: str, value: Any) -> Region:
        """A county outside Fujian by its current name (:func:`models.county_names.find_county`)."""
        code, candidates = find_county(text)
        if code and not code.startswith(FUJIAN_PREFIX):
            return _stdnum_region(code, value)
        if candidates:
            described = [f"{c} {_stdnum_region(c, c).full_name}" for c in candidates]
            raise UnknownRegion(value, "ambiguous", described, names=", ".join(described))
        raise UnknownRegion(value, "unknown_name")

    def former_successors(self) -> dict[str, str]:
        """Former code → the current code it resolves to (the YAML's ``former_codes``), as :meth:`get_county`."""
        return {code: successor for code, (_, successor) in self._former.items()}

    def central_districts(self) -> dict[str, tuple[str, ...]]:
        """City code → its central districts' codes (中心城区), for cities that mark any."""
        found: dict[str, tuple[str, ...]] = {}
        for region in self.counties:
            if region.central:
                found[region.city_code] = (*found.get(region.city_code, ()), region.code)
        return found

    def is_same_city_central_move(self, a: str | int, b: str | int) -> bool:
        """True when ``a`` and ``b`` are two *different* central districts (中心城区的市辖区) of one city.

        Policy section 一: such a move does not make a child a migrant child. The same county twice returns
        False (that is not a move at all; eligibility reports it as ``same_county``).

        Raises:
            UnknownRegion: when either value cannot be resolved (see :meth:`get_county`).
        """
        first, second = self.get_county(a), self.get_county(b)
        return (
            first.code != second.code
            and first.central
            and second.central
            and first.city_code == second.city_code
        )


@functools.lru_cache(maxsize=8)
def _load(path: str) -> RegionIndex:
    return RegionIndex.from_yaml(path)


def load_regions(path: str | Path | None = None) -> RegionIndex:
    """The :class:`RegionIndex` for ``path`` (default ``policy/regions.yaml``), loaded once and cached.

    Raises:
        OSError: when the file cannot be read; ValueError: when it is inconsistent.
    """
    return _load(str(Path(path or DEFAULT_REGIONS_PATH).resolve()))


def get_county(code_or_name: str | int) -> Region:
    """Resolve a county by code or name using the default regions file; see :meth:`RegionIndex.get_county`.

    Examples: ``get_county("350302")``, ``get_county("城厢区")``, ``get_county("莆田市城厢区")`` → 350302 城厢区;
    ``get_county("510107")`` → 四川省成都市武侯区 (central=False).

    Raises:
        UnknownRegion: (a ValueError) naming the value; for an ambiguous name, naming the candidates.
    """
    return load_regions().get_county(code_or_name)


def is_same_city_central_move(a: str | int, b: str | int) -> bool:
    """True when ``a`` → ``b`` is a move between two central districts of one city (policy section 一).

    See :meth:`RegionIndex.is_same_city_central_move`.

    Raises:
        UnknownRegion: when either value cannot be resolved.
    """
    return load_regions().is_same_city_central_move(a, b)
