"""The policy as data: agency types, the service list and the referral pathways, validated on load.

Source: 闽民童〔2025〕5号 (the Fujian implementation plan for migrant-child care and protection) and its
annex 《福建省流动儿童在居住地享有关爱服务基础清单》; DOMAIN.md §3-§4. The data lives in ``policy/``::

    policy/agencies.yaml          agency types (民政, 公安, 村（居）委会 …) by snake_case code
    policy/service_list.yaml      the annex's 20 items
    policy/pathways/<key>.yaml    one referral pathway per file (guardianship, psychological_screening, …)

:func:`load_policy` reads and validates all of it, once per folder, into a :class:`Policy`. The parts live in:
:mod:`models.policy_files` (reading a file, the value types, :class:`~models.policy_files.PolicyError` naming the
file, the entry, the field and the bad value), :mod:`models.policy_lists` (agency types and service items),
:mod:`models.outcome_fields` (the fields of an answer) and :mod:`models.pathways` (pathways and their steps).
"""
from __future__ import annotations

import functools
from pathlib import Path

from models.pathways import PathwayDefinition, load_pathway
from models.policy_files import Detail, PolicyError, PolicyModel, PolicyProblem, default_policy_dir
from models.policy_lists import AgencyType, ServiceItem, load_lists

__all__ = ["Policy", "load_policy"]


class Policy(PolicyModel):
    """The whole policy, validated: agency types by code, service items by number, pathways by key.

    Returned by :func:`load_policy`; cached per folder, so treat it as read-only.
    """

    policy_dir: Path
    agencies: dict[str, AgencyType]
    service_items: dict[int, ServiceItem]
    pathways: dict[str, PathwayDefinition]
    service_list_source: str = ""

    def agency(self, code: str) -> AgencyType:
        """The agency type ``code`` (KeyError naming the code)."""
        try:
            return self.agencies[code]
        except KeyError:
            raise KeyError(f"unknown agency code {code!r}; known: {sorted(self.agencies)}") from None

    def service_item(self, number: int) -> ServiceItem:
        """Service-list item ``number`` (KeyError naming the number)."""
        try:
            return self.service_items[number]
        except KeyError:
            raise KeyError(f"the service list has no item {number!r} (items 1..{len(self.service_items)})") from None

    def pathway(self, key: str) -> PathwayDefinition:
        """The pathway ``key`` (KeyError naming the key and the known pathways)."""
        try:
            return self.pathways[key]
        except KeyError:
            raise KeyError(f"no pathway {key!r}; pathways: {sorted(self.pathways)}") from None


@functools.lru_cache(maxsize=8)
def _load_policy_cached(policy_dir: Path) -> Policy:
    agencies, agencies_rel, items, source = load_lists(policy_dir)
    base = policy_dir.parent
    pathway_dir = policy_dir / "pathways"
    files = sorted(pathway_dir.glob("*.yaml")) if pathway_dir.is_dir() else []
    if not files:
        raise PolicyError(PolicyProblem(pathway_dir.relative_to(base).as_posix(), [], "",
                                        Detail("policy.problem.no_pathway_files")))
    problems: list[str] = []
    pathways: dict[str, PathwayDefinition] = {}
    for path in files:
        try:
            pathway = load_pathway(path, base, agencies, agencies_rel, items)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        pathways[pathway.key] = pathway
    if problems:
        raise PolicyError(problems)
    return Policy(policy_dir=policy_dir, agencies=agencies, service_items=items, pathways=pathways,
                  service_list_source=source)


def load_policy(policy_dir: Path | None = None) -> Policy:
    """Load and validate the policy folder (default :data:`policy.POLICY_DIR`); cached per folder.

    Reads ``agencies.yaml``, ``service_list.yaml`` and every ``pathways/*.yaml``, and cross-checks them:
    every agency code a step or an item uses exists; step keys are unique in a pathway and a pathway's
    key is its file name; items are numbered 1..20 (or more) without gaps; outcome field names are
    unique; choice fields have options; each item's codes match its 责任部门 text; a pathway's
    ``item_steps`` name service-list items and steps of that pathway.
    Call ``load_policy.cache_clear()`` after editing the files in a running process.

    Raises:
        PolicyError: one line per problem, each naming the file (relative to the policy folder's parent,
            e.g. ``policy/pathways/guardianship.yaml``), the entry (``steps[1] (police_reprimand)``,
            ``item 18``), the field and the bad value.
    """
    if policy_dir is None:  # the common call: the default folder, resolved once (pages call this per row)
        return _load_policy_cached(default_policy_dir())
    return _load_policy_cached(Path(policy_dir).resolve())


def _clear_caches() -> None:
    _load_policy_cached.cache_clear()
    load_lists.cache_clear()


load_policy.cache_clear = _clear_caches  # type: ignore[attr-defined]
