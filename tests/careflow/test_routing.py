"""Routing a step to the unit whose jurisdiction most closely contains the child's area."""
import pytest

from careflow.routing import NoUnitForAgency, jurisdiction_prefix, load_agency_units, resolve_unit


def test_prefixes_follow_gb_t_2260_padding():
    assert jurisdiction_prefix("350000") == "35"
    assert jurisdiction_prefix("350300") == "3503"
    assert jurisdiction_prefix("350302") == "350302"
    assert jurisdiction_prefix("350302001") == "350302001"


def test_village_committee_of_the_childs_community(session):
    assert resolve_unit(session, "village_committee", "350302001001").code == "village_committee-350302001001"


def test_county_police_for_a_village_area(session):
    assert resolve_unit(session, "police", "350302001001").code == "police-350302"


def test_city_rescue_centre_covers_its_counties(session):
    assert resolve_unit(session, "rescue_centre", "350302001001").code == "rescue_centre-350300"
    assert resolve_unit(session, "rescue_centre", "350823100001").code == "rescue_centre-350800"


def test_no_unit_names_the_agency_and_area(session):
    with pytest.raises(NoUnitForAgency, match=r"没有在用的公安单位（police）负责鼓楼区（350102）") as gap:
        resolve_unit(session, "police", "350102")
    assert gap.value.text("zh") == str(gap.value)
    assert gap.value.text("en") == ("no active Police (public security) unit (police) covers 鼓楼区 (350102): add one "
                                    "to the agency directory (agency_units.yaml)")
    with pytest.raises(NoUnitForAgency) as at_level:
        resolve_unit(session, "police", "350102", level="county")
    assert "（县级或以上）" in at_level.value.text("zh") and "at county level or above" in at_level.value.text("en")


def test_a_childs_step_never_goes_to_the_provincial_department(session):
    """福建省民政厅 (civil_affairs-350000) is in the directory to confirm the cities' list filings (方案 四): a county
    without a civil affairs bureau is a gap in the directory, not the province's task."""
    # 鼓楼区 has no bureau in the directory; a city bureau (福州市民政局) that another test adds may cover it, the
    # province never does
    try:
        unit = resolve_unit(session, "civil_affairs", "350102")
    except NoUnitForAgency as gap:
        assert "没有在用的民政单位（civil_affairs）负责鼓楼区（350102）" in str(gap)
    else:
        assert unit.code == "civil_affairs-350100"
    assert resolve_unit(session, "civil_affairs", "350302", level="county").code == "civil_affairs-350302"
    assert resolve_unit(session, "civil_affairs", "350102", level="province").code == "civil_affairs-350000"


def test_malformed_directory_entry_names_file_entry_and_field(session, tmp_path):
    bad = tmp_path / "units.yaml"
    bad.write_text("units:\n  - {code: police-x, agency_type: police, jurisdiction_code: '35AB', name: X}\n",
                   encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        load_agency_units(session, bad)
    assert str(refused.value) == f"{bad}：第 1 项（police-x）的 jurisdiction_code：「35AB」不是6位、9位或12位区划代码"
    assert refused.value.text("en") == (f"{bad}: units[0] (police-x): field 'jurisdiction_code': '35AB' is not a 6-, "
                                        "9- or 12-digit area code")
    bad.write_text("units:\n  - {code: police-x, agency_type: police, name: X}\n", encoding="utf-8")
    with pytest.raises(ValueError) as missing:
        load_agency_units(session, bad)
    assert str(missing.value) == f"{bad}：第 1 项（police-x）的 jurisdiction_code：请填写"


def test_init_names_a_malformed_directory_file_in_chinese_and_in_english(database_url, tmp_path, monkeypatch):
    """``careflow init`` ended in an English traceback (「ValueError: …: units[0]: field 'name' is missing or
    empty」)."""
    import os
    import subprocess
    import sys

    from typer.testing import CliRunner

    from core.settings import get_settings
    from entry.cli import app

    bad = tmp_path / "agency_units.yaml"
    bad.write_text("units:\n  - {code: police-x, agency_type: police, jurisdiction_code: '350302'}\n", encoding="utf-8")
    monkeypatch.setenv("CAREFLOW_POLICY_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["init"])
        english = subprocess.run([sys.executable, "-m", "entry.cli", "init"], capture_output=True, text=True,
                                 timeout=120, env={**os.environ, "CAREFLOW_LANG": "en"})
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 2 and result.output.strip() == f"错误：{bad}：第 1 项（police-x）的 name：请填写"
    assert english.returncode == 2
    assert english.stderr.strip() == f"error: {bad}: units[0] (police-x): field 'name': required"


def test_a_step_never_goes_finer_than_its_level(session):
    # township civil affairs takes temporary assistance; the county bureau keeps the guardianship assessment
    assert resolve_unit(session, "civil_affairs", "350302001001", level="township").code == "civil_affairs-350302001"
    assert resolve_unit(session, "civil_affairs", "350302001001", level="county").code == "civil_affairs-350302"
    # no county-level rescue centre: the city's covers the county
    assert resolve_unit(session, "rescue_centre", "350302001001", level="county").code == "rescue_centre-350300"
