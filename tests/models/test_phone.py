"""A guardian's phone (models.phone): a mobile number or a landline with its area code, written leniently."""
from __future__ import annotations

import pytest

import core.i18n  # noqa: F401 - lends the catalogues' words to the problems
from models.errors import FieldValueError
from models.phone import check_phone


@pytest.mark.parametrize("typed,stored", [
    ("", ""), ("13800000000", "13800000000"), ("138 0000 0000", "138 0000 0000"), ("138-0000-0000", "138-0000-0000"),
    ("0594-2288123", "0594-2288123"), ("(0594) 228 8123", "(0594) 228 8123"), ("010-88886666", "010-88886666"),
    ("+86 138 0000 0000", "+86 138 0000 0000"), ("１３８００００００００", "13800000000"), ("（0594）2288123", "(0594)2288123"),
])
def test_phone_numbers_are_accepted(typed, stored):
    assert check_phone(typed) == stored


@pytest.mark.parametrize("typed", ["abc", "138000", "2288123", "23800000000", "138 0000 000a", "+86 13800000000+1",
                                   "123456789012345678901", "0594.2288123"])
def test_what_is_not_a_phone_number_is_refused_naming_the_value(typed):
    with pytest.raises(FieldValueError) as info:
        check_phone(typed, "guardian_phone")
    assert info.value.field == "guardian_phone"
    assert info.value.message("zh").startswith(f"“{typed}”不是电话号码")
    assert info.value.message("en").startswith(f"“{typed}” is not a phone number")
