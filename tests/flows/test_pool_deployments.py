"""What ``careflow deploy`` states on the work pool, checked without a server (the two-worker test,
tests/flows/test_work_pool.py, runs them)."""
from pathlib import Path

import pytest

from core.paths import PROJECT_ROOT
from flows.pool import deploy_to_pool, pool_deployments
from careflow.deployments import PATHWAY_DEPLOYMENTS


def test_each_deployment_runs_from_the_checkout_with_its_limit_the_sweepers_schedule_and_the_shared_storage(tmp_path):
    deployments = {d.name: d for d in pool_deployments(pool="careflow", result_storage=tmp_path / "shared",
                                                       pathway_concurrency=7, sweep_cron="* * * * *")}
    assert set(deployments) >= {d.deployment for d in PATHWAY_DEPLOYMENTS.values()} | {"sweeper", "survey-import"}
    for name, deployment in deployments.items():
        assert deployment.work_pool_name == "careflow"
        assert deployment.job_variables["env"]["PREFECT_LOCAL_STORAGE_PATH"] == str(tmp_path / "shared")
        assert Path(deployment.storage.destination) == PROJECT_ROOT  # pull step: the checkout's folder
        module, _, function = deployment.entrypoint.partition(":")
        assert module.startswith("flows/") and module.endswith(".py") and (PROJECT_ROOT / module).is_file(), name
    for key, registered in PATHWAY_DEPLOYMENTS.items():
        pathway = deployments[registered.deployment]
        assert pathway.entrypoint == registered.entry.replace(".", "/").replace(":", ".py:")
        assert pathway.concurrency_limit == 7 and pathway.concurrency_options.collision_strategy.value == "ENQUEUE"
        assert f"pathway:{key}" in pathway.tags and not pathway.schedules
    sweeper = deployments["sweeper"]
    assert sweeper.concurrency_limit == 1 and sweeper.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert [(s.schedule.cron, s.schedule.timezone) for s in sweeper.schedules] == [("* * * * *", "Asia/Shanghai")]


def test_deploy_refuses_without_a_result_storage_every_worker_reaches(monkeypatch):
    """``careflow deploy`` said so in English on the Chinese command line."""
    import os
    import subprocess
    import sys

    from typer.testing import CliRunner

    from core.settings import get_settings
    from entry.cli import app

    monkeypatch.delenv("CAREFLOW_RESULT_STORAGE", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="CAREFLOW_RESULT_STORAGE"):
            deploy_to_pool(pool="careflow")
        chinese = CliRunner().invoke(app, ["deploy"])
        english = subprocess.run([sys.executable, "-m", "entry.cli", "deploy"], capture_output=True, text=True,
                                 timeout=120, env={**os.environ, "CAREFLOW_LANG": "en"})
    finally:
        get_settings.cache_clear()
    assert chinese.exit_code == 2 and chinese.output.strip() == (
        "错误：CAREFLOW_RESULT_STORAGE：请设为每个工作进程都能访问的文件夹（在每台主机上挂载于同一路径的共享卷）："
        "暂停后继续的路径可能在另一个工作进程上运行")
    assert english.returncode == 2 and english.stderr.strip() == (
        "error: CAREFLOW_RESULT_STORAGE: set it to a folder every worker reaches (a shared volume mounted at the "
        "same path on every host): a resumed pathway may continue on another worker")
