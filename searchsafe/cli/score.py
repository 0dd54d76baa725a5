"""``searchsafe score``: stream queries through a model, JSON Lines of scores and flags out."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from ._util import (
    BATCH_SIZE, CliError, DEFAULT_MODEL, EXIT_FOUND, EXIT_OK, add_query_input, add_quiet, check_categories,
    check_output, iter_queries, load_model, output, positive_int, progress, say, thresholds_of,
)

COMMANDS = ("score",)


def add_parser(sub: Any) -> None:
    """Add the ``score`` command to the subparsers *sub*."""
    p = sub.add_parser("score", help="score queries; JSON Lines of scores and flags on stdout",
                       description="Score queries (one per line, or a column of a table file) and write one JSON "
                       "object per query: line, text, scores, flagged. Streams in batches: memory stays flat.")
    p.add_argument("input", nargs="?", default="-", metavar="FILE", help="queries; '-' or nothing for stdin")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model directory or 'default' (default: default)")
    p.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--fail-on", action="append", default=[], metavar="CATEGORY",
                   help="exit 1 if any query is flagged for CATEGORY (repeatable)")
    p.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE, metavar="N",
                   help=f"queries scored per batch (default: {BATCH_SIZE})")
    add_query_input(p)
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Stream queries through a model and write JSON Lines of scores and flags."""
    from .._ooc import batched
    if args.format == "lines" and args.id_column:
        raise CliError("--id-column needs a table input (csv, tsv, jsonl, parquet), not one query per line")
    clf = load_model(args.model)
    cats = clf.categories
    fail_on = [cats.index(c) for c in check_categories(args.fail_on, cats, "--fail-on")]
    check_output(args.out)
    thresholds = thresholds_of(clf)
    flagged_counts = np.zeros(len(cats), dtype=np.int64)
    n = 0
    with output(args.out) as out, progress(args, desc="scoring") as bar:
        for block in batched(iter_queries(args.input, args.format, args.text_column, args.id_column),
                              args.batch_size):
            P = clf.score_batch([q.text for q in block])
            F = P >= thresholds
            flagged_counts += F.sum(axis=0)
            lines = []
            for q, p, f in zip(block, P, F):
                rec: dict[str, Any] = {"line": q.lineno}
                if q.id is not None:
                    rec["id"] = q.id
                rec["text"] = q.text
                rec["scores"] = {c: round(float(x), 6) for c, x in zip(cats, p)}
                rec["flagged"] = [c for c, x in zip(cats, f) if x]
                lines.append(json.dumps(rec, ensure_ascii=False))
            out.write("\n".join(lines) + "\n")
            out.flush()
            n += len(block)
            bar.update(len(block))
    summary = ", ".join(f"{c} {int(k)}" for c, k in zip(cats, flagged_counts) if k) or "none"
    say(args, f"scored {n} queries; flagged: {summary}")
    hits = [cats[j] for j in fail_on if flagged_counts[j]]
    if hits:
        counts = ", ".join(f"{c} ({int(flagged_counts[cats.index(c)])})" for c in hits)
        print(f"searchsafe: --fail-on: queries flagged for {counts}", file=sys.stderr)
        return EXIT_FOUND
    return EXIT_OK
