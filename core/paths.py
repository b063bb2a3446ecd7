"""Where the project's files live: the root beside which the packages, templates and migrations lie.

The same layout holds in the checkout (an editable install, ``./run``) and in an installed wheel, which ships
``policy/``, ``templates/`` and ``migrations/`` beside the code (pyproject.toml ``package-data``;
``tests/test_packaging.py``).
"""
from pathlib import Path

#: The checkout's root, or ``site-packages`` when careflow is installed from a wheel: policy data, templates and
#: migrations live beside the Python packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Jinja2 templates: ``messages/``, ``letters/`` and ``pages/``.
TEMPLATES_DIR = PROJECT_ROOT / "templates"
#: Alembic's script folder.
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
