"""Which flow and deployment runs each pathway of the policy."""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PathwayDeployment:
    """``entry``: ``module:function`` of the flow, imported only by whoever serves it."""

    pathway: str
    flow_name: str
    deployment: str
    entry: str

    def load_flow(self):
        module, function = self.entry.split(":")
        return getattr(importlib.import_module(module), function)

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.deployment}"


PATHWAY_DEPLOYMENTS: dict[str, PathwayDeployment] = {
    "guardianship": PathwayDeployment(
        "guardianship", "guardianship-intervention", "guardianship", "flows.guardianship:guardianship_intervention"),
    "service_referral": PathwayDeployment(
        "service_referral", "service-referral", "service_referral", "flows.service_referral:service_referral"),
    "psychological_screening": PathwayDeployment(
        "psychological_screening", "psychological-screening", "psychological_screening",
        "flows.psychological_screening:psychological_screening"),
    "temporary_assistance": PathwayDeployment(
        "temporary_assistance", "temporary-assistance", "temporary_assistance",
        "flows.temporary_assistance:temporary_assistance"),
    "misconduct_notice": PathwayDeployment(
        "misconduct_notice", "misconduct-notice", "misconduct_notice", "flows.misconduct_notice:misconduct_notice"),
}

SWEEPER = PathwayDeployment("", "careflow-sweeper", "sweeper", "flows.sweeper:sweeper")


def deployment_for(pathway: str) -> PathwayDeployment:
    """The deployment of ``pathway`` (raises KeyError naming the known ones)."""
    try:
        return PATHWAY_DEPLOYMENTS[pathway]
    except KeyError:
        raise KeyError(f"no flow runs pathway {pathway!r}; flows exist for {sorted(PATHWAY_DEPLOYMENTS)}") from None
