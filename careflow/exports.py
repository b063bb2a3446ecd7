"""Cells that are safe to hand to a spreadsheet: the one rule every CSV and XLSX export of careflow applies.

Two hazards (issue #16, OWASP "CSV injection"):

* A text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel, WPS and
  LibreOffice as a formula (``=HYPERLINK(...)``, ``=cmd|...``) when the file is opened. Such a cell is written
  with a leading apostrophe (``'=1+1``), which every spreadsheet shows as text.
* XML 1.0 forbids control characters other than tab, line feed and carriage return: openpyxl raises
  ``IllegalCharacterError`` on a NUL in a cell, and one bad survey row used to crash a whole department export.
  They are removed (CSV too, so that both formats carry the same text).

Used by the web exports (``web/exports.py``: the dashboard's CSV and workbook) and the department exports
(:mod:`careflow.survey.sharing`). Numbers, dates and ``None`` pass unchanged: only text can carry a formula.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: Leading characters a spreadsheet takes as the start of a formula (or of a DDE payload, for tab and CR).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: Control characters XML 1.0 (and so XLSX) cannot hold: everything below U+0020 except tab, LF and CR.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet may receive it: text without control characters and never read as a formula.

    ``"=1+1"`` → ``"'=1+1"``; ``"-3"`` → ``"'-3"``; ``"a\\x00b"`` → ``"ab"``; ``"\\x00=1"`` → ``"'=1"`` (control
    characters are removed first, so one cannot hide a prefix); ``3``, ``None``, dates → unchanged.
    """
    if not isinstance(value, str):
        return value
    text = _ILLEGAL.sub("", value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def safe_row(values: Iterable[Any]) -> list[Any]:
    """:func:`safe_cell` over one row."""
    return [safe_cell(v) for v in values]


__all__ = ["FORMULA_PREFIXES", "safe_cell", "safe_row"]
