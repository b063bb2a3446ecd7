"""A label and its value are joined by the page language's colon: ``结案理由：…`` in Chinese, ``Reason for closing: …``
in English (``t.colon``, ``common.colon``). A fresh user read "Reason for closing：…" on the English closing card:
the templates wrote a full-width colon between the two.
"""
from __future__ import annotations

import re

from core.paths import PROJECT_ROOT
from tests.web.chinese import visible_text
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
