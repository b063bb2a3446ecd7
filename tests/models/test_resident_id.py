"""Tests for models.resident_id (GB 11643 resident ID numbers)."""
from __future__ import annotations

import datetime

import pytest

from models.resident_id import (
    InvalidResidentID,
    birth_date_of,
    check_character,
    mask_resident_id,
    normalize_resident_id,
    recover_lost_x,
)

# Independent implementation of the GB 11643 check character (DOMAIN.md §2), used to build test IDs.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def gb11643_check(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def make_id(prefix17: str) -> str:
    assert len(prefix17) == 17
    return prefix17 + gb11643_check(prefix17)


def first_with_check(area: str, birth: str, want_x: bool) -> str:
    """The first 17-digit prefix (sequence 001..999) whose check character is / is not X."""
    for seq in range(1, 1000):
        prefix = f"{area}{birth}{seq:03d}"
        if (gb11643_check(prefix) == "X") == want_x:
            return prefix
    raise AssertionError("no sequence found")


VALID = make_id(first_with_check("350302", "20150315", want_x=False))
WITH_X = make_id(first_with_check("350302", "20150315", want_x=True))


def test_domain_example_is_invalid_and_the_message_names_the_expected_character():
    bad = "350302201503150019"
    expected = gb11643_check(bad[:17])
    assert expected != "9"
    with pytest.raises(InvalidResidentID) as info:
        normalize_resident_id(bad)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.field == "resident_id" and err.value == bad and err.code == "checksum"
    assert err.reason == f"check character should be {expected}"
    assert str(err) == f"resident_id '{bad}': check character should be {expected}"


def test_check_character_matches_stdnum_and_weights():
    from stdnum.cn import ric

    for prefix in ("35030220150315001", "51010720100101123", "36042619910101007"):
        assert check_character(prefix) == gb11643_check(prefix) == ric.calc_check_digit(prefix + "0")
    with pytest.raises(ValueError):
        check_character("123")


def test_stdnum_docstring_example_is_valid():
    assert normalize_resident_id("360426199101010071") == "360426199101010071"


def test_valid_id_normalises():
    assert normalize_resident_id(VALID) == VALID
    assert normalize_resident_id(f" {VALID[:6]} {VALID[6:14]} {VALID[14:]} ") == VALID
    assert normalize_resident_id(int(VALID)) == VALID


def test_valid_id_with_x_and_lowercase_x():
    assert WITH_X.endswith("X")
    assert normalize_resident_id(WITH_X) == WITH_X
    assert normalize_resident_id(WITH_X[:-1] + "x") == WITH_X
    assert normalize_resident_id(WITH_X[:-1] + "ｘ") == WITH_X  # full-width


@pytest.mark.parametrize("value", ["35030220150315001", "3503022015031500188", ""])
def test_wrong_length(value):
    with pytest.raises(InvalidResidentID, match="wrong length") as info:
        normalize_resident_id(value)
    assert info.value.code == "length"


def test_non_digits():
    with pytest.raises(InvalidResidentID, match="bad format"):
        normalize_resident_id("35030220150315A018")


def test_invalid_birth_date():
    bad = make_id("35030220150230001")  # 30 February
    with pytest.raises(InvalidResidentID, match="birth date") as info:
        normalize_resident_id(bad)
    assert info.value.code == "birth_date"


def test_future_birth_date():
    bad = make_id("35030220990101001")
    with pytest.raises(InvalidResidentID, match="future"):
        normalize_resident_id(bad)


def test_a_future_birth_date_is_said_to_be_later_than_today():
    import core.i18n  # noqa: F401 - lends the catalogues' words to the problem

    today = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date().isoformat()
    with pytest.raises(InvalidResidentID) as info:
        normalize_resident_id(make_id("35030220990101001"))
    assert info.value.code == "birth_date"
    assert f"中的出生日期 2099-01-01 晚于今天 {today}" in info.value.text("zh")
    assert f"the birth date 2099-01-01 is later than today, {today}" in info.value.text("en")


def test_unknown_birthplace_code():
    bad = make_id("99999920150315001")
    with pytest.raises(InvalidResidentID, match="birthplace code 999999") as info:
        normalize_resident_id(bad)
    assert info.value.code == "birthplace"


def test_late_registration_code_accepted_unless_strict():
    # 350112 长乐区 exists from 2017; a child born in 2015 and registered late may carry it.
    late = make_id("35011220150315001")
    assert normalize_resident_id(late) == late
    with pytest.raises(InvalidResidentID, match="birthplace"):
        normalize_resident_id(late, strict_birthplace_year=True)


def test_float_rejected():
    with pytest.raises(InvalidResidentID, match="float"):
        normalize_resident_id(3.503022015031500e17)


def test_birth_date_of():
    assert birth_date_of(VALID) == datetime.date(2015, 3, 15)
    with pytest.raises(InvalidResidentID):
        birth_date_of(VALID[:-1] + ("0" if VALID[-1] != "0" else "1"))


def test_mask():
    assert mask_resident_id("350302201503150018") == "3503**********0018"
    assert mask_resident_id(WITH_X.lower()) == WITH_X[:4] + "*" * 10 + WITH_X[-4:]
    assert mask_resident_id("12345") == "*****"
    assert mask_resident_id("") == ""


def test_recover_lost_x():
    prefix = WITH_X[:17]
    assert recover_lost_x(prefix) == WITH_X
    assert recover_lost_x(int(prefix)) == WITH_X
    assert recover_lost_x(VALID[:17]) is None  # check character is a digit, not a lost X
    assert recover_lost_x(WITH_X) is None  # already complete
    assert recover_lost_x("123") is None
    assert recover_lost_x(float(prefix)) is None
    bad_place = first_with_check("999999", "20150315", want_x=True)
    assert recover_lost_x(bad_place) is None  # X fits but the ID is not valid
