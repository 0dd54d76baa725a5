"""Lexicon features: which harm lexicon's terms a query contains, and how they stand in it.

A model trained with ``lexicon=...`` carries its terms in ``lexicon.tsv`` and
adds, after all other features, one feature per (term kind, position,
category) it finds in the folded query:

``L`` + alone + position + category, e.g. ``L1wsexual``

- *alone* is ``1`` for a term that shows harmful intent on its own (a slur,
  a CSAM slang word) and ``0`` for one that needs an intent word beside it;
- *position* is ``w`` when the term is a whole word of the query, ``e`` when
  it stands apart inside a word and ``i`` when it only sits inside a longer
  word (``びっち`` in ``すといこびっち``). What "stands apart" means is the
  feature setting ``lexicon_position``: ``"space"`` (models before 0.2) says
  the term begins or ends a space-separated word; ``"morpheme"`` says both of
  its ends fall on MeCab's morpheme boundaries (ipadic for Japanese,
  mecab-ko-dic for a word with Hangul). Only ``"morpheme"`` tells
  ``黒人|の``, ``おっぱい|から`` and ``펠라|가`` from ``ストイコビッチ``,
  ``フォーブス`` and ``라펠라``, which MeCab reads as one morpheme each.

The model learns one weight for each, so a term it never saw in training
still counts for its category, and a term inside an unrelated name counts as
little as the data says it should. Analysts can extend the lexicon and
retrain without new labeled rows for every term.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, Union

from ._categories import CATEGORIES
from ._errors import InvalidParameterError, ModelError
from ._normalize import fold_words, normalize
from ._terms import TermMatcher
from ._lang import _HANGUL
from ._tokenize import _WordTable, thread_parse

__all__ = ["LexiconEntry", "LexiconFeatures", "read_lexicon_dir", "lexicon_tsv", "parse_lexicon_tsv", "LEXICON_FILE",
           "LEXICON_POSITIONS", "check_lexicon_position", "morpheme_bounds"]

#: Values of the feature setting ``lexicon_position`` (see the module docstring).
LEXICON_POSITIONS = ("space", "morpheme")


def check_lexicon_position(position: object) -> None:
    """Raise InvalidParameterError unless *position* is one of :data:`LEXICON_POSITIONS`."""
    if position not in LEXICON_POSITIONS:
        raise InvalidParameterError(
            f"lexicon_position must be one of {', '.join(map(repr, LEXICON_POSITIONS))}; got {position!r}")

#: The model file that holds a model's lexicon.
LEXICON_FILE = "lexicon.tsv"
_HEADER = ("term", "category", "alone")
_MAX_TERM_CHARS = 64


@dataclass(frozen=True, order=True)
class LexiconEntry:
    """One term of one category, in the folded form queries are matched in."""

    term: str
    category: str
    alone: bool


def fold_term(text: str) -> str:
    """The folded form a term is stored and matched in (the query pipeline's word view).

    Examples
    --------
    >>> fold_term("ｴﾛ動画"), fold_term("자1살")
    ('えろ動画', '자살')
    """
    return fold_words(normalize(text))


def _category_list(value: str, default: str, where: str, categories: Sequence[str]) -> list[str]:
    names = [c.strip() for c in value.split(",") if c.strip()] if value.strip() else [default]
    for c in names:
        if c not in categories:
            raise InvalidParameterError(f"{where}: unknown category {c!r}; known: {', '.join(categories)}")
    return names


def _alone(value: str, where: str, column: str = "alone") -> bool:
    """A 0/1 column of a lexicon-format file (``alone``, or the modifier review's ``neutral``)."""
    if value.strip() not in ("0", "1"):
        raise InvalidParameterError(f"{where}: {column} must be 0 or 1; got {value!r}")
    return value.strip() == "1"


def read_lexicon_dir(path: str | os.PathLike[str], *, categories: Sequence[str] = CATEGORIES) -> tuple[LexiconEntry, ...]:
    """The ``term`` entries of a lexicon directory laid out like ``data/lexicons/``.

    Reads ``<lang>/<category>.tsv`` (rows of kind ``term``: text, labels,
    alone) and ``<lang>/public_terms.tsv`` (text, labels, alone) for every
    language folder; other files are not terms and are left alone. See
    ``data/lexicons/FORMAT.md``.

    Raises
    ------
    searchsafe.InvalidParameterError
        When the directory holds no lexicon, or a row is malformed (file and line named).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "ja").mkdir()
    >>> _ = (d / "ja" / "hate.tsv").write_text("kind\\ttext\\tlabels\\talone\\tnote\\nterm\\t支那\\t\\t1\\t\\n", "utf-8")
    >>> read_lexicon_dir(d)
    (LexiconEntry(term='支那', category='hate', alone=True),)
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidParameterError(f"{root}: not a lexicon directory (expected <lang>/<category>.tsv files)")
    entries: set[LexiconEntry] = set()
    for lang_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(lang_dir.glob("*.tsv")):
            if f.stem in categories:
                entries.update(_read_category_file(f, f.stem, categories))
            elif f.stem == "public_terms":
                entries.update(_read_public_terms(f, categories))
    if not entries:
        raise InvalidParameterError(f"{root}: no lexicon terms found (expected <lang>/<category>.tsv files "
                                    "with rows of kind 'term'; see data/lexicons/FORMAT.md)")
    return tuple(sorted(entries))


def _rows(f: Path, header: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    try:
        text = f.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidParameterError(f"{f}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    lines = text.splitlines()
    rows = [(i, ln) for i, ln in enumerate(lines, 1) if ln.strip() and not ln.startswith("#")]
    if not rows:
        return
    got = tuple(rows[0][1].split("\t"))
    if got[: len(header)] != header:
        raise InvalidParameterError(f"{f}:{rows[0][0]}: header must start with {' '.join(header)}; got {' '.join(got)}")
    names = got
    for i, ln in rows[1:]:
        parts = ln.split("\t")
        if len(parts) < len(header):
            raise InvalidParameterError(f"{f}:{i}: expected {len(names)} tab-separated fields; got {len(parts)}")
        yield i, dict(zip(names, parts))


def _entries(term: str, labels: str, alone: str, default: str, where: str,
             categories: Sequence[str]) -> list[LexiconEntry]:
    folded = fold_term(term)
    if not folded:
        return []
    a = _alone(alone, where)
    return [LexiconEntry(folded, c, a) for c in _category_list(labels, default, where, categories)]


def _read_category_file(f: Path, category: str, categories: Sequence[str]) -> list[LexiconEntry]:
    out: list[LexiconEntry] = []
    for i, row in _rows(f, ("kind", "text", "labels", "alone")):
        if row["kind"] == "term":
            out += _entries(row["text"], row["labels"], row["alone"], category, f"{f}:{i}", categories)
    return out


def _read_public_terms(f: Path, categories: Sequence[str]) -> list[LexiconEntry]:
    out: list[LexiconEntry] = []
    for i, row in _rows(f, ("text", "labels", "alone")):
        if not row["labels"].strip():
            raise InvalidParameterError(f"{f}:{i}: labels is empty; a public term needs its categories")
        out += _entries(row["text"], row["labels"], row["alone"], "", f"{f}:{i}", categories)
    return out


def lexicon_tsv(entries: Iterable[LexiconEntry]) -> bytes:
    """The bytes of a model's ``lexicon.tsv`` (sorted, so the same lexicon gives the same file).

    Examples
    --------
    >>> lexicon_tsv([LexiconEntry("しね", "harassment", True)])
    b'term\\tcategory\\talone\\n\\xe3\\x81\\x97\\xe3\\x81\\xad\\tharassment\\t1\\n'
    """
    buf = io.StringIO()
    buf.write("\t".join(_HEADER) + "\n")
    for e in sorted(set(entries)):
        buf.write(f"{e.term}\t{e.category}\t{int(e.alone)}\n")
    return buf.getvalue().encode("utf-8")


def parse_lexicon_tsv(data: bytes, where: str, categories: Sequence[str]) -> tuple[LexiconEntry, ...]:
    """Read a model's ``lexicon.tsv`` strictly; a damaged file raises :class:`ModelError` naming the line.

    Examples
    --------
    >>> parse_lexicon_tsv(lexicon_tsv([LexiconEntry("しね", "harassment", True)]), "lexicon.tsv", ["harassment"])
    (LexiconEntry(term='しね', category='harassment', alone=True),)
    >>> parse_lexicon_tsv(b"term\\tcategory\\talone\\nx\\tspam\\t1\\n", "m/lexicon.tsv", ["hate"])
    Traceback (most recent call last):
    ...
    searchsafe._errors.ModelError: m/lexicon.tsv:2: unknown category 'spam'; the model's categories are hate
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start}); the file is damaged") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    out = []
    for i, row in enumerate(reader, 1):
        if i == 1:
            if tuple(row) != _HEADER:
                raise ModelError(f"{where}:1: header must be {' '.join(_HEADER)}; got {' '.join(row)}")
            continue
        if len(row) != 3:
            raise ModelError(f"{where}:{i}: expected 3 tab-separated fields; got {len(row)}")
        term, category, alone = row
        if not term or len(term) > _MAX_TERM_CHARS or term != fold_term(term):
            raise ModelError(f"{where}:{i}: term {term[:80]!r} is not a folded term of 1 to {_MAX_TERM_CHARS} "
                             "characters")
        if category not in categories:
            raise ModelError(f"{where}:{i}: unknown category {category!r}; the model's categories are "
                             f"{', '.join(categories)}")
        if alone not in ("0", "1"):
            raise ModelError(f"{where}:{i}: alone must be 0 or 1; got {alone!r}")
        out.append(LexiconEntry(term, category, alone == "1"))
    if not out:
        raise ModelError(f"{where}: no terms; a lexicon model needs at least one")
    return tuple(out)


# Words with a lexicon hit repeat in traffic as much as any; MeCab reads each once.
_BOUNDS = _WordTable(20_000)


def _bounds_of(word: str, fold: Callable[[str], str] = fold_words) -> frozenset[int]:
    # *fold* is fold_words or its C twin (the compiled path's); both give the same string.
    # The compiled path reads a word its word tables hold from their output in C
    # (raw_bounds in _speedups.c) and calls this only for the others.
    parse = thread_parse("mecab_ko_dic" if _HANGUL.search(word) else "ipadic", "-Owakati")
    pieces = parse(word).split()
    if "".join(pieces) != word:
        return frozenset()  # MeCab dropped or changed characters: no boundary is trusted
    out = {0}
    pos = 0
    folded = []
    for piece in pieces:
        f = fold(piece).replace(" ", "")
        folded.append(f)
        pos += len(f)
        out.add(pos)
    if "".join(folded) != fold(word):
        return frozenset()  # folding crossed a morpheme (a long repeat, wedged digits)
    return frozenset(out)


def morpheme_bounds(word: str, compute: Callable[[str], frozenset[int]] = _bounds_of) -> frozenset[int]:
    """Offsets in ``fold_words(word)`` where MeCab puts a morpheme boundary (both ends included).

    *word* is one space-free word of a normalized query; an empty set means
    the boundaries could not be mapped onto the folded word. *compute* works
    out a word not in the shared table yet (the compiled path passes a
    :func:`_bounds_of` that folds in C; same sets).

    Examples
    --------
    >>> sorted(morpheme_bounds("おっぱいから")), sorted(morpheme_bounds("ストイコビッチ"))
    ([0, 4, 6], [0, 7])
    >>> sorted(morpheme_bounds("펠라가")), sorted(morpheme_bounds("라펠라"))
    ([0, 2, 3], [0, 3])
    """
    if not word:
        return frozenset()
    return _BOUNDS.get(word, compute)


Surface = Union[str, Callable[[], str], None]


class LexiconFeatures:
    """Callable: folded words of a query (``fold_words`` output) in, lexicon feature strings out.

    Examples
    --------
    >>> lex = LexiconFeatures([LexiconEntry("しね", "harassment", True), LexiconEntry("爆弾", "violence", False)])
    >>> lex("しね"), lex("爆弾 作り方"), lex("すといこしねま")
    (['L1wharassment'], ['L0wviolence'], ['L1iharassment'])
    >>> lex("東京 天気")
    []

    With ``position="morpheme"`` a term inside a word counts as ``e`` only
    where it stands as morphemes of its own; the normalized surface (or a
    function that returns it) must come along:

    >>> lex = LexiconFeatures([LexiconEntry("びっち", "harassment", True)], position="morpheme")
    >>> lex("すといこびっち", "ストイコビッチ"), lex("びっちが", "ビッチが")
    (['L1iharassment'], ['L1eharassment'])
    """

    def __init__(self, entries: Iterable[LexiconEntry], *, backend: str = "auto", position: str = "space"):
        check_lexicon_position(position)
        self.position = position
        tags: dict[str, list[tuple[str, str]]] = {}
        for e in sorted(set(entries)):
            tags.setdefault(e.term, []).append(("1" if e.alone else "0", e.category))
        self._matcher = TermMatcher({t: tuple(v) for t, v in tags.items()}, backend=backend)
        self.n_terms = len(tags)

    def table(self) -> tuple[list[str], list[tuple[tuple[int, ...], ...]], list[str]]:
        """``(terms, feature_ids, features)`` for the compiled path's ``lexicon_compile``.

        *features* lists each distinct feature string once; ``feature_ids[t]``
        holds, for term *t* standing as a whole word, apart and inside a word,
        the indices of its features in the order :meth:`__call__` adds them.

        Examples
        --------
        >>> LexiconFeatures([LexiconEntry("しね", "harassment", True)]).table()
        (['しね'], [((0,), (1,), (2,))], ['L1wharassment', 'L1eharassment', 'L1iharassment'])
        """
        features: dict[str, int] = {}
        terms, ids = [], []
        for term, tags in self._matcher.items():
            terms.append(term)
            ids.append(tuple(tuple(features.setdefault("L" + alone + pos + category, len(features))
                                   for alone, category in tags) for pos in "wei"))
        return terms, ids, list(features)

    def __call__(self, folded_words: str, surface: Surface = None) -> list[str]:
        """Lexicon features of one query.

        *folded_words* is ``fold_words(surface)``; *surface* (the normalized
        query, or a function returning it, called only when a term sits inside
        a word) is needed with ``position="morpheme"``.
        """
        found = self._matcher.find(folded_words)
        if not found:
            return []
        n = len(folded_words)
        feats: dict[str, None] = {}
        words: list[str] | None = None
        for start, end, tags in found:
            left = start == 0 or folded_words[start - 1] == " "
            right = end == n or folded_words[end] == " "
            if left and right:
                pos = "w"
            elif self.position == "morpheme" and " " not in folded_words[start:end]:
                if words is None:
                    words = self._surface_words(folded_words, surface)
                k = folded_words.count(" ", 0, start)
                base = folded_words.rfind(" ", 0, start) + 1
                bounds = morpheme_bounds(words[k]) if k < len(words) else frozenset()
                pos = "e" if start - base in bounds and end - base in bounds else "i"
            else:
                pos = "e" if left or right else "i"
            for alone, category in tags:
                feats["L" + alone + pos + category] = None
        return list(feats)

    @staticmethod
    def _surface_words(folded_words: str, surface: Surface) -> list[str]:
        """The surface word behind each folded word, or [] when they do not line up one to one."""
        if callable(surface):
            surface = surface()
        if not surface:
            return []
        pairs = [(w, f) for w in surface.split() if (f := fold_words(w))]
        if [f for _, f in pairs] != folded_words.split():
            return []
        return [w for w, _ in pairs]
