"""A step no unit can take stops its pathway at once, in words (no restarts for minutes, no exception text): the
child's area was made coarser than the committee's village after the run was created (the start check passed)."""
import asyncio
from datetime import date
import uuid

import pytest
import sqlalchemy as sa

from careflow.cases import create_pathway_run, open_case
from careflow.registration import register_child
from careflow.resume import start_pathway_flow
from core.db import session_scope
from models.case import PathwayStatus
from models.child import Child
from tests.factories import make_resident_id
from tests.flows.support import CASEWORKER, notifications_of, tasks_of, wait_for_end

pytestmark = pytest.mark.e2e

RAW_PARTS = ("NoUnitForAgency", "Flow run encountered", "village_committee", "agency_units.yaml")


def test_a_step_without_a_unit_ends_the_run_blocked_with_a_worded_reason(served):
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id("511321", date(2014, 12, 2)),
                             full_name="无单位" + uuid.uuid4().hex[:4], hukou_county="511321",
                             residence_county="350302", residence_area_code="350302001001",
                             arrival_date=date(2023, 8, 20), actor=CASEWORKER)
        case = open_case(session, child_id=reg.child.id, caseworker=CASEWORKER)
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor=CASEWORKER)
        session.flush()
        session.execute(sa.update(Child).where(Child.id == reg.child.id).values(residence_area_code="350302001"))
        reference, run_id = case.reference, run.id
    asyncio.run(start_pathway_flow(run_id))
    run = wait_for_end(run_id, timeout=90)
    assert run.status == PathwayStatus.failed and run.restart_count == 0
    assert run.outcome == ("受阻：“劝诫、制止”须由村（居）民委员会办理，但儿童居住地只登记到城厢区龙桥街道，无法交办；"
                           "请补充儿童居住的村（居）后重新发起本路径")
    assert tasks_of(run_id) == []
    mails = [n for n in notifications_of(reference) if n.event == "pathway_closed"]
    assert len(mails) == 2 and all("只登记到城厢区龙桥街道" in m.body for m in mails)
    for text in (run.outcome, *[m.body for m in mails]):
        assert not any(part in text for part in RAW_PARTS), text
