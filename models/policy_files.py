"""What every policy file shares: reading it, the value types its fields are written in, and errors that say where.

A policy file (``policy/agencies.yaml``, ``policy/service_list.yaml``, ``policy/pathways/<key>.yaml``, a city's
service list) is YAML read by :func:`read_yaml` and validated by :func:`validate_file` against a pydantic model
built from :class:`PolicyModel` and the types here: :data:`Code` (snake_case), :data:`Text` (non-empty, stripped),
:data:`Rule` / :data:`OptionalRule` (a :class:`models.deadlines.DeadlineRule` written ``24h``, ``3d`` or ``15wd``) and
:data:`Level`. Every problem becomes one line of a :class:`PolicyError` naming the file (relative path), the entry,
the field and the bad value, e.g.::

    policy/pathways/guardianship.yaml: steps[1] (police_reprimand): field 'deadline': '3xd' is not a
    deadline (write e.g. 24h, 3d or 15wd)

Each problem is also worded in the reader's language (:meth:`PolicyError.text`; ``str()`` is the Chinese text, for
logs and the command line's default)::

    policy/pathways/guardianship.yaml：steps[1]（police_reprimand）：字段 deadline：'3xd' 不是有效的期限（应写作
    24h、3d 或 15wd 等）

The place (file, entry, field) is always worded; what is wrong is worded from a catalogue key (``policy.problem.…``)
when its raiser gives one (a :class:`PolicyValueError`, or :class:`Located` with a :class:`Detail`), and the common
pydantic checks (missing, unknown field, not a whole number …) are keyed too. A validator that gives only English
text is quoted as written in either language (its words are still to be keyed).

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
from models.errors import wording
from policy import POLICY_DIR

__all__ = [
    "Code", "Detail", "Level", "Located", "OptionalRule", "PolicyError", "PolicyModel", "PolicyProblem",
    "PolicyValueError", "Rule", "Text", "default_policy_dir", "locate", "read_yaml", "validate_file",
]

#: YAML's safe loader, in C (libyaml) where PyYAML has it: every flow-run process reads the policy files, and the
#: pure-Python loader spent about 0.1 s of CPU on them, a tenth of what a pathway step costs beyond Prefect itself.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Jurisdiction levels an agency's local units sit at (DOMAIN.md §1: province → city → county → township → village).
Level = Literal["village", "township", "county", "city"]

_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


class Detail:
    """What is wrong, by catalogue key ``key`` (``policy.problem.…``) with ``values`` (``str.format`` fields,
    ``{value!r}`` allowed), worded in the reader's language when shown; ``str()`` is the English text."""

    def __init__(self, key: str, **values: Any):
        self.key, self.values = key, values

    def text(self, lang: str) -> str:
        """The words in ``lang`` (``zh`` or ``en``); the key and values before core.i18n lends its words."""
        word = wording("message")
        values = {name: ("、" if lang != "en" else ", ").join(map(str, value)) if isinstance(value, tuple) else value
                  for name, value in self.values.items()}
        return word(self.key, lang, **values) if word else f"{self.key} {values}"

    def __str__(self) -> str:
        return self.text("en")


def _detail_text(detail: Any, lang: str) -> str:
    """A problem's detail in ``lang``: a :class:`Detail` (or an error that words itself) worded, text as written."""
    if callable(getattr(detail, "message", None)) and hasattr(detail, "field"):  # a models.errors.FieldProblem
        return detail.message(lang)
    wording_of = getattr(detail, "text", None)
    return wording_of(lang) if callable(wording_of) else str(detail)


class PolicyProblem(str):
    """One problem of a policy file: the English line (the string itself, as every caller has read it) and its
    parts — the file ``rel``, the ``entries`` (``("steps", 1, "police_reprimand")``, ``("item", 9)``), the
    ``field`` and the ``detail`` — so :meth:`text` words it in another language."""

    def __new__(cls, rel: str, entries: list[tuple], field: str, detail: Any) -> "PolicyProblem":
        made = super().__new__(cls, _place_text(rel, entries, field, "en") + _detail_text(detail, "en"))
        made.rel, made.entries, made.field, made.detail = rel, entries, field, detail
        return made

    def text(self, lang: str) -> str:
        """The line in ``lang``: 「policy/service_list.yaml：第 9 项：字段 departments：…」 in Chinese."""
        return _place_text(self.rel, self.entries, self.field, lang) + _detail_text(self.detail, lang)


def _place_text(rel: str, entries: list[tuple], field: str, lang: str) -> str:
    """``rel: entry, entry: field 'name': `` in English, 「rel：entry、entry：字段 name：」 in Chinese."""
    en = lang == "en"
    words = []
    for entry in entries:
        if entry[0] == "item":
            words.append(f"item {entry[1]}" if en else f"第 {entry[1]} 项")
        elif len(entry) > 2:
            words.append(f"{entry[0]}[{entry[1]}] ({entry[2]})" if en else f"{entry[0]}[{entry[1]}]（{entry[2]}）")
        else:
            words.append(f"{entry[0]}[{entry[1]}]")
    text = rel + (": " if en else "：")
    if words:
        text += (", " if en else "、").join(words) + (": " if en else "：")
    if field:
        text += f"field {field!r}: " if en else f"字段 {field}："
    return text


class PolicyError(ValueError):
    """The policy data is malformed. Each problem names the file, the entry, the field and the bad value.

    ``problems`` holds one line per problem found (a :class:`PolicyProblem`, or English text as written);
    :meth:`text` words them in the reader's language, one a line; ``str()`` is the Chinese text (logs, and what the
    command line prints by default). ``args[0]`` keeps the English lines.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def text(self, lang: str) -> str:
        """Every problem in ``lang`` (``zh`` or ``en``), one a line."""
        return "\n".join(p.text(lang) if callable(getattr(p, "text", None)) else str(p) for p in self.problems)

    def __str__(self) -> str:
        return self.text("zh")


class PolicyValueError(ValueError):
    """A validator's refusal worded by catalogue key (``policy.problem.…``): the :class:`Detail` of the problem
    :func:`validate_file` reports; ``str()`` is the English text."""

    def __init__(self, key: str, **values: Any):
        self.detail = Detail(key, **values)
        super().__init__(key, values)

    def text(self, lang: str) -> str:
        """What is wrong, in ``lang``."""
        return self.detail.text(lang)

    def __str__(self) -> str:
        return self.detail.text("en")


class Located(ValueError):
    """Raised inside validators to point at a place below the model being validated (e.g. ``steps[3].key``);
    ``message`` is English text or a :class:`Detail`."""

    def __init__(self, loc: tuple[str | int, ...], message: Any):
        self.loc = loc
        self.message = message
        super().__init__(str(message))


def _check_code(value: str) -> str:
    if not _CODE.match(value):
        raise PolicyValueError("policy.problem.not_code", value=value)
    return value


def _to_rule(value: Any) -> Any:
    if value is None or isinstance(value, DeadlineRule):
        return value
    try:
        return DeadlineRule.parse(value)
    except ValueError:
        raise PolicyValueError("policy.problem.not_deadline", value=value) from None


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


def _entry(list_name: str, index: int, raw: Any) -> tuple:
    """An entry of a list: ``("item", number)`` for a numbered service item, ``(list, index, key)`` for an entry
    with a key, code or name, else ``(list, index)``."""
    if isinstance(raw, dict):
        if list_name == "items" and raw.get("number") is not None:
            return ("item", raw["number"])
        for key in ("key", "code", "name"):
            if raw.get(key) is not None:
                return (list_name, index, raw[key])
    return (list_name, index)


def locate(rel: str, raw: Any, loc: tuple[Any, ...], detail: Any) -> PolicyProblem:
    """``rel: entry, sub-entry: field 'name': detail`` for a location inside the raw YAML data (a
    :class:`PolicyProblem`: that English line, worded in another language by ``.text(lang)``). ``detail`` is a
    :class:`Detail` or English text."""
    entries: list[tuple] = []
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
            entries.append(_entry(part, following, item))
            node, field, i = item, [], i + 2
            continue
        field.append(str(part))
        node, i = child, i + 1
    return PolicyProblem(rel, entries, ".".join(field), detail)


#: pydantic's error types worded by key (``policy.problem.pydantic.<type>``; the value as ``{value!r}``).
_PYDANTIC_KEYS = frozenset({"int_type", "int_parsing", "int_from_float", "string_type", "bool_type", "bool_parsing",
                            "list_type", "dict_type", "model_type", "string_too_short", "too_short", "literal_error",
                            "date_type", "date_from_datetime_parsing", "date_parsing", "float_type", "float_parsing"})


def _describe(error: dict[str, Any]) -> tuple[tuple[Any, ...], Any]:
    loc = tuple(error["loc"])
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, Located):
        return loc + original.loc, original.message
    if isinstance(original, PolicyValueError):
        return loc, original.detail
    if callable(getattr(original, "message", None)) and hasattr(original, "field"):  # a models.errors.FieldProblem
        return loc, original
    message = error["msg"]
    if message.startswith("Value error, "):
        return loc, message[len("Value error, "):]
    value = error.get("input")
    if error["type"] == "missing":
        return loc, Detail("policy.problem.missing")
    if error["type"] == "extra_forbidden":
        return loc, Detail("policy.problem.unknown_field", value=value)
    if error["type"] in _PYDANTIC_KEYS:
        expected = (error.get("ctx") or {}).get("expected", "")
        return loc, Detail(f"policy.problem.pydantic.{error['type']}", value=value, expected=expected,
                           english=message if repr(value) in message else f"{value!r}: {message}")
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
        raise PolicyError(PolicyProblem(rel, [], "", Detail("policy.problem.file_missing")))
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise PolicyError(PolicyProblem(rel, [], "", Detail("policy.problem.not_yaml", detail=str(exc)))) from None
    if not isinstance(data, dict):
        raise PolicyError(PolicyProblem(rel, [], "", Detail("policy.problem.not_mapping", kind=type(data).__name__)))
    return data, rel
