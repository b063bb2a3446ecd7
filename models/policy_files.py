"""What every policy file shares: reading it, the value types its fields are written in, and errors that say where.

A policy file (``policy/agencies.yaml``, ``policy/service_list.yaml``, ``policy/pathways/<key>.yaml``, a city's
service list) is YAML read by :func:`read_yaml` and validated by :func:`validate_file` against a pydantic model
built from :class:`PolicyModel` and the types here: :data:`Code` (snake_case), :data:`Text` (non-empty, stripped),
:data:`Rule` / :data:`OptionalRule` (a :class:`models.deadlines.DeadlineRule` written ``24h``, ``3d`` or ``15wd``) and
:data:`Level`. Every problem becomes one line of a :class:`PolicyError` naming the file (relative path), the entry,
the field and the bad value, e.g.::

    policy/pathways/guardianship.yaml: steps[1] (police_reprimand): field 'deadline': '3xd' is not a
    deadline (write e.g. 24h, 3d or 15wd)

A validator that finds a problem below its own model raises :class:`Located` to point at it.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError

from models.deadlines import DeadlineRule
from policy import POLICY_DIR

__all__ = [
    "Code", "Level", "Located", "OptionalRule", "PolicyError", "PolicyModel", "Rule", "Text", "default_policy_dir",
    "locate", "read_yaml", "validate_file",
]

#: YAML's safe loader, in C (libyaml) where PyYAML has it: every flow-run process reads the policy files, and the
#: pure-Python loader spent about 0.1 s of CPU on them, a tenth of what a pathway step costs beyond Prefect itself.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Jurisdiction levels an agency's local units sit at (DOMAIN.md §1: province → city → county → township → village).
Level = Literal["village", "township", "county", "city"]

_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


class PolicyError(ValueError):
    """The policy data is malformed. The message names the file, the entry, the field and the bad value.

    ``problems`` holds one line per problem found (the message joins them with newlines).
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class Located(ValueError):
    """Raised inside validators to point at a place below the model being validated (e.g. ``steps[3].key``)."""

    def __init__(self, loc: tuple[str | int, ...], message: str):
        self.loc = loc
        self.message = message
        super().__init__(message)


def _check_code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(f"{value!r} is not a snake_case code (lower-case letters, digits and _)")
    return value


def _to_rule(value: Any) -> Any:
    if value is None or isinstance(value, DeadlineRule):
        return value
    return DeadlineRule.parse(value)  # ValueError naming the value


Code = Annotated[str, AfterValidator(_check_code)]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Rule = Annotated[DeadlineRule, BeforeValidator(_to_rule)]
OptionalRule = Annotated[DeadlineRule | None, BeforeValidator(_to_rule)]


class PolicyModel(BaseModel):
    """The base of every policy model: frozen, unknown fields refused, aliases or names accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@functools.lru_cache(maxsize=1)
def default_policy_dir() -> Path:
    """:data:`policy.POLICY_DIR`, resolved once (the folder :func:`models.policy.load_policy` reads by default)."""
    return POLICY_DIR.resolve()


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _entry_label(list_name: str, index: int, raw: Any) -> str:
    if isinstance(raw, dict):
        if list_name == "items" and raw.get("number") is not None:
            return f"item {raw['number']}"
        for key in ("key", "code", "name"):
            if raw.get(key) is not None:
                return f"{list_name}[{index}] ({raw[key]})"
    return f"{list_name}[{index}]"


def locate(rel: str, raw: Any, loc: tuple[Any, ...], detail: str) -> str:
    """``rel: entry, sub-entry: field 'name': detail`` for a location inside the raw YAML data."""
    entries: list[str] = []
    field: list[str] = []
    node = raw
    parts = [p for p in loc if isinstance(p, int) or (isinstance(p, str) and _IDENTIFIER.match(p))]
    i = 0
    while i < len(parts):
        part = parts[i]
        following = parts[i + 1] if i + 1 < len(parts) else None
        child = node.get(part) if isinstance(node, dict) and isinstance(part, str) else None
        if isinstance(part, str) and isinstance(following, int):
            item = child[following] if isinstance(child, list) and 0 <= following < len(child) else None
            entries.append(_entry_label(part, following, item))
            node, field, i = item, [], i + 2
            continue
        field.append(str(part))
        node, i = child, i + 1
    text = rel + ": "
    if entries:
        text += ", ".join(entries) + ": "
    if field:
        text += f"field {'.'.join(field)!r}: "
    return text + detail


def _describe(error: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    loc = tuple(error["loc"])
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, Located):
        return loc + original.loc, original.message
    message = error["msg"]
    if message.startswith("Value error, "):
        return loc, message[len("Value error, "):]
    value = error.get("input")
    if error["type"] == "missing":
        return loc, "missing (required)"
    if error["type"] == "extra_forbidden":
        return loc, f"unknown field (value {value!r}); check the spelling"
    if repr(value) in message:
        return loc, message
    return loc, f"{value!r}: {message}"


def validate_file(model: type[BaseModel], data: Any, rel: str) -> Any:
    """``data`` (read from ``rel``) validated as ``model``; PolicyError with one located line per problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc, detail = _describe(error)
            problems.append(locate(rel, data, loc, detail))
        raise PolicyError(problems) from None


def read_yaml(path: Path, base: Path) -> tuple[dict[str, Any], str]:
    """The mapping in ``path`` and the path as errors name it (relative to ``base``); PolicyError if missing or not
    a YAML mapping."""
    rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
    if not path.is_file():
        raise PolicyError(f"{rel}: file missing")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{rel}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{rel}: expected a mapping at the top of the file, got {type(data).__name__}")
    return data, rel
