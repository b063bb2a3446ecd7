"""The error of a malformed channel file (:mod:`notifications.channels`), worded in the reader's language.

Its words are the catalogues' ``channels.*`` keys (:mod:`core.i18n`): the place in the file, the entry (``default``,
a unit and role, a section's key) and what is wrong with the value, which :func:`shown_value` quotes.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from core.i18n import LANGUAGES, gettext
from models.errors import FieldProblem
from notifications.redaction import redact_text

__all__ = ["ChannelConfigError", "shown_value"]


class ChannelConfigError(ValueError):
    """The channel file is malformed or holds a URL apprise cannot use, worded from the catalogues (``channels.*``)
    in the reader's language: :meth:`text`; ``str()`` is the Chinese text (logs, the command line's default).

    The message names the file and the position (line, column) where known, the entry (``default``, a unit and
    role, a section's key) and the bad value; URLs in it are redacted with
    :func:`notifications.redaction.redact_url`. A value that is a :class:`models.errors.FieldProblem` (why apprise
    refuses a URL, a bad rate) is worded in the same language.
    """

    def __init__(self, path: Path, node: yaml.Node | yaml.Mark | tuple[int, int] | None, key: str, *,
                 entry: tuple[str, dict] | None = None, **values):
        place = getattr(node, "start_mark", node)
        if isinstance(place, yaml.Mark):
            place = (place.line + 1, place.column + 1)
        self.path, (self.line, self.column), self.key, self.entry = path, place or (None, None), key, entry
        self.values = {name: {lang: value.message(lang) for lang in LANGUAGES} if isinstance(value, FieldProblem)
                       else value for name, value in values.items()}  # a problem worded now: pickled as text
        super().__init__(self.text("zh"))

    def __reduce__(self):  # a dispatcher process's error reaches its parent
        return _rebuilt, (self.path, (self.line, self.column) if self.line else None, self.key, self.entry,
                          self.values)

    def text(self, lang: str) -> str:
        """``<file, line, column>：<entry>：<what is wrong>`` in ``lang`` (``zh`` or ``en``)."""
        where = (gettext("channels.where", lang, path=self.path, line=self.line, column=self.column)
                 if self.line else str(self.path))
        parts = [where] + ([_worded(*self.entry, lang)] if self.entry else []) + [_worded(self.key, self.values, lang)]
        return (": " if lang == "en" else "：").join(parts)


def _rebuilt(path: Path, place: tuple[int, int] | None, key: str, entry: tuple[str, dict] | None,
             values: dict) -> ChannelConfigError:
    return ChannelConfigError(path, place, key, entry=entry, **values)


def _worded(key: str, values: dict, lang: str) -> str:
    """``key`` in ``lang`` with ``values``: a value worded by language (``{"zh": …, "en": …}``) in that language, a
    list joined with 「、」 (``, `` in English)."""
    def shown(value):
        if isinstance(value, dict):
            return value[lang]
        return (", " if lang == "en" else "、").join(value) if isinstance(value, (list, tuple)) else value

    return gettext(key, lang, **{name: shown(value) for name, value in values.items()})


def shown_value(node: yaml.Node) -> str:
    """``node`` as a bad value is quoted: a scalar as ``'text'``, a list or mapping by its YAML text on one line; at
    most 60 characters, URLs redacted."""
    if isinstance(node, yaml.ScalarNode):
        text = repr(redact_text(str(node.value)))
    else:
        mark, end = node.start_mark, node.end_mark
        text = redact_text(" ".join(str(mark.buffer[mark.pointer:end.pointer] if mark.buffer else node.value).split()))
    return text if len(text) <= 60 else text[:59] + "…"
