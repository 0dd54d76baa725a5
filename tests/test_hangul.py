"""Hangul arithmetic behind the Korean evasion rules."""

from __future__ import annotations

import pytest

from searchsafe._hangul import choseong, compose_jamo, qwerty_to_hangul

COMPOSE_CASES = [
    ("ㅈㅏㅅㅏㄹ", "자살"),
    ("ㅂㅏㅇㅂㅓㅂ", "방법"),
    ("ㄷㅏㄺ", "닭"),
    ("ㄱㅗㅏ", "과"),
    ("ㅇㅡㅣㅅㅏ", "의사"),
    ("잣ㅏ", "자사"),
    ("ㅋㅋ", "ㅋㅋ"),
    ("abc", "abc"),
]

CHOSEONG_CASES = [
    ("자살", "ㅈㅅ"),
    ("자살 방법", "ㅈㅅㅂㅂ"),
    ("ㅈㅅ", "ㅈㅅ"),
    ("ㅏㅓ", ""),
    ("死", ""),
]

QWERTY_CASES = [
    ("wktkf", "자살"),
    ("dkssud", "안녕"),
    ("Tlqkf", "씨발"),
    ("gksrmf", "한글"),
    ("hello", None),
    ("kill", None),
    ("test", None),
    ("abc1", None),
]


@pytest.mark.parametrize(("jamo", "expected"), COMPOSE_CASES)
def test_compose_jamo(jamo: str, expected: str) -> None:
    assert compose_jamo(jamo) == expected


@pytest.mark.parametrize(("text", "expected"), CHOSEONG_CASES)
def test_choseong(text: str, expected: str) -> None:
    assert choseong(text) == expected


@pytest.mark.parametrize(("keys", "expected"), QWERTY_CASES)
def test_qwerty_to_hangul(keys: str, expected: str | None) -> None:
    assert qwerty_to_hangul(keys) == expected
