"""Web app fixtures: an app without Prefect, a world of two counties to walk permissions through, signed-in
clients, and (for browser tests) the app on a live uvicorn server beside the served Prefect deployments."""
from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from core.db import session_scope
from careflow.step_tasks import open_step_task
from tests.flows.conftest import prefect_server  # noqa: F401  (the real Prefect harness, for browser tests)
from models.case import PathwayRun, PathwayStatus
from models.user import UserRole, WebUser
from tests.factories import make_resident_id
from web.users import create_api_token, create_user

PASSWORD = "test-password-123"
#: Birthplace and birth date of the resident IDs the web tests make: a space no other test draws from (the demos
#: use 511321 / 2015-03-14, the survey tests 511321 / 2015-03-15 and nearby), so that no ID is registered twice in a
#: database.
WEB_ID_SPACE = {"world": ("350823", date(2013, 7, 21)), "walk": ("350823", date(2012, 10, 8)),
                "browser": ("350823", date(2014, 9, 27)), "duty": ("350823", date(2011, 11, 11))}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Place:
    """A child living somewhere, its case, and its pathway run's tasks."""

    key: str
    area: str
    child_id: uuid.UUID
    child_name: str
    resident_id: str
    reference: str
    tasks: dict[str, uuid.UUID] = field(default_factory=dict)  # unit code → task id


@dataclass
class Person:
    key: str
    username: str
    role: UserRole
    jurisdiction: str = ""
    unit: str | None = None
    id: uuid.UUID | None = None
    token: str = ""


@dataclass
class World:
    """Two counties: 城厢区 350302 (townships 龙桥 001 and 霞林 002) and 上杭县 350823; a child, a case and
    its tasks in each of A1 (龙桥), A2 (霞林) and B (上杭); one user per role and scope."""

    suffix: str
    places: dict[str, Place]
    people: dict[str, Person]

    def person(self, key: str) -> Person:
        return self.people[key]


PEOPLE = [
    ("cw_a1", UserRole.caseworker, "350302001", None),      # 龙桥街道 child supervisor
    ("cw_a", UserRole.caseworker, "350302", None),           # 城厢区 county
    ("cw_b", UserRole.caseworker, "350823", None),           # 上杭县
    ("off_vc_a1", UserRole.agency_officer, "", "village_committee-350302001001"),
    ("off_police_a", UserRole.agency_officer, "", "police-350302"),
    ("off_police_b", UserRole.agency_officer, "", "police-350823"),
    ("mgr_a", UserRole.manager, "350302", None),
    ("mgr_city", UserRole.manager, "350300", None),          # 莆田市: 城厢区 but not 上杭县
    ("mgr_b", UserRole.manager, "350823", None),
    ("admin", UserRole.admin, "", None),
]

PLACES = [
    ("A1", "350302", "350302001001"),
    ("A2", "350302", "350302002001"),
    ("B", "350823", "350823100001"),
]


@pytest.fixture(scope="session")
def world(database_url) -> World:
    """The permission world on the current backend (built once per backend)."""
    suffix = uuid.uuid4().hex[:6]
    places, people = {}, {}
    with session_scope() as session:
        for key, county, area in PLACES:
            name = f"隐私{key}{suffix}"
            rid = make_resident_id(*WEB_ID_SPACE["world"])
            reg = register_child(session, resident_id=rid, full_name=name, hukou_county="511321",
                                 residence_county=county, residence_area_code=area, arrival_date=date(2023, 8, 20),
                                 actor="fixture")
            session.flush()
            case = open_case(session, child_id=reg.child.id, caseworker="fixture", summary=f"summary {key}")
            session.flush()
            run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="fixture")
            run.status = PathwayStatus.cancelled  # no flow: the sweeper of a served stack leaves it alone
            session.flush()
            place = Place(key, area, reg.child.id, name, rid, case.reference)
            for step in ("committee_admonition", "police_reprimand"):
                task = open_step_task(session, pathway_run_id=run.id, step_key=step)
                session.flush()
                place.tasks[task.unit_code] = task.id
            places[key] = place
        for key, role, jurisdiction, unit in PEOPLE:
            user = create_user(session, username=f"{key.replace('_', '.')}.{suffix}", password=PASSWORD, role=role,
                               actor="fixture", jurisdiction_code=jurisdiction, unit_code=unit)
            token = create_api_token(session, user=user, name="tests").token
            people[key] = Person(key, user.username, role, jurisdiction, unit, user.id, token)
    return World(suffix, places, people)


@pytest.fixture(scope="session")
def started_runs() -> list[uuid.UUID]:
    """Pathway runs the app was asked to start (the tests' starter records them instead of calling Prefect)."""
    return []


@pytest.fixture(scope="session")
def web_app(database_url, started_runs):
    """The web app on the current backend, starting no flow runs (no Prefect server needed)."""
    from web.app import create_app

    def record(run_id):
        started_runs.append(run_id)
        with session_scope() as session:  # recorded only: the sweeper of a served stack must not start it
            session.get(PathwayRun, run_id).status = PathwayStatus.cancelled
        return None

    return create_app(pathway_starter=record)


class Browser(TestClient):
    """A signed-in test client that knows its session's CSRF token."""

    csrf: str = ""


def sign_in(app, username: str, password: str = PASSWORD) -> Browser:
    client = Browser(app, follow_redirects=False)
    page = client.get("/login")
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": CSRF.search(page.text).group(1)})
    assert response.status_code == 303, response.text
    client.csrf = CSRF.search(client.get("/account").text).group(1)
    return client


@pytest.fixture(scope="session")
def clients(web_app, world) -> dict[str, Browser]:
    """A signed-in browser session per person of the world."""
    return {key: sign_in(web_app, person.username) for key, person in world.people.items()}


def user_row(username: str) -> WebUser:
    with session_scope() as session:
        return session.exec(select(WebUser).where(WebUser.username == username)).one()


# --------------------------------------------------------------------------------------------- live server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="session")
def served(database_url, prefect_server):  # noqa: F811
    """Deployments served against the current backend's database, as ``tests/flows``' ``served`` does — reusing
    that fixture's runner when it is up in this session (it polls every second), so that no second runner competes
    for the two cores; otherwise a runner of our own."""
    from datetime import datetime, timezone

    from entry.stack import LocalStack, deployments_ready
    from careflow.deployments import PATHWAY_DEPLOYMENTS, SWEEPER

    names = [d.full_name for d in PATHWAY_DEPLOYMENTS.values()] + [SWEEPER.full_name]
    since, deadline, polling = datetime.now(timezone.utc), time.monotonic() + 4, False
    while not polling and time.monotonic() < deadline:  # a live runner polls every second; a stopped one never
        polling = deployments_ready(names, since)
        time.sleep(0.5)
    stack = LocalStack(with_sink=False, with_server=False, serve="never" if polling else "always").start()
    yield stack
    stack.stop()


@contextlib.contextmanager
def serving(app, name: str):
    """``app`` on a live uvicorn server (a free loopback port, in a thread) while the block runs; yields its port."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="session")
def live_web(served):
    """The web app on a live uvicorn server (free port, in a thread) against the served deployments."""
    from web.app import create_app

    with serving(create_app(), "careflow-web") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def chromium(live_web):
    """Debian's chromium driven by Playwright (never a downloaded browser), for one test: Playwright's sync API
    keeps an event loop running in this thread while it is open, and later fixtures call ``asyncio.run``."""
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def plain_web(database_url):
    """The web app (no flow starts: no Prefect needed) on a live uvicorn server in a thread, for browser tests."""
    from web.app import create_app

    with serving(create_app(pathway_starter=lambda run_id: None), "careflow-web-plain") as port:
        yield f"http://127.0.0.1:{port}"
