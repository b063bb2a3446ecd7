"""The policy as data (policy/*.yaml) and its validating loader (models.policy).

Facts checked against 闽民童〔2025〕5号: the annex lists 20 items; item 18's 责任部门 names seven bodies;
item 16's cell is empty in the extracted text, so its departments come from section 七's bracket.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import core.i18n  # noqa: F401  (lends the catalogues' words to the problems models raise)
from core.paths import PROJECT_ROOT
from models.deadlines import DeadlineRule
from models.outcome_fields import OutcomeField
from models.pathways import PathwayStep
from models.policy import Policy, load_policy
from models.policy_files import PolicyError

SEED = Path("/work/shared/seeds/000_39e0e337f8ac37f2.txt")

AGENCY_CODES = {
    "civil_affairs", "police", "court", "procuratorate", "education", "health", "womens_federation",
    "village_committee", "township_station", "rescue_centre", "child_welfare", "school", "medical_institution",
    "social_work", "youth_league", "disabled_federation", "medical_insurance", "disease_control",
    "human_resources", "housing", "transport", "justice", "cyberspace", "radio_tv", "statistics",
    "development_reform", "finance", "political_legal", "women_children_office", "publishing_group",
    "youth_hotline_12355",
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


# ------------------------------------------------------------------------------------ the shipped policy


def test_shipped_policy_loads_from_project_root_and_is_cached(policy):
    assert policy.policy_dir == (PROJECT_ROOT / "policy").resolve()
    assert load_policy() is policy
    assert set(policy.pathways) == {"guardianship", "psychological_screening", "temporary_assistance",
                                    "service_referral", "misconduct_notice"}


def test_every_agency_type_of_the_domain_brief_is_there(policy):
    assert set(policy.agencies) == AGENCY_CODES
    assert policy.agency("police").name_zh == "公安"
    assert policy.agency("police").provincial_name_zh == "省公安厅"
    assert policy.agency("village_committee").level == "village"
    assert policy.agency("township_station").level == "township"
    assert sum(a.category == "provincial_signatory" for a in policy.agencies.values()) == 23
    with pytest.raises(KeyError, match="'polic'"):
        policy.agency("polic")


def test_service_list_has_the_annex_20_items(policy):
    assert list(policy.service_items) == list(range(1, 21))
    assert policy.service_list_source == "闽民童〔2025〕5号 附件"
    areas = [policy.service_item(n).area for n in range(1, 21)]
    assert areas == ["幼有所育"] * 2 + ["学有所教"] * 3 + ["病有所医"] * 3 + ["住有所居"] + ["弱有所扶"] * 6 + ["发展保障"] * 5
    assert all(item.completion == "all" for item in policy.service_items.values())
    assert policy.service_item(15).service == "临时救助服务"
    assert policy.service_item(15).departments == ["civil_affairs"]
    assert policy.service_item(1).departments == ["health", "disease_control"]


def test_item_18_names_seven_departments(policy):
    item = policy.service_item(18)
    assert item.departments == ["cyberspace", "education", "civil_affairs", "radio_tv", "youth_league",
                                "womens_federation", "publishing_group"]
    assert item.departments_zh == "省委网信办、省教育厅、省民政厅、省广电局、团省委、省妇联、海峡出版发行集团"


def test_item_16_takes_section_seven_departments_with_a_note(policy):
    item = policy.service_item(16)
    assert item.departments == ["court", "procuratorate", "education", "police", "civil_affairs", "womens_federation"]
    assert item.departments_zh == ""
    assert "（七）" in item.note and "省妇联" in item.note


def test_merged_target_group_cells_are_filled_in(policy):
    assert policy.service_item(7).target_group == policy.service_item(6).target_group == "流动儿童"
    assert policy.service_item(12).target_group == "流动儿童中的残疾儿童"
    assert {policy.service_item(n).target_group for n in range(16, 21)} == {"流动儿童"}


@pytest.mark.skipif(not SEED.exists(), reason="the policy seed is not on this machine")
def test_service_contents_are_verbatim_from_the_seed(policy):
    seed = SEED.read_text(encoding="utf-8")
    for item in policy.service_items.values():
        assert item.content in seed, item.number
        assert item.service in seed, item.number


def test_guardianship_steps_in_order_with_deadlines(policy):
    pathway = policy.pathway("guardianship")
    assert pathway.step_keys == ["committee_admonition", "police_reprimand", "temporary_guardianship",
                                 "family_education_guidance", "guardianship_assessment", "long_term_guardianship"]
    police = pathway.step("police_reprimand")
    assert police.agencies == ["police"]
    assert police.ack_deadline == DeadlineRule.parse("2h")
    assert police.deadline == DeadlineRule.parse("3wd")
    assert police.deadline_is_default and police.ack_deadline_is_default
    expected = {"committee_admonition": ("village_committee", "24h"), "temporary_guardianship": ("rescue_centre", "24h"),
                "family_education_guidance": ("womens_federation", "10wd"),
                "guardianship_assessment": ("civil_affairs", "15wd"), "long_term_guardianship": ("court", "30wd")}
    for key, (agency, rule) in expected.items():
        step = pathway.step(key)
        assert (step.agency, step.deadline) == (agency, DeadlineRule.parse(rule)), key
        assert step.deadline_is_default, key
    assert pathway.step("family_education_guidance").alternative_agencies == ["education"]
    assert pathway.step("family_education_guidance").deadline_for == "start"
    assert "procuratorate" in pathway.step("long_term_guardianship").note
    assert pathway.step("long_term_guardianship").outcome_field("ruling").options == [
        "guardianship_transferred", "petition_dismissed", "pending"]
    assert "劝诫、制止" in pathway.step("committee_admonition").instructions_zh
    assert pathway.step("committee_admonition").outcome_field_names == ["serious", "child_in_danger", "note"]


def test_psychological_screening_steps(policy):
    pathway = policy.pathway("psychological_screening")
    assert pathway.step_keys == ["counselling", "guardian_involvement", "medical_referral", "community_rehabilitation"]
    assert pathway.validate_parameters({"screening_result": "high_risk"}) == {"screening_result": "high_risk"}
    referral = pathway.step("medical_referral")
    assert referral.deadline == DeadlineRule.parse("3wd")
    assert referral.urgent_deadline == DeadlineRule.parse("24h")
    assert referral.deadline_rule(urgent=True) == DeadlineRule.parse("24h")
    assert pathway.step("counselling").alternative_agencies == ["school", "township_station"]
    assert pathway.step("community_rehabilitation").agencies == ["health", "civil_affairs"]


def test_temporary_assistance_steps(policy):
    pathway = policy.pathway("temporary_assistance")
    assert pathway.step_keys == ["acknowledgement", "emergency_help", "small_amount_payment", "ordinary_review",
                                 "onward_referral", "paperwork"]
    assert {s.agency for s in pathway.steps} == {"civil_affairs"}
    assert pathway.step("acknowledgement").level == "township"
    assert pathway.step("acknowledgement").jurisdiction_basis == "emergency_place"
    assert pathway.step("small_amount_payment").deadline == DeadlineRule.parse("3d")
    assert pathway.step("ordinary_review").deadline == DeadlineRule.parse("10wd")


def test_unknown_step_names_pathway_and_key(policy):
    with pytest.raises(KeyError, match=r"pathway 'guardianship' has no step 'police_report'"):
        policy.pathway("guardianship").step("police_report")


# ------------------------------------------------------------------------------------ malformed copies


@pytest.fixture()
def policy_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped policy folder, at tmp_path/policy."""
    target = tmp_path / "policy"
    shutil.copytree(PROJECT_ROOT / "policy", target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _error(policy_dir: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_dir)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == caught.value.text("zh")  # logs and the command line: Chinese by default
    return caught.value.text("en")


def test_malformed_copy_bad_deadline(policy_copy):
    _edit(policy_copy / "pathways" / "guardianship.yaml", "deadline: 3wd", "deadline: 3xd")
    assert _error(policy_copy) == (
        "policy/pathways/guardianship.yaml: steps[1] (police_reprimand): field 'deadline': "
        "'3xd' is not a deadline (write e.g. 24h, 3d or 15wd)"
    )


def test_a_policy_problem_is_chinese_by_default_and_english_on_request(policy_copy):
    """The operator who edited a policy file reads the file, the entry, the field and the value: in Chinese unless
    they asked for English."""
    _edit(policy_copy / "pathways" / "guardianship.yaml", "deadline: 3wd", "deadline: 3xd")
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_copy)
    assert str(caught.value) == caught.value.text("zh") == (
        "policy/pathways/guardianship.yaml：steps[1]（police_reprimand）：字段 deadline："
        "'3xd' 不是有效的期限（应写作 24h、3d 或 15wd 等）")
    assert caught.value.text("en") == (
        "policy/pathways/guardianship.yaml: steps[1] (police_reprimand): field 'deadline': "
        "'3xd' is not a deadline (write e.g. 24h, 3d or 15wd)")


def test_missing_and_unknown_policy_fields_in_both_languages(policy_copy):
    _edit(policy_copy / "service_list.yaml", "departments: [housing]", "departments: [housings]")
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_copy)
    assert str(caught.value) == ("policy/service_list.yaml：第 9 项：字段 departments："
                                 "未知的部门代码 'housings'（policy/agencies.yaml 中没有）")


def _broken_cli(policy_copy, monkeypatch, tmp_path, *env):
    """``careflow policy check-city-list`` (it reads the provincial policy first) with a malformed policy folder."""
    from core.i18n import cli_language
    from entry.cli import app
    from typer.testing import CliRunner

    _edit(policy_copy / "pathways" / "guardianship.yaml", "deadline: 3wd", "deadline: 3xd")
    monkeypatch.setattr("models.policy.default_policy_dir", lambda: policy_copy)
    for name, value in env:
        monkeypatch.setenv(name, value)
    cli_language.cache_clear()
    try:
        return CliRunner().invoke(app, ["policy", "check-city-list", str(tmp_path / "putian.yaml")])
    finally:
        for name, _ in env:
            monkeypatch.delenv(name)
        cli_language.cache_clear()


def test_the_command_line_prints_a_policy_problem_in_chinese(policy_copy, monkeypatch, tmp_path):
    result = _broken_cli(policy_copy, monkeypatch, tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip() == ("错误：policy/pathways/guardianship.yaml：steps[1]（police_reprimand）："
                                     "字段 deadline：'3xd' 不是有效的期限（应写作 24h、3d 或 15wd 等）")


def test_the_command_line_prints_a_policy_problem_in_english_on_request(policy_copy, monkeypatch, tmp_path):
    result = _broken_cli(policy_copy, monkeypatch, tmp_path, ("CAREFLOW_LANG", "en"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: policy/pathways/guardianship.yaml: steps[1] (police_reprimand): "
                                     "field 'deadline': '3xd' is not a deadline (write e.g. 24h, 3d or 15wd)")


def test_a_command_that_does_not_catch_a_policy_problem_prints_it_in_chinese(policy_copy, monkeypatch, capsys):
    """``careflow``'s entry point: a policy problem out of any command is one Chinese line and exit 2, not a
    traceback."""
    import entry.cli

    _edit(policy_copy / "pathways" / "guardianship.yaml", "deadline: 3wd", "deadline: 3xd")

    def command():
        load_policy(policy_copy)

    monkeypatch.setattr(entry.cli, "app", command)
    with pytest.raises(SystemExit) as ended:
        entry.cli.main()
    assert ended.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "错误：policy/pathways/guardianship.yaml：steps[1]（police_reprimand）：字段 deadline："
        "'3xd' 不是有效的期限（应写作 24h、3d 或 15wd 等）")


def test_malformed_copy_bad_ack_deadline(policy_copy):
    _edit(policy_copy / "pathways" / "guardianship.yaml", "ack_deadline: 2h ", "ack_deadline: soon ")
    message = _error(policy_copy)
    assert "steps[1] (police_reprimand): field 'ack_deadline': 'soon' is not a deadline" in message


def test_malformed_copy_unknown_agency_code(policy_copy):
    _edit(policy_copy / "pathways" / "guardianship.yaml", "agency: rescue_centre", "agency: rescue_center")
    message = _error(policy_copy)
    assert message.startswith("policy/pathways/guardianship.yaml: steps[2] (temporary_guardianship): field 'agency': ")
    assert "unknown agency code 'rescue_center'" in message and "policy/agencies.yaml" in message


def test_malformed_copy_unknown_department_code(policy_copy):
    _edit(policy_copy / "service_list.yaml", "departments: [housing]", "departments: [housings]")
    message = _error(policy_copy)
    assert message == ("policy/service_list.yaml: item 9: field 'departments': unknown agency code 'housings' "
                       "(not in policy/agencies.yaml)")


def test_malformed_copy_departments_disagree_with_annex_text(policy_copy):
    _edit(policy_copy / "service_list.yaml", "departments: [housing]", "departments: [transport]")
    message = _error(policy_copy)
    assert "item 9: field 'departments': ['transport'] does not match departments_zh '省住建厅'" in message


def test_malformed_copy_duplicate_step_key(policy_copy):
    _edit(policy_copy / "pathways" / "guardianship.yaml", "key: guardianship_assessment", "key: committee_admonition")
    message = _error(policy_copy)
    assert message == ("policy/pathways/guardianship.yaml: steps[4] (committee_admonition): field 'key': "
                       "duplicate step key 'committee_admonition' (also steps[0])")


def test_malformed_copy_missing_item(policy_copy):
    path = policy_copy / "service_list.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["items"] = [item for item in data["items"] if item["number"] != 7]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    message = _error(policy_copy)
    assert message.startswith("policy/service_list.yaml: item 7: field 'number': item 7 is missing")


def test_malformed_copy_dropped_last_item(policy_copy):
    path = policy_copy / "service_list.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["items"] = data["items"][:-1]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert "item 20: field 'number': item 20 is missing" in _error(policy_copy)


def test_malformed_copy_duplicate_outcome_field_and_choice_without_options(policy_copy):
    path = policy_copy / "pathways" / "guardianship.yaml"
    _edit(path, "{name: child_unsafe, type: bool", "{name: reprimanded, type: bool")
    _edit(path, "type: choice, options: [guardianship_transferred, petition_dismissed, pending], ", "type: choice, ")
    message = _error(policy_copy)
    assert ("steps[1] (police_reprimand), outcome[2] (reprimanded): field 'name': "
            "duplicate field name 'reprimanded' (also outcome[0])") in message
    assert "steps[5] (long_term_guardianship), outcome[0] (ruling): field 'options': choice field 'ruling' needs options" \
        in message


def test_malformed_copy_misspelt_and_missing_field(policy_copy):
    _edit(policy_copy / "pathways" / "psychological_screening.yaml", "    deadline_is_default: true\n    ack_deadline: null\n"
          "    source: 实施方案（八）\n", "    deadline_is_default: true\n    ack_deadline: null\n    sorce: 实施方案（八）\n")
    message = _error(policy_copy)
    assert "policy/pathways/psychological_screening.yaml: steps[1] (guardian_involvement): field 'source': missing" \
        in message
    assert "steps[1] (guardian_involvement): field 'sorce': unknown field" in message


def test_malformed_copy_agency_file_entry(policy_copy):
    _edit(policy_copy / "agencies.yaml", "    level: village\n", "    level: hamlet\n")
    message = _error(policy_copy)
    assert message.startswith("policy/agencies.yaml: agencies[23] (village_committee): field 'level': 'hamlet'")


def test_pathway_key_must_match_file_name(policy_copy):
    _edit(policy_copy / "pathways" / "guardianship.yaml", "key: guardianship\n", "key: guardian\n")
    assert "policy/pathways/guardianship.yaml: field 'key': 'guardian' must match the file name" in _error(policy_copy)


# ------------------------------------------------------------------------------------ outcomes


@pytest.fixture(scope="module")
def reprimand(policy) -> PathwayStep:
    return policy.pathway("guardianship").step("police_reprimand")


@pytest.mark.parametrize("raw,value", [("yes", True), ("YES", True), ("true", True), ("是", True), ("1", True),
                                       ("no", False), ("False", False), ("否", False), (" 0 ", False)])
def test_bool_coercion(raw, value):
    field = OutcomeField(name="serious", type="bool", label_zh="情节严重", label_en="Serious")
    assert field.coerce(raw) is value


def test_bool_coercion_error_names_field_and_value():
    field = OutcomeField(name="serious", type="bool", label_zh="情节严重", label_en="Serious")
    with pytest.raises(ValueError, match=r"field 'serious': 'maybe' is not yes or no"):
        field.coerce("maybe")


def test_choice_coercion(policy):
    ruling = policy.pathway("guardianship").step("long_term_guardianship").outcome_field("ruling")
    assert ruling.coerce(" pending ") == "pending"
    with pytest.raises(ValueError, match=r"field 'ruling': 'granted' is not one of guardianship_transferred"):
        ruling.coerce("granted")


def test_validate_outcome_normalises_cli_text(reprimand):
    answer = reprimand.validate_outcome(
        {"reprimanded": "yes", "family_education_ordered": "否", "child_unsafe": False, "note": "  已训诫 "})
    assert answer == {"reprimanded": True, "family_education_ordered": False, "child_unsafe": False, "note": "已训诫"}
    assert "note" not in reprimand.validate_outcome(
        {"reprimanded": True, "family_education_ordered": True, "child_unsafe": True, "note": ""})


def test_validate_outcome_missing_required_names_field(reprimand):
    with pytest.raises(ValueError, match=r"field 'child_unsafe': required"):
        reprimand.validate_outcome({"reprimanded": "yes", "family_education_ordered": "no"})


def test_validate_outcome_wrong_type_names_field(reprimand):
    with pytest.raises(ValueError, match=r"field 'reprimanded': 'perhaps' is not yes or no"):
        reprimand.validate_outcome({"reprimanded": "perhaps", "family_education_ordered": "no", "child_unsafe": "no"})
    with pytest.raises(ValueError, match=r"field 'child_unsafe': \[1\] is not a bool value"):
        reprimand.validate_outcome({"reprimanded": "yes", "family_education_ordered": "no", "child_unsafe": [1]})


def test_validate_outcome_unknown_field_names_it(reprimand):
    with pytest.raises(ValueError, match=r"unknown field 'reprimand' \(fields: reprimanded, "):
        reprimand.validate_outcome({"reprimand": "yes"})


def test_start_parameters_are_validated(policy):
    pathway = policy.pathway("psychological_screening")
    with pytest.raises(ValueError, match=r"field 'screening_result': required"):
        pathway.validate_parameters({})
    with pytest.raises(ValueError, match=r"field 'screening_result': 'bad' is not one of normal"):
        pathway.validate_parameters({"screening_result": "bad"})
