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

from ._lexicon import _alone, _rows

__all__ = ["read_modifier_review"]

#: The note's marker for an everyday modifier that is unsafe after a word for a minor.
MINOR_MARK = "minor"


def read_modifier_review(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """``(everyday, unsafe_after_minor)``: the modifiers the review judges everyday words, sorted,
    and those of them its note marks unsafe after a word for a minor. A missing file reviews nothing.

    The format is that of every lexicon file: UTF-8, tab-separated, one header
    line (``text``, ``neutral``, ``note``), ``#`` comment lines; it is read,
    and its errors named, by the same code as the lexicons.

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
    everyday, unsafe = set(), set()
    for i, row in _rows(path, ("text", "neutral")):
        text = row["text"].strip()
        if _alone(row["neutral"], f"{path}:{i}", "neutral") and text:
            everyday.add(text)
            if MINOR_MARK in row.get("note", ""):
                unsafe.add(text)
    return sorted(everyday), sorted(unsafe)
