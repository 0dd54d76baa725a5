"""The inference-side classifier: compact weights, batch and single scoring, explain."""

from __future__ import annotations

import itertools
import math
import os
import warnings
import zlib
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from . import _compiled, _hugepages
from ._cache import LRUCache, check_cache_size
from ._errors import InvalidParameterError, ModelError
from ._features import FeatureConfig, FeatureExtractor, check_lang, iter_texts
from ._modelio import ModelData, read_model
from ._normalize import MAX_QUERY_CHARS

__all__ = ["Classifier", "load", "default_model_path"]

# Queries scored together in one pass of score_batch.
_CHUNK = 4096
# Feature strings held at once: a chunk of long queries is scored in pieces of
# about this many features, so working memory does not grow with query length.
_FEATURE_BUDGET = 1 << 17
# Queries whose features are extracted before the budget is checked again.
_SLICE = 64


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of float32 logits, as float32: ``1 / (1 + exp(-x))`` in double.

    ``math.exp`` is the C library's ``exp``, which the compiled path calls on
    the same doubles, so both paths give the same bits; numpy's own float32
    ``exp`` would not (its result depends on the CPU's SIMD path). Below -700
    the double result rounds to 0 in float32, and ``math.exp`` would overflow.
    """
    values = logits.ravel().tolist()
    exp = math.exp
    probs = [0.0 if x < -700.0 else 1.0 / (1.0 + exp(-x)) for x in values]
    return np.array(probs, dtype=np.float64).astype(np.float32).reshape(logits.shape)


class Classifier:
    """Scores Japanese and Korean queries for each harm category.

    Get one with :func:`searchsafe.load`. Batch methods take a list of queries
    and return arrays of shape ``(n, len(categories))``; single-query methods
    return plain Python values. Both give identical numbers, and one instance
    may be shared by many threads.

    Scores are probabilities calibrated on the training data; a query is
    flagged for a category when its score reaches that category's threshold.
    Empty, whitespace-only and ``None`` queries score 0.0 everywhere.

    :attr:`scoring_path` says whether the compiled extension (``"compiled"``)
    or the pure-Python reference (``"python"``) scores; both give the same bits.

    Examples
    --------
    >>> import searchsafe
    >>> clf = searchsafe.load()
    >>> clf.categories[:3]
    ('child_safety', 'self_harm', 'violence')
    >>> clf.score_batch(["猫 飼い方", "고양이 사료 추천"]).shape
    (2, 8)
    >>> clf.predict("猫 飼い方")
    []
    """

    def __init__(
        self,
        model: ModelData,
        *,
        japanese_backend: str | None = None,
        korean_backend: str | None = None,
        cache_size: int = 0,
        compiled: bool | None = None,
    ):
        # Off by default: a cache only pays on repeated queries, and costs memory.
        self._cache = LRUCache(cache_size) if check_cache_size(cache_size) else None
        config = FeatureConfig.from_dict(model.features)
        overrides = {"japanese_backend": japanese_backend, "korean_backend": korean_backend}
        for name, value in overrides.items():
            if value is not None and value != getattr(config, name):
                warnings.warn(
                    f"this model was trained with {name}={getattr(config, name)!r}; scoring with {value!r} "
                    "gives different tokens, so scores will differ from the model's reported metrics",
                    UserWarning,
                    stacklevel=3,
                )
                config = FeatureConfig(**{**config.to_dict(), name: value})
        self._model = model
        self._extractor = FeatureExtractor(config, model.sentencepiece, model.lexicon)
        self.categories: tuple[str, ...] = model.categories
        self.thresholds: dict[str, float] = {c: float(t) for c, t in zip(model.categories, model.thresholds)}
        self._threshold_array = model.thresholds.astype(np.float32)
        # Row 0 is all zeros: features without weight point there.
        k = len(model.categories)
        self._weights = _hugepages.zeros((model.weights.shape[0] + 1, k), np.float32)
        self._weights[1:] = model.weights
        self._bias = model.bias.astype(np.float32)
        self._row_of = _hugepages.zeros(1 << config.hash_bits, np.int32)
        if model.buckets.size:
            if model.buckets.min() < 0 or model.buckets.max() >= (1 << config.hash_bits):
                raise ModelError("weights.npz: a bucket lies outside the model's hash space")
            self._row_of[model.buckets] = np.arange(1, model.buckets.size + 1, dtype=np.int32)
        self._mask = (1 << config.hash_bits) - 1
        self._sqrt_norm = config.length_norm == "sqrt"
        self._compiled: _compiled.CompiledScorer | None = None
        if _compiled.choose(compiled, config, k):
            self._compiled = _compiled.CompiledScorer(self._extractor, self._row_of, self._weights, self._bias)
        #: ``"compiled"`` or ``"python"``: which path scores (see :mod:`searchsafe._compiled`).
        self.scoring_path = "compiled" if self._compiled is not None else "python"
        self._warm_up()

    @property
    def manifest(self) -> dict[str, Any]:
        """The model's manifest: versions, training data, thresholds, metrics."""
        return self._model.manifest

    def __repr__(self) -> str:
        name = self.manifest.get("name", "model")
        return (
            f"<searchsafe.Classifier {name!r}: {len(self.categories)} categories, "
            f"{self._model.buckets.size} weights, {self.scoring_path} path>"
        )

    def _warm_up(self) -> None:
        # Load both dictionaries and sentencepiece now, not on the first real query.
        self._chunked_scores(["warm up テスト", "준비 완료"], None)

    # -- core -------------------------------------------------------------
    def _row(self, feature: str) -> int:
        return int(self._row_of[zlib.crc32(feature.encode("utf-8")) & self._mask])

    def _scores(self, items: list[str | None], lang: str | None) -> np.ndarray:
        if self._compiled is not None:
            return self._compiled.probabilities(items, lang)
        n, k = len(items), len(self.categories)
        out = np.zeros((n, k), dtype=np.float32)
        pending: list[list[str]] = []
        held = start = 0
        for first in range(0, n, _SLICE):
            lists = self._extractor.feature_lists(items[first : first + _SLICE], lang)
            pending.extend(lists)
            held += sum(map(len, lists))
            if held >= _FEATURE_BUDGET or first + _SLICE >= n:
                self._score_lists(pending, out[start : start + len(pending)])
                start += len(pending)
                pending, held = [], 0
        return out

    def _score_lists(self, lists: list[list[str]], out: np.ndarray) -> None:
        n = len(lists)
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=n)
        nonempty = lengths > 0
        if not nonempty.any():
            return
        feats = list(itertools.chain.from_iterable(lists))
        # CRC-32 in C over the whole batch, then one numpy gather: cheaper than
        # any dict of features, and memory stays flat however many queries pass.
        buckets = np.fromiter(map(zlib.crc32, map(str.encode, feats)), dtype=np.int64, count=len(feats))
        del feats
        flat = self._row_of[buckets & self._mask]
        lengths = lengths[nonempty]
        starts = np.zeros(lengths.size, dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        # Each query's sum runs over its own rows in order, so a query gets the
        # same bits whether it is scored alone or in any batch.
        sums = np.add.reduceat(self._weights[flat], starts, axis=0)
        if self._sqrt_norm:
            logits = sums * (1.0 / np.sqrt(lengths.astype(np.float32)))[:, None] + self._bias
        else:
            logits = sums + self._bias
        out[nonempty] = _sigmoid(logits)

    # -- public -----------------------------------------------------------
    def score_batch(self, queries: Iterable[str | None], *, lang: str | None = None) -> np.ndarray:
        """Calibrated probabilities for a batch of queries.

        Parameters
        ----------
        queries : iterable of str
            The queries; ``None`` and blank ones score 0.0. A bare str is a TypeError.
        lang : {"ja", "ko", "mixed", "other"}, optional
            Force one language for the whole batch instead of detecting it per query.

        Returns
        -------
        numpy.ndarray of float32, shape (n, len(categories))

        Examples
        --------
        >>> import searchsafe
        >>> searchsafe.load().score_batch([]).shape
        (0, 8)
        """
        check_lang(lang)
        items = iter_texts(queries)
        if self._cache is not None:
            return self._cached_scores(items, lang)
        return self._chunked_scores(items, lang)

    def _chunked_scores(self, items: list[str | None], lang: str | None) -> np.ndarray:
        if len(items) <= _CHUNK:
            return self._scores(items, lang)
        # Bounded working memory for any batch size; a query's numbers do not
        # depend on its neighbours, so chunking changes no result.
        out = np.empty((len(items), len(self.categories)), dtype=np.float32)
        for start in range(0, len(items), _CHUNK):
            out[start : start + _CHUNK] = self._scores(items[start : start + _CHUNK], lang)
        return out

    def predict_batch(self, queries: Iterable[str | None], *, lang: str | None = None) -> np.ndarray:
        """Flags at each category's threshold: bool array of shape (n, len(categories)).

        Examples
        --------
        >>> import searchsafe
        >>> searchsafe.load().predict_batch(["猫 飼い方"]).tolist()
        [[False, False, False, False, False, False, False, False]]
        """
        return self.score_batch(queries, lang=lang) >= self._threshold_array

    def _one(self, query: Any, lang: str | None) -> np.ndarray:
        if query is not None and not isinstance(query, str):
            raise TypeError(f"query must be str or None; got {type(query).__name__}")
        check_lang(lang)
        if self._cache is not None:
            return self._cached_scores([query], lang)[0]
        return self._scores([query], lang)[0]

    def _cached_scores(self, items: list[str | None], lang: str | None) -> np.ndarray:
        # Scoring reads only the first MAX_QUERY_CHARS characters, so the cut key
        # is exact. Without a language the key is the str itself, else a
        # (str, lang) tuple: the two never compare equal, and most traffic saves
        # building a tuple per query.
        cut = MAX_QUERY_CHARS
        if lang is None:
            keys: list[Any] = [q[:cut] if q else "" for q in items]
        else:
            keys = [(q[:cut] if q else "", lang) for q in items]

        def compute(positions: list[int]) -> list[bytes]:
            # A row is kept as its float32 bytes: a batch of hits is then one
            # join, where stacking array rows cost more than the look-ups.
            raw = self._chunked_scores([items[i] for i in positions], lang).tobytes()
            size = 4 * len(self.categories)
            return [raw[j : j + size] for j in range(0, len(raw), size)]

        rows = self._cache.lookup(keys, compute)  # type: ignore[union-attr]
        out = np.empty((len(rows), len(self.categories)), dtype=np.float32)
        if rows:
            out.data.cast("B")[:] = b"".join(rows)
        return out

    @property
    def cache(self) -> LRUCache | None:
        """The head-query cache (``load(cache_size=...)``), or None when off."""
        return self._cache

    def score(self, query: str | None, *, lang: str | None = None) -> dict[str, float]:
        """Probability per category for one query, as ``{category: float}``.

        Examples
        --------
        >>> import searchsafe
        >>> scores = searchsafe.load().score("")
        >>> scores["self_harm"]
        0.0
        """
        # tolist() gives the same Python floats as float() of each float32, in one call.
        return dict(zip(self.categories, self._one(query, lang).tolist()))

    def predict(self, query: str | None, *, lang: str | None = None) -> list[str]:
        """Names of the categories one query is flagged for; ``[]`` means benign.

        Examples
        --------
        >>> import searchsafe
        >>> clf = searchsafe.load()
        >>> clf.predict("東京 天気"), clf.predict("자살 방법")
        ([], ['self_harm'])
        """
        row = self._one(query, lang)
        return [c for c, p, t in zip(self.categories, row, self._threshold_array) if p >= t]

    def explain(
        self, query: str | None, *, lang: str | None = None, categories: Iterable[str] | None = None, top: int = 10
    ) -> dict[str, Any]:
        """Why one query got its scores: normalized text, tokens and the features that drove each category.

        Parameters
        ----------
        query : str
        lang : str, optional
        categories : iterable of str, optional
            Categories to explain; default the flagged ones.
        top : int
            How many features to list per category, largest contribution first.

        Returns
        -------
        dict
            ``text``, ``normalized``, ``folded``, ``lang``, ``tokens``, ``scores``,
            ``flagged`` and ``features``: ``{category: [(feature, contribution), ...]}``
            where a contribution is the feature's share of the category's logit.

        Examples
        --------
        >>> import searchsafe
        >>> e = searchsafe.load().explain("猫 飼い方")
        >>> e["normalized"], e["lang"], e["flagged"]
        ('猫 飼い方', 'ja', [])
        """
        if not isinstance(top, int) or isinstance(top, bool) or top < 1:
            raise InvalidParameterError(f"top must be a positive integer; got {top!r}")
        scores = self.score(query, lang=lang)
        flagged = [c for c in self.categories if scores[c] >= self.thresholds[c]]
        wanted = flagged if categories is None else list(categories)
        for c in wanted:
            if c not in self.categories:
                raise InvalidParameterError(f"categories must name categories of this model {self.categories}; got {c!r}")
        a = self._extractor.analyze_batch([query], lang)[0]
        contributions: dict[str, dict[str, float]] = {c: {} for c in wanted}
        if a.features:
            scale = float(self._extractor.scale(len(a.features)))
            for f in a.features:
                w = self._weights[self._row(f)]
                for c in wanted:
                    j = self.categories.index(c)
                    contributions[c][f] = contributions[c].get(f, 0.0) + float(w[j] * scale)
        features = {
            c: sorted(((f, round(v, 4)) for f, v in contributions[c].items() if v), key=lambda x: -x[1])[:top]
            for c in wanted
        }
        return {
            "text": a.text,
            "normalized": a.normalized,
            "folded": a.folded,
            "lang": a.lang,
            "tokens": a.tokens,
            "scores": scores,
            "flagged": flagged,
            "features": features,
        }


def default_model_path() -> Path:
    """Where the bundled default model lives (installed package or source checkout)."""
    try:
        installed = Path(str(resources.files("searchsafe").joinpath("default_model")))
        if (installed / "manifest.json").is_file():
            return installed
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "models" / "default"


def load(
    path: str | os.PathLike[str] | None = None,
    *,
    japanese_backend: str | None = None,
    korean_backend: str | None = None,
    sha256: str | None = None,
    public_key: Any = None,
    cache_size: int = 0,
    compiled: bool | None = None,
) -> Classifier:
    """Load a classifier: the bundled default model, or the model directory at *path*.

    The manifest is validated against a strict schema and every file's sha256
    is checked against it; the arrays are checked (shapes, finite numbers)
    before they are used. A damaged, truncated, inconsistent or newer-format
    model raises :class:`searchsafe.ModelError`. Nothing is unpickled. The
    manifest's hashes only detect damage: to refuse a model that someone
    rewrote together with its manifest, pin its digest or check its signature.

    Parameters
    ----------
    path : str or path-like, optional
        A model directory written by ``searchsafe train``; default the bundled model.
    japanese_backend, korean_backend : str, optional
        Tokenizer backends to use instead of the ones the model was trained with
        (a warning says that scores will shift).
    sha256 : str, optional
        Pin the model: the canonical digest of the whole directory (printed by
        ``searchsafe verify``) must be this one.
    public_key : path-like, bytes or Ed25519PublicKey, optional
        Require a valid ``signature.ed25519`` from this key (``searchsafe sign``;
        needs the ``cryptography`` package, ``pip install 'searchsafe[sign]'``).
    cache_size : int, optional
        Keep the scores of this many recent distinct queries (an exact LRU on the
        query text); 0, the default, turns the cache off. Answers never change.
    compiled : bool, optional
        ``None`` (default): the compiled extension when it is built, unless the
        environment variable ``SEARCHSAFE_PURE_PYTHON=1`` turns it off; a
        warning says once when it is missing. ``True`` requires it, ``False``
        uses the pure-Python path. Scores are identical either way.

    Examples
    --------
    >>> import searchsafe
    >>> clf = searchsafe.load()
    >>> len(clf.categories)
    8
    """
    if path is None:
        path = default_model_path()
        if not (Path(path) / "manifest.json").is_file():
            raise ModelError(
                f"the default model is missing at {path}; reinstall searchsafe, "
                "or build it with `python models/build_default.py`"
            )
    model = read_model(path, sha256=sha256, public_key=public_key)
    return Classifier(
        model,
        japanese_backend=japanese_backend,
        korean_backend=korean_backend,
        cache_size=cache_size,
        compiled=compiled,
    )
