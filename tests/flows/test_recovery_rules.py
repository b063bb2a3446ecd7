"""How the sweeper judges a pathway's flow run (no server needed), and how long texts are cut."""
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from types import SimpleNamespace

from prefect.states import Cancelled, Completed, Crashed, Failed, Paused, Pending, Running, Scheduled

from careflow.reconcile import judge_flow_run
from models.base import utcnow
from models.case import clip_text

STALL = timedelta(minutes=5)


def judge(state, *, age=timedelta(0), flow_process=""):
    state.timestamp = utcnow() - age
    return judge_flow_run(SimpleNamespace(state=state), now=utcnow(), stall_after=STALL, flow_process=flow_process)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_dead_ended_and_vanished_flow_runs_are_restarted_with_the_reason_in_chinese():
    crashed = judge(Crashed(message="process killed"))
    assert crashed.action == "restart" and "崩溃" in crashed.reason and "process killed" in crashed.reason
    assert judge(Failed(message="boom")).action == "restart"
    assert judge(Cancelled()).action == "restart"
    assert judge(Completed()).action == "restart"  # ended without closing its pathway
    assert judge_flow_run(None, now=utcnow(), stall_after=STALL).reason == "Prefect 中找不到该流程运行"


def test_waiting_and_recent_flow_runs_are_left_alone():
    assert judge(Paused()) is None  # suspended, waiting for an agency: no process, no heartbeat, not dead
    assert judge(Running(), age=timedelta(minutes=4)) is None
    assert judge(Pending(), age=timedelta(minutes=4)) is None


def test_a_flow_run_without_progress_for_the_stall_time_is_restarted_and_one_never_picked_up_waits():
    assert judge(Running(), age=timedelta(minutes=6)).action == "restart"
    assert judge(Pending(), age=timedelta(minutes=6)).action == "restart"
    waiting = judge(Scheduled(scheduled_time=utcnow() - timedelta(minutes=6)), age=timedelta(minutes=6))
    assert waiting.action == "wait" and "careflow serve" in waiting.reason


def test_a_running_flow_run_whose_process_is_gone_is_restarted_at_once():
    host, recorded, age = socket.gethostname()[:80], f"{time.time():.3f}", timedelta(seconds=5)  # began 5 s ago
    assert judge(Running(), age=age, flow_process=f"{host}:{_dead_pid()}:{recorded}").action == "restart"
    assert judge(Running(), age=age, flow_process=f"{host}:{os.getpid()}:{recorded}") is None  # alive
    assert judge(Running(), age=age, flow_process=f"other-host:{_dead_pid()}:{recorded}") is None  # cannot tell
    # recorded before this Running state began: the process of an earlier run (e.g. the one that suspended)
    assert judge(Running(), age=age, flow_process=f"{host}:{_dead_pid()}:{time.time() - 60:.3f}") is None


def test_long_texts_are_cut_with_an_ellipsis():
    assert clip_text("短") == "短"
    cut = clip_text("退" * 1000)
    assert len(cut) == 500 and cut.endswith("…")
    assert clip_text("x" * 500) == "x" * 500


def test_a_pending_flow_run_claimed_before_every_live_runner_started_is_restarted_at_once():
    # claimed ("Submitting") 20 s ago by a runner that died; the only live runner started 10 s ago
    since_new_runner = utcnow() - timedelta(seconds=10)
    state = Pending(name="Submitting")
    state.timestamp = utcnow() - timedelta(seconds=20)
    dead = judge_flow_run(SimpleNamespace(state=state), now=utcnow(), stall_after=STALL, runners_since=since_new_runner)
    assert dead.action == "restart" and "运行器" in dead.reason
    # claimed after a live runner started: that runner may hold it; no live runner at all: cannot tell
    assert judge(Pending(), age=timedelta(seconds=5), flow_process="") is None
    state.timestamp = utcnow() - timedelta(seconds=5)
    assert judge_flow_run(SimpleNamespace(state=state), now=utcnow(), stall_after=STALL,
                          runners_since=since_new_runner) is None
    state.timestamp = utcnow() - timedelta(seconds=20)
    assert judge_flow_run(SimpleNamespace(state=state), now=utcnow(), stall_after=STALL, runners_since=None) is None


def test_a_process_recorded_as_it_loaded_counts_from_the_claim_not_from_running():
    # benchmarks.recovery: runs killed between reporting Running and their first task waited ~90 s for the
    # heartbeat automation, because the only record was their previous process's. A flow-run process now records
    # itself as it loads (after the claim, before Running): that record judges it once the claim time is known.
    host, dead = socket.gethostname()[:80], _dead_pid()
    state = Running()
    state.timestamp = utcnow() - timedelta(seconds=5)
    loaded = f"{host}:{dead}:{time.time() - 8:.3f}"  # 8 s ago: after the claim (10 s ago), before Running
    assert judge(state, age=timedelta(seconds=5), flow_process=loaded) is None  # claim time unknown: cannot tell
    claimed = utcnow() - timedelta(seconds=10)
    verdict = judge_flow_run(SimpleNamespace(state=state), now=utcnow(), stall_after=STALL, flow_process=loaded,
                             claimed_at=claimed)
    assert verdict.action == "restart"
    earlier = f"{host}:{dead}:{time.time() - 60:.3f}"  # an earlier run's process (before this claim): not its own
    assert judge_flow_run(SimpleNamespace(state=state), now=utcnow(), stall_after=STALL, flow_process=earlier,
                          claimed_at=claimed) is None


def test_a_running_flow_run_is_judged_by_its_own_process_never_by_the_runners():
    # its runner died (every live runner started after it began), but its own process lives on: an orphan that
    # still sends its messages; restarting it would send them twice
    host, recorded = socket.gethostname()[:80], f"{time.time():.3f}"
    state = Running()
    state.timestamp = utcnow() - timedelta(seconds=20)
    runners_since = utcnow() - timedelta(seconds=10)
    alive = judge_flow_run(SimpleNamespace(state=state), now=utcnow(), stall_after=STALL,
                           flow_process=f"{host}:{os.getpid()}:{recorded}", runners_since=runners_since)
    assert alive is None
    assert judge_flow_run(SimpleNamespace(state=state), now=utcnow(), stall_after=STALL,
                          runners_since=runners_since) is None  # no process recorded yet: the stall time decides
    gone = judge_flow_run(SimpleNamespace(state=state), now=utcnow(), stall_after=STALL,
                          flow_process=f"{host}:{_dead_pid()}:{recorded}", runners_since=runners_since)
    assert gone.action == "restart" and "进程" in gone.reason


def test_the_runner_registry_lists_live_runners_of_this_host_and_forgets_killed_ones(tmp_path):
    from careflow.runners import earliest_runner_start, live_runners, register_runner, registered_runner

    assert live_runners(tmp_path) == [] and earliest_runner_start(tmp_path) is None
    killed = register_runner(home=tmp_path, pid=_dead_pid(), now=utcnow() - timedelta(hours=1))
    (tmp_path / "runners" / "other-host-1").write_text(
        '{"host": "other-host", "pid": 1, "started_at": "2026-01-01T00:00:00+00:00"}', encoding="utf-8")
    (tmp_path / "runners" / "garbage").write_text("not json", encoding="utf-8")
    with registered_runner(tmp_path) as path:
        runners = live_runners(tmp_path)
        assert [(r.pid, r.path) for r in runners] == [(os.getpid(), path)]
        assert earliest_runner_start(tmp_path) == runners[0].started_at
        assert abs((runners[0].started_at - utcnow()).total_seconds()) < 5
    assert not path.exists() and live_runners(tmp_path) == []  # removed on a clean exit
    assert not killed.exists()  # a killed runner's file is dropped once seen dead
