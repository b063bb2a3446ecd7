"""The ``careflow`` command's start: ``python -m entry ARGS`` and the installed ``careflow`` script.

Kept empty of imports on purpose. A served flow run (``careflow serve``) is a process that multiprocessing starts (a
fork of :mod:`flows.fork_server`'s server, or with *spawn*), and multiprocessing first re-imports the runner's main
module in it: were that :mod:`entry.cli`, every start and every resume of a pathway would load typer and all the
command groups (0.24 s of CPU a step, issue #17) before its flow. ``python -m entry`` is skipped by spawn (a
``__main__`` module), and the script's ``from entry.__main__ import main`` loads this file only.
"""


def main() -> None:
    """Run the ``careflow`` command (:func:`entry.cli.main`) with ``sys.argv``; exits as it does."""
    from entry.cli import main as run_command  # start-up: typer and every command group, only in the command itself

    run_command()


if __name__ == "__main__":
    main()
