"""``searchsafe diff``: the queries two models, or a model and the labels, disagree on."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

import numpy as np

from ._util import (
    _ENCODING_HELP, CliError, EXIT_FOUND, EXIT_OK, Query, add_quiet, check_inputs, check_output, csv_encoding,
    encoding_arg, iter_queries, load_model,
    output, read_labeled, say, score_all, thresholds_of, write_text,
)

COMMANDS = ("diff",)


def add_parser(sub: Any) -> None:
    """Add the ``diff`` command to the subparsers *sub*."""
    p = sub.add_parser("diff", help="queries on which two models, or a model and the labels, disagree",
                       description="List the queries on which MODEL_A and MODEL_B disagree, grouped by category "
                       "and direction with counts. MODEL_B 'labels' compares MODEL_A with the labels in DATA. "
                       "The CSV lists every disagreement by score gap (|score A - score B|) across the whole "
                       "file, biggest first, with empty verdict_labels and verdict_notes columns for a "
                       "calibration meeting; filled in, it is labeled data for evaluate and train "
                       "(--labels-column verdict_labels). In JSON and HTML, groups come in order of their "
                       "biggest gap. Exits 1 when there are disagreements, like diff(1).")
    p.add_argument("model_a", metavar="MODEL_A", help="a model directory, or 'default'")
    p.add_argument("model_b", metavar="MODEL_B", help="a model directory, 'default', or 'labels' (the labels in DATA)")
    p.add_argument("data", metavar="DATA",
                   help="queries: one per line, or a table (CSV, TSV, JSON Lines, Parquet, optionally gzipped); "
                   "labeled with MODEL_B 'labels'")
    p.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--output-format", choices=("json", "csv"),
                   help="default: csv if --out ends in .csv, else json")
    p.add_argument("--html", metavar="FILE",
                   help="also write the calibration-meeting pack: a self-contained HTML page, grouped by "
                   "category and direction, with empty verdict columns")
    p.add_argument("--max-items", type=int, default=0, metavar="N",
                   help="queries listed per group, biggest disagreement first; 0 lists all (default)")
    g = p.add_argument_group("input")
    g.add_argument("--format", choices=("lines", "jsonl", "csv", "tsv", "parquet"),
                   help="input format; default from the file name")
    g.add_argument("--text-column", default="text", metavar="NAME", help="(default: text)")
    g.add_argument("--labels-column", default="labels", metavar="NAME",
                   help="the labels in DATA: what MODEL_B 'labels' compares with, and, beside two models, the "
                   "labels column of the output when DATA is a table that has it (default: labels)")
    g.add_argument("--id-column", metavar="NAME", help="column to carry through as each row's id")
    g.add_argument("--encoding", type=encoding_arg, default="utf-8", metavar="NAME", help=_ENCODING_HELP)
    add_quiet(p)
    p.set_defaults(func=run)


def _file_labels(rows: list[Query], column: str) -> list[list[str] | None]:
    """Each table row's own labels, so a calibration meeting sees them beside two models' scores.

    Parsed as every labeled input is (:func:`searchsafe._data._parse_labels`),
    but not checked against either model's categories; None for a row with no
    such column (a file of one query per line has none).

    Examples
    --------
    >>> _file_labels([Query(1, "f:1", "q", None, {"labels": "hate; harassment"}), Query(2, "f:2", "r")], "labels")
    [['hate', 'harassment'], None]
    """
    from .._data import _parse_labels
    from .._ooc import _AnyName

    return [_parse_labels(r.columns[column], r.where, _AnyName()) if r.columns and column in r.columns else None
            for r in rows]


def run(args: argparse.Namespace) -> int:
    """The queries on which two models, or a model and the labels, disagree."""
    check_inputs([args.data])
    check_output(args.out)
    check_output(args.html)
    if args.html == "-" and args.out in (None, "-"):
        raise CliError("--out and --html cannot both write to stdout; give --out FILE")
    fmt_out = args.output_format or ("csv" if (args.out or "").lower().endswith(".csv") else "json")
    a = load_model(args.model_a)
    labels_mode = args.model_b == "labels"
    if labels_mode:
        if args.format == "lines":
            raise CliError("diff against 'labels' needs a labeled table (jsonl, csv, tsv, parquet)")
        if args.id_column:
            raise CliError("--id-column is not used with 'labels'; rows are named by file and line")
        data = read_labeled(args, [args.data], a.categories, f"the model {args.model_a}")
        cats = list(a.categories)
        rows = [Query(0, r.where, r.text, None) for r in data.rows]
        Fb = data.matrix()
        b = None
    else:
        b = load_model(args.model_b)
        cats = [c for c in a.categories if c in b.categories]
        if not cats:
            raise CliError(f"the models share no category: MODEL_A has {', '.join(a.categories)}; "
                           f"MODEL_B has {', '.join(b.categories)}")
        only = sorted(set(a.categories) ^ set(b.categories))
        if only:
            say(args, f"comparing the {len(cats)} categories both models have; not compared: {', '.join(only)}")
        rows = list(iter_queries(args.data, args.format, args.text_column, args.id_column, args.encoding,
                                 keep_columns=True))
        carried = _file_labels(rows, args.labels_column)
    texts = [r.text for r in rows]
    ja = [a.categories.index(c) for c in cats]
    Pa = score_all(args, a, texts, desc="scoring A")[:, ja]
    Fa = Pa >= thresholds_of(a)[ja]
    if b is not None:
        jb = [b.categories.index(c) for c in cats]
        Pb = score_all(args, b, texts, desc="scoring B")[:, jb]
        Fb = Pb >= thresholds_of(b)[jb]
        directions = {"a_only": "flagged by MODEL_A, not by MODEL_B", "b_only": "flagged by MODEL_B, not by MODEL_A"}
    else:
        Pb = Fb.astype(np.float32)
        directions = {"false_positive": "flagged by the model, not labeled",
                      "false_negative": "labeled, not flagged by the model"}
    first, second = list(directions)
    groups = []
    counts: dict[str, dict[str, int]] = {}
    for j, c in enumerate(cats):
        counts[c] = {}
        for direction, mask in ((first, Fa[:, j] & ~Fb[:, j]), (second, ~Fa[:, j] & Fb[:, j])):
            idx = np.nonzero(mask)[0]
            counts[c][direction] = int(idx.size)
            if not idx.size:
                continue
            idx = idx[np.argsort(-np.abs(Pa[idx, j] - Pb[idx, j]), kind="stable")]
            if args.max_items > 0:
                idx = idx[:args.max_items]
            items = []
            for i in idx:
                item: dict[str, Any] = {"where": rows[i].where}
                if rows[i].id is not None:
                    item["id"] = rows[i].id
                item["text"] = rows[i].text
                item["score_a"] = round(float(Pa[i, j]), 4)
                if b is not None:
                    item["score_b"] = round(float(Pb[i, j]), 4)
                    if carried[i] is not None:
                        item["labels"] = carried[i]
                else:
                    item["labels"] = data.rows[i].labels
                item["gap"] = round(float(abs(Pa[i, j] - Pb[i, j])), 4)
                items.append(item)
            groups.append({"category": c, "direction": direction, "count": counts[c][direction], "items": items})
    # One order for the whole file: biggest score gap first, ties in group order.
    ranked = sorted(((g, it) for g in groups for it in g["items"]), key=lambda gi: -gi[1]["gap"])
    for rank, (_, it) in enumerate(ranked, 1):
        it["rank"] = rank
    groups.sort(key=lambda g: g["items"][0]["rank"])
    total = sum(sum(v.values()) for v in counts.values())
    rows_differing = int((Fa != Fb).any(axis=1).sum())
    result = {
        "a": {"model": args.model_a, "name": a.manifest.get("name")},
        "b": "labels" if b is None else {"model": args.model_b, "name": b.manifest.get("name")},
        "data": args.data,
        "n": len(rows),
        "categories": cats,
        "directions": directions,
        "counts": counts,
        "total": total,
        "rows_with_disagreement": rows_differing,
        "groups": groups,
    }
    if fmt_out == "json":
        write_text(args.out, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        with output(args.out, encoding=csv_encoding(args.out), newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["category", "direction", "where", "id", "text", "score_a", "score_b", "labels", "gap",
                        "verdict_labels", "verdict_notes"])
            for g, it in ranked:
                w.writerow([g["category"], g["direction"], it["where"], it.get("id", ""), it["text"],
                            it["score_a"], it.get("score_b", ""), ",".join(it.get("labels", [])), it["gap"], "", ""])
    if args.html is not None:
        from .._opsreport import render_calibration

        write_text(args.html, render_calibration(result))
    if not args.quiet:
        lines = [f"{len(rows)} queries, {rows_differing} with a disagreement ({total} query-category pairs)"]
        lines.append(f"{'category':<20} {first:>15} {second:>15}")
        for c in cats:
            lines.append(f"{c:<20} {counts[c][first]:>15} {counts[c][second]:>15}")
        print("\n".join(lines), file=sys.stderr)
    return EXIT_FOUND if total else EXIT_OK
