"""``searchsafe dashboard``: flag rates over time, top and rising queries, and rate alerts from search logs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._pages import add_page_outputs, page_outputs, write_pages
from ._util import (
    EXIT_FOUND, EXIT_OK, add_quiet, float_arg, load_model, positive_float, positive_int,
)

COMMANDS = ("dashboard",)

_z = float_arg(lambda v: 0 < v < float("inf"), "must be a positive number")


def add_parser(sub: Any) -> None:
    """Add the ``dashboard`` command to the subparsers *sub*."""
    p = sub.add_parser(
        "dashboard", help="flag rates over time, top and rising queries, alerts (HTML and JSON)",
        description="Read search logs once (JSON Lines, CSV, TSV or Parquet; streamed, so files larger than "
        "memory work) and report the flag rate per category over time, per market and language, with volume and "
        "action shares; the top flagged queries per category and period; rising queries; and alerts. Logs are "
        "either scored (a 'flagged' column, as 'searchsafe score' writes) or raw, scored with --model. Alert rule: "
        "a robust z-score of each period's flag rate against the median and MAD of the previous --window periods "
        "(floored by the binomial standard error); |z| >= --z-threshold is an alert. Without --json or --html, "
        "JSON goes to stdout.")
    p.add_argument("logs", metavar="LOGS", help="search logs; '-' for stdin (with --format)")
    p.add_argument("--model", help="score the queries with this model ('default' or a directory) instead of "
                   "reading a 'flagged' column")
    add_page_outputs(p, "dashboard")
    p.add_argument("--period", choices=("day", "hour"), default="day", help="time bucket, UTC (default: day)")
    p.add_argument("--fail-on-alert", action="store_true", help="exit 1 when the last period has an alert")
    g = p.add_argument_group("columns")
    g.add_argument("--format", choices=("jsonl", "csv", "tsv", "parquet"), help="default from the file name")
    g.add_argument("--text-column", default="text", metavar="NAME", help="(default: text)")
    g.add_argument("--time-column", default="ts", metavar="NAME",
                   help="ISO 8601 time (UTC when it has no zone) or Unix seconds (default: ts)")
    g.add_argument("--market-column", default="market", metavar="NAME", help="optional (default: market)")
    g.add_argument("--lang-column", default="lang", metavar="NAME",
                   help="optional; detected from the text when absent (default: lang)")
    g.add_argument("--action-column", default="action", metavar="NAME",
                   help="optional; the decision taken, for stacked action shares (default: action)")
    a = p.add_argument_group("alerts and rising queries")
    a.add_argument("--window", type=positive_int, default=7, metavar="N",
                   help="previous periods that form the baseline (default: 7)")
    a.add_argument("--min-history", type=positive_int, default=3, metavar="N",
                   help="baseline periods needed before a period can alert (default: 3)")
    a.add_argument("--z-threshold", type=_z, default=3.5, metavar="Z", help="(default: 3.5)")
    a.add_argument("--min-volume", type=positive_int, default=100, metavar="N",
                   help="periods with fewer queries neither alert nor count in a baseline (default: 100)")
    a.add_argument("--rising-min-count", type=positive_int, default=5, metavar="N",
                   help="a rising query was seen at least N times in the last period (default: 5)")
    a.add_argument("--rising-ratio", type=positive_float, default=5.0, metavar="X",
                   help="... and at least X times its expected count (default: 5)")
    a.add_argument("--top", type=positive_int, default=10, metavar="N",
                   help="flagged queries listed per category and period (default: 10)")
    a.add_argument("--sketch-size", type=positive_int, default=5000, metavar="N",
                   help="counters per period for query counts; exact up to N distinct queries (default: 5000)")
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the dashboard and write it; exit 1 on a current alert with --fail-on-alert."""
    from .._dashboard import build_dashboard, iter_alert_lines
    from .._opsreport import render_dashboard

    json_path, html_path = page_outputs(args)
    clf = load_model(args.model) if args.model else None
    result = build_dashboard(
        args.logs, classifier=clf, fmt=args.format, text_column=args.text_column, time_column=args.time_column,
        market_column=args.market_column, lang_column=args.lang_column, action_column=args.action_column,
        period=args.period, window=args.window, min_history=args.min_history, z_threshold=args.z_threshold,
        min_volume=args.min_volume, rising_min_count=args.rising_min_count, rising_ratio=args.rising_ratio,
        top=args.top, sketch_size=args.sketch_size,
    )
    said = write_pages(json_path, html_path, result, render_dashboard)
    alerts = list(iter_alert_lines(result))
    if not args.quiet:
        periods = result["periods"]
        lines = [f"{result['n']} queries in {len(periods)} periods ({periods[0]} to {periods[-1]}); "
                 f"{len(result['alerts'])} alerts, {len(alerts)} in the last period; "
                 f"{len(result['rising'])} rising queries", *alerts, *said]
        print("\n".join(lines), file=sys.stderr)
    if args.fail_on_alert and alerts:
        print(f"searchsafe: --fail-on-alert: {len(alerts)} alerts in {result['periods'][-1]}", file=sys.stderr)
        return EXIT_FOUND
    return EXIT_OK
