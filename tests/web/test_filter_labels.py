"""A list's filter offers 「不限」 only where it means no restriction: a filter with a default (the cases list's
办理中, the task lists' 未办结（全部）, the key care files' 在档) shows the default by its own label, and 「全部」
shows everything (a caseworker read 「不限」 on /cases and saw 共 2 条 where 「全部」 gave 3)."""
from __future__ import annotations

import re

import pytest

from careflow.cases import open_case
from core.db import session_scope
from models.case import Case, CaseStatus

ANY = {"zh": "不限", "en": "any"}


def _options(page: str, name: str) -> list[tuple[str, str, bool]]:
    """The ``(value, label, selected)`` of each option of the form's select ``name``."""
    select = re.search(rf'<select name="{name}">(.*?)</select>', page, re.S)
    assert select, f"no filter {name!r} on the page"
    return [(value, label.strip(), bool(selected)) for value, selected, label in
            re.findall(r'<option value="([^"]*)"\s*(selected)?\s*>([^<]*)</option>', select.group(1))]


def _total(page: str) -> int:
    return int(re.search(r"共 (\d+) 条", page).group(1))


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("who", "url", "name", "default", "label"), [
    ("cw_a", "/cases", "status", "open", {"zh": "办理中", "en": "Open"}),
    ("off_police_a", "/inbox", "state", "open", {"zh": "未办结（全部）", "en": "open (all)"}),
    ("mgr_a", "/tasks", "state", "open", {"zh": "未办结（全部）", "en": "open (all)"}),
    ("cw_a", "/files", "status", "active", {"zh": "在档", "en": "active"}),
])
def test_a_filter_with_a_default_shows_the_default_by_its_label_and_offers_no_any(clients, who, url, name, default,
                                                                                   label, lang):
    try:
        page = clients[who].get(f"{url}?lang={lang}")
    finally:
        clients[who].get(f"{url}?lang=zh")  # the language is remembered in a cookie: the session's browsers read Chinese
    assert page.status_code == 200, page.text
    options = _options(page.text, name)
    assert "" not in [value for value, _, _ in options] and ANY[lang] not in [text for _, text, _ in options]
    [(selected, shown, _)] = [o for o in options if o[2]]
    assert selected == default and (label[lang] is None or shown == label[lang])
    assert "all" in [value for value, _, _ in options]


def test_the_cases_lists_default_shows_the_open_cases_it_is_labelled_by_and_all_shows_the_closed_too(
        clients, session, register):
    closed = open_case(session, child_id=register().child.id, caseworker="fixture")
    closed.status = CaseStatus.closed
    session.commit()
    caseworker = clients["cw_a"]
    default, open_only, everything = (caseworker.get(f"/cases?lang=zh{q}").text for q in ("", "&status=open", "&status=all"))
    with session_scope() as s:
        assert s.get(Case, closed.id).status == CaseStatus.closed
    assert _total(default) == _total(open_only) < _total(everything)
    assert [o[1] for o in _options(default, "status") if o[2]] == ["办理中"]
    assert [o[1] for o in _options(everything, "status") if o[2]] == ["全部"]
