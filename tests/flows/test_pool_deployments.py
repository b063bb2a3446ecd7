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
    from core.settings import get_settings

    monkeypatch.delenv("CAREFLOW_RESULT_STORAGE", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="CAREFLOW_RESULT_STORAGE"):
            deploy_to_pool(pool="careflow")
    finally:
        get_settings.cache_clear()
