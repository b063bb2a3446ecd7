"""schemathesis against the OpenAPI document: generated requests to every operation never cause a server error.

Every operation is fuzzed three ways — valid data, invalid data, and valid data aimed at real objects of the
test world (a real child, case reference, task, user, unit) so that requests get past the lookups into the
domain code — each with the token of the role that reaches deepest into it, and a bounded number of examples
so that a run stays well under a minute.
"""
from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlmodel import select

from core.db import session_scope
from tests.conftest import BACKENDS
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case, CaseStatus
from tests.web.conftest import PASSWORD
from web.users import create_user
from tests.web.test_access import programme_id

EXAMPLES = 8

#: which person of the test world calls which part of the API
CALLER_BY_PREFIX = [("/api/admin", "admin"), ("/api/tasks", "off_vc_a1"), ("/api/dashboard", "mgr_city")]


def caller(world, path: str) -> str:
    for prefix, key in CALLER_BY_PREFIX:
        if path.startswith(prefix):
            return world.person(key).token
    return world.person("cw_a").token


def fuzz(operation, strategy, headers: dict, failures: list[str]) -> None:
    """Call ``operation`` with up to :data:`EXAMPLES` generated cases; collect every server error."""

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def call(case):
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except Exception as exc:  # collect, then report every failing operation at once
            failures.append(f"{operation.label}: {response.status_code} {type(exc).__name__}: {str(exc)[:300]}")

    call()


@pytest.fixture
def fuzz_targets(world):
    """A user and an (inactive) agency unit that the fuzzer may change at will; afterwards every unit it
    created or touched is deactivated again, so that no fuzzed unit ever receives a routed task, and every case it
    opened (a fuzzed report on a child of the world) is closed, so that the words it typed — ``yes`` as 报告人, a
    schema's field name — do not stand in the open-case lists other tests read for raw values."""
    suffix = f"{world.suffix}{uuid.uuid4().hex[:4]}"  # each test that uses it gets its own
    with session_scope() as session:
        user = create_user(session, username=f"fuzz.{suffix}", password=PASSWORD, role="caseworker",
                           actor="test", jurisdiction_code="350823")
        unit = AgencyUnit(code=f"court-fuzz-{suffix}", agency_type="court", jurisdiction_code="350823",
                          name="fuzz", active=False)
        session.add(unit)
        units_before = set(session.exec(select(AgencyUnit.code)).all())
        cases_before = set(session.exec(select(Case.id)).all())
    yield {"user_id": str(user.id), "code": unit.code}
    with session_scope() as session:
        for case in session.exec(select(Case).where(Case.status == CaseStatus.open)).all():
            if case.id not in cases_before:
                case.status, case.closed_at, case.close_reason = CaseStatus.closed, utcnow(), "fuzz"
                session.add(case)
        for found in session.exec(select(AgencyUnit)).all():
            if found.code == unit.code or found.code not in units_before:
                found.active = False
                session.add(found)


# PostgreSQL is the stricter backend (it refuses NUL characters and over-long strings that SQLite stores), and the
# backend production runs on; the browser test runs on SQLite, so the two workers of the suite stay balanced.
@pytest.mark.parametrize("database_url", ["postgresql" if "postgresql" in BACKENDS else BACKENDS[0]], indirect=True)
def test_no_generated_request_causes_a_server_error(web_app, world, fuzz_targets):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", web_app)
    place = world.places["A1"]
    real = {"child_id": str(place.child_id), "reference": place.reference,
            "task_id": str(place.tasks["village_committee-350302001001"]),
            "programme_id": str(programme_id(world, "A1|village_committee-350302001001")), **fuzz_targets}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        headers = {"Authorization": f"Bearer {caller(world, operation.path)}"}
        names = [p.name for p in operation.path_parameters]
        strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
        if names:
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE,
                                                    path_parameters={n: real[n] for n in names}))
        for strategy in strategies:
            fuzz(operation, strategy, headers, failures)
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("database_url", ["postgresql" if "postgresql" in BACKENDS else BACKENDS[0]], indirect=True)
def test_bodies_that_are_not_utf8_get_a_4xx_from_every_endpoint(web_app, world, fuzz_targets):
    """Invalid UTF-8 sent to every POST/PUT/PATCH operation of the OpenAPI document, aimed at real objects: a clear
    400 (never a 5xx), whatever the route would have done with a readable body."""
    from fastapi.testclient import TestClient

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", web_app)
    place = world.places["A1"]
    real = {"child_id": str(place.child_id), "reference": place.reference,
            "task_id": str(place.tasks["village_committee-350302001001"]),
            "programme_id": str(programme_id(world, "A1|village_committee-350302001001")), **fuzz_targets}
    client = TestClient(web_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    unsafe = [op for op in operations if op.method.upper() in ("POST", "PUT", "PATCH")]
    assert len(unsafe) >= 8
    answers = {}
    for operation in unsafe:
        path = operation.path.format(**{p.name: real[p.name] for p in operation.path_parameters})
        for content_type, body in [(kind, body) for kind in ("application/json", "application/x-www-form-urlencoded")
                                   for body in (b'{"name": "\xff\xfe"}', b"\xc3\x28", b'{"summary": "\xed\xa0\x80"}')]:
            headers = {"Authorization": f"Bearer {caller(world, operation.path)}", "Content-Type": content_type}
            response = client.request(operation.method.upper(), path, content=body, headers=headers)
            answers[f"{operation.method.upper()} {path} {content_type} {body!r}"] = (response.status_code,
                                                                                    response.text)
    wrong = {k: v for k, v in answers.items() if v[0] != 400 or "UTF-8" not in v[1]}
    assert wrong == {}
