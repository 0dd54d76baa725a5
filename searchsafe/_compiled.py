"""The compiled scoring path and the choice between it and the pure-Python reference.

The C extension ``searchsafe._speedups`` does normalization's pre-check,
folding, language detection, feature hashing, the gather and the sum; the
tokenizers (MeCab, sentencepiece) and the calibration stay as they are, so
both paths give the same bits. Set ``SEARCHSAFE_PURE_PYTHON=1`` to force the
pure-Python path, e.g. to test it.
"""

from __future__ import annotations

import os
import threading
import warnings
import zlib
from functools import partial
from typing import Any, Sequence

import numpy as np

from ._errors import InvalidParameterError
from ._features import FeatureConfig, FeatureExtractor
from ._lexicon import _bounds_of, morpheme_bounds
from ._normalize import _qwerty_keeps as _python_qwerty_keeps
from ._normalize import _qwerty_word as _python_qwerty_word
from ._normalize import _qwerty_word_uncached, normalize_with

try:
    from . import _speedups
except ImportError as _exc:  # built without a compiler, or an unusual platform
    _speedups = None
    _IMPORT_ERROR: str | None = str(_exc)
else:
    _IMPORT_ERROR = None

__all__ = ["PURE_ENV", "BUILD_HINT", "available", "choose", "describe", "unsupported", "CompiledScorer"]

#: Environment variable that forces the pure-Python path when set to anything but "" or "0".
PURE_ENV = "SEARCHSAFE_PURE_PYTHON"
BUILD_HINT = (
    "install a C compiler and reinstall from source (pip install --force-reinstall --no-deps "
    "--no-binary searchsafe searchsafe), or in a checkout run: python setup.py build_ext --inplace"
)

# Feature settings the C code knows; a model with any other setting, or a
# FeatureConfig field added later, is scored by the Python reference until
# the C side learns it, so a new setting can never be silently ignored.
_KNOWN_FIELDS = {
    "char_ngram_min", "char_ngram_max", "char_mode", "choseong_ngram_min", "choseong_ngram_max",
    "morph_bigrams", "hash_bits", "japanese_backend", "korean_backend", "length_norm", "lexicon", "morph_unit",
    "lexicon_position",
}
_LENGTH_NORMS = {"sqrt": 0, "none": 1}
# sentencepiece's list form hands the batch to worker threads: without a
# thread pool it starts them on every call (about 50 µs of CPU), and even with
# one the hand-off costs tens of µs of wall time per call. One direct call per
# text costs the same per query at every batch size (measured 1.1-1.4 µs, wall),
# so the list form is used only where the direct call is not available, and then
# only for batches at least this large.
_SP_LIST_MIN = 128
_warned = False


def available() -> bool:
    """Whether the C extension imported."""
    return _speedups is not None


def forced_pure() -> bool:
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def unsupported(config: FeatureConfig, n_categories: int) -> str | None:
    """Why the compiled path cannot score this model, or None if it can."""
    fields = set(getattr(config, "__dataclass_fields__", {}))
    extra = sorted(fields - _KNOWN_FIELDS)
    if extra:
        return f"feature settings the extension does not know yet: {', '.join(extra)}"
    if getattr(config, "length_norm", "sqrt") not in _LENGTH_NORMS:
        return f"length_norm={config.length_norm!r}"
    if _speedups is not None and n_categories > _speedups.MAX_CATEGORIES:
        return f"more than {_speedups.MAX_CATEGORIES} categories"
    return None


def choose(compiled: bool | None, config: FeatureConfig, n_categories: int) -> bool:
    """Decide the scoring path: True for compiled.

    ``compiled=None`` takes the compiled path when it is built and not turned
    off by :data:`PURE_ENV`; when it is missing, a warning (once per process)
    says how to build it. ``True`` insists on it, ``False`` refuses it.
    """
    global _warned
    if compiled is not None and not isinstance(compiled, bool):
        raise InvalidParameterError(f"compiled must be None, True or False; got {compiled!r}")
    reason = unsupported(config, n_categories)
    if compiled is False:
        return False
    if compiled is True:
        if _speedups is None:
            raise InvalidParameterError(
                f"compiled=True, but searchsafe's C extension is not built ({_IMPORT_ERROR}); {BUILD_HINT}"
            )
        if reason:
            raise InvalidParameterError(f"compiled=True, but the extension cannot score this model: {reason}")
        return True
    if forced_pure() or reason:
        return False
    if _speedups is None:
        if not _warned:
            _warned = True
            warnings.warn(
                f"searchsafe's C extension is not built, so scoring runs on the slower pure-Python path; {BUILD_HINT}",
                RuntimeWarning,
                stacklevel=4,
            )
        return False
    return True


def describe(config: FeatureConfig, n_categories: int) -> str:
    """One line saying which path a Classifier for this model takes by default, and why.

    Examples
    --------
    >>> describe(FeatureConfig(), 8).split(" ")[0] in ("compiled", "python")
    True
    """
    reason = unsupported(config, n_categories)
    if _speedups is None:
        return f"python (the C extension is not built: {_IMPORT_ERROR}; {BUILD_HINT})"
    if forced_pure():
        return f"python ({PURE_ENV} is set)"
    if reason:
        return f"python (the C extension cannot score this model: {reason})"
    return f"compiled (C extension {os.path.basename(_speedups.__file__)})"


class CompiledScorer:
    """Logits of a batch through the C extension, equal bit for bit to the Python path's."""

    def __init__(self, extractor: FeatureExtractor, row_of: np.ndarray, weights: np.ndarray, bias: np.ndarray):
        assert _speedups is not None
        cfg = extractor.config
        self._ex = extractor
        self._row_of = np.ascontiguousarray(row_of, dtype=np.int32)
        self._weights = np.ascontiguousarray(weights, dtype=np.float32)
        self._bias = np.ascontiguousarray(bias, dtype=np.float32)
        self._k = self._weights.shape[1]
        self._bounds, self._bound_tables = _bounds_function(extractor)
        self._cfg = (
            int(cfg.char_mode == "word"), cfg.char_ngram_min, cfg.char_ngram_max,
            cfg.choseong_ngram_min, cfg.choseong_ngram_max, int(cfg.morph_bigrams),
            extractor.mask, _LENGTH_NORMS[getattr(cfg, "length_norm", "sqrt")],
        )
        sp = extractor._sp()
        self._has_sp = sp is not None
        self._piece_rows = None
        self._unk = -1
        if sp is not None:
            # Each piece id's row, hashed once: "p" + the piece, as the Python path hashes it.
            mask = extractor.mask
            self._piece_rows = np.fromiter(
                (self._row_of[zlib.crc32(("p" + sp.id_to_piece(i)).encode("utf-8")) & mask]
                 for i in range(sp.get_piece_size())),
                dtype=np.int32,
            )
            self._unk = sp.unk_id()
        # Lexicon hits come from the folded words prepare() returns, through the
        # same function the Python path calls, and go in as the extra features.
        self._lexicon = extractor.lexicon
        # The lexicon's terms as a trie in C: the Python call per query cost
        # more than all the feature hashing. Python still decides a term inside
        # a word when positions follow MeCab's morphemes.
        self._lexicon_table = None
        if self._lexicon is not None:
            self._lexicon_table = _speedups.lexicon_compile(*self._lexicon.table())
        self._morpheme = self._lexicon is not None and self._lexicon.position == "morpheme"
        self._local = threading.local()

    def _thread_calls(self) -> tuple[Any, Any, Any, Any, Any]:
        # Taggers and the sentencepiece processor are per thread (see _tokenize), so are these.
        ex = self._ex
        if ex.config.morph_unit == "word":
            ja, ko = ex._ja.word_tokens, ex._ko.word_tokens
            # (table, parse): C reads each word's MeCab output from the table, parsing only new words.
            ja_raw, ko_raw = ex._ja.word_spec(), ex._ko.word_spec()
            if ja_raw is not None and ko_raw is not None:
                return ja_raw, ko_raw, (ja_raw, ko_raw), *self._sp_calls()
        else:
            ja, ko = ex._ja._fn(), ex._ko._fn()
            # MeCab's output goes to C as one str where the backend is fugashi's.
            ja_raw = getattr(ja, "mecab_parse", None)
            ko_raw = getattr(ko, "mecab_parse", None)
        if ja_raw is not None and ko_raw is not None:
            def mixed(s: str) -> Any:
                return ja_raw(s) + " " + ko_raw(s)
        else:
            def mixed(s: str) -> Any:
                return ja(s) + ko(s)
        return ja_raw or ja, ko_raw or ko, mixed, *self._sp_calls()

    def _sp_calls(self) -> tuple[Any, Any]:
        sp = self._ex._sp() if self._has_sp else None
        if sp is None:
            return None, None
        return _ids_encoder(sp), partial(sp.encode, out_type=str)

    def probabilities(self, items: list[str | None], lang: str | None) -> np.ndarray:
        """Calibrated probabilities, (n, k) float32, 0.0 for empty queries: the sigmoid runs in the C loop."""
        return self._run(items, lang, None, True)[0]

    def logits(self, items: list[str | None], lang: str | None, extra: Sequence[list[str] | None] | None = None
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(logits, nonempty)``: an (n, k) float32 array (-inf rows for empty queries) and a bool
        mask, or None for the mask when every query had something to score.

        *extra*, if given, holds per query a list of further feature strings
        (namespace prefix included), hashed and summed after all others.
        """
        return self._run(items, lang, extra, False)

    def _run(self, items: list[str | None], lang: str | None, extra: Sequence[list[str] | None] | None,
             sigmoid: bool) -> tuple[np.ndarray, np.ndarray | None]:
        calls = getattr(self._local, "calls", None)
        if calls is None:
            calls = self._local.calls = self._thread_calls()
        parse_ja, parse_ko, parse_mixed, encode_ids, unk_pieces = calls
        prepared, folded, surfaces = _speedups.prepare(items, lang, _normalize, _qwerty_keeps, parse_ja, parse_ko,
                                                       parse_mixed)
        lex = self._lexicon
        if lex is not None:
            hits, undecided = _speedups.lexicon_hits(self._lexicon_table, prepared, self._morpheme, surfaces,
                                                     self._bounds, self._bound_tables)
            for i in undecided:
                hits[i] = lex(prepared[i][1], surfaces[i])
            if extra is not None:
                hits = [h if e is None else (h or []) + list(e) for h, e in zip(hits, extra)]
            extra = hits
        pieces = encode_ids(folded) if encode_ids is not None and folded else None
        out = np.empty((len(prepared), self._k), dtype=np.float32)
        live = _speedups.logits(
            out, prepared, self._row_of, self._weights, self._bias, self._piece_rows, self._cfg,
            pieces=pieces, extra=None if extra is None else list(extra), unk_id=self._unk,
            unk_pieces=unk_pieces, sigmoid=sigmoid,
        )
        if sigmoid or live == len(prepared):
            return out, None
        return out, np.fromiter((p is not None for p in prepared), dtype=bool, count=len(prepared))


def _normalize(text: str) -> str:
    """:func:`searchsafe.normalize` composing jamo in C (QWERTY-typed Korean too) and stopping
    once the C pre-check accepts a pass's result (the same strings; tested against the Python)."""
    return normalize_with(text, _compose_jamo, _settled, _qwerty_word)


def _settled(text: str) -> bool:
    return _speedups.is_normal(text, _qwerty_keeps)


_compose_jamo = _speedups.compose_jamo if _speedups is not None else None
# The QWERTY rule and the pre-check's question about it, composing jamo in C;
# the same table as the Python rule's, since both give the same answers.
_qwerty_word_c = partial(_qwerty_word_uncached, compose=_compose_jamo)
_qwerty_word = partial(_python_qwerty_word, compute=_qwerty_word_c)
_qwerty_keeps = partial(_python_qwerty_keeps, qwerty_word=_qwerty_word)


def _bounds_function(extractor: FeatureExtractor) -> tuple[Any, tuple[Any, Any]]:
    """The word tables ``lexicon_hits`` reads morpheme boundaries from in C, (non-Hangul, Hangul) with
    None where absent, and :func:`searchsafe._lexicon.morpheme_bounds` (same table, same sets, folding
    in C) for a word they do not hold.

    A word that the word table of the dictionary the bounds need
    (mecab-ko-dic for Hangul, ipadic otherwise) has already parsed is not
    parsed again: the table's output holds the surfaces.
    """
    per_word = extractor.config.morph_unit == "word"
    tables = (
        extractor._ja._word_raw if per_word and extractor._ja.name == "ipadic" else None,
        extractor._ko._word_raw if per_word and extractor._ko.name == "mecab-ko-dic" else None,
    )
    return partial(morpheme_bounds, compute=partial(_bounds_of, fold=_speedups.fold_words)), tables


_PROBES = ("猫 飼い方", "고양이 사료", "tv 名前 서울", "")


def _ids_encoder(sp: Any) -> Any:
    """A function from a list of texts to their sentencepiece ids, the cheapest way this sentencepiece allows.

    Each call gives exactly ``[sp.encode(t) for t in texts]``. Where the
    processor's positional method answers the probes as ``encode`` does, each
    text goes straight to it, skipping about 1 µs of keyword handling per call
    and any thread hand-off; otherwise large batches take the list form.
    """
    encode = sp.encode
    direct = getattr(getattr(sp, "_processor", None), "_EncodeAsIds", None)
    if direct is not None and not _sp_options_set(sp):
        # No sampling, no bos/eos, no reversal, no emitting unknown pieces as text.
        each = partial(_speedups.call_each, direct, (False, 0, 0.0, False, False, False))
        try:
            if each(list(_PROBES)) == [encode(t) for t in _PROBES]:
                return each
        except (TypeError, ValueError, RuntimeError):
            pass

    def encode_ids(texts: list[str]) -> Any:
        if len(texts) >= _SP_LIST_MIN:
            return encode(texts, num_threads=1)
        return [encode(t) for t in texts]

    return encode_ids


def _sp_options_set(sp: Any) -> bool:
    # The positional call passes the defaults (no sampling, no bos/eos, no
    # reversal); a processor built with other options must go through encode().
    return bool(getattr(sp, "_add_bos", False) or getattr(sp, "_add_eos", False) or getattr(sp, "_reverse", False)
                or getattr(sp, "_enable_sampling", False))
