"""Text normalization that undoes the spellings evaders use.

Two forms come out of a query. :func:`normalize` gives the *surface* form that
morphological analysers read: readable, spaced, with evasions undone.
:func:`fold` goes further for character features: kana folded, separators and
inserted digits removed, long repeats collapsed, so that spacing and padding
tricks all land on the same characters.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from typing import Callable

from ._hangul import compose_jamo, has_loose_jamo, qwerty_to_hangul
from ._tokenize import _WordTable, is_known_korean

__all__ = ["MAX_QUERY_CHARS", "normalize", "squeeze", "fold", "fold_words", "join_words"]

#: Queries are cut to this many characters before scoring, counted after
#: invisible characters, blank runs and padding runs are squeezed out (so
#: padding cannot push the words out of reach); a search query that long is
#: pasted text, and the cut keeps the cost of one query bounded.
MAX_QUERY_CHARS = 256

# Characters that render as nothing: format controls (Cf: zero-width spaces and
# joiners, BOM, soft hyphen, bidi controls, tags), control characters that are
# not whitespace (NUL...), lone surrogates (no encoder can read them), Hangul
# fillers and variation selectors (the rest of Default_Ignorable_Code_Point).
# Written out so that a C port reads the same table; a test recomputes it from
# unicodedata.
_INVISIBLE_RANGES = (
    "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f"
    "\u0890-\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ud800-\udfff\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff"
)
_INVISIBLE = re.compile(f"[{_INVISIBLE_RANGES}]+")
_SPACES = re.compile(r"\s+")
# Folding counts a run of one character three or more times as one, and drops
# every symbol: longer runs carry nothing but padding, so they are cut to
# three (a symbol run keeps a space if it held one, so words stay apart).
_REPEAT_RUN = re.compile(r"(.)\1{3,}")
_SYMBOL_RUN = re.compile(r"[\W_]{4,}")
_BLANK = " "
# How much raw text to look at first; it grows fourfold until enough survives.
_RAW_WINDOW = 4 * MAX_QUERY_CHARS


def _cut_symbol_run(match: re.Match[str]) -> str:
    # Blanks inside are single spaces by now; whether the run starts with one
    # and whether it holds one after that is all folding reads of them.
    run = match.group(0)
    symbols = run.replace(_BLANK, "")[:3]
    return (_BLANK if run[0] == _BLANK else "") + symbols + (_BLANK if _BLANK in run[1:] else "")


def squeeze(text: str) -> str:
    """Remove what renders as nothing and cut the runs that only pad.

    Invisible characters go, every blank run becomes one space, a character
    repeated four or more times is kept three times and a run of four or more
    symbols and blanks keeps its first three symbols, with a space in front if
    it began with one and a space after them if it held one further on. Folding reads all of these as it would the full runs, so no
    character feature changes; they only stop padding from filling the
    :data:`MAX_QUERY_CHARS` budget. Linear in the length of *text*.

    Examples
    --------
    >>> squeeze("\u200b\u200b자살\u3000\u3000방법")
    '자살 방법'
    >>> squeeze("ㅋㅋㅋㅋㅋㅋ!!!!!!?")
    'ㅋㅋㅋ!!!'
    """
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    if _REPEAT_RUN.search(text):
        text = _REPEAT_RUN.sub(r"\1\1\1", text)
    if _SYMBOL_RUN.search(text):
        text = _SYMBOL_RUN.sub(_cut_symbol_run, text)
    return text


def _squeezed_prefix(text: str) -> str:
    # Every rule of squeeze() acts on runs, so cutting the raw text can only
    # change the image of the last run, which is at most five characters
    # (" " + three symbols + " "). Reading a growing window until that many
    # more than MAX_QUERY_CHARS survive therefore gives the same cut as
    # squeezing everything, at a cost linear in the padding actually read.
    window = _RAW_WINDOW
    while True:
        out = squeeze(text[:window])
        if window >= len(text) or len(out) >= MAX_QUERY_CHARS + _LAST_RUN_IMAGE:
            return out[:MAX_QUERY_CHARS]
        window *= 4


_LAST_RUN_IMAGE = 5


# NFKC turns compatibility jamo (ㅈ) into conjoining ones (U+110C) that render
# oddly, no longer compose, and glue onto the syllable before them; so runs of
# compatibility jamo are kept out of NFKC, and conjoining jamo that remain
# (typed as such, or from half-width jamo) map to the compatibility letter of
# the same name. Built from the Unicode names, so every letter has its pair.
def _conjoining_to_compat() -> dict[int, str]:
    table = {}
    for first, last in ((0x1100, 0x11FF), (0xA960, 0xA97F), (0xD7B0, 0xD7FF)):
        for cp in range(first, last + 1):
            name = unicodedata.name(chr(cp), "")
            for prefix in ("HANGUL CHOSEONG ", "HANGUL JUNGSEONG ", "HANGUL JONGSEONG "):
                if name.startswith(prefix):
                    with contextlib.suppress(KeyError):
                        table[cp] = unicodedata.lookup("HANGUL LETTER " + name[len(prefix):])
    return table


_CONJOINING_TO_COMPAT = _conjoining_to_compat()
_CONJOINING = re.compile("[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]")
_NOT_COMPAT_JAMO = re.compile("[^\u3131-\u318e]+")


_COMPAT_JAMO = re.compile("[\u3131-\u318e]")


def _nfkc(text: str) -> str:
    if not _COMPAT_JAMO.search(text):
        return unicodedata.normalize("NFKC", text)
    return _NOT_COMPAT_JAMO.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)

# Japanese look-alike glyphs for 死 (タヒ stacks into 死; 氏/市/4 sound like し).
_LOOKALIKES = [
    (re.compile("タヒ(?![チぬ])"), "死"),
    (re.compile("(?<![\u4e00-\u9fff0-9])[氏市4](?=[ねネぬヌ]|[んン][でだデダ]|[にニ][たタ][いイ])"), "死"),
]

_LATIN_WORD = re.compile("[A-Za-z]+")
_HANGUL = re.compile("[\uac00-\ud7a3\u3131-\u3163]")
# Leetspeak only inside Latin words: "s3x", "p0rn"; "2ch" or "18禁" keep digits.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_RUN = re.compile(r"(?<=[a-z])[0134579@$]+(?=[a-z])")
_CJK = "\u3041-\u3096\u30a1-\u30fa\u30fc\u4e00-\u9fff\uac00-\ud7a3\u3131-\u3163"
# A symbol or space wedged between two CJK/Hangul letters is padding: 死・に, 자.살.
_WEDGED_SEPARATOR = re.compile(f"(?<=[{_CJK}])[^\\w\\s]+(?=[{_CJK}])")
# Runs of three or more single letters separated by spaces: 死 に た い, 자 살.
_SPACED_LETTERS = re.compile(r"(?<!\S)(?:\w )+\w(?!\S)")
_KATAKANA = "".join(chr(c) for c in range(0x30A1, 0x30F7))
_HIRAGANA = "".join(chr(c - 0x60) for c in range(0x30A1, 0x30F7))
_KANA_FOLD = str.maketrans(_KATAKANA, _HIRAGANA)
_WEDGED_DIGITS = re.compile(
    "(?<=[\uac00-\ud7a3\u3041-\u3096])[0-9]+(?=[\uac00-\ud7a3\u3041-\u3096])"
)
_NOT_WORD = re.compile(r"[\W_]+")
_NOT_WORD_OR_SPACE = re.compile(r"[^\w ]+|_+")
_LONG_REPEAT = re.compile(r"(.)\1{2,}")


def _qwerty_word_uncached(word: str, compose: Callable[[str], str] = compose_jamo) -> str:
    hangul = qwerty_to_hangul(word, compose)
    return hangul if hangul is not None and is_known_korean(hangul) else word


# Latin words recur in traffic (tv, dvd, official) and each answer costs a
# MeCab parse; the answer depends on the word alone, so a bounded table of
# them changes nothing but the cost.
_QWERTY_WORDS = _WordTable(20_000)


def _qwerty_word(word: str, compute: Callable[[str], str] = _qwerty_word_uncached) -> str:
    # *compute* is _qwerty_word_uncached, or the compiled path's composing in C: same answers, one table.
    return _QWERTY_WORDS.get(word, compute)


def _qwerty_keeps(word: str, qwerty_word: Callable[[str], str] = _qwerty_word) -> bool:
    """Whether the QWERTY rule leaves a Latin word of 3+ letters alone (asked by the compiled pre-check)."""
    return qwerty_word(word) == word


def _undo_qwerty(text: str, qwerty_word: Callable[[str], str] = _qwerty_word) -> str:
    min_len = 3 if _HANGUL.search(text) else 4

    def convert(match: re.Match[str]) -> str:
        word = match.group(0)
        return word if len(word) < min_len else qwerty_word(word)

    return _LATIN_WORD.sub(convert, text)


def _join_spaced_letters(match: re.Match[str]) -> str:
    tokens = match.group(0).split(" ")
    return "".join(tokens) if len(tokens) >= 3 else match.group(0)


def normalize(text: str) -> str:
    """Return the surface form of a query with evasive spellings undone.

    Applies Unicode NFKC (full/half width), Korean jamo recomposition, Korean
    typed on a QWERTY layout, Japanese look-alike glyphs, case folding,
    leetspeak inside Latin words, padding between letters and spacing.
    Idempotent: ``normalize(normalize(s)) == normalize(s)``.

    Parameters
    ----------
    text : str
        A raw query. Invisible characters, blank runs and padding runs are
        squeezed out first (see :func:`squeeze`), then the first
        :data:`MAX_QUERY_CHARS` characters that remain are read.

    Returns
    -------
    str
        The normalized query; ``""`` for an empty or whitespace-only query.

    Examples
    --------
    >>> normalize("ＳＥＸ  動画")
    'sex 動画'
    >>> normalize("ﾀﾋにたい")
    '死にたい'
    >>> normalize("wktkf")
    '자살'
    >>> normalize("자 살 방 법")
    '자살방법'
    """
    return normalize_with(text, compose_jamo)


def normalize_with(text: str, compose: Callable[[str], str], settled: Callable[[str], bool] | None = None,
                   qwerty_word: Callable[[str], str] = _qwerty_word) -> str:
    """:func:`normalize` with *compose* for :func:`~searchsafe._hangul.compose_jamo` (the compiled path passes its C twin).

    *settled(text)*, if given, may answer True only for a text normalize()
    leaves unchanged (the compiled pre-check): a pass whose result it accepts
    is the last, saving the pass that would only confirm it. *qwerty_word*
    is the QWERTY rule for one Latin word (the compiled path's composes in C).
    """
    text = _squeezed_prefix(text)
    # Rules feed each other (a removed separator lets jamo compose, composed
    # Hangul wedges a separator), so they are applied until nothing changes:
    # the result is a fixed point of _normalize_once, hence idempotent. Real
    # queries stop after one or two passes and jamo soup after three at most;
    # the bound only guards against a rule cycle no test has found.
    for _ in range(_MAX_PASSES):
        out = _normalize_once(text, compose, qwerty_word)
        if out == text:
            break
        text = out
        # normalize(out) == out means out is a fixed point of _normalize_once:
        # the next pass could only return it unchanged.
        if settled is not None and settled(text):
            break
    return text


_MAX_PASSES = 32


def _normalize_once(text: str, compose: Callable[[str], str] = compose_jamo,
                    qwerty_word: Callable[[str], str] = _qwerty_word) -> str:
    # NFKC makes blanks of some characters (U+00A0); the other runs squeeze()
    # cuts are cut once at the end of the pass.
    text = _SPACES.sub(" ", _nfkc(text))
    if _CONJOINING.search(text):
        text = text.translate(_CONJOINING_TO_COMPAT)
    text = _WEDGED_SEPARATOR.sub("", text).strip()
    if " " in text:
        text = _SPACED_LETTERS.sub(_join_spaced_letters, text)
    if has_loose_jamo(text):
        text = compose(text)
    for pattern, replacement in _LOOKALIKES:
        text = pattern.sub(replacement, text)
    if _LATIN_WORD.search(text):
        text = _undo_qwerty(text, qwerty_word)
    text = text.lower()
    if _LEET_RUN.search(text):
        text = _LEET_RUN.sub(lambda m: m.group(0).translate(_LEET), text)
    return squeeze(text)[:MAX_QUERY_CHARS].strip()


def fold(surface: str) -> str:
    """Fold a normalized query into the form whole-query features are read from.

    Katakana becomes hiragana, digits wedged between kana or Hangul go
    (``자1살``), every separator goes (spacing no longer matters) and a
    character repeated three or more times counts once: :func:`fold_words`
    without the spaces.

    Examples
    --------
    >>> fold(normalize("シネ"))
    'しね'
    >>> fold(normalize("자1살 방법"))
    '자살방법'
    >>> fold(normalize("死ねねねね!!"))
    '死ね'
    """
    return join_words(fold_words(surface))


def join_words(folded_words: str) -> str:
    """:func:`fold` from the output of :func:`fold_words`, which the features need too."""
    # Joining words can wedge digits or lengthen a run ("자 1 살", "자자 자"): fold again.
    text = _WEDGED_DIGITS.sub("", folded_words.replace(" ", ""))
    return _LONG_REPEAT.sub(r"\1", text)


def fold_words(surface: str) -> str:
    """Like :func:`fold`, but spaces between words stay: the view for per-word n-grams.

    Examples
    --------
    >>> fold_words(normalize("シネ 動画!!"))
    'しね 動画'
    >>> fold_words(normalize("자1살  방법"))
    '자살 방법'
    """
    text = _NOT_WORD_OR_SPACE.sub("", surface.translate(_KANA_FOLD))
    text = _WEDGED_DIGITS.sub("", text)
    return " ".join(_LONG_REPEAT.sub(r"\1", text).split())
