"""The local stack starts what is missing, and a runner that just stopped does not count as running."""
import time

from entry.stack import LocalStack


def test_a_stopped_runner_is_replaced_not_trusted(served):
    served.stop()  # no runner at all during this test; restarted for the tests after it
    try:
        first = LocalStack(with_sink=False, with_server=False, serve="always").start()
        assert first.started == ["serve"]
        first.stop()
        time.sleep(6)  # the stopped runner's deployments still read READY on the server for a while
        second = LocalStack(with_sink=False, with_server=False, serve="auto").start()
        try:
            assert second.started == ["serve"]
        finally:
            second.stop()
    finally:
        served.start()
