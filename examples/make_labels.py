"""Write the small example files used by the README's analyst walkthrough.

    python examples/make_labels.py

Deterministic: the same data/*.jsonl and the same seed give byte-identical files. Rows
are drawn by a stable hash of their own language and text (and the seed), not by their
position, so a rebuilt dataset changes a sample only where it added or removed rows: the
rows it removed leave, the rows it added that rank high enough come in, and as many rows
at the edge of the sample make room or fill the gap; every other sampled row stays.
Rows are sampled from the repo's own dataset (data/train.jsonl for the training
labels, data/test.jsonl for everything else, so the held-out files contain terms
the example model never saw). Rows mapped from public corpora (``source``
``public:...``) are left out, so the examples hold only our own queries.

Files written into ``examples/out/`` (ignored by git: they hold harmful queries,
which are committed only in ``data/``; the README's walkthrough runs there and
writes its models and reports there too):

- ``labels.csv``    4,000 rows from train: text,labels,tags (your labels)
- ``holdout.csv``   1,000 rows from test:  text,labels,tags (labeled data to evaluate on)
- ``queries.txt``   2,000 other test queries, one per line (unlabeled traffic)
- ``labeler_a.csv`` 500 holdout rows as labeled in the dataset
- ``labeler_b.csv`` the same 500 rows as a second labeler saw them: a few
  deterministic disagreements (missed labels, neighbouring categories, and
  hard negatives flagged for the category they resemble)

``labels`` holds the categories separated by commas, empty for benign queries.
``tags`` holds ``hard_negative`` for benign queries that look harmful and
``evasion:<kind>`` for disguised spellings, separated by commas.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Iterator, TextIO

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DATA = HERE.parent / "data"

CATEGORIES = ("child_safety", "self_harm", "violence", "violent_extremism",
              "hate", "harassment", "sexual", "animal_cruelty")
# Categories a second labeler may confuse with each other.
NEIGHBOURS = {"hate": "harassment", "harassment": "hate",
              "violence": "violent_extremism", "violent_extremism": "violence"}


def read_rows(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            text = rec["text"]
            if rec.get("source", "").startswith("public") or not text.strip() or "\n" in text or "\r" in text:
                continue
            rows.append(rec)
    return rows


def row_id(rec: dict, seed: int, salt: str) -> str:
    """What a row's draws are seeded with: the seed, the draw's name, and the row's own language and text."""
    return f"{seed}\t{salt}\t{rec['lang']}\t{rec['text']}"


def rank(rows: list[dict], seed: int, salt: str) -> list[int]:
    """Positions of *rows* ordered by a stable hash of each row's language and text.

    A row's place depends on nothing but itself, so adding or removing other
    rows in data/ leaves every other row's order as it was: the samples below
    stay mostly the same across dataset rebuilds (a positional draw changed
    them all, and with them every figure of the README walkthrough).
    """
    def key(i: int) -> tuple[bytes, int]:
        return hashlib.blake2b(row_id(rows[i], seed, salt).encode("utf-8"), digest_size=8).digest(), i

    return sorted(range(len(rows)), key=key)


def sample(rows: list[dict], k: int, seed: int, salt: str) -> list[dict]:
    """The k rows that rank first for (seed, salt), kept in file order."""
    return [rows[i] for i in sorted(rank(rows, seed, salt)[:k])]


def row_random(rec: dict, seed: int, salt: str) -> random.Random:
    """A generator seeded by the row itself: its draws do not depend on the other rows."""
    return random.Random(row_id(rec, seed, salt))


def tags_of(rec: dict) -> str:
    """``hard_negative`` and ``evasion:<kind>`` tags, separated by commas."""
    return ",".join(t for t in rec.get("tags") or [] if t == "hard_negative" or t.startswith("evasion:"))


@contextlib.contextmanager
def atomic(path: Path, *, newline: str | None = "") -> Iterator[TextIO]:
    """Write *path* whole or not at all: an interrupted run never leaves a half file a walkthrough would read."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline=newline) as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(path: Path, rows: list[tuple[str, list[str], str]]) -> None:
    with atomic(path) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "labels", "tags"])
        for text, labels, tags in rows:
            w.writerow([text, ",".join(labels), tags])


def second_labeler(rows: list[dict], seed: int) -> list[list[str]]:
    """The labels of a second, slightly different labeler."""
    out = []
    for rec in rows:
        labels = list(rec["labels"])
        r = row_random(rec, seed, "labeler_b").random()
        if labels and r < 0.04:                      # missed one label
            labels = labels[1:]
        elif labels and r < 0.10:                    # chose a neighbouring category
            labels = sorted({NEIGHBOURS.get(c, c) for c in labels}, key=CATEGORIES.index)
        elif not labels and "hard_negative" in tags_of(rec) and r < 0.06:
            # flagged a hard negative for the category it resembles ("ja:violence:term:...")
            looks_like = rec.get("group", "").split(":")[1:2]
            if looks_like and looks_like[0] in CATEGORIES:
                labels = looks_like
        out.append(labels)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--out", type=Path, default=OUT, help="directory to write into (default: examples/out)")
    args = p.parse_args()

    seed = args.seed
    train = read_rows(DATA / "train.jsonl")
    test = read_rows(DATA / "test.jsonl")

    labels = sample(train, 4000, seed, "labels")
    picked = rank(test, seed, "test")[:3000]
    holdout = [test[i] for i in sorted(picked[:1000])]    # 1,000 rows
    traffic = [test[i] for i in sorted(picked[1000:])]    # the other 2,000
    pair = sample(holdout, 500, seed, "pair")

    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "labels.csv", [(r["text"], r["labels"], tags_of(r)) for r in labels])
    write_csv(args.out / "holdout.csv", [(r["text"], r["labels"], tags_of(r)) for r in holdout])
    with atomic(args.out / "queries.txt") as f:
        f.writelines(r["text"] + "\n" for r in traffic)
    write_csv(args.out / "labeler_a.csv", [(r["text"], r["labels"], tags_of(r)) for r in pair])
    write_csv(args.out / "labeler_b.csv",
              [(r["text"], b, tags_of(r)) for r, b in zip(pair, second_labeler(pair, seed))])

    for name in ("labels.csv", "holdout.csv", "queries.txt", "labeler_a.csv", "labeler_b.csv"):
        path = args.out / name
        with path.open(encoding="utf-8") as f:
            n = sum(1 for _ in f) - (name != "queries.txt")
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path} ({n} rows)")


if __name__ == "__main__":
    main()
