"""Attacks on the scoring path: padding, memory, odd input (issue #14)."""

from __future__ import annotations

import dataclasses
import random
import sys

import numpy as np
import pytest
from hypothesis import given, settings

import searchsafe
from searchsafe import MAX_QUERY_CHARS
from searchsafe import _classifier
from searchsafe._features import FeatureExtractor

from .strategies import query_lists

# Harmful queries that scored 0.0 everywhere behind 256 pad characters.
PADDED = [("자살 방법", "self_harm"), ("死にたい 方法", "self_harm"), ("전여친 신상털기", "harassment")]
PADS = {
    "spaces": " ",
    "ideographic spaces": "\u3000",
    "zero-width spaces": "\u200b",
    "BOMs": "\ufeff",
    "soft hyphens": "\xad",
    "NULs": "\x00",
    "lone surrogates": "\ud800",
    "Hangul fillers": "\u3164",
    "bidi controls": "\u202e",
    "word joiners": "\u2060",
}


@pytest.mark.parametrize(("query", "category"), PADDED)
@pytest.mark.parametrize("pad", list(PADS))
def test_invisible_padding_scores_like_the_query(clf: searchsafe.Classifier, query: str, category: str,
                                                 pad: str) -> None:
    plain = clf.score(query)
    assert category in clf.predict(query)
    for copies in (MAX_QUERY_CHARS, 50_000):
        padded = PADS[pad] * copies + query + PADS[pad] * copies
        assert clf.score(padded) == plain


@pytest.mark.parametrize(("query", "category"), PADDED)
@pytest.mark.parametrize("pad", ["!", "! ", "ㅋ", "...?", "\u0301"])
def test_visible_padding_keeps_the_query_in_reach(clf: searchsafe.Classifier, query: str, category: str,
                                                  pad: str) -> None:
    # Padding with symbols or one repeated letter cannot fill the budget either.
    padded = pad * 10_000 + " " + query
    assert category in clf.predict(padded)


def _long_words(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    alphabet = [chr(c) for c in range(0xAC00, 0xAC00 + 2000)] + [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
    return ["".join(rng.choices(alphabet, k=MAX_QUERY_CHARS)) for _ in range(n)]


def _table_bytes(extractor: FeatureExtractor) -> int:
    total = 0
    for table in (extractor._word_grams, extractor._old_grams):
        total += sys.getsizeof(table)
        for word, grams in table.items():
            total += sys.getsizeof(word) + sys.getsizeof(grams) + sum(map(sys.getsizeof, grams))
    return total


def _extractor_like_the_default() -> FeatureExtractor:
    # The shipped model's features without its lexicon, which the word table never touches.
    return FeatureExtractor(dataclasses.replace(searchsafe.load()._extractor.config, lexicon=False))


def test_word_table_is_bounded_by_bytes() -> None:
    extractor = _extractor_like_the_default()
    budget = 1 << 20
    extractor._WORD_CACHE_BYTES = budget
    rng = random.Random(1)
    alphabet = [chr(c) for c in range(0xAC00, 0xAC00 + 3000)]
    # Unique words just short enough to be kept, the costliest the table takes.
    words = [" ".join("".join(rng.choices(alphabet, k=extractor._WORD_CACHE_MAX_CHARS)) for _ in range(8))
             for _ in range(400)]
    extractor.feature_lists(words)
    assert 0 < _table_bytes(extractor) <= budget
    # Long words are never kept at all.
    extractor._word_grams.clear()
    extractor._old_grams.clear()
    extractor.feature_lists(_long_words(20))
    assert extractor._word_grams == {} and extractor._old_grams == {}


def test_frequent_words_survive_a_full_table() -> None:
    extractor = _extractor_like_the_default()
    extractor._WORD_CACHE_BYTES = 64 << 10
    rng = random.Random(2)
    for i in range(300):
        extractor.feature_lists(["고양이 " + "".join(rng.choices("가나다라마바사아자차카타파하", k=6))])
    assert "고양이" in extractor._word_grams


def test_long_queries_are_scored_in_pieces_with_the_same_answers(clf: searchsafe.Classifier,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    queries = _long_words(40) + ["자살 방법", "", "猫 飼い方"] + _long_words(30, seed=3)
    whole = clf.score_batch(queries)
    monkeypatch.setattr(_classifier, "_FEATURE_BUDGET", 500)
    monkeypatch.setattr(_classifier, "_SLICE", 3)
    pieces = clf.score_batch(queries)
    np.testing.assert_array_equal(whole, pieces)
    for q, row in zip(queries[38:45], whole[38:45]):
        np.testing.assert_array_equal(clf._scores([q], None)[0], row)


@given(query_lists)
@settings(max_examples=60, deadline=None)
def test_small_budget_changes_no_score(queries: list[str | None]) -> None:
    clf = _shared()
    whole = clf.score_batch(queries)
    old = _classifier._FEATURE_BUDGET, _classifier._SLICE
    try:
        _classifier._FEATURE_BUDGET, _classifier._SLICE = 7, 2
        np.testing.assert_array_equal(clf.score_batch(queries), whole)
    finally:
        _classifier._FEATURE_BUDGET, _classifier._SLICE = old


_CLF: list[searchsafe.Classifier] = []


def _shared() -> searchsafe.Classifier:
    if not _CLF:
        _CLF.append(searchsafe.load())
    return _CLF[0]


def test_memory_benchmark_quick_mode_runs(tmp_path) -> None:
    # Shape only, never the numbers: those come from the full run in benchmarks/README.md.
    import json
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    out = tmp_path / "memory.json"
    proc = subprocess.run([sys.executable, str(repo / "benchmarks" / "memory.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    res = json.loads(out.read_text(encoding="utf-8"))
    for kind in ("ordinary", "adversarial"):
        assert res[kind]["n"] == 2000 and res[kind]["peak_rss_mb"] >= res[kind]["peak_rss_after_load_mb"] > 0
    assert res["adversarial"]["mean_chars"] == MAX_QUERY_CHARS
    assert res["flat"] == (res["peak_ratio"] <= res["flat_ratio_target"])
    assert "adversarial / ordinary peak" in proc.stdout
