"""``searchsafe rca``: a model's errors on labeled data grouped by cause, with the fix each suggests."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._pages import add_page_outputs, page_outputs, write_pages
from ._util import EXIT_OK, add_labeled_input, add_quiet, load_model, positive_int, read_labeled

COMMANDS = ("rca",)


def add_parser(sub: Any) -> None:
    """Add the ``rca`` command to the subparsers *sub*."""
    p = sub.add_parser(
        "rca", help="root-cause analysis: a model's errors grouped by cause (HTML and JSON)",
        description="Score labeled data and group the false positives and false negatives (one per query and "
        "category) by cause: the feature that drove the score, the language, the query's length, the evasion "
        "kind, the hard-negative family (the first three parts of the 'group' column) and category confusion. "
        "Each cause has its count, share, examples and the fix it suggests; specific causes are ranked by how "
        "many errors they explain. Without --json or --html, JSON goes to stdout.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", nargs="+", metavar="LABELED")
    add_page_outputs(p, "root-cause analysis")
    p.add_argument("--max-examples", type=positive_int, default=5, metavar="N",
                   help="examples per cause (default: 5)")
    p.add_argument("--min-count", type=positive_int, default=2, metavar="N",
                   help="errors a specific cause must explain to be ranked (default: 2)")
    add_labeled_input(p)
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Group a model's errors by cause and write the analysis."""
    from .._opsreport import render_rca
    from .._rca import root_causes

    json_path, html_path = page_outputs(args)
    clf = load_model(args.model)
    data = read_labeled(args, args.data, clf.categories, f"the model {args.model}")
    result = root_causes(clf, data.rows, max_examples=args.max_examples, min_count=args.min_count)
    result["data"] = list(args.data)
    said = write_pages(json_path, html_path, result, render_rca)
    if not args.quiet:
        ne = result["n_errors"]
        lines = [f"{result['n']} queries: {ne['false_positive']} false positives, {ne['false_negative']} false "
                 f"negatives; top causes:"]
        for c in result["ranked"][:8]:
            lines.append(f"  {c['count']:>4}  {'FP' if c['kind'] == 'false_positive' else 'FN'}  "
                         f"{c['dimension']}: {c['key']}")
        print("\n".join(lines + said), file=sys.stderr)
    return EXIT_OK
