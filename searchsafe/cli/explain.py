"""``searchsafe explain``: the normalized text, tokens and features behind each score."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._util import (
    CliError, EXIT_OK, check_categories, iter_lines, load_model, positive_int,
)

COMMANDS = ("explain",)


def add_parser(sub: Any) -> None:
    """Add the ``explain`` command to the subparsers *sub*."""
    p = sub.add_parser("explain", help="why a query got its scores",
                       description="Show the normalized text, language, tokens, scores and the features that "
                       "drove each score: the root-cause view of a wrong call.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("queries", nargs="+", metavar="QUERY", help="queries; '-' reads one per line from stdin")
    p.add_argument("--category", action="append", default=[], metavar="CATEGORY",
                   help="explain this category (repeatable); default the flagged ones, else the top-scoring one")
    p.add_argument("--all", action="store_true", help="explain every category")
    p.add_argument("--top", type=positive_int, default=10, metavar="N", help="features per category (default: 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.set_defaults(func=run)


_FEATURE_KINDS = {
    "w": "characters in a word", "c": "characters", "m": "morpheme", "b": "morpheme pair",
    "p": "subword piece", "k": "Korean initials", "l": "language",
}


def _feature_text(feature: str) -> str:
    kind = _FEATURE_KINDS.get(feature[:1], "feature")
    body = feature[1:]
    if feature[:1] == "w":
        # Word n-grams carry the word's edges as spaces; show them.
        body = body.replace(" ", "␣")
    return f"{body}  ({kind})"


def run(args: argparse.Namespace) -> int:
    """Show why each query got its scores."""
    clf = load_model(args.model)
    cats = clf.categories
    wanted = list(cats) if args.all else check_categories(args.category, cats, "--category")
    queries: list[str] = []
    for q in args.queries:
        if q == "-":
            queries.extend(text for _, text in iter_lines("-") if text.strip())
        else:
            queries.append(q)
    if not queries:
        raise CliError("<stdin>: empty: no queries")
    out = sys.stdout
    for i, query in enumerate(queries):
        e = clf.explain(query, categories=wanted or None, top=args.top)
        note = None
        if not wanted and not e["flagged"]:
            best = max(cats, key=lambda c: e["scores"][c] - clf.thresholds[c])
            e = clf.explain(query, categories=[best], top=args.top)
            note = f"nothing flagged; explaining the category closest to its threshold, {best}"
        if args.json:
            e = {**e, "thresholds": dict(clf.thresholds), "features": {c: [[f, v] for f, v in fs]
                                                                       for c, fs in e["features"].items()}}
            out.write(json.dumps(e, ensure_ascii=False) + "\n")
            continue
        lines = [] if i == 0 else [""]
        lines += [
            f"query:      {e['text']}",
            f"normalized: {e['normalized']}",
            f"folded:     {e['folded']}",
            f"language:   {e['lang']}",
            f"tokens:     {' | '.join(e['tokens']) if e['tokens'] else '(none)'}",
            "scores:",
        ]
        for c in cats:
            mark = "FLAGGED" if c in e["flagged"] else ""
            lines.append(f"  {c:<20} {e['scores'][c]:.4f}  (threshold {clf.thresholds[c]:.4f})  {mark}".rstrip())
        if note:
            lines.append(note)
        for c, feats in e["features"].items():
            lines.append(f"features behind {c} (contribution to the logit, largest first):")
            if not feats:
                lines.append("  (no feature of this query carries weight for it)")
            for feature, value in feats:
                lines.append(f"  {value:+8.4f}  {_feature_text(feature)}")
        out.write("\n".join(lines) + "\n")
    return EXIT_OK
