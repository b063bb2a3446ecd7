"""Which flow and deployment runs each pathway of the policy."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PathwayDeployment:
    pathway: str
    flow_name: str
    deployment: str

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.deployment}"


PATHWAY_DEPLOYMENTS: dict[str, PathwayDeployment] = {
    "guardianship": PathwayDeployment("guardianship", "guardianship-intervention", "guardianship"),
}

SWEEPER = PathwayDeployment("", "careflow-sweeper", "sweeper")


def deployment_for(pathway: str) -> PathwayDeployment:
    """The deployment of ``pathway`` (raises KeyError naming the known ones)."""
    try:
        return PATHWAY_DEPLOYMENTS[pathway]
    except KeyError:
        raise KeyError(f"no flow runs pathway {pathway!r}; flows exist for {sorted(PATHWAY_DEPLOYMENTS)}") from None
