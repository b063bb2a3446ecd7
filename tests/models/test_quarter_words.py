"""A quarter label that is not ``YYYYQn`` is refused in the reader's language (Chinese by default, English on
request), still a ValueError."""
from __future__ import annotations

import pytest

import core.i18n  # noqa: F401  (lends the catalogues' wording to models.errors)
from models.errors import error_text
from models.programmes import quarter_bounds


def test_a_bad_quarter_label_reads_in_chinese_and_in_english():
    with pytest.raises(ValueError) as refused:
        quarter_bounds("2026Q5")
    assert error_text(refused.value, "zh") == "季度：'2026Q5' 格式不正确，应为如 2026Q4"
    assert error_text(refused.value, "en") == "Quarter: '2026Q5' is not a quarter such as 2026Q4"
    assert quarter_bounds("2026Q4")[0].isoformat() == "2026-10-01"
