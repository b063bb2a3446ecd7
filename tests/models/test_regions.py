"""Tests for models.regions: Fujian's county-level divisions and central-district moves (policy section 一)."""
from __future__ import annotations

import pytest
import yaml

from models.regions import (
    DEFAULT_REGIONS_PATH,
    Region,
    RegionIndex,
    UnknownRegion,
    get_county,
    is_same_city_central_move,
    load_regions,
)


def test_yaml_documents_central_marking_as_default_data():
    data = yaml.safe_load(DEFAULT_REGIONS_PATH.read_text(encoding="utf-8"))
    assert data["source"]
    assert "default" in data["central_urban_area"]["note"].lower()


def test_nine_cities_plus_pingtan():
    cities = load_regions().cities
    assert len(cities) == 10
    assert set(cities.values()) == {
        "福州市", "厦门市", "莆田市", "三明市", "泉州市", "漳州市", "南平市", "龙岩市", "宁德市", "平潭综合实验区",
    }


def test_all_current_fujian_counties_present():
    counties = load_regions().counties
    assert len(counties) == 84  # GB/T 2260 county-level divisions of 福建省, 金门县 included
    assert len({r.code for r in counties}) == 84
    assert all(r.code.startswith("35") for r in counties)


@pytest.mark.parametrize(
    "code, name, city",
    [
        ("350302", "城厢区", "莆田市"),
        ("350303", "涵江区", "莆田市"),
        ("350304", "荔城区", "莆田市"),
        ("350305", "秀屿区", "莆田市"),
        ("350322", "仙游县", "莆田市"),
        ("350102", "鼓楼区", "福州市"),
        ("350112", "长乐区", "福州市"),
        ("350404", "三元区", "三明市"),
        ("350405", "沙县区", "三明市"),
        ("350604", "龙海区", "漳州市"),
        ("350605", "长泰区", "漳州市"),
        ("350703", "建阳区", "南平市"),
        ("350803", "永定区", "龙岩市"),
        ("350823", "上杭县", "龙岩市"),
        ("350981", "福安市", "宁德市"),
        ("350982", "福鼎市", "宁德市"),
    ],
)
def test_current_codes(code, name, city):
    region = get_county(code)
    assert (region.code, region.name, region.city_name) == (code, name, city)
    assert region.in_fujian


def test_xiamen_has_six_central_districts():
    xiamen = [r for r in load_regions().counties if r.city_code == "350200"]
    assert {r.name for r in xiamen} == {"思明区", "海沧区", "湖里区", "集美区", "同安区", "翔安区"}
    assert all(r.kind == "district" and r.central for r in xiamen)


def test_counties_and_county_cities_are_never_central():
    for region in load_regions().counties:
        if region.kind != "district":
            assert not region.central, region
        else:
            assert region.central, region  # the default: every 市辖区 central


def test_kinds():
    assert get_county("350302").kind == "district"
    assert get_county("350322").kind == "county"
    assert get_county("350181").kind == "county_city"


def test_codes_agree_with_stdnum():
    from stdnum import numdb

    db = numdb.get("cn/loc")
    for region in load_regions().counties:
        entry = db.info(region.code)[1][1]["county"]
        assert region.name in entry, (region.code, entry)


@pytest.mark.parametrize("value", ["350302", "城厢区", "莆田市城厢区", "福建省莆田市城厢区", " 350302 ", 350302, "３５０３０２"])
def test_get_county_accepts_code_name_and_qualified_name(value):
    assert get_county(value).code == "350302"


def test_pingtan_is_its_own_city_level_area_with_its_county_code():
    for value in ("350128", "平潭县", "平潭综合实验区", "福州市平潭县"):
        region = get_county(value)
        assert region.code == "350128"
        assert region.city_name == "平潭综合实验区"
        assert region.city_code != "350100"
        assert not region.central


def test_former_code_resolves_to_successor():
    assert get_county("350182").code == "350112"  # 长乐市 -> 长乐区
    assert get_county("350402").code == "350404"  # 梅列区 -> 三元区
    assert get_county("沙县").code == "350405"


def test_former_code_that_was_split_is_rejected():
    with pytest.raises(UnknownRegion, match="350321"):
        get_county("350321")  # 莆田县, split into 荔城区 and 秀屿区 in 2002


def test_unknown_values_raise_naming_the_value():
    for value in ("999999", "3503", "不存在区", ""):
        with pytest.raises(UnknownRegion) as info:
            get_county(value)
        assert isinstance(info.value, ValueError)
        if value:
            assert value in str(info.value)


def test_city_code_and_city_name_are_not_counties():
    with pytest.raises(UnknownRegion, match="city"):
        get_county("350300")
    with pytest.raises(UnknownRegion) as info:
        get_county("莆田市")
    assert "城厢区" in info.value.candidates
    with pytest.raises(UnknownRegion):
        get_county("510100")  # 成都市


def test_bare_names_are_unique_in_fujian():
    index = load_regions()
    for region in index.counties:
        assert index.get_county(region.name).code == region.code


def test_ambiguous_bare_name_names_candidates(tmp_path):
    path = tmp_path / "regions.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "source": "test",
                "province": {"code": "350000", "name": "福建省"},
                "cities": [
                    {"code": "350100", "name": "福州市",
                     "counties": [{"code": "350102", "name": "鼓楼区", "kind": "district", "central": True}]},
                    {"code": "350200", "name": "厦门市",
                     "counties": [{"code": "350202", "name": "鼓楼区", "kind": "district", "central": True}]},
                ],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    index = RegionIndex.from_yaml(path)
    with pytest.raises(UnknownRegion) as info:
        index.get_county("鼓楼区")
    message = str(info.value)
    assert "鼓楼区" in message and "350102" in message and "350202" in message
    assert len(info.value.candidates) == 2
    assert index.get_county("厦门市鼓楼区").code == "350202"


def test_central_county_rejected_at_load(tmp_path):
    path = tmp_path / "regions.yaml"
    path.write_text(
        "cities:\n  - code: '350300'\n    name: 莆田市\n    counties:\n"
        "      - {code: '350322', name: 仙游县, kind: county, central: true}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="350322"):
        RegionIndex.from_yaml(path)


def test_load_is_cached():
    assert load_regions() is load_regions()


def test_outside_fujian_uses_stdnum_names():
    region = get_county("510107")
    assert isinstance(region, Region)
    assert (region.name, region.city_name, region.province_name) == ("武侯区", "成都市", "四川省")
    assert region.kind == "district" and not region.central and not region.in_fujian
    jiangxi = get_county("360426")
    assert jiangxi.province_name == "江西省" and not jiangxi.central


def test_a_county_outside_fujian_is_found_by_its_name_and_an_ambiguous_one_lists_the_candidates():
    """Issue 12 item 7: a household registration is typed by name (``四川省南充市南部县``), not only by code."""
    assert get_county("武侯区").code == "510107"
    assert get_county("四川省南充市南部县").code == get_county("南充市南部县").code == "511321"
    assert get_county("北京市朝阳区").code == "110105"
    with pytest.raises(UnknownRegion) as ambiguous:
        get_county("朝阳区")
    assert ambiguous.value.candidates == ("110105 北京市朝阳区", "220104 长春市朝阳区")
    with pytest.raises(UnknownRegion, match="6-digit"):
        get_county("不存在县")


def test_same_city_central_move():
    assert is_same_city_central_move("350302", "350303")  # 城厢区 -> 涵江区
    assert is_same_city_central_move("鼓楼区", "台江区")
    assert not is_same_city_central_move("350322", "350302")  # 仙游县 is a county
    assert not is_same_city_central_move("350302", "350102")  # different cities
    assert not is_same_city_central_move("350302", "350302")  # not a move
    assert not is_same_city_central_move("510107", "350302")
    with pytest.raises(UnknownRegion):
        is_same_city_central_move("350302", "999999")
