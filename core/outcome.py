"""How a pathway ended, as phrases worded in the reader's language (``PathwayRun.outcome_phrases``).

A flow records its outcome as the policy's steps happen: ``outcome.add("guardianship.admonished")``,
``outcome.add("guardianship.long_term", ruling="guardianship_transferred")``. A phrase is a catalogue key
(``outcome.<key>``) with the values its text names, stored as recorded — an option's raw value, an agency code, a
service-list number, a step as ``<pathway>/<step>``, free text as typed — and worded when read, by the value's name
(:data:`LABEL_KINDS`, :data:`WORDING`). A value may be an :class:`Outcome` itself (a list inside a phrase, e.g. the
referrals of ``assistance.referred``), joined with its own separator.

The Chinese rendering is the text stored in ``PathwayRun.outcome`` (the audit quotes it; older rows have only it):
:func:`shown_outcome` gives a reader the phrases in their language, else that text. Recording phrases loads
nothing; the catalogues (Babel) and the policy are read when text is rendered (a flow-run process's start-up).
"""
from __future__ import annotations

from decimal import Decimal

from models.case import PATHWAY_TEXT_MAX, clip_text

#: Values worded by :func:`core.i18n.label` of a kind, by the value's name.
LABEL_KINDS = {"ruling": "option.ruling", "screening": "option.screening_result",
               "risk": "option.screening_result", "agency": "agency"}


class Outcome:
    """Phrases in order, joined by a separator (``outcome.sep.<sep>``: ``list`` ；, ``comma`` ，, ``sentence`` 。)."""

    def __init__(self, phrases: list[dict] | None = None, sep: str = "list"):
        self.phrases = list(phrases or [])
        self.sep = sep

    def add(self, key: str, **values) -> Outcome:
        """Append the phrase ``outcome.<key>`` with ``values`` (text cut to 500 characters); returns self."""
        phrase: dict = {"key": key}
        if values:
            phrase["values"] = {name: _stored(value) for name, value in values.items()}
        self.phrases.append(phrase)
        return self

    def extend(self, other: Outcome) -> Outcome:
        """Append the phrases of ``other``; returns self."""
        self.phrases.extend(other.phrases)
        return self

    @classmethod
    def typed(cls, text: str) -> Outcome:
        """Text as a person or another system wrote it: the same in every language."""
        return cls().add("text", text=text)

    @classmethod
    def from_json(cls, data) -> Outcome:
        """The outcome of a stored value: a list of phrases, or ``{"sep": …, "phrases": […]}``."""
        if isinstance(data, dict):
            return cls(data.get("phrases"), data.get("sep", "list"))
        return cls(data)

    def to_json(self) -> list[dict]:
        """The phrases as stored (``PathwayRun.outcome_phrases``)."""
        return self.phrases

    def text(self, lang: str = "zh") -> str:
        """The phrases in ``lang``, joined; cut to 500 characters with "…" (the stored text in Chinese)."""
        return clip_text(self._joined(lang), PATHWAY_TEXT_MAX)

    def texts(self, lang: str = "zh") -> list[str]:
        """Each phrase alone in ``lang``."""
        return [_phrase(p, lang) for p in self.phrases]

    def known(self, lang: str) -> bool:
        """Whether every phrase (nested ones too) has a text in ``lang``'s catalogue."""
        from core.i18n import has_message  # start-up: Babel, only when text is rendered

        return all(has_message(f"outcome.{p['key']}", lang)
                   and all(Outcome.from_json(v).known(lang) for v in p.get("values", {}).values() if _nested(v))
                   for p in self.phrases)

    def _joined(self, lang: str) -> str:
        from core.i18n import gettext  # start-up: as above

        return gettext(f"outcome.sep.{self.sep}", lang).join(self.texts(lang))

    def __bool__(self) -> bool:
        return bool(self.phrases)

    def __repr__(self) -> str:
        return f"Outcome({self.phrases!r}, sep={self.sep!r})"


def shown_outcome(text: str, phrases: list | None, lang: str = "zh") -> str:
    """A pathway's outcome as a reader sees it: in Chinese, and for a row without phrases, the stored ``text``; else
    the phrases in ``lang`` (the stored text when one has no words in ``lang``)."""
    from core.i18n import normalise_language  # start-up: as above

    if not phrases or normalise_language(lang) == "zh":
        return text
    outcome = Outcome.from_json(phrases)
    return outcome.text(lang) if outcome.known(lang) else text


def _stored(value):
    if isinstance(value, Outcome):
        return {"sep": value.sep, "phrases": value.to_json()}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    return clip_text(str(value), PATHWAY_TEXT_MAX)


def _nested(value) -> bool:
    return isinstance(value, dict) and "phrases" in value


def _phrase(phrase: dict, lang: str) -> str:
    from core.i18n import gettext  # start-up: as above

    values = phrase.get("values") or {}
    words = {name: _word(name, value, values, lang) for name, value in values.items()}
    return gettext(f"outcome.{phrase['key']}", lang, **words)


def _word(name: str, value, values: dict, lang: str) -> str:
    """A value as the reader reads it: a nested outcome joined, a labelled value by its label, else unchanged."""
    from core.i18n import label  # start-up: as above

    if _nested(value):
        return Outcome.from_json(value)._joined(lang)
    if name in LABEL_KINDS:
        return label(value, LABEL_KINDS[name], lang)
    if name == "value":  # an answer's value, by the label of its field's option
        return label(value, f"option.{str(values.get('field', '')).rsplit('/', 1)[-1]}", lang)
    if name in WORDING:
        return WORDING[name](value, lang)
    return "" if value is None else str(value)


def _help(value, lang: str) -> str:
    from core.i18n import gettext, label  # start-up: as above

    return label(value, "option.help_given", lang) if value else gettext("outcome.assistance.help_any", lang)


def _rehab(agency, lang: str) -> str:
    """What enrolment with ``agency`` in community rehabilitation means (健康管理, 精神障碍社区康复服务 …)."""
    from core.i18n import gettext, has_message, label  # start-up: as above

    key = f"outcome.rehab.{agency}"
    return gettext(key, lang) if has_message(key, lang) else gettext("outcome.rehab.other", lang,
                                                                      agency=label(agency, "agency", lang))


def _pick(obj, field: str, lang: str) -> str:
    return str(getattr(obj, f"{field}_{lang}", None) or getattr(obj, f"{field}_zh", ""))


def _service(number, lang: str) -> str:
    from models.policy import load_policy  # start-up: the policy's models, only when text is rendered

    item = load_policy().service_items.get(int(number))
    return item.service_in(lang) if item else str(number)


def _pathway(key, lang: str) -> str:
    from models.policy import load_policy  # start-up: as above

    definition = load_policy().pathways.get(key)
    return _pick(definition, "title", lang).split("（")[0] if definition else str(key)


def _step(ref, lang: str) -> str:
    """``<pathway>/<step>`` by the step's title (the step key when the policy has no such step)."""
    from models.policy import load_policy  # start-up: as above

    pathway, _, key = str(ref).partition("/")
    try:
        return _pick(load_policy().pathways[pathway].step(key), "title", lang) or key
    except KeyError:
        return key


def _field(ref, lang: str) -> str:
    """``<pathway>/<step>/<field>`` by the field's label in the policy (else the catalogue's, else the name)."""
    from core.i18n import field_label  # start-up: as above
    from models.policy import load_policy  # start-up: as above

    pathway, step, name = (str(ref).split("/", 2) + ["", ""])[:3]
    try:
        fields = load_policy().pathways[pathway].step(step).outcome
    except KeyError:
        fields = []
    found = next((f for f in fields if f.name == name), None)
    return _pick(found, "label", lang) if found else field_label(name, lang)


def _needed(level, lang: str) -> str:
    """What must be recorded of the child's residence, by the level a step's unit is found at (``village`` →
    村（居））."""
    from core.i18n import gettext  # start-up: as above

    return gettext(f"case.area_level.{level}", lang)


#: Values worded by a function of (value, language), by the value's name.
WORDING = {"help": _help, "rehab": _rehab, "service": _service, "pathway": _pathway, "step": _step,
           "field": _field, "needed": _needed}
