"""Per-query language detection from the scripts a query is written in."""

from __future__ import annotations

import re

__all__ = ["LANGUAGES", "detect_language"]

#: Values :func:`detect_language` returns and ``lang=`` accepts.
LANGUAGES = ("ja", "ko", "mixed", "other")

_HANGUL = re.compile("[\uac00-\ud7a3\u3131-\u318e\u1100-\u11ff]")
_KANA = re.compile("[\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_KANJI = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def detect_language(text: str) -> str:
    """Guess a query's language from its script.

    Hangul means Korean, kana or kanji means Japanese, both means ``"mixed"``
    and anything else (Latin, digits, other scripts) ``"other"``. Korean text
    may carry hanja, so kanji next to Hangul without kana still counts as Korean.

    Examples
    --------
    >>> detect_language("猫 飼い方")
    'ja'
    >>> detect_language("고양이 키우기")
    'ko'
    >>> detect_language("ラーメン 라면")
    'mixed'
    >>> detect_language("kill bill")
    'other'
    """
    hangul = _HANGUL.search(text) is not None
    kana = _KANA.search(text) is not None
    if hangul:
        return "mixed" if kana else "ko"
    if kana or _KANJI.search(text) is not None:
        return "ja"
    return "other"
