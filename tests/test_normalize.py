"""Normalization: each evasion rule of TAXONOMY.md, as a table, plus invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from searchsafe import MAX_QUERY_CHARS, normalize
from searchsafe._normalize import fold

from .strategies import query_text

# (raw, normalize(raw)) — one row per rule, for both languages.
NORMALIZE_CASES = [
    # full/half width and Latin case
    ("ＳＥＸ　動画", "sex 動画"),
    ("ｼﾈ", "シネ"),
    ("Kill Bill", "kill bill"),
    ("ＰＯＲＮ", "porn"),
    # spacing between single letters and symbol separators
    ("死　に　た　い", "死にたい"),
    ("자 살 방 법", "자살방법"),
    ("死・に・た・い", "死にたい"),
    ("자.살", "자살"),
    ("자*살 방법", "자살 방법"),
    ("a b c d", "abcd"),
    ("2 3", "2 3"),  # two tokens are not a spaced-out word
    # Korean partial jamo and recomposition after NFKC
    ("ㅈㅏㅅㅏㄹ", "자살"),
    ("자ㅅㅏㄹ", "자살"),
    ("ㅈㅅ", "ㅈㅅ"),
    ("ㅋㅋㅋ", "ㅋㅋㅋ"),
    ("안녕ㅋㅋ", "안녕ㅋㅋ"),
    # Korean typed on a QWERTY layout in English mode
    ("wktkf", "자살"),
    ("wktkf qkdqjq", "자살 방법"),
    ("tlqkf", "시발"),
    ("hello", "hello"),
    ("video", "video"),
    ("dog", "dog"),
    # Japanese look-alike glyphs
    ("ﾀﾋにたい", "死にたい"),
    ("タヒね", "死ね"),
    ("氏ね", "死ね"),
    ("市ね", "死ね"),
    ("4ね", "死ね"),
    ("氏ネ", "死ネ"),
    ("24ね", "24ね"),
    ("タヒチ 旅行", "タヒチ 旅行"),
    ("山田氏に聞く", "山田氏に聞く"),
    # leetspeak inside Latin words only
    ("p0rn", "porn"),
    ("s3x", "sex"),
    ("2ch", "2ch"),
    ("18禁", "18禁"),
    # blank, and what no encoder can read
    ("자\ud800", "자"),
    ("\udfff", ""),
    ("", ""),
    ("   ", ""),
    ("\u3000\t\n", ""),
]

# (raw, fold(normalize(raw))) — the character-feature view.
FOLD_CASES = [
    ("シネ", "しね"),
    ("死ね", "死ね"),
    ("自殺 方法", "自殺方法"),
    ("자1살 방법", "자살방법"),
    ("자12살", "자살"),
    ("しに1たい", "しにたい"),
    ("死ねねねね!!", "死ね"),
    ("ㅋㅋㅋㅋㅋ", "ㅋ"),
    ("jc2", "jc2"),
    ("제1차 세계대전", "제차세계대전"),
    ("キル・ビル", "きるびる"),
    ("18禁", "18禁"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZE_CASES)
def test_normalize_table(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), FOLD_CASES)
def test_fold_table(raw: str, expected: str) -> None:
    assert fold(normalize(raw)) == expected


def test_long_query_is_cut_to_bound() -> None:
    assert len(normalize("死" * 10_000)) == MAX_QUERY_CHARS


@given(query_text)
@settings(max_examples=400, deadline=None)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(query_text)
@settings(max_examples=400, deadline=None)
def test_fold_is_idempotent(text: str) -> None:
    once = fold(normalize(text))
    assert fold(once) == once


@given(query_text)
@settings(max_examples=300, deadline=None)
def test_normalize_bounded_and_stripped(text: str) -> None:
    out = normalize(text)
    assert len(out) <= MAX_QUERY_CHARS
    assert out == out.strip()
