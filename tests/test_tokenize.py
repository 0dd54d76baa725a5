"""Tokenizer backends: the defaults, konlpy's taggers, and clear errors when one is missing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import searchsafe
from searchsafe import BackendUnavailableError, InvalidParameterError
from searchsafe._tokenize import get_tokenizer, lemmas_of

JA_CASES = [
    ("死にたい", ["死ぬ", "たい"]),
    ("猫の飼い方", ["猫", "の", "飼う", "方"]),  # lemmas, so conjugations share a feature
    ("コロナ", ["コロナ"]),
]
KO_CASES = [
    ("자살 방법", ["자살", "방법"]),
    ("고양이 사료", ["고양이", "사료"]),
]


@pytest.mark.parametrize(("text", "expected"), JA_CASES)
def test_ipadic(text: str, expected: list[str]) -> None:
    assert get_tokenizer("ipadic", language="ja").tokens(text) == expected


@pytest.mark.parametrize(("text", "expected"), KO_CASES)
@pytest.mark.parametrize("backend", ["mecab-ko-dic", "konlpy-mecab"])
def test_korean_mecab_backends(backend: str, text: str, expected: list[str]) -> None:
    assert get_tokenizer(backend, language="ko").tokens(text) == expected


_HAS_JAVA = shutil.which("java") is not None


@pytest.mark.parametrize("backend", ["konlpy-okt", "konlpy-komoran", "konlpy-hannanum", "konlpy-kkma"])
def test_konlpy_jvm_backends(backend: str) -> None:
    tok = get_tokenizer(backend, language="ko")
    if _HAS_JAVA:
        tokens = tok.tokens("자살 방법")
        assert "자살" in tokens and "방법" in tokens
    else:
        with pytest.raises(BackendUnavailableError, match=r"runs on a Java virtual machine: install a JDK or JRE 8\+"):
            tok.tokens("자살 방법")


@pytest.mark.skipif(not _HAS_JAVA, reason="needs Java: apt-get install default-jre-headless")
def test_classifier_with_konlpy_backend_warns_and_scores() -> None:
    with pytest.warns(UserWarning, match="this model was trained with korean_backend='mecab-ko-dic'; scoring with 'konlpy-okt'"):
        clf = searchsafe.load(korean_backend="konlpy-okt")
    assert "self_harm" in clf.predict("자살 방법")


def test_unknown_backend_message() -> None:
    with pytest.raises(InvalidParameterError) as info:
        get_tokenizer("kiwi", language="ko")
    assert str(info.value) == (
        "korean_backend must be one of 'mecab-ko-dic', 'konlpy-mecab', 'konlpy-okt', 'konlpy-komoran', "
        "'konlpy-hannanum', 'konlpy-kkma'; got 'kiwi'"
    )


_FORK_CHECK = """
import multiprocessing, sys
import searchsafe

def child(queue):
    queue.put(searchsafe.load().score_batch(["자살 방법", "死にたい"]).tolist())

if __name__ == "__main__":
    expected = searchsafe.load().score_batch(["자살 방법", "死にたい"]).tolist()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(queue,))
    proc.start()
    got = queue.get(timeout=60)
    proc.join(timeout=60)
    sys.exit(0 if proc.exitcode == 0 and got == expected else 1)
"""


def test_default_backends_survive_fork(tmp_path) -> None:
    # In a fresh interpreter: a process that has started konlpy's JVM (other
    # tests here do) cannot fork safely, whatever searchsafe does.
    script = tmp_path / "fork_check.py"
    script.write_text(_FORK_CHECK, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]


# -- per-word tokens (morph_unit="word") -------------------------------------------

@pytest.mark.parametrize(("backend", "language", "text"), [
    ("ipadic", "ja", "東京 天気 明日"),
    ("ipadic", "ja", "猫の飼い方 初心者"),
    ("ipadic", "ja", "東京"),
    ("mecab-ko-dic", "ko", "고양이 사료 추천"),
    ("mecab-ko-dic", "ko", "자살 방법"),
    ("konlpy-mecab", "ko", "고양이 사료 추천"),
])
def test_word_tokens_are_each_words_tokens_in_order(backend: str, language: str, text: str) -> None:
    tok = get_tokenizer(backend, language=language)
    expected = [t for word in text.split() for t in tok.tokens(word)]
    assert tok.word_tokens(text) == expected
    assert tok.word_tokens(text) == expected  # the second time from the table
    spec = tok.word_spec()
    if spec is not None:
        table, parse = spec
        raw = " ".join(table.get(w, parse) for w in text.split())
        assert lemmas_of(raw) == expected


def test_word_tokens_differ_from_whole_query_tokens_only_across_spaces() -> None:
    # MeCab may read two words as one compound, or split differently at a
    # boundary; per word it cannot. Same tokens wherever no word boundary matters.
    tok = get_tokenizer("ipadic", language="ja")
    assert tok.word_tokens("") == [] and tok.word_tokens("   ") == []
    assert tok.word_tokens("死にたい") == tok.tokens("死にたい")


def test_the_word_table_stays_bounded() -> None:
    from searchsafe._tokenize import _WordTable

    table = _WordTable(per_generation=3)
    calls: list[str] = []
    for w in ["a", "b", "c", "d", "a", "e", "f", "g", "h"]:
        table.get(w, lambda x: calls.append(x) or [x])
    assert len(table._young) <= 3 and len(table._old) <= 3
    long_word = "x" * 100
    assert table.get(long_word, lambda x: ["long"]) == ["long"]
    assert long_word not in table._young and long_word not in table._old
