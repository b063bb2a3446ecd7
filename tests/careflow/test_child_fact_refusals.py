"""Recording a child's fact is refused in the reader's language (Chinese by default, English on request): an unknown
fact, value or source, a date in the future, a text too long, no such child — each naming its field by its label."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from careflow.child_facts import record_child_fact, today
from models.errors import error_text


def _refusal(session, child_id, **given) -> BaseException:
    values = {"key": "disability", "value": "yes", "source": "caseworker", **given}
    with pytest.raises((ValueError, LookupError)) as refused:
        record_child_fact(session, child_id=child_id, actor="test.caseworker", **values)
    return refused.value


def test_a_fact_is_refused_in_chinese_and_in_english(session, register):
    child = register().child
    cases = [
        ({"key": "dragon"}, ValueError, "条件：未知的条件 'dragon'", "Fact: unknown fact 'dragon'"),
        ({"value": "compulsory"}, ValueError,
         "残疾儿童：'compulsory' 不是可选值（可选：是、否、待核实（有争议或无法确认））",
         "Disabled child: 'compulsory' is not one of the values (choose: yes, no, to be verified (disputed or not "
         "established))"),
        ({"source": "rumour"}, ValueError, "来源：'rumour' 不是可选来源（可选：工作人员核实、监测摸排、部门答复）",
         "Source: 'rumour' is not one of the sources (choose: verified by a caseworker, monitoring survey, "
         "a department's answer)"),
        ({"established_on": today() + timedelta(days=1)}, ValueError,
         f"核实日期：{today() + timedelta(days=1)} 晚于今天", f"Date established: {today() + timedelta(days=1)} is in the future"),
        ({"source_detail": "x" * 201}, ValueError, "来源说明：最多200个字（现有201个）",
         "Source detail: at most 200 characters (this has 201)"),
        ({"note": "x" * 501}, ValueError, "备注：最多500个字（现有501个）", "Note: at most 500 characters (this has 501)"),
    ]
    for given, kind, chinese, english in cases:
        refused = _refusal(session, child.id, **given)
        assert isinstance(refused, kind)
        assert (error_text(refused, "zh"), error_text(refused, "en")) == (chinese, english)
    nobody = uuid.UUID(int=7)
    refused = _refusal(session, nobody)
    assert isinstance(refused, LookupError)
    assert error_text(refused, "zh") == f"儿童编号：没有编号为 {nobody} 的儿童"
    assert error_text(refused, "en") == f"Child: no child {nobody}"
