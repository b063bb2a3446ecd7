"""A guardian's phone number (监护人电话), checked leniently: what a caseworker types from a form or a call.

A number may be written with spaces, ``+``, ``-`` and parentheses (full-width ones are folded, NFKC) and holds 7 to 20
digits. Written without a country prefix (``+`` or ``00``) it is a mobile number of 11 digits starting with 1
(``138 0000 0000``) or a landline with its area code, which starts with 0 (``0594-2288123``, ``(0594) 228 8123``);
with a country prefix (``+86 138 0000 0000``) only the digit count is checked. Anything else (``abc``, ``2288123``
without its area code) is refused with a :class:`models.errors.FieldValueError` naming the field and quoting the
value (``problem.phone``). The survey import reads the phone column of its own rule (length only,
:func:`careflow.survey.field_checks.check_guardian`); this rule is for a guardian typed in by a person.
"""
from __future__ import annotations

import re
import unicodedata

from models.errors import FieldValueError

_CHARACTERS = re.compile(r"[0-9+()\- ]*")
MIN_DIGITS, MAX_DIGITS = 7, 20


def check_phone(value: str, field: str = "phone", *, labels: dict[str, str] | None = None) -> str:
    """``value`` as stored: stripped, full-width characters folded; ``""`` when none was given.

    Raises:
        FieldValueError: ``problem.phone`` of ``field``, quoting the value, when it is not a phone number by the
            rule above.
    """
    text = unicodedata.normalize("NFKC", value or "").strip()
    if not text:
        return ""
    digits = re.sub(r"\D", "", text)
    international = text.startswith("+") or digits.startswith("00")
    domestic = (len(digits) == 11 and digits.startswith("1")) or (digits.startswith("0") and 10 <= len(digits) <= 12)
    if (not _CHARACTERS.fullmatch(text) or not MIN_DIGITS <= len(digits) <= MAX_DIGITS
            or "+" in text[1:] or not (international or domestic)):
        raise FieldValueError(field, "problem.phone", value=value[:40], labels=labels)
    return text
