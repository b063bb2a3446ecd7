"""careflow: referral pathways for the care and protection of migrant children (流动儿童关爱保护)."""
from pathlib import Path

#: The repository root: policy data and templates live beside the Python packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
