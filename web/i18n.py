"""Which language a request reads, and the page's translator ``t`` (exposed to templates as ``t`` and ``_``).

The words themselves live in the gettext catalogues ``core/locale/{zh,en}/LC_MESSAGES/careflow.po``
(:mod:`core.i18n`). Chinese by default; English on request: ``?lang=en`` (remembered in the
``careflow_lang`` cookie), the cookie, or a browser whose ``Accept-Language`` asks for English and not Chinese at all.
"""
from __future__ import annotations

from starlette.requests import Request

from core.i18n import DEFAULT_LANGUAGE, LANGUAGES, gettext, label, outcome_text
from web.security import LANG_COOKIE


def pick_language(request: Request) -> str:
    """``?lang=`` if it names a language, else the cookie, else :func:`accept_language`."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE, "")
    if remembered in LANGUAGES:
        return remembered
    return accept_language(request.headers.get("accept-language", ""))


def accept_language(header: str) -> str:
    """``en`` when the ``Accept-Language`` header names English and no Chinese at all, else Chinese (the default:
    a Chinese reader whose browser also lists English still reads Chinese)."""
    tags = [part.split(";")[0].strip().lower() for part in header.split(",") if part.strip()]
    if any(tag.startswith("zh") for tag in tags):
        return DEFAULT_LANGUAGE
    return "en" if any(tag.startswith("en") for tag in tags) else DEFAULT_LANGUAGE


def labels_of(key: str) -> dict[str, str]:
    """The text of catalogue key ``key`` in every language: a field's ``labels`` for a
    :class:`models.errors.FieldProblem` the catalogues do not name by its field (``programme.capacity``)."""
    return {lang: gettext(key, lang) for lang in LANGUAGES}


class Translator:
    """Text in one language: ``t("key")``, ``t("task.attempt", n=2)``, ``t.pick(step, "title")``."""

    def __init__(self, lang: str):
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, key: str, **values) -> str:
        return gettext(key, self.lang, **values)

    @property
    def colon(self) -> str:
        """What stands between a label and its value: ``：`` in Chinese, ``: `` in English (``common.colon``)."""
        return self("common.colon")

    @property
    def list_sep(self) -> str:
        """Between the items of a list: ``、`` in Chinese, ``, `` in English (``common.list_sep``)."""
        return self("common.list_sep")

    @property
    def semicolon(self) -> str:
        """Between clauses (a reason's parts, an answer's fields): ``；`` or ``; `` (``common.semicolon``)."""
        return self("common.semicolon")

    @property
    def comma(self) -> str:
        """Between two parts of one phrase: ``，`` or ``, `` (``common.comma``)."""
        return self("common.comma")

    @property
    def gap(self) -> str:
        """Between fields set on one line (the letter's head): a wide space, or `` · `` in English (``common.gap``)."""
        return self("common.gap")

    def paren(self, text) -> str:
        """``text`` in brackets after a word: ``（暂定）``, `` (provisional)`` (``common.parenthesised``)."""
        return self("common.parenthesised", x=text)

    def label(self, value, kind: str = "value") -> str:
        """The label of an enumerated value (:func:`core.i18n.label`), e.g. ``t.label(v, "option.help_given")``."""
        return label(value, kind, self.lang)

    def option(self, field: str, value) -> str:
        """An answer's value as shown: a choice or yes/no by its label, free text unchanged."""
        return label(value, f"option.{field}", self.lang)

    def answer(self, value, field: str | None = None) -> str:
        """A stored answer's value for people: 是/否 for a boolean, a choice's label (of outcome field ``field``
        when given, else the value's generic label), free text unchanged (:func:`core.i18n.label`)."""
        return label(value, f"option.{field}" if field else "value", self.lang)

    def outcome(self, outcome: dict | None, labels: dict[str, str] | None = None) -> str:
        """A whole answer on one line (:func:`core.i18n.outcome_text`)."""
        return outcome_text(outcome, labels, self.lang)

    def pick(self, obj, field: str) -> str:
        """``obj.<field>_zh`` or ``obj.<field>_en`` (falling back to the Chinese text)."""
        value = getattr(obj, f"{field}_{self.lang}", None)
        return value if value else getattr(obj, f"{field}_zh", "")

    def state(self, value) -> str:
        """A task state's label (待签收 …)."""
        return self.label(value, "state")

    def pathway_status(self, value) -> str:
        """A pathway status's label (办理中 …)."""
        return self.label(value, "pathway.status")

    def yes_no(self, value) -> str:
        """是/否 for a boolean or ``yes``/``no``; another value by its generic label, free text unchanged."""
        return self.label(value)
