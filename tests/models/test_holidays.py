"""The one reader of an official holiday arrangement (models.holidays.parse_arrangement)."""
from __future__ import annotations

import pytest

from models.holidays import ArrangementError, parse_arrangement


@pytest.mark.parametrize("text", ["year: 0b_\n", "year: 2027\nsource: 0x_\n"])
def test_a_malformed_number_is_an_arrangement_error_not_a_crash(text):
    """YAML reads ``0b_`` as a binary number and fails with a bare ValueError; the admin page and ``careflow calendar
    load`` catch only ArrangementError, so this was a 500 page and a traceback."""
    with pytest.raises(ArrangementError, match="x.yaml：不是有效的 YAML"):
        parse_arrangement(text, where="x.yaml")
