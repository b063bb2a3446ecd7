"""careflow's flows: orchestration only (each pathway's steps as the policy states them, the sweeper, the scheduled
flows). Every start and resume of a pathway runs one of these modules in a fresh ``python -m prefect.engine``."""
import gc

# Start-up cost: that fresh process has just imported Prefect (about 116,000 objects) and now imports careflow. Frozen,
# Prefect's objects are left out of the collector's full passes, which the imports below and the flow run trigger:
# about 0.15-0.2 s of CPU less per flow-run process (python -m benchmarks.flow_process). They live as long as the
# process anyway; only garbage that exists at this moment is never collected.
gc.freeze()
