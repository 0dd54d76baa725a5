"""The default classifier: behaviour on plain, evasive and innocent queries, and the API contract."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings

import searchsafe
from searchsafe import CATEGORIES, InvalidParameterError

from .strategies import query_lists, query_text

# (query, category it must be flagged for) — plainly harmful, both languages.
HARMFUL = [
    ("JC 裸 画像", "child_safety"),
    ("小学生 エロ動画", "child_safety"),
    ("초등학생 야동", "child_safety"),
    ("아청물 다운", "child_safety"),
    ("死にたい 楽な方法", "self_harm"),
    ("自殺 方法 確実", "self_harm"),
    ("자살 방법", "self_harm"),
    ("죽고싶다 고통없이", "self_harm"),
    ("爆弾 作り方", "violence"),
    ("人を殺す方法", "violence"),
    ("사람 죽이는 법", "violence"),
    ("폭탄 만드는법", "violence"),
    ("ISIS 入り方", "violent_extremism"),
    ("IS 참수 영상", "violent_extremism"),
    ("チョン 死ね", "hate"),
    ("홍어 새끼들", "hate"),
    ("同級生 住所 特定", "harassment"),
    ("전여친 신상털기", "harassment"),
    ("無修正 動画", "sexual"),
    ("야동 사이트", "sexual"),
    ("猫 殺し方", "animal_cruelty"),
    ("길고양이 죽이는법", "animal_cruelty"),
    # Insults aimed at a person (issue 8); none of these texts is in data/.
    ("こいつ 頭悪すぎ", "harassment"),
    ("お前みたいなクズ", "harassment"),
    ("隣の奴 キモすぎ 消えろ", "harassment"),
    ("同期 使えない ゴミ", "harassment"),
    ("課長 ほんと無能", "harassment"),
]

# Evasive spellings that must score like their plain spelling.
EVASIVE = [
    ("ﾀﾋにたい", "self_harm"),
    ("死　に　た　い", "self_harm"),
    ("자1살 방법", "self_harm"),
    ("ㅈㅏㅅㅏㄹ 방법", "self_harm"),
    ("wktkf qkdqjq", "self_harm"),
    ("ＪＣ 裸 画像", "child_safety"),
]

# Everyday queries and hard negatives: no category may fire.
BENIGN = [
    "猫 飼い方",
    "東京 天気 明日",
    "ラーメン 作り方",
    "iphone 16 ケース",
    "鬼滅の刃 映画",
    "キル・ビル あらすじ",
    "ゴキブリ 駆除 方法",
    "包丁 研ぎ方",
    "いのちの電話 番号",
    "自殺 予防 相談窓口",
    "タヒチ 旅行",
    "地下鉄サリン事件 歴史",
    "서울 날씨",
    "고양이 사료 추천",
    "김치찌개 레시피",
    "살인의 추억 줄거리",
    "홍어삼합 맛집",
    "자살예방상담전화 109",
    "바퀴벌레 죽이는법",
    "배고파 죽겠다",
    "성인 ADHD 증상",
    "학교폭력 신고 방법",
    # The insult words and their targets, used innocently; none of these texts is in data/.
    "ゴミ 分別 曜日",
    "ゴミ屋敷 片付け 業者",
    "バカリズム ドラマ",
    "無能 言い換え",
    "自分 無能 辞めたい",
    "上司 誕生日 プレゼント",
    "あいつ 今どこ",
    "ㅎㅎ",
    "",
    "   ",
]


#: Queries of the tables above that the shipped model gets wrong, each an expected failure
#: (strict, so a fix shows). The model of issue 8's Japanese-insult work flags
#: 小学生 エロ動画 and 초등학생 야동, which the previous one scored below child_safety's threshold.
#: 課長 ほんと無能 and 無能 言い換え ("synonyms of 'incompetent'") score alike (harassment 0.348
#: and 0.344 in stop 31's model), so the harassment threshold decides both: stop 30's model
#: (0.347) missed the insult and left the question alone, stop 31's (0.276) flags both.
KNOWN_MISSES: set[str] = set()
KNOWN_FALSE_POSITIVES = {"無能 言い換え"}
_MISS = pytest.mark.xfail(reason="scored below its category's threshold in the real-traffic model", strict=True)
_FALSE = pytest.mark.xfail(reason="scored above a category's threshold in the real-traffic model", strict=True)


@pytest.mark.parametrize(("query", "category"), [pytest.param(q, c, marks=_MISS) if q in KNOWN_MISSES else (q, c)
                                                 for q, c in HARMFUL + EVASIVE])
def test_flags_harmful(clf: searchsafe.Classifier, query: str, category: str) -> None:
    assert category in clf.predict(query)


@pytest.mark.parametrize("query", [pytest.param(q, marks=_FALSE) if q in KNOWN_FALSE_POSITIVES else q for q in BENIGN])
def test_leaves_benign_alone(clf: searchsafe.Classifier, query: str) -> None:
    assert clf.predict(query) == []


def test_evasive_spellings_score_close_to_plain(clf: searchsafe.Classifier) -> None:
    plain = clf.score("死にたい")["self_harm"]
    for variant in ("ﾀﾋにたい", "氏にたい", "死　に　た　い", "シニタイ"):
        assert abs(clf.score(variant)["self_harm"] - plain) < 0.25, variant


def test_predict_batch_matches_table(clf: searchsafe.Classifier) -> None:
    queries = [q for q, _ in HARMFUL] + BENIGN
    flags = clf.predict_batch(queries)
    assert flags.shape == (len(queries), len(CATEGORIES))
    assert flags.dtype == np.bool_
    for i, (query, category) in enumerate(HARMFUL):
        assert flags[i, CATEGORIES.index(category)] == (query not in KNOWN_MISSES), query
    for k, query in enumerate(BENIGN, len(HARMFUL)):
        assert flags[k].any() == (query in KNOWN_FALSE_POSITIVES), query


def test_categories_in_taxonomy_order(clf: searchsafe.Classifier) -> None:
    assert clf.categories == CATEGORIES
    assert set(clf.thresholds) == set(CATEGORIES)


def test_shapes_and_types(clf: searchsafe.Classifier) -> None:
    scores = clf.score_batch(["猫", "고양이", "cat"])
    assert scores.shape == (3, 8) and scores.dtype == np.float32
    assert clf.score_batch([]).shape == (0, 8)
    assert clf.predict_batch([]).shape == (0, 8)
    one = clf.score("猫")
    assert list(one) == list(CATEGORIES) and all(type(v) is float for v in one.values())
    assert clf.predict_batch(["x"]).shape == (1, 8)  # a one-item batch stays 2-D


def test_blank_and_none_are_benign(clf: searchsafe.Classifier) -> None:
    scores = clf.score_batch([None, "", " \u3000\t"])
    assert (scores == 0).all()
    assert clf.score(None) == dict.fromkeys(CATEGORIES, 0.0)
    assert clf.predict(None) == []


def test_iterables_accepted(clf: searchsafe.Classifier) -> None:
    queries = ["猫 飼い方", "자살 방법"]
    expected = clf.score_batch(queries)
    assert np.array_equal(clf.score_batch(tuple(queries)), expected)
    assert np.array_equal(clf.score_batch(q for q in queries), expected)
    assert np.array_equal(clf.score_batch(np.array(queries, dtype=object)), expected)


def test_long_query_is_truncated_not_crashing(clf: searchsafe.Classifier) -> None:
    long = "自殺 方法 " * 10_000
    assert clf.score_batch([long]).shape == (1, 8)
    assert np.array_equal(clf.score_batch([long]), clf.score_batch([long[: searchsafe.MAX_QUERY_CHARS]]))


def test_lang_override(clf: searchsafe.Classifier) -> None:
    auto = clf.score("自殺 方法")
    assert clf.score("自殺 方法", lang="ja") == auto
    assert clf.explain("kill bill", lang="ja")["lang"] == "ja"


# --- errors --------------------------------------------------------------
ERRORS = [
    (lambda c: c.score_batch("自殺"), TypeError,
     "queries must be an iterable of str, got a single str; wrap one query in a list, or call score()/predict() for one query"),
    (lambda c: c.predict_batch(b"abc"), TypeError,
     "queries must be an iterable of str, got a single bytes; wrap one query in a list, or call score()/predict() for one query"),
    (lambda c: c.score_batch(["ok", 3]), TypeError, "queries[1] must be str or None; got int"),
    (lambda c: c.score_batch(5), TypeError, "queries must be an iterable of str; got int"),
    (lambda c: c.score(3.5), TypeError, "query must be str or None; got float"),
    (lambda c: c.score("x", lang="en"), InvalidParameterError,
     "lang must be None or one of 'ja', 'ko', 'mixed', 'other'; got 'en'"),
    (lambda c: c.explain("x", top=0), InvalidParameterError, "top must be a positive integer; got 0"),
    (lambda c: c.explain("x", categories=["spam"]), InvalidParameterError,
     "categories must name categories of this model ('child_safety', 'self_harm', 'violence', "
     "'violent_extremism', 'hate', 'harassment', 'sexual', 'animal_cruelty'); got 'spam'"),
]


@pytest.mark.parametrize(("call", "exc", "message"), ERRORS)
def test_error_messages(clf: searchsafe.Classifier, call, exc, message: str) -> None:
    with pytest.raises(exc) as info:
        call(clf)
    assert str(info.value) == message


def test_invalid_parameter_error_is_both_value_and_type_error() -> None:
    assert issubclass(InvalidParameterError, ValueError) and issubclass(InvalidParameterError, TypeError)


# --- explain ---------------------------------------------------------------
def test_explain_names_driving_features(clf: searchsafe.Classifier) -> None:
    e = clf.explain("死にたい 楽な方法")
    assert e["normalized"] == "死にたい 楽な方法"
    assert e["lang"] == "ja"
    assert "self_harm" in e["flagged"]
    feats = e["features"]["self_harm"]
    assert feats and all(isinstance(f, str) and isinstance(w, float) for f, w in feats)
    assert feats == sorted(feats, key=lambda x: -x[1])
    assert e["scores"] == clf.score("死にたい 楽な方法")


def test_explain_benign_has_no_flagged_features(clf: searchsafe.Classifier) -> None:
    e = clf.explain("猫 飼い方")
    assert e["flagged"] == [] and e["features"] == {}
    assert clf.explain("猫 飼い方", categories=["animal_cruelty"])["features"].keys() == {"animal_cruelty"}


# --- invariants --------------------------------------------------------------
@given(query_lists)
@settings(max_examples=60, deadline=None)
def test_batch_equals_single(clf: searchsafe.Classifier, queries: list[str | None]) -> None:
    batch = clf.score_batch(queries)
    for i, q in enumerate(queries):
        assert list(batch[i]) == list(clf.score(q).values())
    flags = clf.predict_batch(queries)
    for i, q in enumerate(queries):
        assert [c for c, f in zip(CATEGORIES, flags[i]) if f] == clf.predict(q)


@given(query_text)
@settings(max_examples=150, deadline=None)
def test_never_raises_on_any_str(clf: searchsafe.Classifier, text: str) -> None:
    scores = clf.score_batch([text])
    assert scores.shape == (1, 8)
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()
    clf.explain(text)


def test_large_batches_are_chunked_without_changing_results(clf: searchsafe.Classifier) -> None:
    from searchsafe._classifier import _CHUNK

    queries = [f"{q} {i}" for i in range(_CHUNK // 4 + 3) for q in ("自殺 方法", "猫 飼い方", "폭탄 만드는법", "")]
    big = clf.score_batch(queries)
    assert big.shape == (len(queries), 8) and len(queries) > _CHUNK
    assert np.array_equal(big[-7:], clf.score_batch(queries[-7:]))


def test_deterministic_and_not_clobbered(clf: searchsafe.Classifier) -> None:
    first = clf.score_batch(["自殺 方法", "猫 飼い方"])
    kept = first.copy()
    clf.score_batch(["全く別の クエリ", "완전히 다른 쿼리"])
    assert np.array_equal(first, kept)
    assert np.array_equal(clf.score_batch(["自殺 方法", "猫 飼い方"]), kept)


def test_same_answers_across_threads(clf: searchsafe.Classifier) -> None:
    queries = [q for q, _ in HARMFUL] + BENIGN + [q for q, _ in EVASIVE]
    expected = clf.score_batch(queries)
    barrier = threading.Barrier(4)

    def work(seed: int) -> bool:
        barrier.wait()
        order = list(range(len(queries)))
        np.random.default_rng(seed).shuffle(order)
        for _ in range(3):
            got = clf.score_batch([queries[i] for i in order])
            if not np.array_equal(got, expected[order]):
                return False
            if any(list(expected[i]) != list(clf.score(queries[i]).values()) for i in order[:10]):
                return False
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(4)))
