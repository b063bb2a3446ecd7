"""The manager's dashboard lists pathways "running" without a live flow run for longer than the set time."""
import re
import uuid
from datetime import date, timedelta

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from core.db import session_scope
from careflow.recovery import stalled_pathway_runs
from models.base import utcnow
from models.case import PathwayStatus
from tests.factories import make_resident_id


def _stalled_run(county: str, area: str, *, down_for: timedelta, restarts: int = 2):
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(), full_name="停滞" + uuid.uuid4().hex[:4],
                             hukou_county="511321", residence_county=county, residence_area_code=area,
                             arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="fixture")
        session.flush()
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="fixture")
        # running on a flow run the sweeper found crashed; no real flow run behind it (the sweeper only reads
        # runs with a flow run id, and this one has none)
        run.status, run.flow_run_id = PathwayStatus.running, None
        run.down_since, run.restart_count = utcnow() - down_for, restarts
        run.last_failure = "流程运行已崩溃（Crashed）：process killed"
        session.add(run)
        return case.reference, run.id


def test_a_pathway_without_a_live_flow_run_for_longer_than_the_set_time_is_shown(web_app, world, clients):
    old_ref, old_id = _stalled_run("350302", "350302001001", down_for=timedelta(hours=1))
    new_ref, new_id = _stalled_run("350302", "350302001001", down_for=timedelta(seconds=10))
    try:
        with session_scope() as session:
            ids = {r.id for r in stalled_pathway_runs(session, timedelta(minutes=5))}
        assert old_id in ids and new_id not in ids
        page = clients["mgr_a"].get("/dashboard").text
        section = re.search(r'<section class="card" id="stalled">(.*?)</section>', page, re.S).group(1)
        assert "停滞的路径" in section and old_ref in section and new_ref not in section
        # the pathway's Chinese title; the last failure worded, without the engine's words (they are in the log)
        assert "监护" in section and "流程运行意外结束" in section and "process killed" not in section
        assert old_ref not in clients["mgr_b"].get("/dashboard").text  # another county's manager does not see it
    finally:
        with session_scope() as session:  # leave nothing open for the tests after
            from models.case import PathwayRun

            for run_id in (old_id, new_id):
                session.get(PathwayRun, run_id).status = PathwayStatus.cancelled


def test_the_stalled_list_costs_two_statements_however_many_pathways_stalled(web_app, world, clients):
    """The dashboard read each stalled run's case one query at a time (200 queries, ~60 ms at provincial scale)."""
    import sqlalchemy as sa

    from core.db import get_engine
    from web.i18n import Translator
    from web.routes.dashboard import stalled_rows

    made = [_stalled_run("350302", "350302001001", down_for=timedelta(hours=2)) for _ in range(5)]
    seen = []

    def record(*args):
        seen.append(args[2])

    try:
        sa.event.listen(get_engine(), "before_cursor_execute", record)
        try:
            with session_scope() as session:
                rows = stalled_rows(session, "350302", Translator("zh"))
        finally:
            sa.event.remove(get_engine(), "before_cursor_execute", record)
        assert {ref for ref, _ in made} <= {r["case_reference"] for r in rows}
        assert len(seen) <= 2, seen
    finally:
        with session_scope() as session:
            from models.case import PathwayRun

            for _, run_id in made:
                session.get(PathwayRun, run_id).status = PathwayStatus.cancelled


def test_a_countys_stalled_pathways_are_chosen_before_the_limit_not_after(web_app, world, clients):
    """The dashboard took the province's first 200 stalled runs, then kept its county's: past 200 elsewhere, a
    county saw none of its own."""
    elsewhere = _stalled_run("350823", "350823100001", down_for=timedelta(days=3))  # longest first: ahead in line
    here = _stalled_run("350302", "350302001001", down_for=timedelta(hours=3))
    try:
        with session_scope() as session:
            first = stalled_pathway_runs(session, timedelta(minutes=5), limit=1)
            county = stalled_pathway_runs(session, timedelta(minutes=5), limit=1, county_prefix="350302")
            city = stalled_pathway_runs(session, timedelta(minutes=5), limit=500, county_prefix="3503")
        assert [r.id for r in county] == [here[1]] and first[0].id != here[1]
        assert here[1] in {r.id for r in city} and elsewhere[1] not in {r.id for r in city}
    finally:
        with session_scope() as session:
            from models.case import PathwayRun

            for _, run_id in (elsewhere, here):
                session.get(PathwayRun, run_id).status = PathwayStatus.cancelled


def test_a_full_stalled_list_says_there_may_be_more(web_app, world, clients, monkeypatch):
    """The stalled list stops at its limit: it says so instead of stopping silently."""
    import web.routes.dashboard as dashboard

    made = [_stalled_run("350302", "350302001001", down_for=timedelta(hours=4)) for _ in range(2)]
    try:
        page = clients["mgr_a"].get("/dashboard").text
        assert 'id="stalled-more"' not in page
        monkeypatch.setattr(dashboard, "STALLED_LIMIT", 1)
        page = clients["mgr_a"].get("/dashboard").text
        section = re.search(r'<section class="card" id="stalled">(.*?)</section>', page, re.S).group(1)
        assert section.count("<tr data-case=") == 1 and "仅列出停滞最久的 1 条，可能还有更多。" in section
        english = clients["mgr_a"].get("/dashboard?lang=en").text
        clients["mgr_a"].get("/account?lang=zh")
        assert "Only the 1 longest stalled are listed; there may be more." in english
    finally:
        with session_scope() as session:
            from models.case import PathwayRun

            for _, run_id in made:
                session.get(PathwayRun, run_id).status = PathwayStatus.cancelled
