"""A label and its value are joined by the page language's colon: ``结案理由：…`` in Chinese, ``Reason for closing: …``
in English (``t.colon``, ``common.colon``). A fresh user read "Reason for closing：…" on the English closing card:
the templates wrote a full-width colon between the two. So with every other mark: lists, clauses, brackets and the
letter's wide spaces come from the translator (``t.list_sep``, ``t.semicolon``, ``t.comma``, ``t.paren``, ``t.gap``),
and no template writes a Chinese word itself.
"""
from __future__ import annotations

import re

from sqlmodel import select

from careflow.cases import create_pathway_run
from careflow.recovery import close_pathway_run
from core.db import session_scope
from core.paths import PROJECT_ROOT
from models.case import Case, PathwayStatus
from tests.web.chinese import chinese_by_english, visible_text
from tests.web.test_closing import make_case, post

#: A half-width colon the template wrote itself after a label (``{{ t('task.due') }}: ``); any full-width one is.
WRITTEN_COLON = re.compile(r"[}%]}: ")


def test_no_template_writes_a_colon_of_its_own():
    found = []
    for path in sorted((PROJECT_ROOT / "templates" / "pages").glob("*.html")):
        text = re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S)  # comments aside
        found += [f"{path.name}:{n}" for n, line in enumerate(text.splitlines(), 1)
                  if "：" in line or WRITTEN_COLON.search(line)]
    assert found == [], f"a colon not from the language ({{{{ t.colon }}}}): {found}"


#: Chinese punctuation and words (any CJK character); a bracket the template wrote around a value.
CHINESE = re.compile(r"[；、（），。　：\u4e00-\u9fff]")
WRITTEN_PAREN = re.compile(r"\(\{\{|\}\}\)")
#: What a template may hold of them: reading what a person typed (items written with Chinese commas).
READS = {"_field.html": ".replace('，', ',')"}


def _templates():
    """The page templates and the English letters and messages, comments aside: ``(name, [lines])``."""
    root = PROJECT_ROOT / "templates"
    for path in sorted([*(root / "pages").glob("*.html"), *root.glob("*/*.en.*")]):
        text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group().count("\n"), path.read_text(encoding="utf-8"),
                      flags=re.S)  # comments aside, lines kept
        yield path.name, [line.replace(READS.get(path.name, "\0"), "") for line in text.splitlines()]


def test_no_template_writes_chinese_punctuation_brackets_or_words():
    found = []
    for name, lines in _templates():
        for n, line in enumerate(lines, 1):
            mark = CHINESE.search(line) or (WRITTEN_PAREN.search(line) if name.endswith(".html") else None)
            found += [f"{name}:{n}: {mark.group()}"] if mark else []
    assert found == [], f"punctuation or words not from the language (t.list_sep, t.paren …, catalogue keys): {found}"


def test_the_closing_card_joins_its_reason_with_the_pages_colon(clients):
    reference, _run, _tasks = make_case()
    cw = clients["cw_a1"]
    assert post(cw, f"/cases/{reference}/close", reason="家庭监护已恢复").status_code == 303
    assert "结案理由：家庭监护已恢复" in visible_text(cw.get(f"/cases/{reference}").text)
    try:
        english = visible_text(cw.get(f"/cases/{reference}?lang=en").text)
    finally:
        cw.get("/account?lang=zh")
    assert "Reason for closing: 家庭监护已恢复" in english
    assert not re.search(r"[A-Za-z)]\s*：", english), re.findall(r".{20}[A-Za-z)]\s*：.{10}", english)


def test_the_closing_cards_review_reasons_are_joined_in_the_pages_language(clients):
    """Two reasons for the county's review: 「；」 between them in Chinese, "; " in English."""
    reference, _run, _tasks = make_case(steps=("temporary_guardianship",))
    with session_scope() as session:
        case_id = session.exec(select(Case.id).where(Case.reference == reference)).one()
        run = create_pathway_run(session, case_id=case_id, pathway="psychological_screening", actor="fixture",
                                 parameters={"screening_result": "high_risk"})
        session.flush()
        close_pathway_run(session, run.id, "路径办结", PathwayStatus.completed)
    cw = clients["cw_a1"]
    assert "儿童处于临时监护中；最近一次心理风险评估为高风险" in visible_text(cw.get(f"/cases/{reference}").text)
    try:
        page = cw.get(f"/cases/{reference}?lang=en").text
    finally:
        cw.get("/account?lang=zh")
    assert "the child is in temporary guardianship; the latest psychological" in visible_text(page)
    assert chinese_by_english(page) == []
