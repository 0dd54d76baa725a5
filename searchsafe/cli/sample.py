"""``searchsafe sample``: a stratified, reproducible audit sample as CSV."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

import numpy as np

from ._util import (
    EXIT_OK, add_query_input, add_quiet, check_output, csv_encoding, iter_queries, load_model, output,
    positive_float, positive_int, score_all, thresholds_of, unit_interval,
)

COMMANDS = ("sample",)


def add_parser(sub: Any) -> None:
    """Add the ``sample`` command to the subparsers *sub*."""
    p = sub.add_parser("sample", help="a stratified audit sample as CSV",
                       description="Draw an audit sample stratified by category and score band, with the "
                       "uncertain band over-sampled; reproducible from --seed. A query's stratum is the category "
                       "whose score is closest to (or furthest above) its threshold, with the band of that score: "
                       "uncertain (within --uncertain-width of the threshold) or high; queries far below every "
                       "threshold form the stratum none/low. Draws go to strata in proportion to the square root "
                       "of their size, times --oversample for uncertain ones; the weight column says how many "
                       "queries each sampled one stands for. The CSV has empty audit_labels and audit_notes "
                       "columns for the labelers.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--n", type=positive_int, required=True, help="sample size")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.add_argument("--out", metavar="FILE.csv", help="write here (atomically) instead of stdout")
    p.add_argument("--uncertain-width", type=unit_interval, default=0.1, metavar="W",
                   help="a score within W of its threshold is in the uncertain band (default: 0.1)")
    p.add_argument("--oversample", type=positive_float, default=3.0, metavar="X",
                   help="weight of the uncertain strata relative to the others (default: 3)")
    p.add_argument("--blind", action="store_true", help="leave the model's scores and flags out of the CSV")
    add_query_input(p)
    add_quiet(p)
    p.set_defaults(func=run)


_BANDS = ("low", "uncertain", "high")


def _allocate(sizes: dict[Any, int], weights: dict[Any, float], n: int) -> dict[Any, int]:
    """Split *n* draws across strata in proportion to *weights*, capped at each stratum's size.

    Examples
    --------
    >>> _allocate({"a": 100, "b": 2, "c": 100}, {"a": 1, "b": 1, "c": 3}, 10)
    {'a': 2, 'b': 2, 'c': 6}
    """
    alloc = {s: 0 for s in sizes}
    active = [s for s in sizes if sizes[s] > 0]
    remaining = min(n, sum(sizes.values()))
    while remaining > 0 and active:
        total_w = sum(weights[s] for s in active)
        share = {s: remaining * weights[s] / total_w for s in active}
        capped = [s for s in active if alloc[s] + share[s] >= sizes[s]]
        if capped:
            for s in capped:
                remaining -= sizes[s] - alloc[s]
                alloc[s] = sizes[s]
            active = [s for s in active if s not in capped]
            continue
        floors = {s: int(share[s]) for s in active}
        for s in active:
            alloc[s] += floors[s]
        left = remaining - sum(floors.values())
        # Largest remainder first; ties in stratum order, so the result is deterministic.
        for s in sorted(active, key=lambda s: -(share[s] - floors[s]))[:left]:
            alloc[s] += 1
        remaining = 0
    return alloc


def run(args: argparse.Namespace) -> int:
    """A stratified, reproducible audit sample as CSV."""
    check_output(args.out)
    clf = load_model(args.model)
    cats = clf.categories
    queries = list(iter_queries(args.data, args.format, args.text_column, args.id_column))
    P = score_all(args, clf, [q.text for q in queries])
    thresholds = thresholds_of(clf)
    margin = P - thresholds
    top = margin.argmax(axis=1)
    top_margin = margin[np.arange(len(queries)), top]
    band = np.where(np.abs(top_margin) <= args.uncertain_width, 1, np.where(top_margin > 0, 2, 0))
    # A query's stratum: the category whose score is closest to (or furthest above) its threshold,
    # with the band of that score; queries far below every threshold form one stratum, none/low.
    strata: list[tuple[str, str]] = [("none", "low")] + [(c, b) for c in cats for b in ("uncertain", "high")]
    members: dict[tuple[str, str], list[int]] = {s: [] for s in strata}
    for i in range(len(queries)):
        members[("none", "low") if band[i] == 0 else (cats[top[i]], _BANDS[band[i]])].append(i)
    sizes = {s: len(members[s]) for s in strata}
    # Square-root allocation: between proportional (the big unflagged stratum takes everything)
    # and equal (it gets too few to estimate misses); the uncertain band counts --oversample times.
    weights = {s: (args.oversample if s[1] == "uncertain" else 1.0) * sizes[s] ** 0.5 for s in strata}
    alloc = _allocate(sizes, weights, args.n)
    rng = np.random.default_rng(args.seed)
    chosen: list[tuple[int, tuple[str, str]]] = []
    for s in strata:
        if alloc[s]:
            picks = rng.choice(len(members[s]), size=alloc[s], replace=False)
            chosen.extend((members[s][p], s) for p in sorted(picks))
    order = rng.permutation(len(chosen))
    has_id = any(q.id is not None for q in queries)
    header = ["sample_id", "text", "where"] + (["id"] if has_id else [])
    if not args.blind:
        header += ["stratum", "category", "band", "score", "threshold", "model_flags", "weight"]
    header += ["audit_labels", "audit_notes"]
    with output(args.out, encoding=csv_encoding(args.out), newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for sample_id, k in enumerate(order, 1):
            i, s = chosen[k]
            q = queries[i]
            row: list[Any] = [sample_id, q.text, q.where] + ([q.id or ""] if has_id else [])
            if not args.blind:
                j = int(top[i])
                row += [f"{s[0]}/{s[1]}", cats[j], s[1], f"{P[i, j]:.4f}",
                        f"{thresholds[j]:.4f}", ",".join(c for c, p, t in zip(cats, P[i], thresholds) if p >= t),
                        f"{sizes[s] / alloc[s]:.3f}"]
            row += ["", ""]
            w.writerow(row)
    if not args.quiet:
        lines = [f"sampled {len(chosen)} of {len(queries)} queries (seed {args.seed})",
                 f"{'stratum':<32} {'queries':>8} {'sampled':>8}"]
        for s in strata:
            if sizes[s]:
                lines.append(f"{s[0] + '/' + s[1]:<32} {sizes[s]:>8} {alloc[s]:>8}")
        if args.out not in (None, "-"):
            lines.append(f"wrote {args.out}")
        print("\n".join(lines), file=sys.stderr)
    return EXIT_OK
