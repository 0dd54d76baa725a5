"""QueryClassifier follows scikit-learn's estimator contract and trains real models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

import searchsafe
from searchsafe import CATEGORIES, InvalidParameterError, QueryClassifier
from searchsafe._train import choose_threshold, label_matrix, prevalence_weights

# A small but real bilingual training set (animal cruelty vs pet care, self-harm vs help).
_POS_AC = ["猫 殺す 方法", "猫 虐待 動画", "犬 いじめる 方法", "고양이 학대 영상", "길고양이 죽이는법", "강아지 때리기 영상"]
_NEG_AC = ["猫 飼い方", "犬 しつけ", "猫 餌 おすすめ", "고양이 사료 추천", "강아지 산책", "고양이 모래"]
_POS_SH = ["死にたい 楽な方法", "自殺 方法", "リスカ やり方", "자살 방법", "죽고싶다", "자해 하는법"]
_NEG_SH = ["自殺 予防 相談", "いのちの電話", "うつ 病院", "자살예방 상담", "우울증 병원", "생명의전화"]
X = (_POS_AC + _NEG_AC + _POS_SH + _NEG_SH) * 6
Y = ([["animal_cruelty"]] * 6 + [[]] * 6 + [["self_harm"]] * 6 + [[]] * 6) * 6
CATS = ["self_harm", "animal_cruelty"]


@pytest.fixture(scope="module")
def fitted() -> QueryClassifier:
    return QueryClassifier(categories=CATS, sentencepiece_vocab_size=0, C=10.0).fit(X, Y)


def test_init_stores_params_unchanged() -> None:
    est = QueryClassifier(C=2.5, categories=CATS, korean_backend="konlpy-okt")
    assert est.get_params()["C"] == 2.5
    assert est.get_params()["categories"] == CATS
    assert est.get_params()["korean_backend"] == "konlpy-okt"  # validated in fit, not __init__
    assert clone(est).get_params() == est.get_params()


def test_fit_returns_self_and_sets_fitted_state(fitted: QueryClassifier) -> None:
    assert fitted.thresholds_.shape == (2,)
    assert fitted.weights_.shape[1] == 2
    assert fitted.n_train_ == len(X)


def test_learns_the_task(fitted: QueryClassifier) -> None:
    flags = fitted.predict(["猫 殺す 方法", "猫 飼い方", "자살 방법", "자살예방 상담"])
    assert flags.tolist() == [[False, True], [False, False], [True, False], [False, False]]
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2) and ((proba >= 0) & (proba <= 1)).all()


def test_saved_model_scores_like_estimator(fitted: QueryClassifier, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "m", name="tiny")
    clf = searchsafe.load(path)
    assert clf.categories == tuple(CATS)
    queries = ["猫 殺す 方法", "자살 방법", "猫 飼い方", ""]
    np.testing.assert_allclose(clf.score_batch(queries)[:3], fitted.predict_proba(queries[:3]), rtol=1e-5, atol=1e-6)
    assert clf.manifest["name"] == "tiny"


def test_training_is_deterministic(tmp_path: Path) -> None:
    a = QueryClassifier(categories=CATS, sentencepiece_vocab_size=60).fit(X, Y).save(tmp_path / "a")
    b = QueryClassifier(categories=CATS, sentencepiece_vocab_size=60).fit(X, Y).save(tmp_path / "b")
    assert (a / "weights.npz").read_bytes() == (b / "weights.npz").read_bytes()


def test_sentencepiece_training_is_deterministic_and_real() -> None:
    import sentencepiece

    from searchsafe._train import _train_sentencepiece

    lines = [f"{a}{b}" for a in ("自殺", "猫", "자살", "고양이", "爆弾", "폭탄") for b in ("方法", "動画", "방법", "영상", "画像", "사진")]
    lines += [f"{w}{i}" for i in range(40) for w in ("しにたい", "죽고싶다")]
    model = _train_sentencepiece(lines, 120)
    assert model is not None and model == _train_sentencepiece(lines, 120)
    proc = sentencepiece.SentencePieceProcessor()
    proc.LoadFromSerializedProto(model)
    assert "".join(proc.encode("自殺方法", out_type=str)) == "自殺方法"
    assert _train_sentencepiece(lines[:5], 120) is None  # too few lines: no piece view


def test_save_is_atomic(fitted: QueryClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fitted.save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    # Interrupt the write after the data files are written, before the swap.
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        fitted.save(path)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    searchsafe.load(path)


@pytest.mark.parametrize(("solver", "C"), [("sgd", 1.0), ("liblinear", 16.0), ("linear_svc", 0.03)])
@pytest.mark.parametrize("idf", [True, False])
def test_every_solver_learns(solver: str, C: float, idf: bool) -> None:
    est = QueryClassifier(categories=CATS, solver=solver, C=C, idf=idf, sentencepiece_vocab_size=0).fit(X, Y)
    assert est.predict(["猫 殺す 方法", "자살 방법", "猫 飼い方"]).tolist() == [[False, True], [True, False], [False, False]]


def test_thresholds_from_dev() -> None:
    est = QueryClassifier(categories=CATS, sentencepiece_vocab_size=0).fit(X, Y, X_dev=X[:24], y_dev=Y[:24])
    assert est.threshold_source_ == "dev"


def test_resampled_thresholds_are_the_median_of_thresholds_on_bootstrap_resamples() -> None:
    from searchsafe._train import choose_threshold, label_matrix, prevalence_weights

    common = dict(categories=CATS, sentencepiece_vocab_size=0, prevalence=0.2, random_state=3)
    plain = QueryClassifier(**common).fit(X, Y, X_dev=X[:24], y_dev=Y[:24])
    est = QueryClassifier(threshold_resamples=9, **common).fit(X, Y, X_dev=X[:24], y_dev=Y[:24])
    assert est.threshold_source_ == "dev (median of 9 bootstrap resamples)"
    # The same weights, so the same dev scores: only the rule differs.
    assert np.array_equal(plain.predict_proba(X[:24]), est.predict_proba(X[:24]))
    Yd, Pd = label_matrix(Y[:24], CATS), est.predict_proba(X[:24])
    rng = np.random.default_rng(3)
    draws = []
    for _ in range(9):
        idx = rng.integers(0, 24, 24)
        w = prevalence_weights(Yd[idx], 0.2)
        draws.append([choose_threshold(Yd[idx, j], Pd[idx, j], target_precision=est._target(c), sample_weight=w)
                      for j, c in enumerate(CATS)])
    assert est.thresholds_.tolist() == np.median(np.array(draws), axis=0).astype(np.float32).tolist()
    again = QueryClassifier(threshold_resamples=9, **common).fit(X, Y, X_dev=X[:24], y_dev=Y[:24])
    assert again.thresholds_.tolist() == est.thresholds_.tolist()


PARAM_ERRORS = [
    ({"C": 0}, "C must be a positive finite number; got 0"),
    ({"C": float("inf")}, "C must be a positive finite number; got inf"),
    ({"categories": "hate"}, "categories must be a non-empty sequence of distinct names; got 'hate'"),
    ({"categories": ["hate", "hate"]}, "categories must be a non-empty sequence of distinct names; got ['hate', 'hate']"),
    ({"class_weight": "auto"}, "class_weight must be 'balanced' or None; got 'auto'"),
    ({"solver": "adam"}, "solver must be 'linear_svc', 'liblinear' or 'sgd'; got 'adam'"),
    ({"idf": 1}, "idf must be True or False; got 1"),
    ({"sentencepiece_vocab_size": -1}, "sentencepiece_vocab_size must be a non-negative integer; got -1"),
    ({"calibration_folds": 1}, "calibration_folds must be an integer >= 2; got 1"),
    ({"prune": -1}, "prune must be a non-negative number; got -1"),
    ({"target_precision": 2.0}, "target_precision must be None, a number in (0, 1] or a dict of them; got 2.0"),
    ({"target_precision": {"spam": 0.9}}, "target_precision names unknown categories ['spam']"),
    ({"hash_bits": 40}, "hash_bits must be an integer from 10 to 26; got 40"),
    ({"char_ngram_min": 3, "char_ngram_max": 2},
     "char_ngram_min and char_ngram_max must be integers with 1 <= char_ngram_min <= char_ngram_max <= 8; got 3 and 2"),
    ({"char_ngram_max": 9},
     "char_ngram_min and char_ngram_max must be integers with 1 <= char_ngram_min <= char_ngram_max <= 8; got 1 and 9"),
    ({"korean_backend": "kiwi"},
     "korean_backend must be one of 'mecab-ko-dic', 'konlpy-mecab', 'konlpy-okt', 'konlpy-komoran', "
     "'konlpy-hannanum', 'konlpy-kkma'; got 'kiwi'"),
    ({"japanese_backend": "sudachi"}, "japanese_backend must be one of 'ipadic', 'unidic-lite'; got 'sudachi'"),
    ({"n_jobs": 0}, "n_jobs must be a positive integer; got 0"),
    ({"calibration": "isotonic"}, "calibration must be 'oof' or 'dev'; got 'isotonic'"),
    ({"calibration": "dev"}, "calibration='dev' needs X_dev and y_dev"),
    ({"length_norm": "log"}, "length_norm must be 'none' or 'sqrt'; got 'log'"),
    ({"prevalence": 0}, "prevalence must be None or a number in (0, 1); got 0"),
    ({"prevalence": 1.5}, "prevalence must be None or a number in (0, 1); got 1.5"),
    ({"prevalence": True}, "prevalence must be None or a number in (0, 1); got True"),
    ({"threshold_resamples": -1}, "threshold_resamples must be a non-negative integer; got -1"),
    ({"threshold_resamples": 2.5}, "threshold_resamples must be a non-negative integer; got 2.5"),
    ({"threshold_plateau": 1.0}, "threshold_plateau must be a number from 0 up to (not including) 1; got 1.0"),
    ({"threshold_plateau": -0.1}, "threshold_plateau must be a number from 0 up to (not including) 1; got -0.1"),
    ({"threshold_plateau": "2%"}, "threshold_plateau must be a number from 0 up to (not including) 1; got '2%'"),
]


@pytest.mark.parametrize(("params", "message"), PARAM_ERRORS)
def test_invalid_params_raise_in_fit(params: dict, message: str) -> None:
    est = QueryClassifier(**{"categories": CATS, **params})
    with pytest.raises(InvalidParameterError) as info:
        est.fit(X, Y)
    assert str(info.value) == message


DATA_ERRORS = [
    (lambda e: e.fit("猫 殺す", Y), TypeError,
     "X must be an iterable of str, got a single str; wrap one query in a list, or call score()/predict() for one query"),
    (lambda e: e.fit(X[:3], Y[:2]), InvalidParameterError, "X has 3 queries but y has 2 rows"),
    (lambda e: e.fit([], []), InvalidParameterError, "X is empty; need at least one labeled query"),
    (lambda e: e.fit(["a"], [["spam"]]), InvalidParameterError,
     "y[0] has unknown category 'spam'; known: self_harm, animal_cruelty"),
    (lambda e: e.fit(["a"], ["hate"]), InvalidParameterError, "y[0] must be a list of category names, got the str 'hate'"),
    (lambda e: e.fit(X, Y, groups=[1, 2]), InvalidParameterError, f"groups has 2 entries but X has {len(X)}"),
    (lambda e: e.fit(X, Y, sample_weight=[1.0, 2.0]), InvalidParameterError,
     f"sample_weight has shape (2,) but X has {len(X)} queries; need ({len(X)},)"),
    (lambda e: e.fit(X, Y, sample_weight=[1.0] * 5 + [float("nan")] + [1.0] * (len(X) - 6)), InvalidParameterError,
     "sample_weight[5] is nan; weights must be finite and >= 0"),
    (lambda e: e.fit(X, Y, sample_weight=[-1.0] * len(X)), InvalidParameterError,
     "sample_weight[0] is -1.0; weights must be finite and >= 0"),
    (lambda e: e.fit(X, Y, sample_weight=[0] * len(X)), InvalidParameterError,
     "sample_weight is 0 everywhere; at least one query must count"),
    (lambda e: e.fit(X, Y, sample_weight=["heavy"] * len(X)), InvalidParameterError,
     "sample_weight must be a sequence of numbers"),
]


@pytest.mark.parametrize(("call", "exc", "message"), DATA_ERRORS)
def test_bad_training_data(call, exc, message: str) -> None:
    with pytest.raises(exc) as info:
        call(QueryClassifier(categories=CATS, sentencepiece_vocab_size=0))
    assert str(info.value) == message


def test_single_class_category_warns_and_never_flags() -> None:
    with pytest.warns(UserWarning, match="category 'hate' has only negative examples; it will never be flagged"):
        est = QueryClassifier(categories=["hate", *CATS], sentencepiece_vocab_size=0).fit(X, Y)
    assert not est.predict(X)[:, 0].any()


def test_label_matrix_accepts_arrays() -> None:
    arr = np.array([[1, 0], [0, 1]])
    assert label_matrix(arr, CATS).tolist() == [[True, False], [False, True]]
    with pytest.raises(InvalidParameterError, match="y has 2 columns but there are 3 categories"):
        label_matrix(arr, ["a", "b", "c"])


CHOOSE_CASES = [
    ([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.9], 0.9, 0.7),
    ([0, 1, 0, 1], [0.2, 0.4, 0.6, 0.8], 0.9, 0.8),
    ([0, 1, 0, 1], [0.2, 0.4, 0.6, 0.8], None, 0.4),
    ([0, 0, 0, 0], [0.2, 0.4, 0.6, 0.8], 0.9, 0.5),
]


@pytest.mark.parametrize(("y", "p", "target", "expected"), CHOOSE_CASES)
def test_choose_threshold(y, p, target, expected) -> None:
    assert choose_threshold(np.array(y), np.array(p), target_precision=target) == pytest.approx(expected)


PLATEAU_CASES = [
    # F1 by cut: 0.9 -> 0.5, 0.6 -> 0.8, 0.4 -> 0.67, 0.3 -> 0.86 (best), 0.2 -> 0.75.
    ([0, 1, 0, 1, 1], [0.2, 0.3, 0.4, 0.6, 0.9], 0.0, 0.3),
    ([0, 1, 0, 1, 1], [0.2, 0.3, 0.4, 0.6, 0.9], 0.15, 0.3),   # 0.6, 0.3, 0.2 qualify
    ([0, 1, 0, 1, 1], [0.2, 0.3, 0.4, 0.6, 0.9], 0.3, 0.4),    # 0.6, 0.4, 0.3, 0.2: the higher middle one
    ([0, 1, 0, 1], [0.2, 0.4, 0.6, 0.8], 0.5, 0.6),
    # 0.75 and 0.25 qualify, 0.5 does not: an average of the two would land on it.
    ([0, 0, 0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5, 0.75, 0.25], 0.5, 0.75),
]


@pytest.mark.parametrize(("y", "p", "plateau", "expected"), PLATEAU_CASES)
def test_choose_threshold_on_the_f1_plateau(y, p, plateau, expected) -> None:
    assert choose_threshold(np.array(y), np.array(p), target_precision=None, plateau=plateau) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0.06, 0.94)), min_size=2, max_size=40),
       st.floats(0.0, 0.5))
def test_plateau_threshold_keeps_f1_within_the_plateau(rows, plateau) -> None:
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    if y.all() or not y.any():
        return

    def f1(t: float) -> float:
        flag = p >= t
        tp = (flag & y).sum()
        return 2 * tp / (flag.sum() + y.sum())

    best = f1(choose_threshold(y, p, target_precision=None))
    t = choose_threshold(y, p, target_precision=None, plateau=plateau)
    assert f1(t) >= best * (1 - plateau) - 1e-12


def test_threads_give_the_same_model() -> None:
    common = dict(categories=CATS, sentencepiece_vocab_size=0, C=10.0)
    a = QueryClassifier(**common, n_jobs=1).fit(X, Y)
    b = QueryClassifier(**common, n_jobs=2).fit(X, Y)
    assert np.array_equal(a.weights_, b.weights_) and np.array_equal(a.intercept_, b.intercept_)
    assert np.array_equal(a.thresholds_, b.thresholds_)


def test_unit_sample_weights_give_the_unweighted_model() -> None:
    common = dict(categories=CATS, sentencepiece_vocab_size=0, C=10.0)
    a = QueryClassifier(**common).fit(X, Y)
    b = QueryClassifier(**common).fit(X, Y, sample_weight=np.ones(len(X)))
    assert np.array_equal(a.weights_, b.weights_) and np.array_equal(a.thresholds_, b.thresholds_)


def test_a_heavier_row_pulls_the_model_toward_its_label() -> None:
    # "猫 飼い方" labeled harmful once among its benign copies: weighted up, that one row wins.
    x = X + ["猫 飼い方"]
    y = Y + [["animal_cruelty"]]
    common = dict(categories=CATS, sentencepiece_vocab_size=0, C=1.0, calibration_folds=2)
    light = QueryClassifier(**common).fit(x, y)
    heavy = QueryClassifier(**common).fit(x, y, sample_weight=[1.0] * len(X) + [200.0])
    j = CATS.index("animal_cruelty")
    assert heavy.decision_function(["猫 飼い方"])[0, j] > light.decision_function(["猫 飼い方"])[0, j] + 0.5


def test_weighted_threshold_counts_benign_rows_by_weight() -> None:
    # At the dev set's own mix the 0.6 negative is cheap; weighted up (as rare
    # harm makes every benign row count more) it pushes the cut above it.
    y, p = np.array([0, 0, 1, 1, 1]), np.array([0.1, 0.6, 0.5, 0.7, 0.9])
    assert choose_threshold(y, p, target_precision=0.7) == pytest.approx(0.5)
    assert choose_threshold(y, p, target_precision=0.7, sample_weight=np.array([1, 5, 1, 1, 1.0])) == pytest.approx(0.7)


@pytest.mark.parametrize("prevalence", [0.5, 0.1, 0.02, 0.001])
def test_prevalence_weights_give_the_stated_harmful_share(prevalence: float) -> None:
    Y = label_matrix(Y_LIST := [["hate"], [], [], ["sexual", "hate"], [], [], [], []], ["hate", "sexual"])
    w = prevalence_weights(Y, prevalence)
    harmful = np.array([bool(r) for r in Y_LIST])
    assert w[harmful].tolist() == [1.0, 1.0]
    assert float(w[harmful].sum() / w.sum()) == pytest.approx(prevalence)
    assert prevalence_weights(Y, None) is None
    assert prevalence_weights(Y[:1], 0.1) is None  # no benign row: nothing to weight


def test_prevalence_lowers_probabilities_and_is_stored(tmp_path: Path) -> None:
    common = dict(categories=CATS, sentencepiece_vocab_size=0, C=10.0)
    rare = QueryClassifier(**common, prevalence=0.01).fit(X, Y)
    mixed = QueryClassifier(**common, prevalence=None).fit(X, Y)
    q = ["猫 殺す 方法", "자살 방법"]
    assert (rare.predict_proba(q) < mixed.predict_proba(q)).all()
    clf = searchsafe.load(rare.save(tmp_path / "m"))
    assert clf.manifest["prevalence"] == 0.01
    assert clf.manifest["training"]["prevalence"] == 0.01


def test_length_norm_none_keeps_a_term_s_weight_among_neutral_words(tmp_path: Path) -> None:
    common = dict(categories=CATS, sentencepiece_vocab_size=0, C=10.0)
    for norm in ("none", "sqrt"):
        clf = searchsafe.load(QueryClassifier(**common, length_norm=norm).fit(X, Y).save(tmp_path / norm))
        assert clf.manifest["features"]["length_norm"] == norm
    plain = searchsafe.load(tmp_path / "none")
    # With plain counts the logit is a sum: extra words add their own weights and
    # nothing else, so the term's contribution is the same in and out of context.
    alone = plain.explain("自殺 方法", categories=["self_harm"])["features"]["self_harm"]
    ctx = dict(plain.explain("自殺 方法 東京 天気", categories=["self_harm"], top=1000)["features"]["self_harm"])
    for feature, value in alone:
        assert ctx[feature] == pytest.approx(value)


def test_dev_calibration_and_refit_keep_what_dev_chose() -> None:
    common = dict(categories=CATS, sentencepiece_vocab_size=0, C=10.0, calibration="dev")
    first = QueryClassifier(**common).fit(X, Y, X_dev=X[:48], y_dev=Y[:48])
    assert first.threshold_source_ == "dev"
    assert first.predict(["猫 殺す 方法", "猫 飼い方"]).tolist() == [[False, True], [False, False]]
    again = QueryClassifier(**common).fit(X + ["犬 殴る 動画"], Y + [["animal_cruelty"]], calibration_from=first)
    assert again.calibration_ == first.calibration_
    assert np.array_equal(again.thresholds_, first.thresholds_)
    assert again.threshold_source_ == "dev (kept from an earlier fit)"
    with pytest.raises(InvalidParameterError) as info:
        QueryClassifier(categories=CATS[::-1], sentencepiece_vocab_size=0).fit(X, Y, calibration_from=first)
    assert str(info.value) == "calibration_from must be a fitted QueryClassifier with the same categories"


def test_cli_train_threshold_plateau_must_be_below_one(tmp_path, capsys) -> None:
    from searchsafe.cli import main

    data = tmp_path / "d.csv"
    data.write_text("text,labels\n猫,\n", encoding="utf-8")
    assert main(["train", str(data), "--out", str(tmp_path / "m"), "--threshold-plateau", "1"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "argument --threshold-plateau: must be a number from 0 up to (not including) 1; got '1' "
        "(see 'searchsafe train --help')")


@pytest.mark.parametrize("option,value", [("--threshold-resamples", "5"), ("--threshold-plateau", "0.02")])
def test_cli_train_threshold_options_need_in_memory_training(tmp_path, capsys, option: str, value: str) -> None:
    from searchsafe.cli import main

    data = tmp_path / "d.csv"
    data.write_text("text,labels\n猫,\n", encoding="utf-8")
    assert main(["train", str(data), "--out", str(tmp_path / "m"), option, value, "--out-of-core"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"{option} works with in-memory training only; drop --out-of-core or it")


@pytest.mark.parametrize("category", CATEGORIES)
def test_train_command_and_estimator_aim_every_category_at_the_same_default_target(category) -> None:
    """`searchsafe train` resolves its targets itself; it aimed child_safety at 0.9 while the
    estimator, its --help and the README said 0.95."""
    from searchsafe._ooc import resolve_targets

    expected = {"child_safety": ("precision", 0.95), "harassment": ("f1", None), "sexual": ("f1", None),
                "animal_cruelty": ("f1", None)}.get(category, ("precision", 0.9))
    assert resolve_targets(CATEGORIES)[category] == expected
    aim = QueryClassifier()._target(category)
    assert expected == (("f1", None) if aim is None else ("precision", aim))
