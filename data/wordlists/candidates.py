#!/usr/bin/env python
"""List the frequent words whose harmfulness needs a human judgement.

    python data/wordlists/candidates.py [--top 20000] [--lang ja ko] [--out-dir data/wordlists]

For each language, the candidates are the ``--top`` most frequent words of
``wordfreq`` that either contain (or equal) a term or phrase of our lexicons
(``data/lexicons/{lang}/{category}.tsv``, kinds ``term``/``phrase``) or of
``data/lexicons/{lang}/public_terms.tsv``, or that the current default model
flags when typed alone. They are written to ``candidates_{lang}.tsv`` with the
reason, so that ``reviewed_{lang}.tsv`` (the human judgement) can be extended
when the lexicons, the model or wordfreq change: a candidate without a row in
the review is printed as ``unreviewed``.

Matching is on NFKC-folded, lower-cased text, so "ＳＥＸ" contains "sex". The
output is deterministic for a given wordfreq version, lexicon and model.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

CATEGORIES = (
    "child_safety", "self_harm", "violence", "violent_extremism", "hate", "harassment", "sexual", "animal_cruelty",
)


def fold(text: str) -> str:
    """NFKC and lower case: the form terms and words are matched in.

    >>> fold("ＳＥＸ")
    'sex'
    """
    return unicodedata.normalize("NFKC", text).lower().strip()


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a tab-separated file with a header line; ``#`` lines are comments."""
    with open(path, encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


def harmful_terms(lang: str, lexicons: Path) -> dict[str, str]:
    """Folded term -> where it comes from (``sexual.tsv`` or ``public_terms.tsv``)."""
    terms: dict[str, str] = {}
    for cat in CATEGORIES:
        path = lexicons / lang / f"{cat}.tsv"
        if not path.exists():
            continue
        for row in read_tsv(path):
            if row.get("kind") in ("term", "phrase") and row.get("text"):
                terms.setdefault(fold(row["text"]), f"{cat}.tsv")
    public = lexicons / lang / "public_terms.tsv"
    if public.exists():
        for row in read_tsv(public):
            if row.get("text"):
                terms.setdefault(fold(row["text"]), "public_terms.tsv")
    terms.pop("", None)
    return terms


def term_hits(words: list[str], terms: dict[str, str]) -> list[list[str]]:
    """For each word, the sorted terms it contains (Aho-Corasick over the folded word)."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for term in terms:
        automaton.add_word(term, term)
    automaton.make_automaton()
    return [sorted({t for _, t in automaton.iter(fold(w))}) for w in words]


def model_flags(words: list[str], lang: str) -> list[list[str]]:
    """For each word typed alone, the categories the default model flags."""
    import searchsafe

    clf = searchsafe.load()
    flags = clf.predict_batch(words, lang=lang)
    return [[c for c, f in zip(clf.categories, row) if f] for row in flags.tolist()]


def reviewed(path: Path) -> set[str]:
    """Words that already have a judgement in ``reviewed_{lang}.tsv``."""
    return {row["text"] for row in read_tsv(path)} if path.exists() else set()


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, then replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def candidates(lang: str, top: int, lexicons: Path) -> list[tuple[int, str, float, str, str]]:
    """(rank, word, zipf, contained terms, model flags) for every candidate, by frequency rank."""
    import wordfreq

    words = wordfreq.top_n_list(lang, top)
    hits = term_hits(words, harmful_terms(lang, lexicons))
    flags = model_flags(words, lang)
    out = []
    for rank, (w, h, f) in enumerate(zip(words, hits, flags), 1):
        if h or f:
            out.append((rank, w, wordfreq.zipf_frequency(w, lang), ",".join(h), ",".join(f)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top", type=int, default=20000, help="how many wordfreq words per language (default 20000)")
    ap.add_argument("--lang", nargs="+", default=["ja", "ko"], choices=["ja", "ko"])
    ap.add_argument("--out-dir", type=Path, default=ROOT / "data" / "wordlists")
    ap.add_argument("--lexicons", type=Path, default=ROOT / "data" / "lexicons")
    args = ap.parse_args(argv)
    if args.top < 1:
        print(f"candidates.py: --top must be at least 1, got {args.top}", file=sys.stderr)
        return 2
    if not args.out_dir.is_dir():
        print(f"candidates.py: output folder {args.out_dir} does not exist; create it or pass --out-dir", file=sys.stderr)
        return 2
    try:
        import ahocorasick  # noqa: F401
        import wordfreq  # noqa: F401
    except ImportError as exc:
        print(f"candidates.py: needs {exc.name} (pip install wordfreq pyahocorasick)", file=sys.stderr)
        return 2
    for lang in args.lang:
        rows = candidates(lang, args.top, args.lexicons)
        body = "rank\ttext\tzipf\tcontains\tmodel_flags\n" + "".join(
            f"{r}\t{w}\t{z:.2f}\t{h}\t{f}\n" for r, w, z, h, f in rows
        )
        write_atomic(args.out_dir / f"candidates_{lang}.tsv", body)
        done = reviewed(args.out_dir / f"reviewed_{lang}.tsv")
        todo = [w for _, w, _, _, _ in rows if w not in done]
        print(f"{lang}: {len(rows)} candidates of the top {args.top}, {len(todo)} unreviewed")
        for w in todo[:20]:
            print(f"  unreviewed: {w}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
