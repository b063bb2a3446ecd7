"""A wrong value for one named field, worded in the reader's language wherever it is shown.

careflow's layers refuse what a user typed (a round label, a case reference, a date in the future) by raising a
:class:`FieldProblem`: the field's name, a catalogue key ``problem.<what>`` and the values the message quotes.
Nothing is worded until it is shown: the command line calls :meth:`FieldProblem.text` in its language (Chinese
unless ``CAREFLOW_LANG=en``), the web app hands the key to its form errors, which word it in the page's language.
``str(problem)`` is the English line ``field 'round': '2026-13' is not a round label such as 2026-10`` for logs and
for the callers that read it.

The words live in the message catalogues of :mod:`core.i18n`, a layer above this one: it lends its wording
functions when it loads (:func:`use_wording`), so a model can raise a problem without importing its words.

Each kind of problem is also the built-in error its callers expect: :class:`FieldValueError` is a ``ValueError``,
:class:`FieldLookupError` a ``LookupError`` (an unknown reference), :class:`FieldKeyError` a ``KeyError``,
:class:`FieldFileError` a ``FileNotFoundError``.
"""
from __future__ import annotations

from collections.abc import Callable

#: ``(key, lang, **values) -> text``, ``(field, lang) -> label`` and ``(value, kind, lang) -> label``, lent by
#: core.i18n when it loads.
_words: dict[str, Callable[..., str]] = {}


def use_wording(message: Callable[..., str], field_label: Callable[[str, str], str],
                value_label: Callable[[str, str, str], str]) -> None:
    """Word problems with core.i18n's ``message(key, lang, **values)``, ``field_label(field, lang)`` and
    ``value_label(value, kind, lang)`` (a choice's label: ``options`` are worded as the field's choices)."""
    _words.update(message=message, label=field_label, option=value_label)


def wording(kind: str) -> Callable[..., str] | None:
    """The lent wording function ``kind`` (``message``, ``label`` or ``option``); ``None`` before core.i18n loads."""
    return _words.get(kind)


class FieldProblem(Exception):
    """What is wrong with the value of field ``field``: message ``key`` (``problem.…`` in the catalogues) with
    ``values`` formatted in (``str.format`` fields, ``{value!r}`` allowed)."""

    def __init__(self, field: str, key: str, *, labels: dict[str, str] | None = None, **values):
        super().__init__(field, key, values)
        self.field, self.key, self.values = field, key, values
        self.labels = labels or {}  # the field's label by language, for a policy field the catalogues do not name

    def __str__(self) -> str:
        return f"field '{self.field}': {self.message('en')}"

    def message(self, lang: str) -> str:
        """What is wrong, in ``lang``, without the field's label (the key and values if no words are loaded)."""
        if "message" not in _words:
            return f"{self.key} {self.values}"
        values = {k: v.text(lang) if callable(getattr(v, "text", None)) else v  # Labels, an error that words itself
                  for k, v in self.values.items()}
        if isinstance(values.get("options"), (list, tuple)):  # a choice field's options: by their labels in Chinese,
            options = values["options"]                     # as typed (the codes) in English
            values["options"] = (", ".join(options) if lang == "en"
                                 else "、".join(_words["option"](o, f"option.{self.field}", lang) for o in options))
        return _words["message"](self.key, lang, **values)

    def text(self, lang: str) -> str:
        """``<field's label>：<what is wrong>`` in ``lang`` (``zh`` or ``en``), e.g. 「调查轮次：'2026-13' 不是调查轮次」."""
        label = self.labels.get(lang) or (_words["label"](self.field, lang) if "label" in _words else self.field)
        if not self.field:  # a refusal about no one field (the task was settled meanwhile): the message alone
            return self.message(lang)
        return f"{label}{'：' if lang != 'en' else ': '}{self.message(lang)}"


class Labels(tuple):
    """Enumerated values a problem's message names (agency types, rejection kinds), each worded by its label in the
    reader's language (``kind`` as for :func:`core.i18n.label`) and joined as a list (``sep="list"``: 「公安、民政」
    / ``police, civil affairs``) or as alternatives (``sep="or"``: 「公安或民政」 / ``police or civil affairs``)."""

    def __new__(cls, values, kind: str, sep: str = "list"):
        made = super().__new__(cls, values)
        made.kind, made.sep = kind, sep
        return made

    def text(self, lang: str) -> str:
        """The values' labels in ``lang``, joined."""
        word = _words.get("option") or (lambda value, kind, lang: str(value))
        joiner = {("list", "en"): ", ", ("or", "en"): " or ", ("or", "zh"): "或"}.get((self.sep, lang), "、")
        return joiner.join(word(value, self.kind, lang) for value in self)

    def __str__(self) -> str:
        return self.text("en")


class Words(dict):
    """A name the policy gives in each language (a step's ``title_zh``/``title_en``) as a problem's value, worded
    in the reader's language when shown: ``Words(zh="训诫", en="Admonition")``; Chinese when there is no English."""

    def text(self, lang: str) -> str:
        """The name in ``lang``, else the Chinese one."""
        return self.get(lang) or self.get("zh", "")

    def __str__(self) -> str:
        return self.text("en")


class FieldValueError(FieldProblem, ValueError):
    """A value that is not acceptable (a bad date, a round not yet begun)."""


class FieldLookupError(FieldProblem, LookupError):
    """A reference to something that does not exist (no such case, task or key care file)."""


class FieldKeyError(FieldProblem, KeyError):
    """A name that is not one of the known ones (a pathway that does not exist)."""


class FieldFileError(FieldProblem, FileNotFoundError):
    """A file named on the command line that cannot be found or is not a file."""


class FieldProblems(Exception):
    """Several fields wrong at once (a registration's ID and county): ``problems`` holds each one's error, so a
    form marks them all; :meth:`text` words each (:func:`error_text`) on one line. ``str()`` joins theirs."""

    def __init__(self, problems: list[Exception]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems

    def text(self, lang: str) -> str:
        """Each problem in ``lang``, 「；」 (``; `` in English) between them."""
        return ("; " if lang == "en" else "；").join(error_text(p, lang) for p in self.problems)


class FieldValueProblems(FieldProblems, ValueError):
    """Several values of one form or answer are not acceptable (two required answers left empty, a negative seat
    count and an unknown county): a ``ValueError`` like each of its ``problems``, so a form marks them all at once."""


def raise_problems(problems: list[Exception]) -> None:
    """Raise the one problem of ``problems`` itself, several as one :class:`FieldValueProblems`; nothing if none."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise FieldValueProblems(problems)


def error_text(exc: BaseException, lang: str) -> str:
    """``exc`` as a person reads it in ``lang``: an error that words itself (a :class:`FieldProblem` or several, a
    refusal with a ``text(lang)`` method such as ``careflow.cases.CaseRefused``) in that language, anything else as
    its own message."""
    wording = getattr(exc, "text", None)
    return wording(lang) if callable(wording) else str(exc)
