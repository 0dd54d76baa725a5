"""``searchsafe labelers``: each labeler's quality against a gold file (quiz and audit)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._pages import add_page_outputs, page_outputs, write_pages
from ._util import (
    CliError, EXIT_OK, add_labeled_input, add_quiet, category_list, labeled_reader, positive_int, unit_interval,
)

COMMANDS = ("labelers",)


def add_parser(sub: Any) -> None:
    """Add the ``labelers`` command to the subparsers *sub*."""
    p = sub.add_parser(
        "labelers", help="labeler quality against a gold file: kappa, confusions, pass/fail",
        description="Compare each labeler's file with a gold (adjudicated) file of the same items: per labeler "
        "and category precision, recall, accuracy and Cohen's kappa with gold, the categories they confuse, their "
        "worst items for coaching (most severe first), and pass or fail against --pass-accuracy (the share of gold "
        "items whose categories all match; an item left unlabeled counts as wrong). Rows are aligned by text, or "
        "by --id-column. 'agreement' compares labelers with each other. Without --json or --html, JSON goes to "
        "stdout.")
    p.add_argument("gold", metavar="GOLD")
    p.add_argument("labelers", nargs="+", metavar="LABELER_FILE", help="one file per labeler")
    add_page_outputs(p, "labeler report")
    p.add_argument("--pass-accuracy", type=unit_interval, default=0.9, metavar="A",
                   help="accuracy a labeler needs to pass (default: 0.9)")
    p.add_argument("--max-items", type=positive_int, default=20, metavar="N",
                   help="worst items listed per labeler (default: 20)")
    p.add_argument("--categories", type=category_list, metavar="A,B,...",
                   help="categories; default the taxonomy's eight (or the 0/1 columns of GOLD)")
    add_labeled_input(p, id_column=True)
    add_quiet(p)
    p.set_defaults(func=run)


def _read(args: argparse.Namespace, source: str, cats: Any, against: str) -> tuple[list[Any], Any]:
    reader = labeled_reader(args, source, cats, against, id_column=args.id_column)
    rows: dict[str, Any] = {}
    for row in reader:
        if row.key in rows:
            hint = "" if args.id_column else " (align with --id-column)"
            raise CliError(f"{row.where}: duplicate item {row.key!r} (also at {rows[row.key].where}); "
                           f"each item may appear once per file{hint}")
        rows[row.key] = row
    return list(rows.values()), reader.categories


def run(args: argparse.Namespace) -> int:
    """Score each labeler against gold and write the report."""
    from .._labelers import labeler_quality
    from .._ooc import display_name
    from .._opsreport import render_labelers

    files = [args.gold, *args.labelers]
    if len(set(files)) != len(files) or files.count("-") > 1:
        raise CliError("each file may be given once (GOLD and every LABELER_FILE)")
    json_path, html_path = page_outputs(args)
    gold, cats = _read(args, args.gold, args.categories, "--categories" if args.categories else "")
    against = f"the gold file ({display_name(args.gold)})"
    # Labelers are named by their file's stem (quiz_akiko.csv -> quiz_akiko) unless two stems clash.
    stems = [Path(s).stem if s != "-" else display_name(s) for s in args.labelers]
    names = stems if len(set(stems)) == len(stems) else [display_name(s) for s in args.labelers]
    labelers = {}
    for name, source in zip(names, args.labelers):
        rows, _ = _read(args, source, cats, against)
        labelers[name] = rows
    result = labeler_quality(gold, labelers, cats, pass_accuracy=args.pass_accuracy, max_items=args.max_items)
    result["gold"] = display_name(args.gold)
    said = write_pages(json_path, html_path, result, render_labelers)
    if not args.quiet:
        lines = [f"{result['n_gold']} gold items; {result['passed']} of {len(labelers)} labelers pass at accuracy "
                 f">= {args.pass_accuracy}"]
        for name, q in result["labelers"].items():
            top = q["confusions"][0] if q["confusions"] else None
            lines.append(f"{name:<24} accuracy {q['accuracy']:.3f}  {'pass' if q['passed'] else 'FAIL'}  "
                         f"wrong {q['n_wrong']}, unanswered {q['unanswered']}"
                         + (f"; most confused: {top['gold']} -> {top['labeled']} ({top['count']})" if top else ""))
        print("\n".join(lines + said), file=sys.stderr)
    return EXIT_OK
