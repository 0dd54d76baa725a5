"""``searchsafe evaluate``: metrics as JSON and a self-contained HTML report."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._util import (
    CliError, EXIT_OK, add_labeled_input, add_quiet, check_output, load_model, model_path, positive_int,
    read_labeled, score_all, thresholds_of, write_text,
)

COMMANDS = ("evaluate",)


def add_parser(sub: Any) -> None:
    """Add the ``evaluate`` command to the subparsers *sub*."""
    p = sub.add_parser("evaluate", help="metrics as JSON and an HTML report",
                       description="Evaluate a model on labeled data: precision, recall, F1 and PR-AUC per "
                       "category and language, confusion between categories, calibration, threshold sweeps and "
                       "false positives on hard negatives. Without --json or --html, JSON goes to stdout.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("--json", metavar="FILE", help="write the metrics as JSON ('-' for stdout)")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report (needs searchsafe[report])")
    p.add_argument("--max-examples", type=positive_int, default=100, metavar="N",
                   help="rows listed per list of errors (default: 100)")
    add_labeled_input(p)
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Metrics of a model on labeled data, as JSON and/or an HTML report."""
    from .. import __version__
    from .._metrics import evaluate_predictions
    from .._report import REPORT_TITLE, evaluation_details, render_html

    json_path, html_path = args.json, args.html
    if json_path is None and html_path is None:
        json_path = "-"
    if json_path == "-" and html_path == "-":
        raise CliError("--json and --html cannot both write to stdout")
    check_output(json_path)
    check_output(html_path)
    if html_path is not None:
        from .._report import _matplotlib

        _matplotlib()  # fail now, not after scoring, if the report cannot be drawn
    clf = load_model(args.model)
    cats = clf.categories
    data = read_labeled(args, args.data, cats, f"the model {args.model}")
    Y = data.matrix()
    P = score_all(args, clf, data.texts)
    thresholds = thresholds_of(clf)
    langs = data.langs()
    tags = [r.tags for r in data.rows]
    report: dict[str, Any] = {
        "title": REPORT_TITLE,
        "model": {"name": clf.manifest.get("name"), "path": str(model_path(args.model))},
        "data": list(args.data),
        "n": len(data.rows),
        "categories": list(cats),
        "thresholds": {c: round(float(t), 6) for c, t in zip(cats, thresholds)},
        "searchsafe_version": __version__,
    }
    report.update(evaluate_predictions(Y, P, thresholds, cats, langs=langs, tags=tags))
    report.update(evaluation_details(Y, P, thresholds, cats, texts=data.texts, wheres=[r.where for r in data.rows],
                                     langs=langs, tags=tags, max_examples=args.max_examples))
    html_text = render_html(report, Y=Y, P=P) if html_path is not None else None
    json_text = json.dumps(report, ensure_ascii=False, indent=2) + "\n" if json_path is not None else None
    if json_text is not None:
        write_text(json_path, json_text)
    if html_text is not None:
        write_text(html_path, html_text)
    if not args.quiet:
        lines = [f"{'category':<20} {'precision':>9} {'recall':>7} {'F1':>6} {'PR-AUC':>7} {'support':>8}"]
        for c in cats:
            m = report["overall"]["categories"][c]
            auc = m.get("pr_auc")
            lines.append(f"{c:<20} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
                         f"{'-' if auc is None else f'{auc:.3f}':>7} {m['support']:>8}")
        hn = report["hard_negatives"]
        lines.append(f"macro-F1 {report['overall']['macro_f1']}; hard negatives flagged: "
                     f"{hn['false_positive_rate'] if hn['n'] else '-'} of {hn['n']}")
        for path, what in ((args.json, "JSON"), (html_path, "HTML report")):
            if path not in (None, "-"):
                lines.append(f"wrote {what} to {path}")
        print("\n".join(lines), file=sys.stderr)
    return EXIT_OK
