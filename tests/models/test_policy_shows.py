"""Issue 12: each step of a pathway says what its unit sees (``shows``, ``shows_answers``); the data is checked."""
from __future__ import annotations

from tests.models.test_policy import _edit, _error, policy_copy  # noqa: F401  (a writable copy of the policy)

from models.pathways import FACT_KEYS
from models.policy import load_policy


def test_every_step_shows_its_unit_the_child_and_the_hospital_the_screening():
    policy = load_policy()
    for pathway in policy.pathways.values():
        for step in pathway.steps:
            assert "child_name" in step.shows and "guardians" in step.shows, (pathway.key, step.key)
            assert set(step.shows) <= set(FACT_KEYS)
    guardianship = policy.pathway("guardianship")
    assert {"address", "report"} <= set(guardianship.step("committee_admonition").shows)
    assert guardianship.step("police_reprimand").shows_answers == ["committee_admonition"]
    assert "report" in policy.pathway("psychological_screening").step("medical_referral").shows  # the result


def test_an_unknown_fact_or_step_is_refused_naming_it(policy_copy):  # noqa: F811
    path = policy_copy / "pathways" / "guardianship.yaml"
    _edit(path, "    shows_answers: [committee_admonition]\n", "    shows_answers: [committee_warning]\n")
    error = _error(policy_copy)
    assert "policy/pathways/guardianship.yaml" in error and "'committee_warning' is not another step" in error
    _edit(path, "    shows_answers: [committee_warning]\n", "    shows_answers: [committee_admonition]\n")
    _edit(path, "    shows: [child_name, sex, age, address, guardians, report]\n    shows_answers: [committee_admonition]",
          "    shows: [child_name, resident_id]\n    shows_answers: [committee_admonition]")
    error = _error(policy_copy)
    assert "police_reprimand" in error and "shows" in error and "resident_id" in error
