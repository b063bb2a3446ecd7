"""The command line as a caseworker and an agency officer use it (no Prefect server needed here)."""
import re

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from careflow.cases import create_pathway_run
from entry.cli import app
from core.db import session_scope
from careflow.step_tasks import open_step_task
from models.case import Case, PathwayRun
from models.task import AgencyTask, TaskState
from tests.factories import make_resident_id

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_register_rejects_a_wrong_check_character_naming_field_and_value(database_url):
    good = make_resident_id()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    result = invoke("child", "register", "--resident-id", bad, "--name", "张三", "--hukou", "511321",
                    "--residence", "350302", "--arrived", "2023-08-20")
    assert result.exit_code == 2
    assert "身份证号" in result.output and bad in result.output


def test_register_shows_the_migrant_child_test_with_reasons(database_url):
    result = invoke("child", "register", "--resident-id", make_resident_id(), "--name", "李四", "--hukou", "511321",
                    "--residence", "城厢区", "--arrived", "2023-08-20", "--area", "350302001001", "--as", "lin.fang")
    assert result.exit_code == 0, result.output
    assert "是否属于流动儿童：是" in result.output
    assert re.search(r"\d{4}\*+\w{4}", result.output)  # the ID is masked
    child_id = re.search(r"已登记儿童 ([0-9a-f-]{36})", result.output).group(1)
    opened = invoke("case", "open", "--child-id", child_id, "--caseworker", "lin.fang")
    assert opened.exit_code == 0 and opened.output.startswith("CF-350302-")


def test_a_bad_arrival_date_is_named(database_url):
    result = invoke("child", "register", "--resident-id", make_resident_id(), "--name", "王五", "--hukou", "511321",
                    "--residence", "350302", "--arrived", "2023/13/01")
    assert result.exit_code == 2 and "arrived" in result.output and "2023/13/01" in result.output


@pytest.fixture
def police_task(database_url, register, session):
    child = register().child
    from careflow.cases import open_case

    case = open_case(session, child_id=child.id, caseworker="lin.fang")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="lin.fang")
    session.flush()
    task = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand")
    session.commit()
    return task


def test_officer_lists_acknowledges_and_cannot_complete_with_a_bad_outcome(police_task):
    # earlier tests' sweeps leave hundreds of open tasks with this unit: list them all, soonest deadline first
    listed = invoke("task", "list", "--unit", "police-350302", "--limit", "1000")
    assert police_task.short_ref in listed.output
    ack = invoke("task", "ack", police_task.short_ref, "--unit", "police-350302", "--as", "民警陈强")
    assert ack.exit_code == 0, ack.output
    with session_scope() as session:
        assert session.get(AgencyTask, police_task.id).state == TaskState.acknowledged
    bad = invoke("task", "complete", police_task.short_ref, "--unit", "police-350302", "--as", "民警陈强",
                 "--outcome", "reprimanded=maybe")
    assert bad.exit_code == 2 and bad.output.strip() == (  # every problem of the answer at once
        "错误：已予以训诫：「maybe」不是“是”或“否”（可填 是/否、yes/no、1/0）；责令接受家庭教育指导：请填写；儿童处于不安全状态：请填写")
    with session_scope() as session:
        assert session.get(AgencyTask, police_task.id).state == TaskState.acknowledged  # nothing half-written


def test_another_unit_cannot_answer_the_task(police_task):
    result = invoke("task", "ack", police_task.short_ref, "--unit", "police-350823", "--as", "someone")
    assert result.exit_code == 2
    assert f"错误：任务：单位 'police-350823' 没有任务 '{police_task.short_ref}'" in result.output


def test_answer_without_a_flow_run_is_kept_for_the_sweeper(police_task):
    result = invoke("task", "reject", police_task.short_ref, "--unit", "police-350302", "--as", "民警陈强",
                    "--reason", "不属本辖区")
    assert result.exit_code == 0, result.output
    assert "答复已保存，路径暂未能继续，巡检时自动继续" in result.output
    with session_scope() as session:
        run = session.get(PathwayRun, police_task.pathway_run_id)
        assert run.resume_pending and "flow run not created" in run.last_resume_error


def test_a_database_never_set_up_gets_one_clear_line_not_a_traceback(tmp_path):
    """``careflow`` on a fresh machine before ``careflow init``: the error names the database and the command
    that sets it up (it used to print SQLAlchemy's traceback)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CAREFLOW_HOME": str(tmp_path / "home"),
           "CAREFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    survey = tmp_path / "s.csv"
    survey.write_text("姓名,身份证号,户籍地,来本地日期,重点关爱情形\n张三,350302201501010011,511321,2020-01-01,无\n",
                      encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "entry.cli", "survey", "import", str(survey), "--county", "350302",
                           "--round", "2026-10"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"错误：数据库 sqlite:///{tmp_path / 'empty.db'} 尚未初始化（缺少数据表 "
                                   "'survey_round'）：请先运行 `careflow init`（或 `./run up`）")


def test_the_default_database_never_set_up_gets_the_same_line(tmp_path):
    """Without CAREFLOW_DATABASE_URL (the default SQLite file in CAREFLOW_HOME, a newcomer's case) the line names
    that file (it used to fail on the missing URL with SQLAlchemy's ArgumentError and a traceback)."""
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "CAREFLOW_DATABASE_URL"}
    env["CAREFLOW_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-m", "entry.cli", "task", "list", "--unit", "police-350302"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"错误：数据库 sqlite:///{tmp_path / 'home' / 'careflow.db'} 尚未初始化（缺少数据表 "
                                   "'agency_unit'）：请先运行 `careflow init`（或 `./run up`）")
    english = subprocess.run([sys.executable, "-m", "entry.cli", "task", "list", "--unit", "police-350302"],
                             capture_output=True, text=True, env={**env, "CAREFLOW_LANG": "en"}, timeout=120)
    assert english.stderr.strip() == (f"error: the database sqlite:///{tmp_path / 'home' / 'careflow.db'} is not "
                                      "set up (no table 'agency_unit'): run `careflow init` (or `./run up`) first")


def test_survey_import_mistakes_get_one_line_naming_the_field(database_url, tmp_path):
    """What a new user got wrong (a folder for the file, a round still to come, the wrong county for the file, an
    unknown unit): one line each, naming the field, and a failing exit code."""
    folder = invoke("survey", "import", tmp_path, "--county", "350302", "--round", "2026-10")
    assert folder.exit_code == 2 and f"错误：文件：'{tmp_path}' 是文件夹，不是文件" in folder.output

    survey = tmp_path / "s.csv"
    survey.write_text("姓名,身份证号,户籍地,居住地（县区）,来本地日期,重点关爱情形\n"
                      f"张三,{make_resident_id()},511321,350302,2020-01-01,无\n", encoding="utf-8")
    future = invoke("survey", "import", survey, "--county", "350302", "--round", "2099-04")
    assert future.exit_code == 2 and "错误：调查轮次：2099-04 轮尚未开始" in future.output

    # a county no other test imports into: this one's round is only this test's
    elsewhere = invoke("survey", "import", survey, "--county", "350322", "--round", "2026-10")
    assert elsewhere.exit_code == 1, elsewhere.output
    assert "居住地为 350302" in elsewhere.output
    assert "错误：" in elsewhere.output and "未导入任何儿童，本轮摸排未完成" in elsewhere.output

    unknown = invoke("task", "list", "--unit", "no-such-unit")
    assert unknown.exit_code == 2 and "字段 'unit'：没有承办单位 'no-such-unit'" in unknown.output


def test_a_refused_value_is_worded_in_the_readers_language(database_url, tmp_path):
    """Errors raised below the command line (a round label, a case reference) read in Chinese after 「错误：」,
    naming the field by its label; with CAREFLOW_LANG=en the same line is English. They printed English
    (``field 'round': …``) on a Chinese command line before."""
    import os
    import subprocess
    import sys

    survey = tmp_path / "s.csv"
    survey.write_text("姓名,身份证号,户籍地,居住地（县区）,来本地日期,重点关爱情形\n"
                      f"张三,{make_resident_id()},511321,350302,2020-01-01,无\n", encoding="utf-8")
    bad_round = invoke("survey", "import", survey, "--county", "350302", "--round", "2026-13")
    assert bad_round.exit_code == 2
    assert bad_round.output.strip() == "错误：调查轮次：'2026-13'：调查每年4月和10月各一轮（方案 一（一））"
    timeline = invoke("case", "timeline", "CF-NONE")
    assert timeline.exit_code == 2 and timeline.output.strip() == "错误：个案：没有个案 'CF-NONE'"

    env = {**os.environ, "CAREFLOW_LANG": "en"}
    english = subprocess.run([sys.executable, "-m", "entry.cli", "case", "timeline", "CF-NONE"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert english.returncode == 2 and english.stderr.strip() == "error: Case: no case 'CF-NONE'"


def test_a_key_care_ground_at_registration_opens_the_file_in_a_fresh_process(database_url):
    """A command (or the web app) that never imported a survey must still write a key care file: the ORM has to
    know ``survey_round``, the table ``key_care_file.opened_round_id`` refers to. Registering with a ground failed
    with NoReferencedTableError in a fresh process, while the test process, which imports every table, passed."""
    import os
    import subprocess
    import sys

    resident_id = make_resident_id()
    done = subprocess.run([sys.executable, "-m", "entry.cli", "child", "register", "--resident-id", resident_id,
                           "--name", "王五", "--hukou", "511321", "--residence", "350302", "--arrived", "2023-08-20",
                           "--area", "350302001001", "--key-care", "missing_guardianship", "--as", "lin.fang"],
                          capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert done.returncode == 0, done.stderr
    from models.child import Child
    from models.key_care_files import KeyCareFile

    with session_scope() as session:
        child = session.exec(select(Child).where(Child.resident_id == resident_id)).one()
        assert session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child.id)).first() is not None


def test_a_case_reference_typed_in_lower_case_finds_the_case(database_url, register, session):
    """References are stored upper-case (CF-350302-20261207-7F3A0C); one typed as read aloud or copied in lower case
    names the same case: ``case timeline`` said 「没有个案」 before."""
    from careflow.cases import open_case

    case = open_case(session, child_id=register().child.id, caseworker="lin.fang")
    session.commit()
    timeline = invoke("case", "timeline", f" {case.reference.lower()} ", "--as", "lin.fang")
    assert timeline.exit_code == 0, timeline.output
    assert case.reference in timeline.output
