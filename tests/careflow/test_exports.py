"""The one rule every export applies to its cells (issue #16): no live formula, no control character."""
import datetime

from careflow.exports import FORMULA_PREFIXES, safe_cell, safe_row


def test_formula_prefixes_are_written_as_text():
    for prefix in FORMULA_PREFIXES:
        assert safe_cell(prefix + "1+1") == "'" + prefix + "1+1"
    assert safe_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert safe_cell("张三") == "张三" and safe_cell("CF-350302-1") == "CF-350302-1" and safe_cell("") == ""


def test_control_characters_are_removed_before_the_prefix_is_checked():
    assert safe_cell("a\x00b\x1fc") == "abc"
    assert safe_cell("\x00=1+1") == "'=1+1"
    assert safe_cell("line one\nline two\tend") == "line one\nline two\tend"  # tab and LF inside are legal


def test_values_that_are_not_text_pass_unchanged():
    day = datetime.date(2026, 12, 1)
    assert safe_row([3, -1.5, None, day, True]) == [3, -1.5, None, day, True]
