"""What a served flow-run process loads before its flow runs, careflow against the raw flow (issue #17).

Measures the prelude of a flow-run process started as a fresh interpreter that first re-imports the runner's main
module (``multiprocessing.spawn.prepare``) and then the flow's module. Since stop 32 ``careflow serve`` and
``careflow worker`` start careflow's flow runs as forks of a pre-loaded process instead (:mod:`flows.fork_server`),
which pay none of it; with ``CAREFLOW_FORK_SERVER=0`` each is a fresh ``python -m prefect.engine``, which pays the
same imports (without the main module). It runs that prelude in fresh interpreters, the configurations alternating,
and prints the median CPU seconds (user + system, ``wait4``) of each:

- ``careflow, main = entry.cli, from source``: the runner as it was started before (``python -m entry.cli serve``),
  careflow's modules compiled as they load (``PYTHONDONTWRITEBYTECODE=1``, no ``__pycache__``);
- ``careflow, main = entry.cli, bytecode``: the same with careflow compiled ahead (:mod:`entry.bytecode`);
- ``careflow, main = entry.__main__, bytecode``: as ``careflow serve`` starts its runner now;
- ``raw flow``: the raw flow's runner (``python -m benchmarks.raw_flow``) and Prefect's engine.

``python -m benchmarks.served_start [--repeat N]`` (default 10). It removes and writes careflow's ``__pycache__``
folders in the checkout (``./run setup`` writes them again). Figures (2-core machine, quiet, 2026-12-07,
``--repeat 10``): 2.10 / 2.09 / 1.85 s against the raw flow's 1.29 s (1.63 / 1.62 / 1.44×). The runner's main module
was most of it (0.24 s of CPU, 11 %, of every served start and resume); bytecode 0.01-0.06 s (a second sitting,
12 pairs: 1.945 against 1.925 s). What is left over the raw flow, ~0.55 s, is SQLAlchemy's ORM and SQLModel, the
tables, the policy's models and the message templates, which a pathway step uses.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys

from core.paths import PROJECT_ROOT
from entry.bytecode import PACKAGES, compile_project

FLOW_MODULES = "flows.guardianship, careflow.reroute, notifications.messages"  # what a guardianship pass loads


def _prelude(main: str, modules: str) -> float:
    """CPU seconds of a fresh interpreter that prepares as a spawn child of main module ``main``, then imports."""
    code = (f"import multiprocessing.spawn as spawn; spawn.prepare({{'init_main_from_name': {main!r}}}); "
            f"import prefect.flow_engine; import {modules}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT,
                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _remove_bytecode() -> None:
    for package in PACKAGES:
        for folder in (PROJECT_ROOT / package).rglob("__pycache__"):
            shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    repeat = parser.parse_args().repeat
    cpu: dict[str, list[float]] = {}
    for _ in range(repeat):
        _remove_bytecode()
        cpu.setdefault("careflow, main = entry.cli, from source", []).append(_prelude("entry.cli", FLOW_MODULES))
        compile_project()
        cpu.setdefault("careflow, main = entry.cli, bytecode", []).append(_prelude("entry.cli", FLOW_MODULES))
        cpu.setdefault("careflow, main = entry.__main__, bytecode", []).append(_prelude("entry.__main__", FLOW_MODULES))
        cpu.setdefault("raw flow", []).append(_prelude("benchmarks.raw_flow", "benchmarks.raw_flow"))
    raw = statistics.median(cpu["raw flow"])
    print(f"served flow-run process, before its flow: median CPU of {repeat} (min-max), ratio to the raw flow")
    for name, values in cpu.items():
        median = statistics.median(values)
        print(f"  {name:45s} {median:5.2f} s ({min(values):.2f}-{max(values):.2f})  {median / raw:4.2f}×")


if __name__ == "__main__":
    main()
