"""Turn queries into hashed sparse features: characters, morphemes, pieces, choseong.

Every feature is a short string with a one-letter namespace (``c`` character
n-gram, ``m`` morpheme, ``b`` morpheme bigram, ``p`` sentencepiece piece,
``k`` Korean initial-consonant n-gram, ``l`` language, ``L`` lexicon hit, see
:mod:`searchsafe._lexicon`). Strings are hashed with
CRC-32, which is stable across processes, platforms and Python versions, into
``2**hash_bits`` buckets. A query's feature values are its counts, divided by
``sqrt(total)`` in models whose ``length_norm`` is ``"sqrt"``: that keeps a long
query from outvoting a short one, but lets neutral words dilute a harmful term,
so newer models use the plain counts (``length_norm="none"``).
"""

from __future__ import annotations

import math
import threading
import zlib
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ._errors import InvalidParameterError
from ._hangul import choseong
from ._lang import LANGUAGES, detect_language
from ._lexicon import LexiconEntry, LexiconFeatures, check_lexicon_position
from ._normalize import _KANA_FOLD, fold_words, join_words, normalize
from ._tokenize import get_tokenizer

__all__ = ["FeatureConfig", "FeatureExtractor", "Analysis"]


# Per-entry and per-gram overheads of the word n-gram table, in bytes: a dict
# slot with its str key, and a str object plus its list slot.
_ENTRY_BYTES = 200
_GRAM_BYTES = 88


@dataclass(frozen=True)
class FeatureConfig:
    """Settings that fix the feature space; stored in every model's manifest."""

    char_ngram_min: int = 1
    char_ngram_max: int = 4
    #: ``"word"``: n-grams inside each word of the surface, padded with a space
    #: at both ends (word boundaries count); ``"folded"``: n-grams over the
    #: whole folded query with no spaces (format of models before 0.1.0's release).
    char_mode: str = "word"
    choseong_ngram_min: int = 2
    choseong_ngram_max: int = 3
    morph_bigrams: bool = True
    hash_bits: int = 20
    japanese_backend: str = "ipadic"
    korean_backend: str = "mecab-ko-dic"
    #: ``"sqrt"``: feature values are count / sqrt(number of features of the
    #: query); ``"none"``: plain counts, so neutral words beside a harmful term
    #: do not dilute it.
    length_norm: str = "sqrt"
    #: Whether the model carries a lexicon (``lexicon.tsv``) and scores its hits
    #: as ``L`` features, after all others.
    lexicon: bool = False
    #: ``"query"``: MeCab reads the whole query at once; ``"word"``: each
    #: space-separated word alone, through a table of frequent words (MeCab's
    #: cost falls sharply on real traffic; tokens never cross a space).
    morph_unit: str = "query"
    #: Where a lexicon term inside a word counts as standing apart (``e``):
    #: ``"space"``, at a space-separated word's edge (models before 0.2);
    #: ``"morpheme"``, on MeCab's morpheme boundaries (see :mod:`searchsafe._lexicon`).
    lexicon_position: str = "space"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        # Manifests written before char_mode existed used folded n-grams up to 3.
        known.setdefault("char_mode", "folded")
        known.setdefault("char_ngram_max", 3)
        return cls(**known)

    def validate(self) -> None:
        for lo, hi in (("char_ngram_min", "char_ngram_max"), ("choseong_ngram_min", "choseong_ngram_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            if not (isinstance(a, int) and isinstance(b, int) and 1 <= a <= b <= 8):
                raise InvalidParameterError(f"{lo} and {hi} must be integers with 1 <= {lo} <= {hi} <= 8; got {a!r} and {b!r}")
        if self.length_norm not in ("sqrt", "none"):
            raise InvalidParameterError(f"length_norm must be 'sqrt' or 'none'; got {self.length_norm!r}")
        if self.char_mode not in ("word", "folded"):
            raise InvalidParameterError(f"char_mode must be 'word' or 'folded'; got {self.char_mode!r}")
        if self.morph_unit not in ("query", "word"):
            raise InvalidParameterError(f"morph_unit must be 'query' or 'word'; got {self.morph_unit!r}")
        check_lexicon_position(self.lexicon_position)
        if not isinstance(self.lexicon, bool):
            raise InvalidParameterError(f"lexicon must be True or False; got {self.lexicon!r}")
        if not (isinstance(self.hash_bits, int) and 10 <= self.hash_bits <= 26):
            raise InvalidParameterError(f"hash_bits must be an integer from 10 to 26; got {self.hash_bits!r}")


@dataclass
class Analysis:
    """What the pipeline made of one query (for :meth:`Classifier.explain`)."""

    text: str
    normalized: str
    folded: str
    lang: str
    tokens: list[str]
    features: list[str]


class FeatureExtractor:
    """Queries in, feature strings and hashed sparse rows out.

    Parameters
    ----------
    config : FeatureConfig
        The feature space.
    sentencepiece_model : bytes or None
        A serialized sentencepiece model; None leaves piece features out.
    lexicon : sequence of LexiconEntry, optional
        The model's lexicon; required when ``config.lexicon`` is True.
    """

    #: Bytes the per-word n-gram table may hold (an estimate of the strings and
    #: lists it keeps) before it starts over: bounded by size, not by count,
    #: since one 256-character word costs what a hundred ordinary words do.
    _WORD_CACHE_BYTES = 24 << 20
    #: Words longer than this are never kept: they are pasted text or attacks,
    #: they do not recur, and their n-grams are rebuilt in linear time anyway.
    _WORD_CACHE_MAX_CHARS = 24

    def __init__(self, config: FeatureConfig, sentencepiece_model: bytes | None = None,
                 lexicon: Sequence[LexiconEntry] | None = None):
        config.validate()
        self.config = config
        if config.lexicon and not lexicon:
            raise InvalidParameterError("these features use a lexicon (lexicon=True) but no lexicon terms were given")
        #: Folded words -> lexicon feature strings, or None when the features use no lexicon.
        self.lexicon: LexiconFeatures | None = (
            LexiconFeatures(lexicon, position=config.lexicon_position) if config.lexicon and lexicon else None)
        self.mask = (1 << config.hash_bits) - 1
        self._ja = get_tokenizer(config.japanese_backend, language="ja")
        self._ko = get_tokenizer(config.korean_backend, language="ko")
        self._sp_bytes = sentencepiece_model
        self._sp_local = threading.local()
        # Two generations: when the young table is full it becomes the old
        # one, and a word found there moves back, so frequent words survive.
        self._word_grams: dict[str, list[str]] = {}
        self._old_grams: dict[str, list[str]] = {}
        self._word_bytes = 0

    # -- text -------------------------------------------------------------
    def _sp(self):
        if self._sp_bytes is None:
            return None
        proc = getattr(self._sp_local, "proc", None)
        if proc is None:
            import sentencepiece

            proc = sentencepiece.SentencePieceProcessor()
            proc.LoadFromSerializedProto(self._sp_bytes)
            self._sp_local.proc = proc
        return proc

    def _tokens(self, surface: str, lang: str) -> list[str]:
        if lang == "other":
            return surface.split()
        by_word = self.config.morph_unit == "word"
        if lang == "ja":
            return self._ja.word_tokens(surface) if by_word else self._ja.tokens(surface)
        if lang == "ko":
            return self._ko.word_tokens(surface) if by_word else self._ko.tokens(surface)
        if by_word:
            return self._ja.word_tokens(surface) + self._ko.word_tokens(surface)
        return self._ja.tokens(surface) + self._ko.tokens(surface)

    def _grams_of(self, word: str) -> list[str]:
        # Words recur across queries, so their n-grams are kept in a bounded
        # table: building them is the largest cost of a query. The lists are
        # never mutated, and a race only builds the same list twice.
        lo, hi = self.config.char_ngram_min, self.config.char_ngram_max
        grams = self._old_grams.get(word)
        if grams is not None:
            self._keep(word, grams, hi)
            return grams
        padded = " " + word + " "
        end = len(padded)
        grams = []
        for n in range(lo, hi + 1):
            if n == 1:
                grams.extend(["w" + ch for ch in word])
            else:
                grams.extend(["w" + padded[i : i + n] for i in range(end - n + 1)])
        if len(word) <= self._WORD_CACHE_MAX_CHARS:
            self._keep(word, grams, hi)
        return grams

    def _keep(self, word: str, grams: list[str], hi: int) -> None:
        # CPython's size of the key, the list and each gram string, give or take
        # a few bytes; a race between threads only misestimates by one word.
        cost = _ENTRY_BYTES + 4 * len(word) + len(grams) * (_GRAM_BYTES + 4 * (hi + 1))
        if self._word_bytes + cost > self._WORD_CACHE_BYTES // 2:
            self._old_grams = self._word_grams
            self._word_grams = {}
            self._word_bytes = 0
        self._word_grams[word] = grams
        self._word_bytes += cost

    def _features(self, folded_words: str, words: list[str], folded: str, tokens: list[str], lang: str,
                  pieces: Sequence[str], surface: str = "") -> list[str]:
        cfg = self.config
        feats = ["l" + lang]
        lo, hi = cfg.char_ngram_min, cfg.char_ngram_max
        if cfg.char_mode == "word":
            for word in words:
                grams = self._word_grams.get(word)
                if grams is None:
                    grams = self._grams_of(word)
                feats.extend(grams)
        else:
            padded = "<" + folded + ">"
            end = len(padded)
            for n in range(lo, hi + 1):
                if n == 1:
                    feats.extend(["c" + ch for ch in folded])
                else:
                    feats.extend(["c" + padded[i : i + n] for i in range(end - n + 1)])
        morphs = [t.lower().translate(_KANA_FOLD) for t in tokens]
        feats.extend("m" + m for m in morphs)
        if cfg.morph_bigrams:
            feats.extend("b" + a + " " + b for a, b in zip(morphs, morphs[1:]))
        feats.extend("p" + p for p in pieces)
        if lang == "ko" or lang == "mixed":
            cho = choseong(folded)
            for n in range(cfg.choseong_ngram_min, cfg.choseong_ngram_max + 1):
                feats.extend("k" + cho[i : i + n] for i in range(len(cho) - n + 1))
        if self.lexicon is not None:
            # Last, as the compiled path sums its extra features last: the same order gives the same bits.
            feats.extend(self.lexicon(folded_words, surface))
        return feats

    def _one(self, query: str | None, lang: str | None, encode) -> tuple[str, str, str, list[str], list[str]]:
        surface = normalize(query) if query else ""
        folded_words = fold_words(surface)
        words = folded_words.split()
        folded = join_words(folded_words)
        lg = lang or detect_language(surface)
        if not folded:
            return surface, folded, lg, [], []
        tokens = self._tokens(surface, lg)
        pieces = encode(folded, out_type=str) if encode is not None else ()
        return surface, folded, lg, tokens, self._features(folded_words, words, folded, tokens, lg, pieces, surface)

    def scale(self, n_features):
        """The factor a query's summed weights are multiplied by, for *n_features* feature occurrences."""
        if self.config.length_norm == "sqrt":
            return 1.0 / np.sqrt(np.asarray(n_features, dtype=np.float32))
        return np.ones_like(np.asarray(n_features, dtype=np.float32))

    def _encoder(self):
        # sentencepiece is called once per query: its list form starts worker
        # threads and costs four times as much on short queries.
        sp = self._sp()
        return sp.encode if sp is not None else None

    def feature_lists(self, queries: Sequence[str | None], lang: str | None = None) -> list[list[str]]:
        """The feature strings of each query; the lean path scoring runs on."""
        one, encode = self._one, self._encoder()
        return [one(q, lang, encode)[4] for q in queries]

    def analyze_batch(self, queries: Sequence[str | None], lang: str | None = None) -> list[Analysis]:
        """Run the text pipeline over validated queries (``None`` counts as empty)."""
        encode = self._encoder()
        return [Analysis(q or "", *self._one(q, lang, encode)) for q in queries]

    # -- hashing ----------------------------------------------------------
    def transform(self, queries: Sequence[str | None], lang: str | None = None):
        """Hashed feature matrix (scipy CSR) of shape ``(n, 2**hash_bits)`` for training."""
        import scipy.sparse as sp

        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        mask = self.mask
        sqrt_norm = self.config.length_norm == "sqrt"
        for feats in self.feature_lists(queries, lang):
            n = len(feats)
            if n:
                value = 1.0 / math.sqrt(n) if sqrt_norm else 1.0
                indices.extend(h & mask for h in map(zlib.crc32, map(str.encode, feats)))
                data.extend([value] * n)
            indptr.append(len(indices))
        X = sp.csr_matrix(
            (np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
            shape=(len(indptr) - 1, 1 << self.config.hash_bits),
        )
        X.sum_duplicates()
        return X


def check_lang(lang: str | None) -> str | None:
    if lang is not None and lang not in LANGUAGES:
        raise InvalidParameterError(f"lang must be None or one of {', '.join(map(repr, LANGUAGES))}; got {lang!r}")
    return lang


def iter_texts(queries: Iterable[Any], *, param: str = "queries") -> list[str | None]:
    """Validate a batch of queries: a sequence of str (None allowed), never a bare str."""
    if isinstance(queries, (str, bytes)):
        raise TypeError(
            f"{param} must be an iterable of str, got a single {type(queries).__name__}; "
            f"wrap one query in a list, or call score()/predict() for one query"
        )
    try:
        items = list(queries)
    except TypeError:
        raise TypeError(f"{param} must be an iterable of str; got {type(queries).__name__}") from None
    # The set of types, built in C, is the common case's whole check; the
    # loop runs only to name the first bad item (str subclasses pass too).
    if not _PLAIN_TYPES.issuperset(map(type, items)):
        for i, q in enumerate(items):
            if q is not None and not isinstance(q, str):
                raise TypeError(f"{param}[{i}] must be str or None; got {type(q).__name__}")
    return items


_PLAIN_TYPES = frozenset((str, type(None)))
