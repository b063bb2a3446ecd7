"""End to end on a real Prefect server, on each database backend (方案 一（三）): the scheduled deployments of the
data exchange with 医保 export the migrant-child list and import its answer file; the answer marks a key care child
as not insured; the caseworker sees the proposal in 待我处理 and starts item 7 in one click, which reaches 医保."""
from __future__ import annotations

import csv
import uuid
from datetime import date

import pytest
from prefect.deployments import run_deployment
from sqlmodel import select

from careflow.registration import register_child
from careflow.survey.sharing import child_reference
from core.db import session_scope
from models.case import Case, PathwayRun
from models.data_exchange import DepartmentAnswer, ReferralProposal
from models.eligibility import KeyCareCriterion
from models.key_care_files import KeyCareFile
from models.user import UserRole
from tests.factories import make_resident_id
from tests.flows.support import wait_for_agency_task

COUNTY = "350302"


def run_and_wait(name: str, parameters: dict):
    """Run a served deployment and wait for its end; the flow run must complete."""
    flow_run = run_deployment(name, parameters=parameters, timeout=180, as_subflow=False)
    assert flow_run.state.is_completed(), (name, flow_run.state)
    return flow_run


@pytest.mark.e2e
@pytest.mark.only_backend("sqlite", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_not_insured_in_the_answer_file_is_proposed_and_item_7_reaches_medical_insurance(served, tmp_path):
    from web.app import create_app
    from web.users import create_user
    from tests.web.conftest import PASSWORD, sign_in

    suffix = uuid.uuid4().hex[:6]
    with session_scope() as session:  # a key care child (family hardship) of 龙桥街道, and its township caseworker
        child = register_child(session, resident_id=make_resident_id(birth=date(2014, 11, 11)),
                               full_name="医保比对" + suffix, hukou_county="511321", residence_county=COUNTY,
                               residence_area_code="350302001001", arrival_date=date(2023, 8, 20), actor="e2e",
                               key_care_criteria={KeyCareCriterion.family_hardship}).child
        child_id = child.id
        file_ref = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).one().reference
        caseworker = create_user(session, username=f"cw.exchange.{suffix}", password=PASSWORD,
                                 role=UserRole.caseworker, actor="e2e", jurisdiction_code="350302001").username

    # 1. the scheduled export to 医保 (the migrant-child list of each county)
    run_and_wait("department-export/exchange-export-medical_insurance",
                 {"department": "medical_insurance", "outbox": str(tmp_path / "out")})
    [exported] = (tmp_path / "out" / COUNTY).glob("medical_insurance-350302-*.csv")
    rows = list(csv.reader(open(exported, encoding="utf-8-sig")))
    header, mine = rows[0], next(r for r in rows[1:] if r[0] == child_reference(child_id))
    assert mine[header.index("档案编号")] == file_ref

    # 2. 医保 fills in 参保状态 and the file lands in the inbox; the scheduled import reads it (twice: once only)
    mine[header.index("参保状态")] = "未参保"
    (tmp_path / "in").mkdir()
    with open(tmp_path / "in" / "医保反馈.csv", "w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows([header, mine])
    for _ in range(2):
        run_and_wait("department-answers/exchange-answers-medical_insurance",
                     {"department": "medical_insurance", "inbox": str(tmp_path / "in")})
    with session_scope() as session:
        assert len(session.exec(select(DepartmentAnswer).where(DepartmentAnswer.child_id == child_id)).all()) == 1
        assert [p.item for p in session.exec(select(ReferralProposal)
                                             .where(ReferralProposal.child_id == child_id)).all()] == [7]

    # 3. the caseworker sees it in 待我处理 and starts item 7 in one click (the app starts the flow run on Prefect)
    cw = sign_in(create_app(), caseworker)
    inbox = cw.get("/todo?show=proposals").text
    assert f'data-child="{child_id}"' in inbox and "参保状态为“未参保”" in inbox
    response = cw.post(f"/children/{child_id}/proposals/start", data={"item": "7", "csrf_token": cw.csrf})
    assert response.status_code == 303, response.text
    reference = response.headers["location"].split("/")[2].split("?")[0]
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        run = session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).one()
    assert run.parameters["item"] == "7" and run.flow_run_id is not None

    # 4. the referral reaches 医保: the medical insurance bureau of 城厢区 has the task
    task = wait_for_agency_task(run.id, run.flow_run_id, "service_referral", "medical_insurance")
    assert task.unit_code.startswith("medical_insurance-350302")
    assert f'data-child="{child_id}"' not in cw.get("/todo?show=proposals").text
