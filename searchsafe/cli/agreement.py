"""``searchsafe agreement``: inter-annotator agreement (Cohen's / Fleiss' kappa)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

import numpy as np

from ._util import (
    CliError, EXIT_FOUND, EXIT_OK, add_labeled_input, add_quiet, category_list, check_output, csv_encoding,
    kappa_bound, labeled_reader, output, write_text,
)

COMMANDS = ("agreement",)


def add_parser(sub: Any) -> None:
    """Add the ``agreement`` command to the subparsers *sub*."""
    p = sub.add_parser("agreement", help="inter-annotator agreement per category",
                       description="Agreement between labelers who labeled the same queries, one file each: "
                       "Cohen's kappa per category for two files, Fleiss' kappa for three or more, and the items "
                       "they disagree on. Rows are aligned by text, or by --id-column.")
    p.add_argument("labels", nargs="+", metavar="LABELS")
    p.add_argument("--categories", type=category_list, metavar="A,B,...",
                   help="categories; default the taxonomy's eight (or the 0/1 columns of the first file)")
    p.add_argument("--out", metavar="FILE", help="write the JSON here (atomically) instead of stdout")
    p.add_argument("--disagreements", metavar="FILE.csv", help="also write the disagreements as CSV")
    p.add_argument("--min-kappa", type=kappa_bound, metavar="K",
                   help="exit 1 if any category's kappa is below K")
    add_labeled_input(p, id_column=True)
    add_quiet(p)
    p.set_defaults(func=run)


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's kappa of two raters' binary labels; None when chance agreement is total.

    Examples
    --------
    >>> cohen_kappa(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    0.5
    >>> cohen_kappa(np.array([0, 0]), np.array([0, 0])) is None
    True
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    observed = float((a == b).mean())
    pa, pb = float(a.mean()), float(b.mean())
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1 - 1e-12:
        return None
    return round((observed - expected) / (1 - expected), 4)


def fleiss_kappa(votes: np.ndarray) -> float | None:
    """Fleiss' kappa of binary votes, shape (items, raters); None when chance agreement is total.

    Examples
    --------
    >>> fleiss_kappa(np.array([[1, 1, 1], [0, 0, 0], [1, 1, 0], [0, 0, 0]]))
    0.6571
    """
    votes = np.asarray(votes, dtype=bool)
    n, m = votes.shape
    pos = votes.sum(axis=1).astype(float)
    neg = m - pos
    per_item = (pos * (pos - 1) + neg * (neg - 1)) / (m * (m - 1))
    p1 = pos.sum() / (n * m)
    expected = p1 ** 2 + (1 - p1) ** 2
    if expected >= 1 - 1e-12:
        return None
    return round((float(per_item.mean()) - float(expected)) / (1 - float(expected)), 4)


def run(args: argparse.Namespace) -> int:
    """Inter-annotator agreement per category and the items the labelers disagree on."""
    from .._ooc import display_name

    files = args.labels
    if len(files) < 2:
        raise CliError(f"agreement needs at least two label files, one per labeler; got {len(files)}")
    if len(set(files)) != len(files) or files.count("-") > 1:
        raise CliError("each label file may be given once")
    check_output(args.out)
    check_output(args.disagreements)
    cats = args.categories
    against = "--categories" if cats else ""
    tables: list[dict[str, Any]] = []
    for source in files:
        reader = labeled_reader(args, source, cats, against or f"the first file ({display_name(files[0])})",
                         id_column=args.id_column)
        table: dict[str, Any] = {}
        for row in reader:
            if row.key in table:
                hint = "" if args.id_column else " (align with --id-column)"
                raise CliError(f"{row.where}: duplicate item {row.key!r} (also at {table[row.key].where}); "
                               f"each item may appear once per file{hint}")
            table[row.key] = row
        cats = reader.categories
        tables.append(table)
    assert cats is not None
    common = [key for key in tables[0] if all(key in t for t in tables[1:])]
    if not common:
        aligned = f"--id-column {args.id_column}" if args.id_column else "text"
        raise CliError(f"no item appears in every file (aligned by {aligned})")
    index = {c: j for j, c in enumerate(cats)}
    votes = np.zeros((len(common), len(files), len(cats)), dtype=bool)
    for f, table in enumerate(tables):
        for i, key in enumerate(common):
            for label in table[key].labels:
                votes[i, f, index[label]] = True
    names = [display_name(s) for s in files]
    method = "cohen" if len(files) == 2 else "fleiss"
    per_category: dict[str, Any] = {}
    for j, c in enumerate(cats):
        v = votes[:, :, j]
        kappa = cohen_kappa(v[:, 0], v[:, 1]) if method == "cohen" else fleiss_kappa(v)
        per_category[c] = {
            "kappa": kappa,
            "observed_agreement": round(float((v.all(axis=1) | ~v.any(axis=1)).mean()), 4),
            "positives": {name: int(v[:, f].sum()) for f, name in enumerate(names)},
            "disagreements": int((v.any(axis=1) & ~v.all(axis=1)).sum()),
        }
    disagreements = []
    for i, key in enumerate(common):
        split = [j for j in range(len(cats)) if votes[i, :, j].any() and not votes[i, :, j].all()]
        if split:
            disagreements.append({
                "item": key,
                "text": tables[0][key].text,
                "where": {name: tables[f][key].where for f, name in enumerate(names)},
                "categories": {cats[j]: {name: int(votes[i, f, j]) for f, name in enumerate(names)} for j in split},
            })
    result = {
        "files": names,
        "method": "Cohen's kappa" if method == "cohen" else "Fleiss' kappa",
        "aligned_by": args.id_column or "text",
        "n_items": len(common),
        "unmatched": {name: len(t) - len(common) for name, t in zip(names, tables)},
        "categories": per_category,
        "n_disagreements": len(disagreements),
        "disagreements": disagreements,
    }
    json_text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    if args.disagreements:
        with output(args.disagreements, encoding=csv_encoding(args.disagreements), newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["item", "text", "category", *names])
            for d in disagreements:
                for c, v in d["categories"].items():
                    w.writerow([d["item"], d["text"], c, *(v[name] for name in names)])
    write_text(args.out, json_text)
    if not args.quiet:
        labeled_by = "both files" if len(files) == 2 else f"all {len(files)} files"
        lines = [f"{len(common)} items labeled by {labeled_by}; {result['method']}; "
                 f"{len(disagreements)} items with a disagreement"]
        skipped = {n: k for n, k in result["unmatched"].items() if k}
        if skipped:
            lines.append("not in every file (left out): " + ", ".join(f"{n} {k}" for n, k in skipped.items()))
        for c, m in per_category.items():
            k = m["kappa"]
            lines.append(f"{c:<20} kappa {'n/a' if k is None else f'{k:+.3f}'}  "
                         f"agreement {m['observed_agreement']:.3f}  disagreements {m['disagreements']}")
        print("\n".join(lines), file=sys.stderr)
    if args.min_kappa is not None:
        low = [c for c, m in per_category.items() if m["kappa"] is not None and m["kappa"] < args.min_kappa]
        if low:
            print(f"searchsafe: --min-kappa {args.min_kappa}: below it: "
                  + ", ".join(f"{c} ({per_category[c]['kappa']})" for c in low), file=sys.stderr)
            return EXIT_FOUND
    return EXIT_OK
