"""Per-query language detection from script."""

from __future__ import annotations

import pytest
from hypothesis import given

from searchsafe import LANGUAGES, detect_language

from .strategies import query_text

CASES = [
    ("猫 飼い方", "ja"),
    ("東京", "ja"),
    ("ﾈｺ", "ja"),
    ("고양이 키우기", "ko"),
    ("ㅈㅅ", "ko"),
    ("韓國 역사", "ko"),
    ("ラーメン 라면", "mixed"),
    ("kill bill", "other"),
    ("1234", "other"),
    ("", "other"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@given(query_text)
def test_detect_language_total(text: str) -> None:
    assert detect_language(text) in LANGUAGES
