"""``searchsafe evaluate``: metrics as JSON and a self-contained HTML report."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from ._util import (
    CliError, EXIT_OK, add_labeled_input, add_quiet, check_inputs, check_output, load_model, model_path,
    positive_int, read_labeled, say_ignored, score_all, thresholds_of, write_text,
)

COMMANDS = ("evaluate",)


def add_parser(sub: Any) -> None:
    """Add the ``evaluate`` command to the subparsers *sub*."""
    p = sub.add_parser("evaluate", help="metrics as JSON and an HTML report",
                       description="Evaluate a model on labeled data: precision, recall, F1 and PR-AUC per "
                       "category and language, confusion between categories, calibration, threshold sweeps and "
                       "false positives on hard negatives. The table goes to stdout; --json and --html write "
                       "the full results. Labels of categories the model does not have are ignored, with one "
                       "line saying so.")
    p.add_argument("model", metavar="MODEL", help="a model directory, or 'default' for the bundled model")
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="labeled files: CSV, TSV, JSON Lines or Parquet, optionally gzipped; a text column and a "
                   "labels column (see --labels-column); '-' for stdin, with --format")
    p.add_argument("--json", metavar="FILE", help="write the metrics as JSON ('-' for stdout, instead of the table)")
    p.add_argument("--html", metavar="FILE",
                   help="write a self-contained HTML report (needs matplotlib: pip install '.[report]' in a clone)")
    p.add_argument("--max-examples", type=positive_int, default=100, metavar="N",
                   help="rows listed per list of errors (default: 100)")
    p.add_argument("--weight-column", metavar="NAME",
                   help="column saying how many queries of the traffic each row stands for (the 'weight' of "
                   "'searchsafe sample'): adds traffic-level precision and recall with 95%% bootstrap intervals")
    add_labeled_input(p)
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Metrics of a model on labeled data, as JSON and/or an HTML report."""
    from .. import __version__
    from .._report import REPORT_TITLE, evaluation_details, render_html

    check_inputs(args.data)
    json_path, html_path = args.json, args.html
    if json_path == "-" and html_path == "-":
        raise CliError("--json and --html cannot both write to stdout")
    check_output(json_path)
    check_output(html_path)
    if html_path is not None:
        from .._report import _matplotlib

        _matplotlib()  # fail now, not after scoring, if the report cannot be drawn
    clf = load_model(args.model)
    cats = clf.categories
    data = read_labeled(args, args.data, cats, f"the model {args.model}", others="ignore",
                        weight_column=args.weight_column)
    for name, (blank, n) in data.blank.items():
        if n and blank == n:
            # An audit file from 'searchsafe sample' before anyone labeled it: every
            # row would count as benign and the metrics would be meaningless zeros.
            raise CliError(f"{name}: the labels column {args.labels_column!r} is empty on all {n} rows: nothing "
                           "to evaluate against; fill it in (write 'none' for a benign query) or name another "
                           "with --labels-column")
    say_ignored(args, data.ignored, cats, f"the model {args.model}")
    # scikit-learn (for PR-AUC) only once the data has been read and found good.
    from .._metrics import evaluate_predictions

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
    if args.weight_column:
        from .._metrics import weighted_metrics

        weights = np.array([r.weight for r in data.rows], dtype=np.float64)
        if not weights.sum() > 0:
            raise CliError(f"--weight-column {args.weight_column}: every weight is 0; nothing to estimate")
        report["weighted"] = {"column": args.weight_column,
                              **weighted_metrics(Y, P, thresholds, cats, weights)}
    html_text = render_html(report, Y=Y, P=P) if html_path is not None else None
    json_text = json.dumps(report, ensure_ascii=False, indent=2) + "\n" if json_path is not None else None
    if json_text is not None:
        write_text(json_path, json_text)
    if html_text is not None:
        write_text(html_path, html_text)
    # The table is the command's output unless JSON takes stdout; then it is a summary on stderr.
    table_to = sys.stderr if json_path == "-" else sys.stdout
    if not (args.quiet and table_to is sys.stderr):
        table_to.write("\n".join(_table(report)) + "\n")
        table_to.flush()
    if not args.quiet:
        lines = [f"wrote {what} to {path}" for path, what in ((json_path, "JSON"), (html_path, "HTML report"))
                 if path not in (None, "-")]
        if lines:
            print("\n".join(lines), file=sys.stderr)
    return EXIT_OK


def _table(report: dict[str, Any]) -> list[str]:
    """Per-category metrics, the macro-F1 and hard negatives, and the weighted estimates when there are any."""
    cats = report["categories"]
    lines = [f"{'category':<20} {'precision':>9} {'recall':>7} {'F1':>6} {'PR-AUC':>7} {'support':>8}"]
    for c in cats:
        m = report["overall"]["categories"][c]
        auc = m.get("pr_auc")
        lines.append(f"{c:<20} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
                     f"{'-' if auc is None else f'{auc:.3f}':>7} {m['support']:>8}")
    hn = report["hard_negatives"]
    lines.append(f"macro-F1 {report['overall']['macro_f1']}; hard negatives flagged: "
                 f"{hn['false_positive_rate'] if hn['n'] else '-'} of {hn['n']}")
    weighted = report.get("weighted")
    if weighted:
        pct = round(100 * weighted["level"])

        def est(value: float | None, ci: list[float] | None) -> str:
            if value is None:
                return f"{'n/a':>22}"
            return f"{value:>6.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:>6.3f}{'':>16}"

        lines.append(f"weighted by {weighted['column']} ({weighted['n']} rows standing for "
                     f"{weighted['total_weight']:g} queries; {pct}% bootstrap intervals):")
        lines.append(f"{'category':<20} {'precision':>22} {'recall':>22} {'prevalence':>10}")
        for c in cats:
            m = weighted["categories"][c]
            prev = "n/a" if m["prevalence"] is None else f"{m['prevalence']:.4f}"
            lines.append(f"{c:<20} {est(m['precision'], m['precision_ci'])} {est(m['recall'], m['recall_ci'])} "
                         f"{prev:>10}")
    return lines
