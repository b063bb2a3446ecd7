"""Resident identity numbers (居民身份证号码, GB 11643): normalise, validate, mask, recover a lost X.

An ID is 18 characters: a 6-digit birthplace (address) code, the birth date YYYYMMDD, a 3-digit sequence
number and a check character 0-9 or X. The check character is ``"10X98765432"[sum mod 11]`` with the weights
7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2 over the first 17 digits. Validation uses ``stdnum.cn.ric``.

Minors' ID numbers are sensitive personal information (PIPL): show them through :func:`mask_resident_id`
in lists and never put them in notifications (DOMAIN.md §8). :class:`InvalidResidentID` messages contain
the value checked — do not forward them to notification channels.
"""
from __future__ import annotations

import datetime
import unicodedata
from typing import Any

from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from models.errors import FieldValueError

__all__ = [
    "InvalidResidentID",
    "birth_date_of",
    "check_character",
    "mask_resident_id",
    "normalize_resident_id",
    "recover_lost_x",
]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))  # Asia/Shanghai has no DST


class InvalidResidentID(FieldValueError):
    """A resident ID number that is not valid: a :class:`models.errors.FieldValueError` of field ``resident_id``,
    worded by the catalogues' ``problem.id_<code>`` keys (the command line's 「身份证号：… 校验位应为 7」).

    Attributes:
        field: always ``"resident_id"`` (for form/API error reporting).
        value: the value checked, after removing whitespace and upper-casing (a full ID: sensitive).
        reason: English reason, e.g. ``"check character should be 8"``.
        code: machine-readable reason: ``type``, ``length``, ``format``, ``checksum``, ``birth_date`` or
            ``birthplace``. A birth date later than today is ``birth_date`` too, with the values ``date`` and
            ``today`` (worded ``problem.id_birth_date_future``: 「出生日期 2029-01-01 晚于今天 2026-12-08」).

    ``str()`` reads ``resident_id '<value>': <reason>``.
    """

    def __init__(self, value: str, reason: str, code: str, **values: Any) -> None:
        self.value = value
        self.reason = reason
        self.code = code
        future = code == "birth_date" and "today" in values  # a birth date later than today: said so, with both
        super().__init__("resident_id", f"problem.id_{code}{'_future' if future else ''}", value=value, **values)

    def __str__(self) -> str:
        return f"resident_id {self.value!r}: {self.reason}"


def _clean(value: Any) -> str:
    """Whitespace removed (including inside), full-width characters folded (NFKC), upper-cased."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidResidentID(
            repr(value),
            f"expected a string (or an integer), got {type(value).__name__}"
            + ("; a float has lost digits — read the column as text" if isinstance(value, float) else ""),
            "type", kind=type(value).__name__,
        )
    text = unicodedata.normalize("NFKC", str(value))
    return "".join(text.split()).upper()


def check_character(first17: str) -> str:
    """The GB 11643 check character (``"0"``-``"9"`` or ``"X"``) for the first 17 digits of an ID.

    Uses ``stdnum.cn.ric.calc_check_digit`` when available, else the weights above.

    Raises:
        ValueError: when ``first17`` is not 17 digits.
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"expected the first 17 digits of a resident ID, got {len(first17)} characters")
    calc = getattr(ric, "calc_check_digit", None)
    if calc is not None:
        return calc(first17 + "0")  # stdnum expects the number with a (any) check character appended
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def _known_birthplace_code(code: str) -> bool:
    """Whether stdnum's cn/loc table knows ``code`` at all (in any year)."""
    results = numdb.get("cn/loc").info(code)
    return len(results) == 2 and results[1][0] == code[2:] and bool(results[1][1].get("county"))


def normalize_resident_id(value: str | int, *, strict_birthplace_year: bool = False) -> str:
    """Return the canonical 18-character ID (digits, upper-case ``X``) or raise.

    Strips all whitespace, folds full-width characters, upper-cases ``x``, then validates with
    ``stdnum.cn.ric.validate`` (length, digits, check character, birth date, birthplace code), and also
    rejects a birth date after today (Asia/Shanghai).

    Birthplace codes: stdnum also checks that the code was in use in the birth year. A child registered late
    (后补登记户口) may carry a code created after the birth year (e.g. 350112 长乐区, in use from 2017, with a
    2015 birth date), so by default any code stdnum knows in *some* year is accepted; pass
    ``strict_birthplace_year=True`` for stdnum's stricter rule.

    An integer is accepted (``str(value)``); an ID stored as a number may have lost a trailing X — see
    :func:`recover_lost_x`, which this function does not apply on its own.

    Raises:
        InvalidResidentID: with ``reason`` — wrong length, non-digits, the expected check character
            (``"check character should be 8"``), an invalid or future birth date, or an unknown birthplace code.
    """
    number = _clean(value)
    if len(number) != 18:
        hint = " (stored as a number? a trailing X may have been lost)" if len(number) == 17 else ""
        raise InvalidResidentID(number, f"wrong length: {len(number)} characters, expected 18{hint}", "length",
                                n=len(number))
    if not (number[:17].isascii() and number[:17].isdigit()) or number[17] not in "0123456789X":
        raise InvalidResidentID(
            number, "bad format: expected 17 digits followed by a digit or X", "format"
        )
    try:
        ric.validate(number)
    except InvalidLength:  # pragma: no cover - checked above
        raise InvalidResidentID(number, "wrong length, expected 18 characters", "length", n=len(number)) from None
    except InvalidFormat:  # pragma: no cover - checked above
        raise InvalidResidentID(number, "bad format: expected 17 digits followed by a digit or X", "format") from None
    except InvalidChecksum:
        expected = check_character(number[:17])
        raise InvalidResidentID(number, f"check character should be {expected}", "checksum", expected=expected) from None
    except InvalidComponent:
        try:
            ric.get_birth_date(number)
        except ValidationError:
            raise InvalidResidentID(
                number, f"invalid birth date {number[6:14]} (expected YYYYMMDD)", "birth_date", date=number[6:14]
            ) from None
        code = number[:6]
        if strict_birthplace_year or not _known_birthplace_code(code):
            detail = "not in use in the birth year" if _known_birthplace_code(code) else "not a GB/T 2260 code"
            raise InvalidResidentID(number, f"unknown birthplace code {code} ({detail})", "birthplace",
                                    birthplace=code) from None
    except ValidationError as exc:  # pragma: no cover - any other stdnum complaint
        raise InvalidResidentID(number, str(exc) or type(exc).__name__, "format") from None
    born = ric.get_birth_date(number)
    today = datetime.datetime.now(_SHANGHAI).date()
    if born > today:  # code birth_date as for a date that is none; worded problem.id_birth_date_future
        raise InvalidResidentID(number, f"invalid birth date {born.isoformat()}: in the future (today is "
                                f"{today.isoformat()})", "birth_date", date=born.isoformat(), today=today.isoformat())
    return number


def birth_date_of(resident_id: str | int) -> datetime.date:
    """The birth date encoded in a resident ID (characters 7-14).

    Raises:
        InvalidResidentID: when the ID is not valid (see :func:`normalize_resident_id`).
    """
    return ric.get_birth_date(normalize_resident_id(resident_id))


def mask_resident_id(resident_id: str | int) -> str:
    """Mask an ID for display: keep the first 4 and last 4 characters, ``*`` in between.

    ``"350302201503150018"`` → ``"3503**********0018"``. Never raises on a string or integer and does not
    validate (a list view must not fail on a bad record); a value of 8 characters or fewer is fully masked.
    """
    text = "".join(unicodedata.normalize("NFKC", str(resident_id)).split()).upper()
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def recover_lost_x(value: str | int) -> str | None:
    """Recover an ID that lost its trailing ``X`` when stored as a number (spreadsheets, survey imports).

    Returns the 18-character ID ``value + "X"`` when ``value`` is exactly 17 digits, its computed check
    character is ``X`` and the result is a valid ID (see :func:`normalize_resident_id`); otherwise None
    (including for a value that is already a valid 18-character ID, and for floats, whose digits are lost).
    Never raises.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = "".join(unicodedata.normalize("NFKC", str(value)).split())
    if len(text) != 17 or not (text.isascii() and text.isdigit()):
        return None
    if check_character(text) != "X":
        return None
    try:
        return normalize_resident_id(text + "X")
    except InvalidResidentID:
        return None
