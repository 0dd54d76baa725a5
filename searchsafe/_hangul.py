"""Hangul jamo arithmetic: composition, choseong and two-set (QWERTY) keyboard input."""

from __future__ import annotations

import re
from typing import Callable

__all__ = ["compose_jamo", "choseong", "qwerty_to_hangul", "has_loose_jamo", "is_syllables", "final_consonant"]

_CHO = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_JUNG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_JONG = ["", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"]
_CHO_INDEX = {c: i for i, c in enumerate(_CHO)}
_JUNG_INDEX = {c: i for i, c in enumerate(_JUNG)}
_JONG_INDEX = {c: i for i, c in enumerate(_JONG) if c}
_CONSONANTS = frozenset("ㄱㄲㄳㄴㄵㄶㄷㄸㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅃㅄㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ")
_VOWELS = frozenset(_JUNG)
_VOWEL_PAIRS = {
    ("ㅗ", "ㅏ"): "ㅘ", ("ㅗ", "ㅐ"): "ㅙ", ("ㅗ", "ㅣ"): "ㅚ",
    ("ㅜ", "ㅓ"): "ㅝ", ("ㅜ", "ㅔ"): "ㅞ", ("ㅜ", "ㅣ"): "ㅟ", ("ㅡ", "ㅣ"): "ㅢ",
}
_FINAL_PAIRS = {
    ("ㄱ", "ㅅ"): "ㄳ", ("ㄴ", "ㅈ"): "ㄵ", ("ㄴ", "ㅎ"): "ㄶ", ("ㄹ", "ㄱ"): "ㄺ",
    ("ㄹ", "ㅁ"): "ㄻ", ("ㄹ", "ㅂ"): "ㄼ", ("ㄹ", "ㅅ"): "ㄽ", ("ㄹ", "ㅌ"): "ㄾ",
    ("ㄹ", "ㅍ"): "ㄿ", ("ㄹ", "ㅎ"): "ㅀ", ("ㅂ", "ㅅ"): "ㅄ",
}
_SYLLABLE_FIRST, _SYLLABLE_LAST = 0xAC00, 0xD7A3

# Two-set (Dubeolsik) layout: the key a Korean typist presses for each jamo.
_QWERTY = dict(zip("qwertyuiopasdfghjklzxcvbnm", "ㅂㅈㄷㄱㅅㅛㅕㅑㅐㅔㅁㄴㅇㄹㅎㅗㅓㅏㅣㅋㅌㅊㅍㅠㅜㅡ"))
_QWERTY.update(zip("QWERTOP", "ㅃㅉㄸㄲㅆㅒㅖ"))
_LOOSE_JAMO = re.compile("[\u3131-\u3163]")


def has_loose_jamo(text: str) -> bool:
    """Whether *text* holds a compatibility jamo outside a syllable."""
    return _LOOSE_JAMO.search(text) is not None


def _is_syllable(ch: str) -> bool:
    return _SYLLABLE_FIRST <= ord(ch) <= _SYLLABLE_LAST


def is_syllables(text: str) -> bool:
    """Whether *text* is non-empty and every character of it a precomposed Hangul syllable.

    >>> is_syllables("고양이"), is_syllables("ㄱ나"), is_syllables("")
    (True, False, False)
    """
    return bool(text) and all(map(_is_syllable, text))


def final_consonant(ch: str) -> str:
    """The final consonant (jongseong) of one Hangul syllable: "" when it has none, and for any
    other character or the empty string.

    >>> final_consonant("살"), final_consonant("리"), final_consonant("a"), final_consonant("")
    ('ㄹ', '', '', '')
    """
    if len(ch) != 1 or not _is_syllable(ch):
        return ""
    return _JONG[(ord(ch) - _SYLLABLE_FIRST) % 28]


def _decompose(text: str) -> list[str]:
    out: list[str] = []
    for ch in text:
        if _is_syllable(ch):
            code = ord(ch) - _SYLLABLE_FIRST
            out.append(_CHO[code // 588])
            out.append(_JUNG[(code % 588) // 28])
            if code % 28:
                out.extend(_split_final(_JONG[code % 28]))
        else:
            out.append(ch)
    return out


def _split_final(final: str) -> list[str]:
    for pair, joined in _FINAL_PAIRS.items():
        if joined == final:
            return list(pair)
    return [final]


def compose_jamo(text: str) -> str:
    """Compose loose jamo into syllables the way a two-set keyboard does.

    Syllables next to loose jamo are decomposed first, so a final consonant
    typed apart moves to where a keyboard would put it.

    Examples
    --------
    >>> compose_jamo("ㅈㅏㅅㅏㄹ")
    '자살'
    >>> compose_jamo("자ㅅㅏㄹ")
    '자살'
    >>> compose_jamo("ㅋㅋㅋ")
    'ㅋㅋㅋ'
    """
    if not has_loose_jamo(text):
        return text
    seq = _decompose(text)
    out: list[str] = []
    i, n = 0, len(seq)
    while i < n:
        c = seq[i]
        if c in _CHO_INDEX and i + 1 < n and seq[i + 1] in _VOWELS:
            vowel = seq[i + 1]
            i += 2
            if i < n and (vowel, seq[i]) in _VOWEL_PAIRS:
                vowel = _VOWEL_PAIRS[(vowel, seq[i])]
                i += 1
            final = ""
            if i < n and seq[i] in _JONG_INDEX and not (i + 1 < n and seq[i + 1] in _VOWELS):
                final = seq[i]
                i += 1
                if (
                    i < n
                    and (final, seq[i]) in _FINAL_PAIRS
                    and not (i + 1 < n and seq[i + 1] in _VOWELS)
                ):
                    final = _FINAL_PAIRS[(final, seq[i])]
                    i += 1
            code = (_CHO_INDEX[c] * 21 + _JUNG_INDEX[vowel]) * 28 + (_JONG_INDEX[final] if final else 0)
            out.append(chr(_SYLLABLE_FIRST + code))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def choseong(text: str) -> str:
    """The initial consonants of the Hangul in *text*; loose consonants stay.

    Examples
    --------
    >>> choseong("자살 방법")
    'ㅈㅅㅂㅂ'
    >>> choseong("ㅈㅅ")
    'ㅈㅅ'
    """
    out = []
    for ch in text:
        if _is_syllable(ch):
            out.append(_CHO[(ord(ch) - _SYLLABLE_FIRST) // 588])
        elif ch in _CONSONANTS:
            out.append(ch)
    return "".join(out)


def qwerty_to_hangul(word: str, compose: Callable[[str], str] = compose_jamo) -> str | None:
    """Read a Latin word as Korean typed on a two-set keyboard left in English mode.

    Returns the Hangul when every key composes into a common syllable, else None.
    *compose* is :func:`compose_jamo` or its C twin (the compiled path's).

    Examples
    --------
    >>> qwerty_to_hangul("wktkf")
    '자살'
    >>> qwerty_to_hangul("hello") is None
    True
    """
    jamo = []
    for ch in word:
        j = _QWERTY.get(ch) or _QWERTY.get(ch.lower())
        if j is None:
            return None
        jamo.append(j)
    out = compose("".join(jamo))
    # Meant to keep only KS X 1001's 2,350 everyday syllables, this once asked
    # ch.encode("euc-kr"); but CPython's codec writes every other syllable as
    # an 8-byte KS X 1001 Annex 3 sequence, so every syllable passed, and the
    # codec call cost more than the rest of the check, which runs on each Latin
    # word of a query. The shipped models are trained on that behaviour; keeping
    # only two-byte syllables would change normalization and needs a retrain.
    if not out or any(not _is_syllable(ch) for ch in out):
        return None
    return out
