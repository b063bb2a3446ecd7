"""Where the project's files live: the repository root, its templates and its migrations."""
from pathlib import Path

#: The repository root: policy data, templates and migrations live beside the Python packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Jinja2 templates: ``messages/``, ``letters/`` and ``pages/``.
TEMPLATES_DIR = PROJECT_ROOT / "templates"
#: Alembic's script folder.
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
