"""Text normalization that undoes the spellings evaders use.

Two forms come out of a query. :func:`normalize` gives the *surface* form that
morphological analysers read: readable, spaced, with evasions undone.
:func:`fold` goes further for character features: kana folded, separators and
inserted digits removed, long repeats collapsed, so that spacing and padding
tricks all land on the same characters.
"""

from __future__ import annotations

import re
import unicodedata

from ._hangul import _CHO, _JONG, _JUNG, compose_jamo, has_loose_jamo, qwerty_to_hangul
from ._tokenize import is_known_korean

__all__ = ["MAX_QUERY_CHARS", "normalize", "fold", "fold_words"]

#: Queries longer than this many characters are cut before scoring; a search
#: query that long is pasted text, and the cut keeps the cost of one query bounded.
MAX_QUERY_CHARS = 256

# NFKC turns compatibility jamo (ㅈ) into conjoining ones (U+110C) that render
# oddly and no longer compose; map them back so one alphabet remains.
_CONJOINING_TO_COMPAT = {
    **{0x1100 + i: c for i, c in enumerate(_CHO)},
    **{0x1161 + i: c for i, c in enumerate(_JUNG)},
    **{0x11A8 + i: c for i, c in enumerate(_JONG[1:])},
}
_CONJOINING = re.compile("[\u1100-\u11ff]")

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
_SPACES = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")
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


def _qwerty_word(word: str) -> str:
    hangul = qwerty_to_hangul(word)
    return hangul if hangul is not None and is_known_korean(hangul) else word


def _qwerty_keeps(word: str) -> bool:
    """Whether the QWERTY rule leaves a Latin word of 3+ letters alone (asked by the compiled pre-check)."""
    return _qwerty_word(word) == word


def _undo_qwerty(text: str) -> str:
    min_len = 3 if _HANGUL.search(text) else 4

    def convert(match: re.Match[str]) -> str:
        word = match.group(0)
        return word if len(word) < min_len else _qwerty_word(word)

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
        A raw query. Only the first :data:`MAX_QUERY_CHARS` characters are read.

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
    text = text[:MAX_QUERY_CHARS]
    # Rules feed each other (a removed separator lets jamo compose, composed
    # Hangul wedges a separator), so apply them until nothing changes; most
    # queries are already normal and stop after one pass.
    for _ in range(4):
        out = _normalize_once(text)
        if out == text:
            break
        text = out
    return text


def _normalize_once(text: str) -> str:
    # A lone surrogate cannot be encoded, so nothing downstream (MeCab, hashing) could read it.
    text = unicodedata.normalize("NFKC", _SURROGATE.sub("", text))
    if _CONJOINING.search(text):
        text = text.translate(_CONJOINING_TO_COMPAT)
    text = _WEDGED_SEPARATOR.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    if " " in text:
        text = _SPACED_LETTERS.sub(_join_spaced_letters, text)
    if has_loose_jamo(text):
        text = compose_jamo(text)
    for pattern, replacement in _LOOKALIKES:
        text = pattern.sub(replacement, text)
    if _LATIN_WORD.search(text):
        text = _undo_qwerty(text)
    text = text.lower()
    if _LEET_RUN.search(text):
        text = _LEET_RUN.sub(lambda m: m.group(0).translate(_LEET), text)
    return text[:MAX_QUERY_CHARS].strip()


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
