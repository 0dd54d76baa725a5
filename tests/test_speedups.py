"""The compiled path gives the pure-Python path's bits: piece by piece, on data/, on hypothesis text, on threads."""

from __future__ import annotations

import dataclasses
import itertools
import json
import unicodedata
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import searchsafe
from searchsafe import InvalidParameterError, _compiled, detect_language, normalize
from searchsafe._classifier import Classifier, default_model_path
from searchsafe._modelio import read_model
from searchsafe._normalize import _qwerty_keeps, fold_words, join_words
from searchsafe._tokenize import lemmas_of

from .strategies import query_lists, query_text

ROOT = Path(__file__).resolve().parent.parent

if _compiled._speedups is None:  # pragma: no cover - a broken build must fail loudly, not skip
    pytest.fail(
        f"searchsafe._speedups is not built ({_compiled._IMPORT_ERROR}); {_compiled.BUILD_HINT}", pytrace=False
    )
sp = _compiled._speedups

# Text with the characters the fast paths branch on: every script the
# pre-check lets through, the marks around them, jamo of both kinds, surrogates.
_tricky = st.sampled_from(
    list("자살방법갈각가ㄱㄹㅅㅇㅋㅏㅗㅣ각死にたいタヒ氏市4ねネんでに猫犬ー・、。 　.?!*_-@$0123456789abcxyzSQW")
    + ["\ud800", "\udfff", "\u200b", "\ufeff", "ｼ", "ﾈ", "Ｓ", "ß", "İ", "Σ"]
)
tricky_text = st.one_of(query_text, st.text(alphabet=_tricky, max_size=30))


@pytest.fixture(scope="module")
def model():
    return read_model(default_model_path())


@pytest.fixture(scope="module")
def fast(model) -> Classifier:
    return Classifier(model, compiled=True)


@pytest.fixture(scope="module")
def pure(model) -> Classifier:
    return Classifier(model, compiled=False)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool((a.view(np.uint32) == b.view(np.uint32)).all())


# -- pieces ------------------------------------------------------------------

TEXT_CASES = [
    "猫 飼い方", "シネ 動画!!", "死ねねねね!!", "ﾀﾋにたい", "東京 天気 明日", "キル・ビル あらすじ",
    "자1살  방법", "자살 방법", "ㅈㅏㅅㅏㄹ", "ㅋㅋㅋ 웃긴 영상", "고양이 사료 추천", "wktkf qkdqjq",
    "ラーメン 라면", "iphone 16 ケース", "ＳＥＸ 動画", "", "   ", "a_b c__d", "x\ny\tz\u3000w",
]


@pytest.mark.parametrize("text", TEXT_CASES)
def test_text_views_equal_the_python_functions(text: str) -> None:
    assert sp.fold_words(text) == fold_words(text)
    assert sp.join_words(fold_words(text)) == join_words(fold_words(text))
    assert sp.detect_language(text) == detect_language(text)
    surface = normalize(text) if text else ""
    assert sp.views(text, normalize, _qwerty_keeps) == (
        surface, fold_words(surface), join_words(fold_words(surface)), detect_language(surface)
    )


@settings(max_examples=400, deadline=None)
@given(tricky_text)
def test_text_views_equal_the_python_functions_on_any_text(text: str) -> None:
    assert sp.fold_words(text) == fold_words(text)
    assert sp.join_words(text) == join_words(text)
    assert sp.detect_language(text) == detect_language(text)
    surface = normalize(text) if text else ""
    assert sp.views(text, normalize, _qwerty_keeps)[0] == surface


COMPOSE_CASES = [
    ("ㅈㅏㅅㅏㄹ", "자살"), ("자ㅅㅏㄹ", "자살"), ("ㅋㅋㅋ", "ㅋㅋㅋ"), ("닮았네ㅋㅋㅋ", "닮았넼ㅋㅋ"), ("ㄷㅏㄺ", "닭"),
    ("ㅂㅏㄹㅂ", "밟"), ("값ㅅ", "값ㅅ"), ("ㄱㅗㅏㄴ", "관"), ("ㅗㅏ", "ㅗㅏ"), ("ㅇㅡㅣㅅㅏ", "의사"), ("abc", "abc"), ("", ""),
    ("\ud800ㄱㅏ", "\ud800가"),
]


@pytest.mark.parametrize(("text", "expected"), COMPOSE_CASES)
def test_compose_jamo_in_c_table(text: str, expected: str) -> None:
    from searchsafe._hangul import compose_jamo

    assert sp.compose_jamo(text) == compose_jamo(text) == expected


_jamo_soup = st.text(alphabet=st.sampled_from(
    [chr(c) for c in range(0x3131, 0x3164)] + list("가각갃값닭밟의관왜 ㅋa1") + [chr(0xD7A3), chr(0xAC00)]), max_size=24)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_jamo_soup, tricky_text))
def test_compose_jamo_in_c_equals_python(text: str) -> None:
    from searchsafe._hangul import compose_jamo

    assert sp.compose_jamo(text) == compose_jamo(text)


def test_compose_jamo_in_c_equals_python_on_every_query_of_data() -> None:
    from searchsafe._hangul import compose_jamo, has_loose_jamo

    texts = [q for q in _data_queries() if has_loose_jamo(q)]
    assert len(texts) > 1000
    assert [q for q in texts if sp.compose_jamo(q) != compose_jamo(q)] == []


@settings(max_examples=400, deadline=None)
@given(st.one_of(_jamo_soup, tricky_text))
def test_the_compiled_paths_normalize_equals_normalize(text: str) -> None:
    assert _compiled._normalize(text) == normalize(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=list("qwertyuiopasdfghjklzxcvbnmQWERTOP"), min_size=1, max_size=12))
def test_the_qwerty_rule_composing_in_c_equals_python(word: str) -> None:
    from searchsafe._hangul import qwerty_to_hangul
    from searchsafe._normalize import _qwerty_keeps as python_keeps
    from searchsafe._normalize import _qwerty_word_uncached

    assert qwerty_to_hangul(word, sp.compose_jamo) == qwerty_to_hangul(word)
    assert _compiled._qwerty_word_c(word) == _qwerty_word_uncached(word)
    assert _compiled._qwerty_keeps(word) == python_keeps(word)


@pytest.mark.parametrize(("word", "expected"), [("wktkf", "자살"), ("dkssud", "안녕"), ("hello", "hello"),
                                                ("Rkaeoddl", "깜댕이"), ("vlsnsanf", "피눈물"), ("tv", "tv")])
def test_the_compiled_qwerty_rule_table(word: str, expected: str) -> None:
    assert _compiled._qwerty_word(word) == expected


def test_the_compiled_paths_normalize_equals_normalize_on_every_query_of_data() -> None:
    queries = _data_queries()
    assert [q for q in queries if _compiled._normalize(q) != normalize(q)] == []


@settings(max_examples=400, deadline=None)
@given(st.one_of(tricky_text, st.text(alphabet=list("dkssudwktkfDKSSUD qkqhvhrfur Official髭男dism"), max_size=24)))
def test_the_pre_check_with_the_qwerty_rule_never_passes_text_normalize_would_change(text: str) -> None:
    if sp.is_normal(text, _qwerty_keeps):
        assert normalize(text) == text


@pytest.mark.parametrize(("text", "expected"), [("dkssud", False), ("official", True), ("abc def", True),
                                                ("Official", False), ("tv 名前", True), ("sns 脅迫", True),
                                                ("dkssud 서울", False), ("rkq 서울", False), ("c4 폭약", True),
                                                ("s3x", False), ("s25 울트라", True), ("生々しい", True)])
def test_the_pre_check_with_the_qwerty_rule_table(text: str, expected: bool) -> None:
    assert sp.is_normal(text, _qwerty_keeps) is expected
    # Without the rule's table, a Latin word the rule would read refuses the text (3+ letters beside Hangul, else 4+).
    min_len = 3 if any("\uac00" <= c <= "\ud7a3" for c in text) else 4
    assert sp.is_normal(text) is (expected and not any(len(w) >= min_len and w.isascii() and w.isalpha()
                                                       for w in text.split()))


@settings(max_examples=400, deadline=None)
@given(tricky_text)
def test_the_pre_check_never_passes_text_normalize_would_change(text: str) -> None:
    if sp.is_normal(text):
        assert normalize(text) == text


def test_the_pre_check_on_every_short_string_of_its_alphabet() -> None:
    # Every string of up to three characters from the letters and marks whose
    # neighbours matter (syllables with and without finals, loose consonants, marks).
    alphabet = list("가각갈ㄱㅅㄹ死タヒねに氏4a. ?")
    for n in (1, 2, 3):
        for chars in itertools.product(alphabet, repeat=n):
            s = "".join(chars)
            if sp.is_normal(s):
                assert normalize(s) == s, s


def test_the_pre_check_on_runs_that_squeeze_cuts() -> None:
    # Runs of four and five: the lengths at which squeeze() starts to rewrite.
    for n in (4, 5):
        for chars in itertools.product("ㅋ!. 가", repeat=n):
            s = "".join(chars)
            if sp.is_normal(s):
                assert normalize(s) == s, s


# Capitals and the marks between CJK letters, with every neighbour the rewrite must respect.
_near = st.text(alphabet=list("ABCDEFQWERTabcqwer猫犬死タヒネ자살가ㄱㅅ、。・.!?-*_@$0134 ") + ["™", "　", "ｼ"], max_size=24)


@settings(max_examples=600, deadline=None)
@given(st.one_of(tricky_text, _near, st.text(alphabet=list("dkssudwktkfDKSSUDEmt Rkqh、猫"), max_size=24)))
def test_the_near_normal_rewrite_equals_normalize_whenever_it_answers(text: str) -> None:
    out = sp.near_normal(text, _qwerty_keeps)
    if out is not None:
        assert out == normalize(text)


def test_the_near_normal_rewrite_on_every_short_string_of_its_alphabet() -> None:
    # Capitals beside marks and CJK letters, the lookalikes and jamo a removed mark could join.
    alphabet = list("AaE猫タヒ가ㄱ、・. ")
    for n in (1, 2, 3, 4):
        for chars in itertools.product(alphabet, repeat=n):
            s = "".join(chars)
            out = sp.near_normal(s, _qwerty_keeps)
            if out is not None:
                assert out == normalize(s), s


@pytest.mark.parametrize(("text", "expected"), [
    ("LGBT 授業", "lgbt 授業"), ("Jリーグ 意味", "jリーグ 意味"), ("退屈なので、外に出る。", "退屈なので外に出る。"),
    ("ジョン・ウィック 殺陣", "ジョンウィック 殺陣"), ("BJ 야동", "bj 야동"), ("猫、、、、犬", "猫犬"),
    ("Emt 영상", None),  # QWERTY-typed 뜻 reads its capital: Python decides
    ("タ・ヒ", None), ("가.ㄴ", None), ("P0RN", None), ("猫™猫", None), ("猫、 犬", "猫、 犬"), ("猫 犬", "猫 犬"),
    ("ｼﾈ", None), ("", None),
])
def test_the_near_normal_rewrite_table(text: str, expected: str | None) -> None:
    assert sp.near_normal(text, _qwerty_keeps) == expected
    if expected is not None:
        assert normalize(text) == expected


def test_the_near_normal_rewrite_error_messages() -> None:
    with pytest.raises(TypeError, match="^near_normal\\(\\) takes a str; got int$"):
        sp.near_normal(3, _qwerty_keeps)
    with pytest.raises(TypeError, match="^near_normal: latin_ok must be callable$"):
        sp.near_normal("ABC", None)


def test_every_character_the_pre_check_passes_is_left_alone_by_normalize() -> None:
    passed = [chr(c) for c in range(0x20, 0x10000) if not 0xD800 <= c <= 0xDFFF and sp.is_normal("猫" + chr(c))]
    assert len(passed) > 20_000  # kana, kanji, Hangul, ASCII
    for ch in passed:
        assert unicodedata.normalize("NFKC", ch) == ch or ch in "ㄱㄲㄳㄴㄵㄶㄷㄸㄹㄺㄻㄼㄽㄾㄿㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
        assert normalize("猫" + ch) == "猫" + ch, ch


@pytest.mark.parametrize("text,expected", [
    ("猫 飼い方", True), ("자살 방법?", True), ("ㅅㅅ 중독", True), ("xvideos 日本人", True),
    ("Kill Bill", False), ("死・に", False), ("자.살", False), ("갈ㄱ", False), ("死 に た い", False),
    ("s3x", False), ("ﾀﾋ", False), ("タヒね", False), (" 猫", False), ("猫  犬", False), ("x" * 257, False),
    # squeeze() cuts a character repeated four times and four symbols or blanks in a row.
    ("ㅋㅋㅋ 웃긴 영상", True), ("ㅋㅋㅋㅋ 웃긴", False), ("다야!!!", True), ("다야!!!!", False), ("猫猫猫猫", False),
    ("같은데 .....", False), ("같은데 ?!?!", False),
])
def test_the_pre_check_table(text: str, expected: bool) -> None:
    assert sp.is_normal(text, _qwerty_keeps) is expected
    # Refused text goes to the Python normalize() unless the C rewrite of capitals and wedged marks settles it.
    surface = sp.views(text, lambda s: "<normalized>", _qwerty_keeps)[0]
    near = sp.near_normal(text, _qwerty_keeps)
    assert surface == (text if expected else "<normalized>" if near is None else normalize(text))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60))
def test_crc32_of_utf8_equals_zlib(text: str) -> None:
    assert sp.crc32(text) == zlib.crc32(text.encode("utf-8"))


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 130, 255, 256, 257, 300, 1000])
def test_sum_follows_numpy_reduceat_order(n: int) -> None:
    rng = np.random.default_rng(n)
    w = (rng.standard_normal((500, 8)) * rng.uniform(0.01, 5, size=(500, 1))).astype(np.float32)
    for _ in range(20):
        rows = rng.integers(0, 500, size=n)
        expected = np.add.reduceat(w[rows], np.array([0]), axis=0)[0]
        got = np.asarray(sp.reduceat_sum(w, rows.tolist()), dtype=np.float32)
        assert same_bits(got, expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 63), min_size=1, max_size=600), st.integers(1, 12))
def test_sum_follows_numpy_reduceat_order_on_any_rows(rows: list[int], k: int) -> None:
    w = (np.random.default_rng(k).standard_normal((64, k)) * 3).astype(np.float32)
    expected = np.add.reduceat(w[rows], np.array([0]), axis=0)[0]
    assert same_bits(np.asarray(sp.reduceat_sum(w, rows), dtype=np.float32), expected)


# -- whole scores ---------------------------------------------------------------

def _data_queries() -> list[str]:
    out: list[str] = []
    for path in sorted((ROOT / "data").glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            out.extend(json.loads(line)["text"] for line in f)
    return out


def test_every_query_of_data_scores_the_same_bits_on_both_paths(fast: Classifier, pure: Classifier) -> None:
    queries = _data_queries()
    assert len(queries) > 60_000
    assert same_bits(fast.score_batch(queries), pure.score_batch(queries))


def test_single_queries_score_the_same_bits_as_batches(fast: Classifier, pure: Classifier) -> None:
    queries = _data_queries()[::40]
    batch = fast.score_batch(queries)
    for q, row in zip(queries, batch):
        single = fast.score(q)
        assert list(single.values()) == [float(x) for x in row]
        assert single == pure.score(q)
        assert fast.predict(q) == pure.predict(q)


@pytest.mark.parametrize("lang", ["ja", "ko", "mixed", "other"])
def test_forced_language_scores_the_same_bits(fast: Classifier, pure: Classifier, lang: str) -> None:
    queries = _data_queries()[::50]
    assert same_bits(fast.score_batch(queries, lang=lang), pure.score_batch(queries, lang=lang))


@settings(max_examples=150, deadline=None)
@given(query_lists)
def test_hypothesis_batches_score_the_same_bits(fast: Classifier, pure: Classifier, queries) -> None:
    assert same_bits(fast.score_batch(queries), pure.score_batch(queries))


@settings(max_examples=150, deadline=None)
@given(st.lists(tricky_text, max_size=10))
def test_surrogates_and_jamo_soup_score_the_same_bits(fast: Classifier, pure: Classifier, queries) -> None:
    assert same_bits(fast.score_batch(queries), pure.score_batch(queries))
    for q in queries[:3]:
        assert fast.score(q) == pure.score(q)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_threads_score_the_same_bits(fast: Classifier, pure: Classifier, threads: int) -> None:
    queries = _data_queries()[::7][:6000]
    expected = pure.score_batch(queries)
    chunks = [queries[i : i + 250] for i in range(0, len(queries), 250)]
    with ThreadPoolExecutor(threads) as pool:
        got = np.vstack(list(pool.map(fast.score_batch, chunks)))
        singles = list(pool.map(fast.score, queries[:300]))
    assert same_bits(got, expected)
    assert [list(s.values()) for s in singles] == expected[:300].tolist()


def _reference_logits(clf: Classifier, query: str, extra: list[str], length_norm: str) -> np.ndarray:
    feats = clf._extractor.feature_lists([query])[0] + extra
    rows = np.array([clf._row(f) for f in feats])
    s = np.add.reduceat(clf._weights[rows], np.array([0]), axis=0)[0]
    if length_norm == "sqrt":
        s = s * (1.0 / np.sqrt(np.float32(len(feats))))
    return s + clf._bias


@pytest.mark.parametrize("query,extra", [
    ("자살 방법", ["tself_harm:자살"]),
    ("猫 飼い方", ["t1", "t2", "t3"]),
    ("死にたい", []),
])
def test_extra_feature_strings_are_hashed_and_summed_like_the_others(fast: Classifier, query: str, extra) -> None:
    got, nonempty = fast._compiled.logits([query], None, [extra])
    assert nonempty is None  # every query had features
    assert same_bits(got[0], _reference_logits(fast, query, extra, fast._extractor.config.length_norm))


@pytest.mark.parametrize("changes", [
    {"char_mode": "folded", "char_ngram_max": 3},
    {"char_ngram_min": 2, "char_ngram_max": 5},
    {"morph_bigrams": False, "choseong_ngram_min": 1, "choseong_ngram_max": 4},
    {"hash_bits": 18},
    {"morph_unit": "word"},
])
def test_other_feature_settings_score_the_same_bits(model, changes) -> None:
    features = {**model.features, **changes}
    buckets = model.buckets[model.buckets < (1 << features["hash_bits"])]
    m = dataclasses.replace(model, features=features, buckets=buckets, weights=model.weights[: buckets.size])
    fast, pure = Classifier(m, compiled=True), Classifier(m, compiled=False)
    queries = _data_queries()[::97]
    assert same_bits(fast.score_batch(queries), pure.score_batch(queries))


@pytest.mark.parametrize(("code", "length_norm"), [(0, "sqrt"), (1, "none")])
def test_each_length_norm_setting_gives_its_sum(fast: Classifier, code: int, length_norm: str) -> None:
    # "none" (issue 8's default model): the plain sum; "sqrt": divided by sqrt(feature count).
    scorer = fast._compiled
    saved = scorer._cfg
    scorer._cfg = saved[:-1] + (code,)
    try:
        got, _ = scorer.logits(["자살 방법"], None)
    finally:
        scorer._cfg = saved
    assert same_bits(got[0], _reference_logits(fast, "자살 방법", [], length_norm))


# -- choosing the path ----------------------------------------------------------

def test_the_path_is_named(fast: Classifier, pure: Classifier) -> None:
    assert (fast.scoring_path, pure.scoring_path) == ("compiled", "python")
    assert repr(fast).endswith("compiled path>") and repr(pure).endswith("python path>")


def test_the_environment_variable_forces_the_python_path(model, monkeypatch) -> None:
    monkeypatch.setenv("SEARCHSAFE_PURE_PYTHON", "1")
    assert Classifier(model).scoring_path == "python"
    monkeypatch.setenv("SEARCHSAFE_PURE_PYTHON", "0")
    assert Classifier(model).scoring_path == "compiled"


def test_a_missing_extension_warns_once_and_falls_back(model, monkeypatch) -> None:
    monkeypatch.delenv("SEARCHSAFE_PURE_PYTHON", raising=False)
    monkeypatch.setattr(_compiled, "_speedups", None)
    monkeypatch.setattr(_compiled, "_IMPORT_ERROR", "No module named 'searchsafe._speedups'")
    monkeypatch.setattr(_compiled, "_warned", False)
    with pytest.warns(RuntimeWarning) as record:
        assert Classifier(model).scoring_path == "python"
    assert str(record[0].message) == (
        "searchsafe's C extension is not built, so scoring runs on the slower pure-Python path; " + _compiled.BUILD_HINT
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Classifier(model).scoring_path == "python"
    with pytest.raises(InvalidParameterError) as exc:
        Classifier(model, compiled=True)
    assert str(exc.value) == (
        "compiled=True, but searchsafe's C extension is not built (No module named 'searchsafe._speedups'); "
        + _compiled.BUILD_HINT
    )


def test_a_setting_the_extension_does_not_know_takes_the_python_path(model) -> None:
    @dataclasses.dataclass(frozen=True)
    class Future(searchsafe._features.FeatureConfig):
        a_later_setting: str = "x"

    assert _compiled.unsupported(Future(), 8) == "feature settings the extension does not know yet: a_later_setting"
    assert _compiled.choose(None, Future(), 8) is False
    with pytest.raises(InvalidParameterError) as exc:
        _compiled.choose(True, Future(), 8)
    assert str(exc.value) == (
        "compiled=True, but the extension cannot score this model: "
        "feature settings the extension does not know yet: a_later_setting"
    )


def test_compiled_must_be_a_bool_or_none(model) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        searchsafe.load(compiled="yes")
    assert str(exc.value) == "compiled must be None, True or False; got 'yes'"


def test_logits_refuses_malformed_input(fast: Classifier) -> None:
    s = fast._compiled
    out = np.empty((1, 8), np.float32)
    with pytest.raises(TypeError, match="^each item must be None or a tuple or list of 4 or 6 fields$"):
        sp.logits(out, [("ja",)], s._row_of, s._weights, s._bias, s._piece_rows, s._cfg)
    for bad in ((1, 0, 4, 2, 3, 1, 1023, 1), (1, 1, 33, 2, 3, 1, 1023, 1), (1, 1, 4, 3, 2, 1, 1023, 1)):
        with pytest.raises(ValueError) as err:
            sp.logits(out, [None], s._row_of, s._weights, s._bias, s._piece_rows, bad)
        assert str(err.value) == "n-gram sizes must satisfy 1 <= min <= max, and char n-grams max <= 32"
    with pytest.raises(ValueError, match=r"^out must be \(len\(items\), k\)"):
        sp.logits(np.empty((2, 8), np.float32), [None], s._row_of, s._weights, s._bias, s._piece_rows, s._cfg)
    with pytest.raises(IndexError, match="^piece id outside piece_rows$"):
        sp.logits(out, [("ja", "a", "a", [], [10**6], None)], s._row_of, s._weights, s._bias, s._piece_rows, s._cfg)
    with pytest.raises(ValueError, match="^feature text holds a lone surrogate, which UTF-8 cannot encode$"):
        sp.logits(out, [("ja", "a", "a", ["\ud800"], None, None)], s._row_of, s._weights, s._bias, None, s._cfg)
    with pytest.raises(TypeError, match="^fold_words\\(\\) takes a str; got int$"):
        sp.fold_words(3)
    with pytest.raises(TypeError, match="^compose_jamo\\(\\) takes a str; got bytes$"):
        sp.compose_jamo(b"x")
    with pytest.raises(TypeError, match="^is_normal\\(\\) takes a str; got int$"):
        sp.is_normal(3)
    with pytest.raises(TypeError, match="^is_normal: latin_ok must be None or callable$"):
        sp.is_normal("abc def", 3)
    with pytest.raises(ValueError, match="^pieces must hold one entry per non-empty item$"):
        sp.logits(out, [("ja", "a", "a", [])], s._row_of, s._weights, s._bias, s._piece_rows, s._cfg, pieces=[])


def test_empty_queries_among_others_score_zero(fast: Classifier, pure: Classifier) -> None:
    queries = ["", "자살 방법", None, "   ", "!!!", "猫"]
    got = fast.score_batch(queries)
    assert same_bits(got, pure.score_batch(queries))
    assert not got[[0, 2, 3, 4]].any() and got[1].any()


def test_info_says_which_path_scores(capsys, monkeypatch) -> None:
    from searchsafe.cli import main

    monkeypatch.delenv("SEARCHSAFE_PURE_PYTHON", raising=False)
    assert main(["info"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("scoring:"))
    assert line == f"scoring:    compiled (C extension {Path(sp.__file__).name})"
    monkeypatch.setenv("SEARCHSAFE_PURE_PYTHON", "1")
    assert main(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scoring"] == "python (SEARCHSAFE_PURE_PYTHON is set)"


# -- lexicon --------------------------------------------------------------------

def _lexicon_of(model, position: str):
    from searchsafe._lexicon import LexiconFeatures

    return LexiconFeatures(model.lexicon, position=position)


def _compiled_hits(lex, folded_words: list[str], surfaces: list[str] | None = None) -> tuple[list, list[int]]:
    from searchsafe._lexicon import morpheme_bounds

    table = sp.lexicon_compile(*lex.table())
    items = [None if not fw else ["ja", fw] for fw in folded_words]
    if surfaces is None:
        return sp.lexicon_hits(table, items, lex.position == "morpheme")
    return sp.lexicon_hits(table, items, lex.position == "morpheme", surfaces, morpheme_bounds)


@pytest.mark.parametrize("position,with_surfaces", [("space", False), ("morpheme", False), ("morpheme", True)])
def test_lexicon_hits_equal_the_python_lexicon_on_every_query_of_data(model, position: str,
                                                                      with_surfaces: bool) -> None:
    lex = _lexicon_of(model, position)
    surfaces = [normalize(q) for q in _data_queries()]
    folded = [fold_words(s) for s in surfaces]
    hits, undecided = _compiled_hits(lex, folded, surfaces if with_surfaces else None)
    assert len(hits) == len(folded)
    left = set(undecided)
    # Without the surfaces, every term inside a word is Python's to place; with them, only misaligned words are.
    assert (len(left) > 1000) == (position == "morpheme" and not with_surfaces)
    for i, (fw, s) in enumerate(zip(folded, surfaces)):
        if i in left:
            assert hits[i] is None
        else:
            assert (hits[i] or []) == lex(fw, s), fw


@pytest.mark.parametrize("position", ["space", "morpheme"])
@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=list("死ねしばかaszé ㅅㅂ시발놈ass class14 88"), max_size=16), max_size=8))
def test_lexicon_hits_equal_the_python_lexicon_on_any_text(model, position: str, texts: list[str]) -> None:
    lex = _lexicon_of(model, position)
    surfaces = [normalize(t) for t in texts]
    folded = [fold_words(s) for s in surfaces]
    for given_surfaces in (None, surfaces):
        hits, undecided = _compiled_hits(lex, folded, given_surfaces)
        for i, fw in enumerate(folded):
            if i not in undecided:
                assert (hits[i] or []) == lex(fw, surfaces[i])


@pytest.mark.parametrize("text,expected", [
    ("ass", ["L1wharassment"]),
    ("class", None),             # a Latin term needs no Latin letter beside it
    ("ass1", None),
    ("ass 爆弾", ["L1wharassment", "L0wviolence"]),
    ("爆弾魔", ["L0eviolence"]),   # 'space' positions: the term begins the word
    ("超爆弾魔", ["L0iviolence"]),
    ("ass爆弾", ["L1eharassment", "L0eviolence"]),
    ("", None),
])
def test_lexicon_hits_table(text: str, expected) -> None:
    from searchsafe._lexicon import LexiconEntry, LexiconFeatures

    lex = LexiconFeatures([LexiconEntry("ass", "harassment", True), LexiconEntry("爆弾", "violence", False)])
    hits, undecided = _compiled_hits(lex, [text])
    assert undecided == []
    assert hits[0] == expected
    assert (hits[0] or []) == lex(text)


def test_lexicon_hits_leave_a_term_inside_a_word_to_python_with_morpheme_positions() -> None:
    from searchsafe._lexicon import LexiconEntry, LexiconFeatures

    lex = LexiconFeatures([LexiconEntry("びっち", "harassment", True)], position="morpheme")
    hits, undecided = _compiled_hits(lex, ["びっち", "すといこびっち", "東京 天気", "びっち が"])
    assert hits == [["L1wharassment"], None, None, ["L1wharassment"]]
    assert undecided == [1]


@pytest.mark.parametrize("surface,expected", [
    ("ストイコビッチ", ["L1iharassment"]),   # MeCab reads the name as one morpheme
    ("ビッチが", ["L1eharassment"]),         # ビッチ|が
    ("東京 ビッチが", ["L1eharassment"]),
    ("ストイコビッチ ビッチ", ["L1iharassment", "L1wharassment"]),
])
def test_lexicon_hits_place_a_term_inside_a_word_on_mecabs_morphemes(surface: str, expected: list[str]) -> None:
    from searchsafe._lexicon import LexiconEntry, LexiconFeatures

    lex = LexiconFeatures([LexiconEntry("びっち", "harassment", True)], position="morpheme")
    hits, undecided = _compiled_hits(lex, [fold_words(surface)], [surface])
    assert undecided == []
    assert hits[0] == expected == lex(fold_words(surface), surface)


def test_lexicon_hits_leave_misaligned_surface_words_to_python() -> None:
    from searchsafe._lexicon import LexiconEntry, LexiconFeatures

    lex = LexiconFeatures([LexiconEntry("びっち", "harassment", True)], position="morpheme")
    # A surface that does not fold to these words: Python's reference decides.
    hits, undecided = _compiled_hits(lex, ["すといこびっち"], ["東京 天気"])
    assert undecided == [0] and hits == [None]


def _raw_bound_answers(fast: Classifier, words: list[str]) -> list[tuple[str, int, int, bool | None, bool]]:
    """(word, start, end, C answer from the word table's output, Python's morpheme_bounds answer)."""
    from searchsafe._lexicon import _bounds_of

    ex = fast._extractor
    parse = {False: ex._ja.word_spec()[1], True: ex._ko.word_spec()[1]}
    out = []
    for word in words:
        korean = any("\uac00" <= c <= "\ud7a3" or "\u3131" <= c <= "\u3163" for c in word)
        raw = parse[korean](word)
        reference = _bounds_of(word)  # a separate -Owakati parse, folded in Python
        n = len(fold_words(word))
        for start in range(n + 1):
            for end in range(start + 1, n + 1):
                out.append((word, start, end, sp.raw_bounds(raw, word, start, end),
                            start in reference and end in reference))
    return out


def test_morpheme_bounds_read_from_the_word_tables_output_equal_pythons_on_words_of_data(fast: Classifier) -> None:
    words = sorted({w for q in _data_queries()[::7] for w in normalize(q).split() if len(w) <= 12})
    answers = _raw_bound_answers(fast, words)
    assert len(answers) > 100_000
    assert [a for a in answers if a[3] != a[4]] == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=list("ビッチがストイコ死ねしばかasz시발놈년개새끼々ー・0123"), min_size=1, max_size=10))
def test_morpheme_bounds_read_from_the_word_tables_output_equal_pythons_on_any_word(fast: Classifier,
                                                                                    word: str) -> None:
    word = normalize(word).replace(" ", "")
    assert [a for a in _raw_bound_answers(fast, [word] if word else []) if a[3] != a[4]] == []


@pytest.mark.parametrize(("raw", "word", "start", "end", "expected"), [
    ("ビッチ\x01ビッチ が\x01が ", "ビッチが", 0, 3, True),   # ビッチ|が, folded びっち|が
    ("ストイコビッチ ", "ストイコビッチ", 4, 7, False),         # one morpheme: the term sits inside
    ("ストイコビッチ ", "ストイコビッチ", 0, 7, True),
    ("東京\x01東京 ", "ビッチが", 0, 3, False),               # surfaces that are not the word: no boundary
    ("", "ビッチが", 0, 3, False),
])
def test_raw_bounds_table(raw: str, word: str, start: int, end: int, expected: bool) -> None:
    assert sp.raw_bounds(raw, word, start, end) is expected


@pytest.mark.parametrize("args,message", [
    ((["ab", "ab"], [((0,), (0,), (0,))] * 2, ["L1wx"]), "lexicon_compile: term 1 is listed twice"),
    ((["ab"], [((3,), (0,), (0,))], ["L1wx"]), "lexicon_compile: feature id 3 out of range"),
    ((["a" * 65], [((0,), (0,), (0,))], ["L1wx"]),
     "lexicon_compile: term 0 must be a str of 1 to 64 characters with a 3-tuple of feature ids"),
    ((["ab"], [((0,), (0,))], ["L1wx"]),
     "lexicon_compile: term 0 must be a str of 1 to 64 characters with a 3-tuple of feature ids"),
    ((["ab", "c"], [((0,), (0,), (0,))], ["L1wx"]), "lexicon_compile: terms and feature_ids differ in length"),
    ((["ab"], [((0,), (0,), (0,))], [1]), "lexicon_compile: features must be str"),
])
def test_lexicon_compile_refuses_malformed_tables(args, message: str) -> None:
    with pytest.raises((ValueError, TypeError)) as err:
        sp.lexicon_compile(*args)
    assert str(err.value) == message


def test_lexicon_hits_refuses_malformed_items() -> None:
    table = sp.lexicon_compile(["ab"], [((0,), (0,), (0,))], ["L1wx"])
    with pytest.raises(TypeError) as err:
        sp.lexicon_hits(table, [("ja", "ab")], False)
    assert str(err.value) == ("lexicon_hits: each item must be None or a list whose second field is the folded words")
    with pytest.raises(ValueError):
        sp.lexicon_hits("not a table", [], False)
    with pytest.raises(TypeError) as err:
        sp.lexicon_hits(table, [["ja", "ab"]], True, [], None)
    assert str(err.value) == "lexicon_hits: surfaces must be None or a list as long as items"
    with pytest.raises(TypeError) as err:
        sp.lexicon_hits(table, [["ja", "ab"]], True, ["ab"], 3)
    assert str(err.value) == "lexicon_hits: bounds must be None or callable"
    with pytest.raises(TypeError) as err:
        sp.lexicon_hits(table, [["ja", "ab"]], True, [b"ab"], None)
    assert str(err.value) == "lexicon_hits: each surface must be a str"
    with pytest.raises(TypeError) as err:
        sp.lexicon_hits(table, [["ja", "ab"]], True, ["ab"], None, (None,))
    assert str(err.value) == "lexicon_hits: tables must be None or a (non-Hangul table, Hangul table) tuple"


@pytest.mark.parametrize("text,lang", [
    ("東京 天気 明日", "ja"),
    ("고양이 사료 추천", "ko"),
    ("東京 자살 방법", "mixed"),
    ("死にたい" * 8 + " 死にたい", "ja"),   # a word longer than the table keeps
    ("자살\t방법\u3000추천", "ko"),          # any whitespace separates words
    ("", "ja"),
])
def test_prepare_reads_words_through_the_word_table_like_word_tokens(fast: Classifier, text: str, lang: str) -> None:
    ex = fast._extractor
    assert ex.config.morph_unit == "word"
    fast.score_batch(["東京"])  # this thread's calls
    parse_ja, parse_ko, parse_mixed, _, _ = fast._compiled._local.calls
    assert isinstance(parse_ja, tuple) and isinstance(parse_mixed, tuple)
    for _ in range(2):  # the second time from the table
        items, _, _ = sp.prepare([text], lang, normalize, _qwerty_keeps, parse_ja, parse_ko, parse_mixed)
        if items[0] is None:
            assert not fold_words(normalize(text))
            continue
        assert lemmas_of(items[0][3]) == ex._tokens(normalize(text), lang)


class _EncodeOnly:
    """The real processor seen only through its public ``encode``, as an older sentencepiece would offer it."""

    def __init__(self, processor) -> None:
        self.encode = processor.encode


@pytest.mark.parametrize("public_only", [False, True], ids=["direct", "encode-only"])
@pytest.mark.parametrize("n", [0, 1, 7, _compiled._SP_LIST_MIN - 1, _compiled._SP_LIST_MIN, 300])
def test_sentencepiece_ids_equal_encode_at_every_batch_size(fast: Classifier, public_only: bool, n: int) -> None:
    processor = fast._extractor._sp()
    texts = [t for t, _ in zip(itertools.cycle(
        ["猫 飼い方", "고양이 사료 추천", "tv 名前 서울", "ｼﾈ 4ね", "ㅋㅋㅋ", "", "\u200b", "aaaa" * 8]), range(n))]
    encode_ids = _compiled._ids_encoder(_EncodeOnly(processor) if public_only else processor)
    assert encode_ids(texts) == [processor.encode(t) for t in texts]


def test_call_each_calls_with_the_further_arguments_and_names_bad_ones() -> None:
    assert sp.call_each(lambda t, a, b: (t, a, b), (1, 2), ["x", "y"]) == [("x", 1, 2), ("y", 1, 2)]
    assert sp.call_each(len, (), []) == []
    with pytest.raises(TypeError, match="^call_each: fn must be callable$"):
        sp.call_each(3, (), ["x"])
    with pytest.raises(ValueError, match="^call_each: at most 15 further arguments$"):
        sp.call_each(len, (0,) * 16, ["x"])
    with pytest.raises(ZeroDivisionError):
        sp.call_each(lambda t: 1 / 0, (), ["x"])


def test_the_real_sentencepiece_processor_is_read_through_call_each(fast: Classifier) -> None:
    # The fallback gives the same ids, so only this shows that the direct path is taken.
    encode_ids = _compiled._ids_encoder(fast._extractor._sp())
    assert getattr(encode_ids, "func", None) is sp.call_each
    assert _compiled._ids_encoder(_EncodeOnly(fast._extractor._sp())).__name__ == "encode_ids"


def test_morpheme_bounds_folding_in_c_equal_python_on_every_word_of_data() -> None:
    from searchsafe._lexicon import _bounds_of

    words = sorted({w for q in _data_queries() for w in normalize(q).split()})
    assert len(words) > 10_000
    # Called directly, not through the shared table, so neither side reads the other's answer.
    differ = [w for w in words if _bounds_of(w, fold=sp.fold_words) != _bounds_of(w)]
    assert differ == []


@settings(max_examples=300, deadline=None)
@given(tricky_text)
def test_morpheme_bounds_folding_in_c_equal_python_on_any_word(text: str) -> None:
    from searchsafe._lexicon import _bounds_of

    for word in normalize(text).split():
        assert _bounds_of(word, fold=sp.fold_words) == _bounds_of(word)


@pytest.fixture(scope="module")
def zero_weights(fast: Classifier) -> np.ndarray:
    return np.zeros_like(fast._compiled._weights)


SIGMOID_CASES = [0.0, 1.0, -1.0, 15.5, -15.5, 88.7, -88.7, 89.0, -89.0, 103.9, -103.9, 700.0, -699.9, -700.0,
                 -709.7, -709.8, -1e30, 1e30, 3.4e38, -3.4e38]


def _c_sigmoid(fast: Classifier, zero_weights: np.ndarray, logits: np.ndarray) -> np.ndarray:
    # With every weight 0 a query's logit is the bias, so the bias carries the logits to test.
    s = fast._compiled
    out = np.empty((1, s._k), np.float32)
    sp.logits(out, [("ja", "a", "a", [])], s._row_of, zero_weights, logits, s._piece_rows, s._cfg, sigmoid=True)
    return out[0]


@pytest.mark.parametrize("x", SIGMOID_CASES)
def test_the_c_sigmoid_equals_the_python_one(fast: Classifier, zero_weights: np.ndarray, x: float) -> None:
    from searchsafe._classifier import _sigmoid

    logits = np.full(fast._compiled._k, x, np.float32)
    assert same_bits(_c_sigmoid(fast, zero_weights, logits), _sigmoid(logits))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=8, max_size=8))
def test_the_c_sigmoid_equals_the_python_one_on_any_logits(fast: Classifier, zero_weights: np.ndarray,
                                                          values: list[float]) -> None:
    from searchsafe._classifier import _sigmoid

    logits = np.array(values[: fast._compiled._k], np.float32)
    assert same_bits(_c_sigmoid(fast, zero_weights, logits), _sigmoid(logits))


@pytest.mark.parametrize(("x", "expected"), [(0.0, 0.5), (-1000.0, 0.0), (1000.0, 1.0), (-700.5, 0.0),
                                             (np.log(3.0), 0.75)])
def test_sigmoid_table(x: float, expected: float) -> None:
    from searchsafe._classifier import _sigmoid

    assert _sigmoid(np.array([[x]], np.float32)).tolist() == [[pytest.approx(expected, abs=1e-7)]]


def test_probabilities_are_the_sigmoid_of_the_logits_and_zero_for_empty_queries(fast: Classifier) -> None:
    from searchsafe._classifier import _sigmoid

    queries = ["猫 飼い方", "", "자살 방법", None, "!!!"]
    logits, nonempty = fast._compiled.logits(queries, None)
    probs = fast._compiled.probabilities(queries, None)
    assert nonempty.tolist() == [True, False, True, False, False]
    assert same_bits(probs[nonempty], _sigmoid(logits[nonempty])) and not probs[~nonempty].any()


def _bounds_from_table_output(raw: str, word: str) -> frozenset[int]:
    """The boundary set raw_bounds (C, reading a word table's output) answers for: b is in it
    exactly when (0, b) lies on boundaries, and the set is empty when the output does not line up."""
    return frozenset(b for b in range(len(fold_words(word)) + 1) if sp.raw_bounds(raw, word, 0, b))


def test_morpheme_bounds_from_the_korean_word_table_equal_a_fresh_parse_on_every_hangul_word_of_data(
        fast: Classifier) -> None:
    from searchsafe._lang import _HANGUL
    from searchsafe._lexicon import _bounds_of

    parse = fast._extractor._ko.word_spec()[1]  # what the word table stores: mecab-ko-dic's surfaces
    words = sorted({w for q in _data_queries() for w in normalize(q).split() if _HANGUL.search(w)})
    assert len(words) > 10_000
    differ = [w for w in words if _bounds_from_table_output(parse(w), w) != _bounds_of(w)]
    assert differ == []


def test_morpheme_bounds_from_the_japanese_word_table_equal_a_fresh_parse_on_every_other_word_of_data(
        fast: Classifier) -> None:
    from searchsafe._lang import _HANGUL
    from searchsafe._lexicon import _bounds_of

    parse = fast._extractor._ja.word_spec()[1]  # ipadic's "surface\x01lemma" tokens
    words = sorted({w for q in _data_queries() for w in normalize(q).split() if not _HANGUL.search(w)})
    assert len(words) > 10_000
    differ = [w for w in words if _bounds_from_table_output(parse(w), w) != _bounds_of(w)]
    assert differ == []


@pytest.mark.parametrize("backend", ["ipadic", "mecab-ko-dic"])
def test_tokens_equal_the_lemma_only_output_on_every_query_and_word_of_data(backend: str) -> None:
    # The surfaces ride along in MeCab's output; the tokens (hence every feature) must not change.
    import fugashi

    from searchsafe._tokenize import get_tokenizer

    lang = "ja" if backend == "ipadic" else "ko"
    tok = get_tokenizer(backend, language=lang)
    dic = __import__(backend.replace("-", "_"))
    node = "%f[6]" if backend == "ipadic" else "%m"
    old = fugashi.GenericTagger(f'{dic.MECAB_ARGS} --node-format={node}\\\\s --unk-format=%m\\\\s --eos-format=""').parse
    texts = sorted({normalize(q) for q in _data_queries()} - {""})
    texts += sorted({w for t in texts for w in t.split()})
    differ = [t for t in texts if tok.tokens(t) != [x for x in old(t).split() if x != "*"]]
    assert differ == []


def test_the_compiled_bounds_of_a_korean_word_the_table_holds_equal_pythons(fast: Classifier) -> None:
    from searchsafe._lexicon import _bounds_of

    table = fast._extractor._ko._word_raw
    word = "펠라가너무좋아요"  # a lexicon term inside a word: scoring asks for its bounds
    assert table.peek(word) is None
    fast.score_batch([word])
    assert table.peek(word) is not None
    assert fast._compiled._bounds(word) == _bounds_of(word) != frozenset()


def test_word_table_peek_neither_computes_nor_stores() -> None:
    from searchsafe._tokenize import _WordTable

    t = _WordTable(2)
    assert t.peek("a") is None and t.get("a", str.upper) == "A" and t.peek("a") == "A"
    t.get("b", str.upper)
    t.get("c", str.upper)  # the young generation was full: a and b are old now
    assert t.peek("a") == "A" and t.peek("z") is None and t.peek("z") is None


def test_word_table_keeps_long_words_out_of_the_table_but_lets_peek_find_the_last_ones() -> None:
    from searchsafe._tokenize import _RECENT_LONG_WORDS, _WORD_MAX_CHARS, _WordTable

    t = _WordTable(100)
    words = [f"{i:0{_WORD_MAX_CHARS + 1}d}" for i in range(_RECENT_LONG_WORDS + 1)]
    for w in words:
        assert t.get(w, str.upper) == w.upper() and t.peek(w) == w.upper()
    assert not t._young and not t._old  # never in the table proper
    assert len(t._recent) == 1  # bounded: cleared when full



# -- the C word table ---------------------------------------------------------------

def test_the_compiled_path_reads_words_through_the_c_word_table(fast: Classifier) -> None:
    assert isinstance(fast._extractor._ja._word_raw, sp.WordTable)
    assert isinstance(fast._extractor._ko._word_raw, sp.WordTable)


def test_c_word_table_peek_neither_computes_nor_stores() -> None:
    t = sp.WordTable(2)
    assert t.peek("a") is None and t.get("a", str.upper) == "A" and t.peek("a") == "A"
    t.get("b", str.upper)
    t.get("c", str.upper)  # the young generation was full: a and b are old now
    assert t.sizes() == (1, 2, 0)
    assert t.peek("a") == "A" and t.peek("z") is None and t.sizes() == (1, 2, 0)


def test_c_word_table_copies_an_old_word_back_and_stays_bounded() -> None:
    t = sp.WordTable(3)
    calls: list[str] = []
    for w in ["a", "b", "c", "d", "a", "e", "f", "g", "h"]:
        t.get(w, lambda x: calls.append(x) or x * 2)
    assert calls == ["a", "b", "c", "d", "e", "f", "g", "h"]  # "a" came back from the old generation
    young, old, recent = t.sizes()
    assert young <= 3 and old <= 3 and recent == 0
    t.clear()
    assert t.sizes() == (0, 0, 0) and t.peek("h") is None


def test_c_word_table_keeps_long_words_out_of_its_slots_but_lets_peek_find_the_last_ones() -> None:
    t = sp.WordTable(100, 24, 64)
    words = [f"{i:025d}" for i in range(65)]
    for w in words:
        assert t.get(w, str.upper) == w.upper() and t.peek(w) == w.upper()
    assert t.sizes() == (0, 0, 1)  # never in the slots; the recent ones cleared when full
    # Four-byte characters fill a slot's 48 bytes at 12: the 13th sends the word to the recent ones.
    assert t.get("😀" * 12, len) == 12 and t.get("😀" * 13, len) == 13 and t.sizes() == (1, 0, 2)


def test_c_word_table_finds_a_word_whatever_the_width_of_the_text_it_stands_in(fast: Classifier) -> None:
    # "tv" stands two bytes a character in Japanese text, one byte alone; 𠮷 (four bytes) widens 野家.
    t = sp.WordTable(10)
    spec = (t, lambda w: f"<{w}>")
    texts = ["tv 名前", "tv", "名前 tv 𠮷野家", "𠮷野家"]
    prepared = sp.prepare(texts, "ja", _compiled._normalize, _compiled._qwerty_keeps, spec, spec, spec)[0]
    assert [p[3] for p in prepared] == ["<tv> <名前>", "<tv>", "<名前> <tv> <𠮷野家>", "<𠮷野家>"]
    assert t.sizes() == (3, 0, 0)


@pytest.mark.parametrize("space", [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\u3001", "\u200b"])
def test_c_word_splits_are_strs_on_every_whitespace_character(space: str) -> None:
    t = sp.WordTable(10)
    spec = (t, lambda w: f"<{w}>")
    text = f"猫{space}犬 {space}고양이{space}"
    prepared = sp.prepare([text], "ja", _compiled._normalize, _compiled._qwerty_keeps, spec, spec, spec)[0]
    assert prepared[0][3] == " ".join(f"<{w}>" for w in normalize(text).split())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab가각死猫😀x")), min_size=1, max_size=30), max_size=60),
       st.integers(1, 5))
def test_c_word_table_always_returns_what_compute_returns(words: list[str], per_generation: int) -> None:
    t = sp.WordTable(per_generation, 24, 2)
    for w in words:
        assert t.get(w, lambda x: x[::-1]) == w[::-1]
        assert t.peek(w) in (None, w[::-1])
        young, old, recent = t.sizes()
        assert young <= per_generation and old <= per_generation and recent <= 2


def test_c_word_table_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"^WordTable: per_generation must be 1 to 67108864; got 0$"):
        sp.WordTable(0)
    with pytest.raises(ValueError, match=r"^WordTable: max_chars must be >= 0 and recent >= 1$"):
        sp.WordTable(5, 24, 0)
    t = sp.WordTable(5)
    with pytest.raises(TypeError, match=r"^WordTable: word must be str; got bytes$"):
        t.peek(b"a")
    with pytest.raises(TypeError, match=r"^WordTable.get\(word, compute\) takes two arguments$"):
        t.get("a")
    with pytest.raises(ZeroDivisionError):
        t.get("a", lambda w: 1 / 0)  # compute's own error comes through, and nothing is stored
    assert t.peek("a") is None
    py_table = (dict(), str.upper)
    with pytest.raises(TypeError, match=r"^prepare: a word spec's table must be a searchsafe._speedups.WordTable; "
                                        r"got dict$"):
        sp.prepare(["猫"], "ja", _compiled._normalize, _compiled._qwerty_keeps, py_table, py_table, py_table)
    bad = (sp.WordTable(5), len)
    with pytest.raises(TypeError, match=r"^prepare: a word's parse must be a str; got int$"):
        sp.prepare(["猫"], "ja", _compiled._normalize, _compiled._qwerty_keeps, bad, bad, bad)

# -- garbage collector ------------------------------------------------------------

def test_a_batchs_per_query_containers_are_not_tracked_by_the_collector(fast) -> None:
    # Tracked, a batch's per-query lists outlive two collections and push Python's
    # collector into full passes over the whole heap in the middle of scoring.
    import gc

    sc = fast._compiled
    fast.score_batch(["猫 飼い方"])  # builds this thread's tokenizer calls
    parse_ja, parse_ko, parse_mixed, encode_ids, _ = sc._local.calls
    queries = ["猫 飼い方", "死にたい 楽な方法", "고양이 사료 추천", "", "iphone 16 ケース"]
    items, folded, surfaces = sp.prepare(queries, None, _compiled._normalize, _compiled._qwerty_keeps,
                                         parse_ja, parse_ko, parse_mixed)
    assert [gc.is_tracked(it) for it in items if it is not None] == [False] * 4
    hits, _ = sp.lexicon_hits(sc._lexicon_table, items, sc._morpheme, surfaces, sc._bounds, sc._bound_tables)
    assert any(h is not None for h in hits)
    assert not any(gc.is_tracked(h) for h in hits if h is not None)
    ids = encode_ids(folded)
    assert ids and not any(gc.is_tracked(x) for x in ids)


def test_call_each_leaves_a_list_holding_a_container_tracked() -> None:
    import gc

    out = sp.call_each(lambda t: [t, [t]], (), ["a", "b"])
    assert out == [["a", ["a"]], ["b", ["b"]]] and all(gc.is_tracked(x) for x in out)
    out = sp.call_each(lambda t: [len(t), 2], (), ["a"])
    assert out == [[1, 2]] and not gc.is_tracked(out[0])
