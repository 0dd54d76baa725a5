"""The review of our lexicons' intent modifiers (``data/lexicons/<lang>/modifiers_review.tsv``).

Each modifier is judged an everyday word (``neutral=1``: 動画, 方法, 무료) or
harmful by itself (``neutral=0``: 無修正, 살해); the note marks the everyday
ones that turn harmful after a word for a minor (下着, 조건). The dataset
build composes the benign background from the everyday ones and the
real-traffic benchmark composes held-out words with them, so both read the
review here, the one place its conventions live.

Nothing here is imported by the scoring path.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._data import DataError

__all__ = ["read_modifier_review"]

#: The note's marker for an everyday modifier that is unsafe after a word for a minor.
MINOR_MARK = "minor"


def read_modifier_review(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """``(everyday, unsafe_after_minor)``: the modifiers the review judges everyday words, sorted,
    and those of them its note marks unsafe after a word for a minor. A missing file reviews nothing.

    The format is that of every lexicon file: UTF-8, tab-separated, one header
    line (``text``, ``neutral``, ``note``), ``#`` comment lines.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "modifiers_review.tsv"
    >>> _ = p.write_text("text\\tneutral\\tnote\\n動画\\t1\\t\\n下着\\t1\\tnot with minor subjects\\n"
    ...                  "殺し方\\t0\\tintent\\n", encoding="utf-8")
    >>> read_modifier_review(p)
    (['下着', '動画'], ['下着'])
    >>> read_modifier_review(p.with_name("missing.tsv"))
    ([], [])
    """
    path = Path(path)
    if not path.is_file():
        return [], []
    with open(path, encoding="utf-8") as f:
        lines = [(i, ln.rstrip("\n")) for i, ln in enumerate(f, 1) if ln.strip() and not ln.startswith("#")]
    if not lines:
        return [], []
    header = [h.strip() for h in lines[0][1].split("\t")]
    missing = [c for c in ("text", "neutral") if c not in header]
    if missing:
        raise DataError(f"{path}:{lines[0][0]}: the header needs the columns text and neutral; "
                        f"missing {', '.join(missing)}")
    everyday, unsafe = set(), set()
    for i, ln in lines[1:]:
        row = dict(zip(header, (p.strip() for p in ln.split("\t"))))
        verdict = row.get("neutral", "")
        if verdict not in ("0", "1"):
            raise DataError(f"{path}:{i}: neutral must be 0 or 1; got {verdict!r}")
        if verdict == "1" and row.get("text"):
            everyday.add(row["text"])
            if MINOR_MARK in row.get("note", ""):
                unsafe.add(row["text"])
    return sorted(everyday), sorted(unsafe)
