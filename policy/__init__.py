"""The provincial policy as data (YAML): agencies, units, areas, pathways, the service list, escalation, calendars.

Only a locator lives here, so that :mod:`models` (the layer above) finds the files without reaching upwards.
"""
from pathlib import Path

#: This folder: the default policy read by :func:`models.policy.load_policy`.
POLICY_DIR = Path(__file__).resolve().parent
