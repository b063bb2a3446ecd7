"""careflow's own modules compiled ahead, for the processes a runner or worker starts (issue #17).

Every start and every resume of a pathway is a new Python process that imports careflow's modules. A wheel is
compiled when pip installs it, but a checkout (``./run setup``'s editable install, the README's production recipe)
is read from source: where the interpreter does not write bytecode as it loads (``PYTHONDONTWRITEBYTECODE``, a
checkout the service's user may not write to), each flow-run process compiled careflow again: 0.01-0.06 s of CPU
of a served start of about 1.9 s (medians of 10-12, ``python -m benchmarks.served_start``), small but on every
step. ``./run setup``, ``careflow serve`` and ``careflow worker`` write the ``__pycache__`` files first; a source
file changed later is seen by its time stamp and read from source until the next of them.
``python -m entry.bytecode`` does it by hand.
"""
from __future__ import annotations

import compileall

from core.paths import PROJECT_ROOT

#: The packages a flow-run process or a command imports (tests and benchmarks are not started by a runner).
PACKAGES = ("core", "models", "careflow", "flows", "notifications", "policy", "entry", "web", "migrations")


def compile_project() -> bool:
    """Write the bytecode of every module of :data:`PACKAGES` under ``PROJECT_ROOT`` that has none or a stale one.

    Returns whether every file compiled; a folder it may not write to is skipped silently (the modules are then
    compiled as they load, as before). Up-to-date files cost one ``stat`` each (about 0.1 s for the whole tree)."""
    return all([compileall.compile_dir(PROJECT_ROOT / package, quiet=2)
                for package in PACKAGES if (PROJECT_ROOT / package).is_dir()])


if __name__ == "__main__":
    compile_project()
