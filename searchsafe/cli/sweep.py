"""``searchsafe sweep``: score every entry of a word list and write the flagged ones for review."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any, Iterator

from ._util import (
    CliError, EXIT_FOUND, EXIT_OK, Query, add_query_input, add_quiet, check_categories, check_output,
    csv_encoding, float_arg, iter_queries, load_model, output, positive_int, say, write_text,
)
from .._rca import describe_feature as _feature_text

COMMANDS = ("sweep",)

_OUT_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
#: Empty columns for the reviewer, named as data/wordlists/reviewed_*.tsv names them.
REVIEW_COLUMNS = ("harmful", "categories", "note")
_share = float_arg(lambda v: 0.0 <= v <= 1.0, "must be a number from 0 to 1")


def _languages(text: str) -> tuple[str, ...]:
    from .._lang import LANGUAGES

    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names or any(n not in LANGUAGES for n in names):
        raise argparse.ArgumentTypeError(f"must be comma-separated languages of {', '.join(LANGUAGES)}; got {text!r}")
    return tuple(dict.fromkeys(names))


def _categories(text: str) -> tuple[str, ...]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must be comma-separated category names; got {text!r}")
    return tuple(dict.fromkeys(names))


def add_parser(sub: Any) -> None:
    """Add the ``sweep`` command to the subparsers *sub*."""
    p = sub.add_parser(
        "sweep", help="false-positive sweep: flagged entries of a word list, with the features behind them",
        description="Score every entry of a word list (one per line, or a column of a table file) and write the "
        "flagged ones, highest score first, with their categories, scores and top features, plus empty "
        "harmful/categories/note columns for the reviewer. Run it on your most frequent queries before a "
        "release: nearly all are benign, so nearly every flag is a false positive to read. The summary "
        "(entries, flagged, share per category and per language) goes to stderr.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("wordlist", metavar="WORDLIST", help="the entries; '-' for stdin")
    p.add_argument("--out", metavar="FLAGGED.csv|tsv|jsonl",
                   help="write the flagged entries here (atomically) instead of stdout (JSON Lines)")
    p.add_argument("--output-format", choices=("csv", "tsv", "jsonl"),
                   help="default: from the --out suffix (.csv, .tsv, .jsonl), else jsonl")
    p.add_argument("--summary", metavar="FILE.json", help="also write the summary as JSON ('-' for stdout)")
    p.add_argument("--top", type=positive_int, default=5, metavar="K",
                   help="features listed per flagged category (default: 5)")
    p.add_argument("--categories", type=_categories, metavar="A,B,...",
                   help="only flags in these categories count (default: every category of the model)")
    p.add_argument("--lang", type=_languages, metavar="ja,ko,...",
                   help="only sweep entries whose detected language is one of these (ja, ko, mixed, other); "
                   "the others are left out of every count")
    p.add_argument("--max-share", type=_share, metavar="S",
                   help="exit 1 if more than this fraction of the entries is flagged (e.g. 0.003)")
    add_query_input(p)
    add_quiet(p)
    p.set_defaults(func=run)


def _features_text(features: dict[str, list[tuple[str, float]]]) -> str:
    return "; ".join(f"{c}: " + " | ".join(f"{_feature_text(f).replace('  (', ' (')} {v:+.4f}" for f, v in fs)
                     for c, fs in features.items())


def run(args: argparse.Namespace) -> int:
    """Sweep a word list and write its flagged entries."""
    from .._sweep import sweep

    check_output(args.out)
    check_output(args.summary)
    if args.out in (None, "-") and args.summary == "-":
        raise CliError("--summary - and the flagged entries cannot both go to stdout; give --out FILE")
    fmt_out = args.output_format
    if fmt_out is None:
        suffix = "" if args.out in (None, "-") else "." + args.out.lower().rsplit(".", 1)[-1]
        fmt_out = _OUT_SUFFIXES.get(suffix, "jsonl")
    clf = load_model(args.model)
    cats = check_categories(args.categories, clf.categories, "--categories") if args.categories else None

    rows: list[Query] = []

    def texts() -> Iterator[str]:
        # Only the position is kept per entry; the text of a flagged one comes back in its hit.
        for q in iter_queries(args.wordlist, args.format, args.text_column, args.id_column):
            rows.append(Query(q.lineno, q.where, "", q.id))
            yield q.text

    result = sweep(clf, texts(), categories=cats, languages=args.lang, top=args.top)
    with_id = args.id_column is not None
    if fmt_out == "jsonl":
        with output(args.out) as f:
            for h in result.hits:
                rec: dict[str, Any] = {"where": rows[h.index].where}
                if with_id:
                    rec["id"] = rows[h.index].id
                rec.update(h.to_dict())
                del rec["index"]
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    else:
        delimiter = "," if fmt_out == "csv" else "\t"
        encoding = csv_encoding(args.out) if fmt_out == "csv" else "utf-8"
        with output(args.out, encoding=encoding, newline="") as f:
            w = csv.writer(f, delimiter=delimiter, lineterminator="\n")
            w.writerow(["where"] + (["id"] if with_id else []) + ["text", "lang", "flagged", "top_category",
                                                                 "top_score", "features", *REVIEW_COLUMNS])
            for h in result.hits:
                w.writerow([rows[h.index].where] + ([rows[h.index].id] if with_id else [])
                           + [h.text, h.lang, ",".join(h.flagged), h.top_category, f"{h.top_score:.4f}",
                              _features_text(h.features), "", "", ""])
    summary = {"model": args.model, "name": clf.manifest.get("name"), "wordlist": args.wordlist,
               **result.summary()}
    if args.summary:
        write_text(args.summary, json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    say(args, result.table())
    if args.max_share is not None and result.share > args.max_share:
        print(f"searchsafe: --max-share: {result.flagged} of {result.entries} entries flagged "
              f"({100 * result.share:.2f} %), above {100 * args.max_share:.2f} %", file=sys.stderr)
        return EXIT_FOUND
    return EXIT_OK
