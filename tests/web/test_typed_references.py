"""A case reference typed in lower case (``cf-350302-…``) finds the case wherever a reference is looked up: the
case's page, its pages below it, and the lists' search box. The page answered 404 (「没有此个案」) before."""
from __future__ import annotations


def test_the_case_page_opens_by_a_lower_case_reference(clients, world):
    place = world.places["A1"]
    caseworker = clients["cw_a"]
    page = caseworker.get(f"/cases/{place.reference.lower()}")
    assert page.status_code == 200, page.text[:300]
    assert place.reference in page.text
    assert caseworker.get(f"/cases/{place.reference.lower()}/pathways/new").status_code == 200
    assert clients["mgr_a"].get(f"/cases/{place.reference.lower()}").status_code == 200
    # still only inside the reader's jurisdiction
    assert clients["cw_b"].get(f"/cases/{place.reference.lower()}").status_code == 404
    assert clients["cw_a"].get(f"/api/cases/{place.reference.lower()}",
                               headers={"Authorization": f"Bearer {world.person('cw_a').token}"}).status_code == 200


def test_the_lists_find_a_case_by_its_reference_in_lower_case(clients, world):
    place = world.places["A1"]
    listed = clients["cw_a"].get("/cases", params={"q": place.reference.lower()})
    assert listed.status_code == 200 and place.reference in listed.text
    inbox = clients["off_police_a"].get("/inbox", params={"q": place.reference.lower(), "state": "all"})
    assert inbox.status_code == 200 and place.reference in inbox.text


def test_the_lists_find_a_reference_typed_in_full_width_characters(clients, world):
    """An input method left in full-width mode types ``ｃｆ－３５０３０２－…``: the case's page and the command line
    normalise it (``models.case.case_reference``), the lists' search box did not and found nothing."""
    place = world.places["A1"]
    typed = "".join(chr(ord(c) + 0xFEE0) for c in place.reference.lower())
    listed = clients["cw_a"].get("/cases", params={"q": f" {typed} "})
    assert listed.status_code == 200 and f'data-case="{place.reference}"' in listed.text
    inbox = clients["off_police_a"].get("/inbox", params={"q": typed, "state": "all"})
    assert inbox.status_code == 200 and f'data-case="{place.reference}"' in inbox.text
