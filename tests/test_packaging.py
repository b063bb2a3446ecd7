"""A wheel of careflow works where it is installed: it carries every file the app reads at run time.

The app finds its policy YAML, templates, migrations, message catalogues and static files beside its packages
(:data:`core.paths.PROJECT_ROOT`: the checkout in an editable install, ``site-packages`` in a wheel), so each must be
in the wheel. The build here is setuptools' ``build_py`` with the project's own configuration (``pyproject.toml``):
a pure-Python wheel is exactly what it puts in its build folder. No network, no install; about 5 s.
"""
from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from core.paths import MIGRATIONS_DIR, PROJECT_ROOT, TEMPLATES_DIR
from policy import POLICY_DIR

#: The folders of the package list (pyproject.toml, ``packages.find``): every file in them ships.
SHIPPED = ["core", "policy", "entry", "careflow", "models", "flows", "notifications", "migrations", "web",
           "templates", "benchmarks"]


def _source_files() -> set[str]:
    """The project's files under the shipped folders, relative to the root (what git tracks, else what is there)."""
    done = subprocess.run(["git", "ls-files", "--", *SHIPPED], cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode == 0 and done.stdout.strip():
        names = set(done.stdout.split("\n")) - {""}
    else:  # not a git checkout: the folders as they are, without Python's caches
        names = {str(p.relative_to(PROJECT_ROOT)) for folder in SHIPPED for p in (PROJECT_ROOT / folder).rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
    return {name for name in names if not name.endswith(".gitkeep")}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> set[str]:
    """The files of the build (paths relative to the wheel's root)."""
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q",
                           "egg_info", "--egg-base", str(out), "build_py", "--build-lib", str(out / "lib")],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return {str(p.relative_to(out / "lib")) for p in (out / "lib").rglob("*") if p.is_file()}


def test_the_wheel_carries_the_policy_templates_and_migrations(built):
    policy = {f"policy/{p.relative_to(POLICY_DIR)}" for p in POLICY_DIR.rglob("*.yaml")}
    templates = {f"templates/{p.relative_to(TEMPLATES_DIR)}" for p in TEMPLATES_DIR.rglob("*") if p.is_file()}
    migrations = {f"migrations/{p.relative_to(MIGRATIONS_DIR)}" for p in MIGRATIONS_DIR.rglob("*.py")}
    assert {"policy/agency_units.yaml", "policy/pathways/guardianship.yaml"} <= policy
    assert {"templates/messages/task_requested.zh.j2", "templates/letters/referral.zh.html.j2",
            "templates/pages/base.html"} <= templates
    assert {"migrations/env.py", "migrations/versions/0001_initial_schema.py"} <= migrations
    assert policy - built == set()
    assert templates - built == set()
    assert migrations - built == set()


def test_every_file_beside_the_code_ships(built):
    """A data file added later (a catalogue, a stylesheet, a YAML in a new folder) needs its package-data line."""
    assert _source_files() - built == set()


def test_the_careflow_command_points_at_main():
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, function = scripts["careflow"].split(":")
    assert callable(getattr(importlib.import_module(module), function))
