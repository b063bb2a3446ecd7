"""Words people read, in Chinese by default and English on request, from gettext catalogues.

The catalogues are ``core/locale/<lang>/LC_MESSAGES/careflow.po`` (``zh`` and ``en``), read once per process
with Babel (:func:`babel.messages.pofile.read_po`), so translators edit plain ``.po`` files and nothing is compiled.
A message id is a dotted key (``nav.cases``, ``state.requested``); its ``msgstr`` is the text, which may hold
``str.format`` fields (``{n}``).

Enumerated values (task states, pathway statuses, outcome choices such as ``normal``/``at_risk``, ``cash``,
``approved``, ``yes``/``no`` …) are never shown raw: :func:`label` finds the label of a value in the reader's
language. Keys tried, first found wins: ``<kind>.<value>`` (e.g. ``option.decision.granted`` or ``state.completed``),
then ``value.<value>`` (the generic label of the value). Booleans are ``common.yes``/``common.no``.

The command line speaks one language per process: Chinese, or English when ``CAREFLOW_LANG=en``
(:func:`cli_language`, read once, since typer's help texts are fixed when the commands are declared);
:func:`cli_text` is :func:`gettext` in that language. Its keys are ``cli.<group>.<command>.help``,
``….opt.<name>`` and ``….out.<what>``.

Errors: an unknown language falls back to Chinese; a missing key returns the key itself (tests look for these).
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

from models.errors import use_wording

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "careflow"


def po_path(lang: str) -> Path:
    """``core/locale/<lang>/LC_MESSAGES/careflow.po``."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    """Every translated message of ``lang`` as ``{msgid: msgstr}`` (untranslated and fuzzy entries left out)."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    with po_path(lang).open("rb") as handle:
        parsed = read_po(handle, locale=lang if lang != "zh" else "zh_Hans_CN", domain=DOMAIN)
    return {str(m.id): str(m.string) for m in parsed if m.id and m.string and not m.fuzzy}


def normalise_language(lang: str | None) -> str:
    """``lang`` if careflow speaks it, else Chinese."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def has_message(key: str, lang: str = DEFAULT_LANGUAGE) -> bool:
    """Whether ``key`` has a text in ``lang``'s catalogue."""
    return key in catalogue(normalise_language(lang))


def gettext(key: str, lang: str = DEFAULT_LANGUAGE, **values) -> str:
    """The text of ``key`` in ``lang`` with ``values`` formatted in; the key itself when it has none."""
    text = catalogue(normalise_language(lang)).get(key, key)
    return text.format(**values) if values else text


#: The environment variable that makes the command line speak English (``CAREFLOW_LANG=en``).
CLI_LANGUAGE_VARIABLE = "CAREFLOW_LANG"


@lru_cache(maxsize=1)
def cli_language() -> str:
    """The command line's language: ``en`` when ``CAREFLOW_LANG`` says English (``en``, ``en_US.UTF-8`` …), else
    Chinese. Read once per process (tests that change it call ``cli_language.cache_clear()``)."""
    wanted = os.environ.get(CLI_LANGUAGE_VARIABLE, "").strip().lower()[:2]
    return normalise_language(wanted or None)


def cli_text(key: str, /, **values) -> str:
    """The text of ``key`` in the command line's language (:func:`cli_language`)."""
    return gettext(key, cli_language(), **values)


def label(value, kind: str = "value", lang: str = DEFAULT_LANGUAGE) -> str:
    """The label a person reads for an enumerated ``value``: one function for pages, exports, letters and the CLI.

    ``kind`` names the enumeration: ``state`` (task states), ``pathway.status``, ``case.status``, ``role``, ``rung``,
    ``event``, ``key_care``, ``file.status``, ``delivery``, ``contact``, ``agency`` (an agency type, named by
    ``policy/agencies.yaml``), or ``option.<field name>`` for a policy outcome/start field's choice. Booleans and ``"yes"``/``"no"`` read 是/否; ``None`` and ``""`` read ``—``.
    A value with no label (free text a person typed) is returned unchanged.
    """
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("common.yes" if value else "common.no", lang)
    raw = str(getattr(value, "value", value))
    if kind == "agency":
        return _agency_name(raw, normalise_language(lang))
    if kind in _ITEM_KINDS and re.fullmatch(r"\d+(,\d+)*", raw):
        return _items_text(raw, normalise_language(lang))
    table = catalogue(normalise_language(lang))
    for key in (f"{kind}.{raw}", f"value.{raw}"):
        if key in table:
            return table[key]
    return raw


def value_of(text: str, field: str, options) -> str:
    """The choice ``text`` names among ``options`` of outcome field ``field``: ``text`` itself when it is one, else
    the option whose label (Chinese or English, :func:`label`) it is, e.g. ``驳回申请`` → ``petition_dismissed``;
    ``text`` unchanged when none matches (the field's own check then refuses it)."""
    wanted = str(text).strip()
    if wanted in options:
        return wanted
    for option in options:
        if wanted in (label(option, f"option.{field}", lang) for lang in LANGUAGES):
            return option
    return text


#: Fields whose stored value is service-list item numbers (``"13,16"``), read as the items' names.
_ITEM_KINDS = ("option.item", "option.services")


def _items_text(numbers: str, lang: str) -> str:
    # The CLI imports this module for its labels; the policy's models (~0.5 s) would be start-up cost for every
    # command: loaded only when a label names a service-list item or an agency (start-up).
    from models.policy import load_policy

    items = load_policy().service_items
    sep = "、" if lang == "zh" else "; "
    return sep.join(gettext("field.service_item_option", lang, n=n, service=items[int(n)].service_in(lang))
                    if int(n) in items else n for n in numbers.split(","))


def _agency_name(code: str, lang: str) -> str:
    from models.policy import load_policy  # start-up: as in _items_text

    agency = load_policy().agencies.get(code)
    if agency is None:
        return code
    return getattr(agency, f"name_{lang}", "") or agency.name_zh


def field_label(name: str, lang: str = DEFAULT_LANGUAGE, labels: dict[str, str] | None = None) -> str:
    """The label of an outcome/record field ``name``: ``labels[name]`` (the policy's) if given, else ``field.<name>``
    from the catalogue, else the name."""
    if labels and name in labels:
        return labels[name]
    return catalogue(normalise_language(lang)).get(f"field.{name}", name)


def outcome_text(outcome: dict | None, labels: dict[str, str] | None = None, lang: str = DEFAULT_LANGUAGE,
                 sep: str | None = None) -> str:
    """An answer as one line, ``救助方式：多种方式；救助金额（元）：800``: each field by its label, each value by
    :func:`label` of kind ``option.<field>``."""
    sep = sep if sep is not None else ("；" if normalise_language(lang) == "zh" else "; ")
    colon = "：" if normalise_language(lang) == "zh" else ": "
    return sep.join(f"{field_label(k, lang, labels)}{colon}{label(v, f'option.{k}', lang)}"
                    for k, v in (outcome or {}).items())


_RULE_TEXT = re.compile(r"^(\d+) (hours|days|working days)$")
_RULE_ZH = {"hours": "小时", "days": "日", "working days": "个工作日"}


#: A dated duty's stored rule: ``"monthly (每月联系)"`` (English, then the Chinese in brackets), ``"by 2026-03-31"``.
_BILINGUAL_TEXT = re.compile(r"^(.*\S) \(([^()]*[\u4e00-\u9fff][^()]*)\)$")
_BY_DATE_TEXT = re.compile(r"^by (\d{4}-\d{2}-\d{2})$")


def deadline_text(text: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A stored time-limit rule in ``lang``: ``"3 working days"`` is ``3个工作日`` in Chinese; a dated duty's
    ``"monthly (每月联系)"`` is ``每月联系`` / ``monthly``, ``"by 2026-03-31"`` ``2026-03-31前``; other text unchanged."""
    text = text or ""
    zh = normalise_language(lang) == "zh"
    if bilingual := _BILINGUAL_TEXT.match(text):
        return bilingual.group(2) if zh else bilingual.group(1)
    if not zh:
        return text
    if rule := _RULE_TEXT.match(text):
        return f"{rule.group(1)}{_RULE_ZH[rule.group(2)]}"
    if by_date := _BY_DATE_TEXT.match(text):
        return f"{by_date.group(1)}前"
    return text


use_wording(gettext, field_label, label)  # models' field problems are worded with these catalogues
