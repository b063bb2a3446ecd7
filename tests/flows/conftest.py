"""A real local Prefect server (SQLite) for the session, and the deployments served per database backend."""
import pytest

from careflow.stack import LocalStack


@pytest.fixture(scope="session")
def prefect_server():
    """The Prefect server and the local mail sink, started once for the whole session."""
    from careflow.stack import ensure_home

    ensure_home()
    stack = LocalStack(serve="never").start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def served(database_url, prefect_server):
    """A runner serving every deployment against the current backend's database."""
    stack = LocalStack(with_sink=False, with_server=False, serve="always").start()
    yield stack
    stack.stop()
