"""Every page and API endpoint, for every role and scope: nobody reads or changes what their role and
jurisdiction do not allow — URL guessing included (another unit's task id, another county's case reference,
another township's child) — and no agency officer ever sees a child's name or ID number.

The table :data:`ENDPOINTS` names, for each route, the roles that may use it and what scopes its target; the
first test proves that the table covers every route the app has, so a new route without rules fails here.
Expected answers: a role that may not use a route gets 403; a target outside the user's scope 404 (it might as
well not exist); a body that reaches outside the jurisdiction 400/422. Every refused write leaves the
database as it was.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Callable

import pytest
from sqlmodel import select

from core.db import session_scope
from models.agency import AgencyUnit
from models.audit import AuditEvent
from models.case import Case, PathwayRun
from models.child import Child
from models.resident_id import mask_resident_id
from models.task import AgencyTask
from models.user import ApiToken, UserRole, WebUser
from tests.factories import make_resident_id
from tests.web.conftest import PASSWORD, WEB_ID_SPACE, Browser, Person, World, sign_in

CW, OFFICER, MGR, ADMIN = UserRole.caseworker, UserRole.agency_officer, UserRole.manager, UserRole.admin
ANY = frozenset(UserRole)

#: (place, unit) of each task a test guesses the URL of.
TASK_TARGETS = [("A1", "village_committee-350302001001"), ("A1", "police-350302"),
                ("A2", "village_committee-350302002001"), ("B", "police-350823")]


@dataclass(frozen=True)
class Endpoint:
    """A route and its rule: ``roles`` may use it; ``target`` names what its path (or body) points at:
    ``child``, ``case``, ``task``, ``area`` (a body registering a child somewhere) or ``None``."""

    method: str
    path: str
    roles: frozenset
    target: str | None = None
    body: Callable | None = None  # (world, target) -> form data / JSON

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


def _child_form(world, place):
    area = world.places[place].area
    return {"full_name": f"新登记{uuid.uuid4().hex[:4]}", "resident_id": make_resident_id(*WEB_ID_SPACE["walk"]),
            "hukou_county": "511321",
            "residence_county": area[:6], "residence_area_code": area, "arrival_date": "2023-08-20"}


def _child_json(world, place):
    form = _child_form(world, place)
    return {**form, "arrival_date": date(2023, 8, 20).isoformat()}


REPORT = {"summary": "邻居报告：孩子夜间独自在外", "reported_by": "邻居"}
START = {"pathway": "guardianship", "p_reported_by": "学校"}
START_JSON = {"pathway": "guardianship", "parameters": {"reported_by": "学校"}}
OUTCOME_FORM = {"o_serious": "no", "o_child_in_danger": "no"}
FACT = {"fact": "housing_hardship", "value": "unknown", "source": "caseworker"}
OUTCOME_JSON = {"outcome": {"serious": False, "child_in_danger": False}}
UNIT_FORM = {"name": "改名的单位", "agency_type": "police", "jurisdiction_code": "350302", "active": "yes"}


def _new_user_form(world, _):
    return {"username": f"new.{uuid.uuid4().hex[:8]}", "role": "caseworker", "jurisdiction_code": "350302",
            "password": "another-password-1"}


def _new_unit_form(world, _):
    return {"code": f"police-test-{uuid.uuid4().hex[:6]}", "agency_type": "police", "jurisdiction_code": "350302",
            "name": "测试单位", "active": "yes"}


ENDPOINTS = [
    # public
    Endpoint("GET", "/", ANY), Endpoint("GET", "/login", ANY), Endpoint("GET", "/healthz", ANY),
    # an invitation's own page: no sign-in; a link that is not an invitation is refused the same for everyone (410)
    Endpoint("GET", "/invite/{token}", ANY),
    Endpoint("POST", "/invite/{token}", ANY, None, lambda w, t: {"username": "not.invited", "password": "x" * 12}),
    Endpoint("GET", "/api/openapi.json", ANY),
    # caseworker and manager pages
    Endpoint("GET", "/children", frozenset({CW, MGR})),
    Endpoint("GET", "/children/new", frozenset({CW})),
    Endpoint("POST", "/children", frozenset({CW}), "area", lambda w, t: _child_form(w, t)),
    Endpoint("GET", "/children/{child_id}", frozenset({CW, MGR}), "child"),
    Endpoint("POST", "/children/{child_id}/reports", frozenset({CW}), "child", lambda w, t: REPORT),
    Endpoint("POST", "/children/{child_id}/facts", frozenset({CW}), "child", lambda w, t: FACT),
    # the one-click start of a referral a department's answer proposed (none here: back to the child's page)
    Endpoint("POST", "/children/{child_id}/proposals/start", frozenset({CW}), "child", lambda w, t: {"item": "7"}),
    Endpoint("GET", "/cases/{reference}/eligibility", frozenset({CW, MGR}), "case"),
    Endpoint("GET", "/children/{child_id}/eligibility", frozenset({CW, MGR}), "child"),
    Endpoint("GET", "/cases", frozenset({CW, MGR})),
    Endpoint("GET", "/files", frozenset({CW, MGR})),
    Endpoint("GET", "/needs", frozenset({CW, MGR})),
    Endpoint("GET", "/city-lists", frozenset({MGR})),
    Endpoint("GET", "/cases/{reference}", frozenset({CW, MGR}), "case"),
    Endpoint("GET", "/cases/{reference}/pathways/new", frozenset({CW}), "case"),
    Endpoint("POST", "/cases/{reference}/pathways", frozenset({CW}), "case", lambda w, t: START),
    # closing is a decision (issue 12): empty reasons, so that an allowed call is refused (400/409) and the world's
    # cases stay open for the other tests
    Endpoint("GET", "/todo", frozenset({CW})),
    Endpoint("POST", "/cases/{reference}/close", frozenset({CW}), "case", lambda w, t: {"reason": ""}),
    Endpoint("POST", "/cases/{reference}/reopen", frozenset({CW}), "case", lambda w, t: {"reason": ""}),
    # a programme place given back (no such invitation on the world's cases: refused, 400)
    Endpoint("POST", "/cases/{reference}/invitations/{invitation}/withdraw", frozenset({CW}), "case",
             lambda w, t: {"reason": ""}),
    Endpoint("POST", "/cases/{reference}/close/approve", frozenset({MGR}), "case", lambda w, t: {}),
    Endpoint("POST", "/cases/{reference}/close/refuse", frozenset({MGR}), "case", lambda w, t: {"reason": ""}),
    # agency pages
    Endpoint("GET", "/inbox", frozenset({OFFICER})),
    Endpoint("GET", "/tasks/{task_id}", frozenset({OFFICER, MGR, CW}), "task"),  # a caseworker: sent to the case page
    # after a rejection, and a county manager's actions (web.routes.manage); the bodies are refused (400) so that
    # the world's tasks stay open for the other endpoints
    Endpoint("POST", "/tasks/{task_id}/reroute", frozenset({CW, MGR}), "task", lambda w, t: {"reroute_unit": ""}),
    Endpoint("POST", "/tasks/{task_id}/redirect", frozenset({MGR}), "task",
             lambda w, t: {"reroute_unit": "no-such-unit", "redirect_reason": "x"}),
    Endpoint("POST", "/tasks/{task_id}/extend", frozenset({MGR}), "task",
             lambda w, t: {"due_at": "2000-01-01T00:00", "extend_reason": "x"}),
    Endpoint("POST", "/tasks/{task_id}/comment", frozenset({MGR}), "task", lambda w, t: {"comment": ""}),
    Endpoint("GET", "/tasks/{task_id}/letter", frozenset({OFFICER}), "task"),
    Endpoint("GET", "/tasks/{task_id}/letter.pdf", frozenset({OFFICER}), "task"),
    Endpoint("POST", "/tasks/{task_id}/acknowledge", frozenset({OFFICER}), "task", lambda w, t: {}),
    Endpoint("POST", "/inbox/acknowledge", frozenset({OFFICER}), None, lambda w, t: {"task": []}),
    Endpoint("POST", "/tasks/{task_id}/reject", frozenset({OFFICER}), "task", lambda w, t: {"reason": "不属本辖区"}),
    Endpoint("POST", "/tasks/{task_id}/complete", frozenset({OFFICER}), "task", lambda w, t: OUTCOME_FORM),
    # the misconduct notice (方案 十一): police and procuratorate officers only (another unit's officer: 403); the
    # body's ID number is no child's, so the allowed call is refused (400) and the world stays as it was
    Endpoint("GET", "/notices/new", frozenset({OFFICER}), "notifier"),
    Endpoint("POST", "/notices", frozenset({OFFICER}), "notifier",
             lambda w, t: {"p_resident_id": "123", "p_conduct_kind": "offence", "p_conduct": "x",
                           "p_conduct_on": "2026-11-20"}),
    # manager pages
    Endpoint("GET", "/tasks", frozenset({MGR})),
    Endpoint("GET", "/dashboard", frozenset({MGR})),
    Endpoint("GET", "/dashboard/export.csv", frozenset({MGR})),
    Endpoint("GET", "/dashboard/export.xlsx", frozenset({MGR})),
    # programmes (items 18-20): the organiser's officer records them and the attendance; caseworkers and managers read
    # those of their counties; the bodies are refused (400) so that nothing is stored
    Endpoint("GET", "/programmes", frozenset({OFFICER, CW, MGR})),
    Endpoint("GET", "/programmes/new", frozenset({OFFICER})),
    Endpoint("POST", "/programmes", frozenset({OFFICER}), None, lambda w, t: {"item": "18", "title": ""}),
    Endpoint("GET", "/programmes/{programme_id}", frozenset({OFFICER, CW, MGR}), "programme"),
    Endpoint("POST", "/programmes/{programme_id}/attendance", frozenset({OFFICER}), "programme",
             lambda w, t: {"walk_ins": "许多"}),
    # admin pages
    Endpoint("GET", "/admin/users", frozenset({ADMIN})),
    Endpoint("GET", "/admin/users/new", frozenset({ADMIN})),
    Endpoint("POST", "/admin/users", frozenset({ADMIN}), None, _new_user_form),
    Endpoint("GET", "/admin/users/{user_id}", frozenset({ADMIN}), "user"),
    Endpoint("POST", "/admin/users/{user_id}", frozenset({ADMIN}), "user",
             lambda w, t: {"display_name": "改名", "role": "caseworker", "jurisdiction_code": "350823",
                           "active": "yes"}),
    Endpoint("GET", "/admin/units", frozenset({ADMIN})),
    Endpoint("GET", "/admin/units/new", frozenset({ADMIN})),
    Endpoint("POST", "/admin/units", frozenset({ADMIN}), None, _new_unit_form),
    Endpoint("GET", "/admin/units/{code}", frozenset({ADMIN}), "unit"),
    Endpoint("POST", "/admin/units/{code}", frozenset({ADMIN}), "unit", lambda w, t: UNIT_FORM),
    Endpoint("POST", "/admin/units/{code}/invite", frozenset({ADMIN}), "unit", lambda w, t: {"invite_name": ""}),
    Endpoint("GET", "/admin/notifications", frozenset({ADMIN})),
    Endpoint("POST", "/admin/notifications/{notification_id}/resend", frozenset({ADMIN})),
    Endpoint("GET", "/admin/calendar", frozenset({ADMIN})),
    Endpoint("POST", "/admin/calendar", frozenset({ADMIN})),  # no body: refused with a Chinese error (400)
    # everyone signed in: their own account (the token URL points at another user's token: nothing happens)
    Endpoint("GET", "/account", ANY),
    Endpoint("POST", "/account/tokens", ANY, None, lambda w, t: {"name": "walk"}),
    Endpoint("POST", "/account/tokens/{token_id}/revoke", ANY, "token", lambda w, t: {}),
    Endpoint("POST", "/account/password", ANY, None, lambda w, t: {"current_password": "wrong-password-0",
                                                                   "new_password": "x" * 12}),
    Endpoint("POST", "/logout", ANY, None, lambda w, t: {}),
    # API
    Endpoint("GET", "/api/me", ANY), Endpoint("GET", "/api/pathways", ANY),
    Endpoint("GET", "/api/children", frozenset({CW, MGR})),
    Endpoint("POST", "/api/children", frozenset({CW}), "area", lambda w, t: _child_json(w, t)),
    Endpoint("GET", "/api/children/{child_id}", frozenset({CW, MGR}), "child"),
    Endpoint("POST", "/api/children/{child_id}/cases", frozenset({CW}), "child", lambda w, t: REPORT),
    Endpoint("GET", "/api/children/{child_id}/facts", frozenset({CW, MGR}), "child"),
    Endpoint("POST", "/api/children/{child_id}/facts", frozenset({CW}), "child", lambda w, t: FACT),
    Endpoint("GET", "/api/cases/{reference}/eligibility", frozenset({CW, MGR}), "case"),
    Endpoint("GET", "/api/cases", frozenset({CW, MGR})),
    Endpoint("GET", "/api/cases/{reference}", frozenset({CW, MGR}), "case"),
    Endpoint("POST", "/api/cases/{reference}/pathways", frozenset({CW}), "case", lambda w, t: START_JSON),
    Endpoint("GET", "/api/files", frozenset({CW, MGR})),
    Endpoint("GET", "/api/needs", frozenset({CW, MGR})),  # without ``item``: 400 naming the field
    Endpoint("GET", "/api/tasks", frozenset({OFFICER, MGR})),
    Endpoint("GET", "/api/tasks/{task_id}", frozenset({OFFICER, MGR}), "task"),
    Endpoint("POST", "/api/tasks/{task_id}/acknowledge", frozenset({OFFICER}), "task", lambda w, t: None),
    Endpoint("POST", "/api/tasks/{task_id}/reject", frozenset({OFFICER}), "task",
             lambda w, t: {"reason": "不属本辖区"}),
    Endpoint("POST", "/api/tasks/{task_id}/complete", frozenset({OFFICER}), "task", lambda w, t: OUTCOME_JSON),
    Endpoint("GET", "/api/dashboard", frozenset({MGR})),
    Endpoint("GET", "/api/programmes", frozenset({OFFICER, CW, MGR})),
    Endpoint("POST", "/api/programmes", frozenset({OFFICER}), None, lambda w, t: {"item": 18, "title": ""}),
    Endpoint("GET", "/api/programmes/{programme_id}", frozenset({OFFICER, CW, MGR}), "programme"),
    Endpoint("POST", "/api/programmes/{programme_id}/attendance", frozenset({OFFICER}), "programme",
             lambda w, t: {"attended": [], "walk_ins": 0}),  # the world's programmes are over: nobody came
    Endpoint("GET", "/api/admin/users", frozenset({ADMIN})),
    Endpoint("POST", "/api/admin/users", frozenset({ADMIN}), None,
             lambda w, t: {**_new_user_form(w, t)}),
    Endpoint("PATCH", "/api/admin/users/{user_id}", frozenset({ADMIN}), "user", lambda w, t: {"display_name": "改名"}),
    Endpoint("GET", "/api/admin/units", frozenset({ADMIN})),
    Endpoint("POST", "/api/admin/units", frozenset({ADMIN}), None,
             lambda w, t: {**_new_unit_form(w, t), "active": True}),
    Endpoint("PATCH", "/api/admin/units/{code}", frozenset({ADMIN}), "unit", lambda w, t: {"name": "改名的单位"}),
]

PUBLIC = {"/", "/login", "/healthz", "/api/openapi.json", "/invite/{token}"}


def app_routes(app) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, included routers walked (FastAPI ≥0.150 nests them lazily)."""
    found = set()

    def walk(routes):
        for route in routes:
            if hasattr(route, "effective_candidates"):
                walk(route.effective_candidates())
            elif hasattr(route, "routes") and not hasattr(route, "methods"):
                walk(route.routes)
            elif getattr(route, "methods", None):
                for method in route.methods - {"HEAD"}:
                    found.add((method, route.path))
    walk(app.routes)
    return found


def test_the_rules_cover_every_route(web_app):
    covered = {(e.method, e.path) for e in ENDPOINTS} | {("POST", "/login")}
    assert app_routes(web_app) == covered


# --------------------------------------------------------------------------------------------- targets

#: Whose children (and cases, and tasks for managers) each person may see — written out, not computed, so
#: that the rules under test cannot also decide what is expected.
VISIBLE = {"cw_a1": {"A1"}, "cw_a": {"A1", "A2"}, "cw_b": {"B"}, "mgr_a": {"A1", "A2"}, "mgr_city": {"A1", "A2"},
           "mgr_b": {"B"}}


def sees(person: Person, place: str) -> bool:
    return place in VISIBLE.get(person.key, set())



#: (place, organiser unit) of each programme a test guesses the URL of: the place's county is the programme's.
PROGRAMME_TARGETS = [("A1", "village_committee-350302001001"), ("A1", "police-350302"), ("B", "police-350823")]
_PROGRAMMES: dict[tuple[str, str], uuid.UUID] = {}


def programme_id(world: World, target: str) -> uuid.UUID:
    """The programme of ``target`` (``place|unit``), recorded the first time it is asked for (one per world)."""
    from datetime import datetime, timezone

    from careflow.programmes import ProgrammeInput, record_programme

    key = (world.suffix, target)
    if key not in _PROGRAMMES:
        place, unit_code = target.split("|")
        with session_scope() as session:
            unit = session.get(AgencyUnit, unit_code)
            _PROGRAMMES[key] = record_programme(session, unit, ProgrammeInput(
                item=20, title="法治课堂", starts_at=datetime(2026, 1, 1, tzinfo=timezone.utc), place="社区",
                county_code=world.places[place].area[:6], capacity=5), actor="fixture").id
    return _PROGRAMMES[key]


def targets(world: World, kind: str | None) -> list[str | None]:
    if kind in ("child", "case", "area"):
        return list(world.places)
    if kind == "task":
        return [f"{p}|{u}" for p, u in TASK_TARGETS]
    if kind == "programme":
        return [f"{p}|{u}" for p, u in PROGRAMME_TARGETS]
    return [kind and "one"] if kind else [None]


#: The units whose officers record a misconduct notice (policy/pathways/misconduct_notice.yaml, written out).
NOTIFIERS = ("police-", "procuratorate-")


def in_scope(world: World, person: Person, kind: str | None, target: str | None) -> bool:
    if kind == "notifier":
        return bool(person.unit) and person.unit.startswith(NOTIFIERS)
    if kind in ("child", "case", "area"):
        return sees(person, target)
    if kind in ("task", "programme"):
        place, unit = target.split("|")
        if person.role == OFFICER:
            return person.unit == unit
        return sees(person, place)
    return True


def url(world: World, endpoint: Endpoint, target: str | None, other_user: uuid.UUID, token_id: uuid.UUID) -> str:
    path = endpoint.path
    if endpoint.target in ("child", "case"):
        place = world.places[target]
        path = path.replace("{child_id}", str(place.child_id)).replace("{reference}", place.reference)
    elif endpoint.target == "task":
        place, unit = target.split("|")
        path = path.replace("{task_id}", str(world.places[place].tasks[unit]))
    elif endpoint.target == "programme":
        path = path.replace("{programme_id}", str(programme_id(world, target) if target else uuid.uuid4()))
    return (path.replace("{user_id}", str(other_user)).replace("{code}", "court-350823").replace("{invitation}", "0000abcd")
            .replace("{token_id}", str(token_id)).replace("{notification_id}", str(uuid.uuid4())))


def snapshot(world: World) -> dict:
    """What a refused write must leave unchanged."""
    task_ids = [t for p in world.places.values() for t in p.tasks.values()]
    with session_scope() as session:
        return {
            "children": len(session.exec(select(Child.id)).all()),
            "cases": len(session.exec(select(Case.id)).all()),
            "runs": len(session.exec(select(PathwayRun.id)).all()),
            "tasks": sorted((str(t.id), str(t.state), t.rejection_reason)
                            for t in session.exec(select(AgencyTask).where(AgencyTask.id.in_(task_ids))).all()),
            "users": sorted((u.username, str(u.role), u.jurisdiction_code, u.display_name, u.active)
                            for u in session.exec(select(WebUser)).all()),
            "units": sorted((u.code, u.name, u.active) for u in session.exec(select(AgencyUnit)).all()),
            "tokens": sorted((str(t.id), t.revoked_at is not None) for t in session.exec(select(ApiToken)).all()),
        }


def request(client: Browser, person: Person, endpoint: Endpoint, path: str, body):
    if endpoint.api:
        headers = {"Authorization": f"Bearer {person.token}"}
        if endpoint.method == "GET":
            return client.get(path, headers=headers)
        return client.request(endpoint.method, path, headers=headers, json=body)
    if endpoint.method == "GET":
        return client.get(path)
    return client.post(path, data={**(body or {}), "csrf_token": client.csrf})


def private_texts(world: World, person: Person, acting_on: str | None = None) -> list[str]:
    """Texts this person must never see: every child's name and ID number (masked too) for officers and admins;
    for the others, those of children outside their jurisdiction. ``acting_on``: the place whose task the person
    may read (issue 12: the routed unit's task page names the child it must act for; never the ID number)."""
    texts = []
    for place in world.places.values():
        if person.role in (OFFICER, ADMIN) or not sees(person, place.key):
            if place.key != acting_on:
                texts.append(place.child_name)
            texts += [place.resident_id, mask_resident_id(place.resident_id)]
            if person.role != OFFICER:
                texts.append(place.reference)
    return texts


def test_every_route_for_every_role_and_scope(web_app, world):
    # Fresh sessions per person for this walk: /logout and /account/password act on them.
    sessions = {key: sign_in(web_app, p.username) for key, p in world.people.items()}
    victim = world.person("cw_b")
    from web.users import create_api_token

    with session_scope() as session:  # a second token of cw_b: only cw_b may revoke it
        victim_token = create_api_token(session, user=session.get(WebUser, victim.id), name="victim").record.id
    problems = []
    for endpoint in ENDPOINTS:
        if endpoint.path in PUBLIC:
            continue
        calls = []  # (person, target, expected): "allowed" | 403 | 404 | 422
        for person in world.people.values():
            for target in targets(world, endpoint.target):
                scoped = (person.key == victim.key if endpoint.target == "token"
                          else in_scope(world, person, endpoint.target, target))
                if person.role not in endpoint.roles:
                    expected = 403
                elif scoped or endpoint.target == "token":  # another's token: answered, but nothing happens
                    expected = "allowed"
                else:
                    expected = {"area": 422, "notifier": 403}.get(endpoint.target, 404)
                calls.append((person, target, expected))
        # Refused requests first, as one group that must leave the database as it was; then the allowed ones.
        calls.sort(key=lambda call: call[2] == "allowed")
        before = snapshot(world) if endpoint.method != "GET" else None
        checked = False
        for person, target, expected in calls:
            if before is not None and expected == "allowed" and not checked:
                checked = True
                if snapshot(world) != before:
                    problems.append(f"{endpoint.method} {endpoint.path}: refused requests changed the database")
            path = url(world, endpoint, target, victim.id, victim_token)
            body = endpoint.body(world, target) if endpoint.body else None
            response = request(sessions[person.key], person, endpoint, path, body)
            where = f"{endpoint.method} {path} as {person.key} ({target})"
            code = response.status_code
            if expected == "allowed":
                to_sign_in = response.headers.get("location", "").startswith("/login")
                if code in (401, 403, 404) or code >= 500 or (to_sign_in and endpoint.path != "/logout"):
                    problems.append(f"{where}: {code}, expected to be allowed")
            elif expected == 422 and code not in (400, 422):
                problems.append(f"{where}: {code}, expected 400/422 (outside the jurisdiction)")
            elif expected in (403, 404) and code != expected:
                problems.append(f"{where}: {code}, expected {expected}")
            if endpoint.method == "GET":
                shown = response.text.replace(path, "")  # the page may link to itself (language switch)
                acting_on = target.split("|")[0] if endpoint.target == "task" and expected == "allowed" else None
                leaked = [text for text in private_texts(world, person, acting_on) if text in shown]
                if leaked:
                    problems.append(f"{where}: shows {leaked}")
            if endpoint.path == "/logout":
                sessions[person.key] = sign_in(web_app, person.username)
        if before is not None and not checked and snapshot(world) != before:
            problems.append(f"{endpoint.method} {endpoint.path}: refused requests changed the database")
    assert problems == [], "\n".join(problems)


def test_unsigned_requests_go_to_sign_in_or_get_401(web_app, world):
    anonymous = Browser(web_app, follow_redirects=False)
    place = world.places["A1"]
    for endpoint in ENDPOINTS:
        if endpoint.path in PUBLIC:
            continue
        path = url(world, endpoint, "A1" if endpoint.target in ("child", "case", "area") else
                   f"A1|{TASK_TARGETS[0][1]}" if endpoint.target == "task" else None, uuid.uuid4(), uuid.uuid4())
        if endpoint.api:
            body = endpoint.body(world, "A1") if endpoint.body else None
            response = anonymous.request(endpoint.method, path, json=body,
                                         headers={"Authorization": "Bearer cf_not-a-token"})
            assert response.status_code == 401, (endpoint, response.status_code)
            response = anonymous.request(endpoint.method, path)
            assert response.status_code in (401, 422), (endpoint, response.status_code)
        elif endpoint.method == "GET":
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), endpoint
            assert place.child_name not in response.text
        else:
            response = anonymous.post(path, data=endpoint.body(world, "A1") if endpoint.body else {})
            assert response.status_code == 403, (endpoint, response.status_code)  # no CSRF token before sign-in


def test_every_form_needs_the_sessions_csrf_token(web_app, world, clients):
    before = snapshot(world)
    for endpoint in ENDPOINTS:
        if endpoint.api or endpoint.method == "GET" or endpoint.path in PUBLIC:
            continue
        for key, person in world.people.items():
            if person.role not in endpoint.roles:
                continue
            client = clients[key]
            target = next((t for t in targets(world, endpoint.target) if in_scope(world, person, endpoint.target, t)),
                          targets(world, endpoint.target)[0])  # a notifier-only form: the CSRF check comes first
            path = url(world, endpoint, target, world.person("cw_b").id, uuid.uuid4())
            body = endpoint.body(world, target) if endpoint.body else {}
            for token in (None, "forged", clients["admin" if key != "admin" else "cw_a"].csrf):
                data = dict(body) if token is None else {**body, "csrf_token": token}
                response = client.post(path, data=data)
                assert response.status_code == 403, (endpoint.path, key, token, response.status_code)
    assert snapshot(world) == before


def test_the_api_with_a_session_cookie_needs_the_csrf_header(web_app, world, clients):
    client = clients["cw_a"]
    place = world.places["A1"]
    path = f"/api/children/{place.child_id}/cases"
    assert client.get("/api/me").json()["auth"] == "session"
    assert client.post(path, json=REPORT).status_code == 403
    assert client.post(path, json=REPORT, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post(path, json=REPORT, headers={"X-CSRF-Token": client.csrf}).status_code == 201


def test_lists_show_only_the_jurisdiction(web_app, world, clients):
    places = world.places
    for key, visible in VISIBLE.items():
        person, client = world.person(key), clients[key]
        headers = {"Authorization": f"Bearer {person.token}"}
        for name, place in places.items():  # each searched for: other tests' children may fill the first page
            shown = name in visible
            by_name, by_ref = {"q": place.child_name}, {"q": place.reference}
            children_page = client.get("/children", params=by_name).text
            api_children = {c["full_name"] for c in client.get("/api/children", params=by_name,
                                                               headers=headers).json()["items"]}
            api_cases = {c["reference"] for c in client.get("/api/cases", params=by_ref,
                                                            headers=headers).json()["items"]}
            cases_page = client.get("/cases", params=by_ref).text
            assert (f'href="/children/{place.child_id}"' in children_page) == shown, (key, name)
            assert (place.child_name in api_children) == shown, (key, name)
            assert (place.reference in api_cases) == shown, (key, name)
            assert (f'href="/cases/{place.reference}"' in cases_page) == shown, (key, name)
            assert place.resident_id not in children_page  # masked in lists
        if person.role == MGR:
            exported = client.get("/dashboard/export.csv").text
            dashboard = client.get("/api/dashboard", headers=headers).json()
            for name, place in places.items():
                assert (place.reference in exported) == (name in visible), (key, name)
                assert (place.reference in {p["case_reference"] for p in dashboard["pathways"]}) == (name in visible)


def test_an_officer_sees_only_the_units_tasks_and_no_child_identity(web_app, world, clients):
    for key in ("off_vc_a1", "off_police_a", "off_police_b"):
        person, client = world.person(key), clients[key]
        tasks = client.get("/api/tasks?state=open", headers={"Authorization": f"Bearer {person.token}"}).json()["items"]
        tasks += client.get("/api/tasks?state=closed",
                            headers={"Authorization": f"Bearer {person.token}"}).json()["items"]
        assert tasks and {t["unit_code"] for t in tasks} == {person.unit}
        assert set(tasks[0]) >= {"case_reference", "step_title", "due_local", "instructions", "outcome_fields"}
        assert not {"full_name", "resident_id", "child_id"} & set(tasks[0])
        for place in world.places.values():
            # the inbox is paged and earlier tests filled it: look each case up as an officer would, by reference
            inbox = client.get("/inbox", params={"state": "all", "q": place.reference}).text
            assert place.child_name not in inbox and mask_resident_id(place.resident_id) not in inbox
            listed = re.search(r'id="list-count">共 (\d+) 条', inbox)  # the search box echoes the reference
            assert (int(listed.group(1)) > 0) == (person.unit in place.tasks), (key, place.key)


def test_dashboard_areas_outside_the_jurisdiction_are_hidden(web_app, world, clients):
    assert clients["mgr_city"].get("/dashboard?area=350302").status_code == 200
    assert clients["mgr_a"].get("/dashboard?area=350823").status_code == 404
    assert clients["mgr_a"].get("/dashboard/export.xlsx?area=350300").status_code == 404
    headers = {"Authorization": f"Bearer {world.person('mgr_b').token}"}
    assert clients["mgr_b"].get("/api/dashboard?area=350302", headers=headers).status_code == 404


def test_reading_a_childs_record_is_audited(web_app, world, clients):
    place = world.places["A2"]
    person = world.person("mgr_city")

    def events(action):
        with session_scope() as session:
            return len(session.exec(select(AuditEvent).where(
                AuditEvent.actor == person.username, AuditEvent.action == action,
                AuditEvent.entity_id == str(place.child_id))).all())

    viewed = events("child.viewed")
    assert clients["mgr_city"].get(f"/children/{place.child_id}").status_code == 200
    assert clients["mgr_city"].get(f"/api/children/{place.child_id}",
                                   headers={"Authorization": f"Bearer {person.token}"}).status_code == 200
    assert events("child.viewed") == viewed + 2
    assert clients["mgr_city"].get(f"/children/{place.child_id}?reveal=true").status_code == 403
    cw = world.person("cw_a")
    page = clients["cw_a"].get(f"/children/{place.child_id}?reveal=true")
    assert place.resident_id in page.text
    with session_scope() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.actor == cw.username,
                                                     AuditEvent.action == "child.id_revealed")).first()


def test_a_deactivated_user_is_signed_out_and_their_tokens_stop_working(web_app, world):
    from web.users import create_api_token, create_user, update_user

    with session_scope() as session:
        user = create_user(session, username=f"leaver.{uuid.uuid4().hex[:6]}", password=PASSWORD, role="manager",
                           actor="test", jurisdiction_code="350302")
        token = create_api_token(session, user=user).token
    client = sign_in(web_app, user.username)
    assert client.get("/dashboard").status_code == 200
    with session_scope() as session:
        update_user(session, session.get(WebUser, user.id), actor="test", active=False)
    assert client.get("/dashboard").status_code == 303
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    failed = Browser(web_app, follow_redirects=False).post("/login", data={"username": user.username,
                                                                          "password": PASSWORD})
    assert failed.status_code == 403  # without the pre-sign-in CSRF cookie and token


def test_a_tampered_session_cookie_is_refused(web_app, world, clients):
    client = Browser(web_app, follow_redirects=False)
    cookie = clients["mgr_a"].cookies.get("careflow_session")
    client.cookies.set("careflow_session", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    assert client.get("/dashboard").status_code == 303


@pytest.mark.parametrize("header", ["Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"])
def test_pages_carry_security_headers(web_app, clients, header):
    assert header in clients["cw_a"].get("/cases").headers
    cookie = [v for k, v in clients["cw_a"].get("/login").headers.multi_items() if k == "set-cookie"]
    assert all("httponly" in c.lower() and "samesite=lax" in c.lower() for c in cookie)
