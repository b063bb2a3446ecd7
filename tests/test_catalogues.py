"""The message catalogues: each key once, and the same keys in Chinese and English.

Babel keeps the last of two entries with one ``msgid`` without a word, so a key added twice (two changes merged, each
adding it next to related keys) silently drops one wording; a key missing in one language shows the key itself.
"""
from __future__ import annotations

import re
from collections import Counter

import pytest

from core.i18n import LANGUAGES, po_path

_MSGID = re.compile(r'^msgid "(.+)"$', re.M)


def _keys(lang: str) -> list[str]:
    return _MSGID.findall(po_path(lang).read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_is_in_a_catalogue_once(lang):
    assert [key for key, count in Counter(_keys(lang)).items() if count > 1] == []


def test_chinese_and_english_have_the_same_keys():
    zh, en = set(_keys("zh")), set(_keys("en"))
    assert (sorted(zh - en), sorted(en - zh)) == ([], [])
