"""``searchsafe decide`` and ``searchsafe policy check|diff``: search policies from the command line.

``decide`` turns queries into one decision each (JSON Lines) under a policy;
``policy check`` validates policy files before they ship; ``policy diff``
previews what a policy change does to a set of real queries.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._util import (
    BATCH_SIZE, DEFAULT_MODEL, EXIT_FOUND, EXIT_OK, CliError, add_query_input, add_quiet, check_output, int_in,
    iter_queries, load_model, output, positive_int, progress, say, warnings_to_stderr,
)

COMMANDS = ("decide", "policy")


def _add_policy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help="model directory or 'default' (default: default)")
    p.add_argument("--no-defaults", action="store_true",
                   help="do not layer the files over the shipped jp/kr defaults (the files must be complete)")


def add_parser(sub: Any) -> None:
    """Add ``decide`` and ``policy`` (``check``, ``diff``) to the subparsers *sub*."""
    p = sub.add_parser("decide", help="decisions under a search policy; JSON Lines on stdout",
                       description="Decide per query under a policy: action (allow, downrank, no_autocomplete, "
                       "help, block), escalation to review, flagged categories, scores, override, help resource "
                       "and reason, one JSON object per query. Streams in batches.")
    p.add_argument("input", nargs="?", default="-", metavar="QUERIES", help="queries; '-' or nothing for stdin")
    p.add_argument("--policy", action="append", default=[], metavar="FILE",
                   help="policy TOML, layered over the shipped defaults (repeatable: later files win); "
                   "none = the shipped defaults")
    p.add_argument("--market", required=True, help="market to decide for (jp, kr)")
    p.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--escalations", metavar="FILE",
                   help="also write the queries to send to review here (JSON Lines, atomically)")
    p.add_argument("--log", metavar="FILE", help="append the decision log (query sha256, no text) to FILE")
    p.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE, metavar="N",
                   help=f"queries decided per batch (default: {BATCH_SIZE})")
    _add_policy_options(p)
    add_query_input(p)
    add_quiet(p)
    p.set_defaults(func=run_decide)

    p = sub.add_parser("policy", help="check a policy file, or preview a change with diff",
                       description="Validate policy files (check) or measure what a change does to real "
                       "queries (diff).")
    psub = p.add_subparsers(dest="policy_command", metavar="ACTION", parser_class=type(p))
    c = psub.add_parser("check", help="validate policy files and print a summary (exit 2 if invalid)",
                        description="Validate policy files layered over the shipped defaults and print what "
                        "each market does. Exit 0 valid, 2 invalid (one line naming file, line and entry); "
                        "expired override entries are warnings.")
    c.add_argument("files", nargs="*", metavar="FILE", help="policy TOML files; none = the shipped defaults")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")
    c.add_argument("--no-defaults", action="store_true", help="do not layer over the shipped defaults")
    c.set_defaults(func=run_check)
    d = psub.add_parser("diff", help="which queries change action between two policies (exit 1 if any)",
                        description="Decide every query under OLD and NEW and report how many change action, "
                        "from what to what, with examples. Exit 0 nothing changes, 1 something does.")
    d.add_argument("old", metavar="OLD", help="the policy in force ('default' = the shipped defaults)")
    d.add_argument("new", metavar="NEW", help="the proposed policy")
    d.add_argument("input", metavar="QUERIES", help="queries ('-' for stdin)")
    d.add_argument("--market", action="append", default=[],
                   help="market to compare (repeatable; default: every market of NEW)")
    d.add_argument("--examples", type=int_in(0, None), default=5, metavar="N",
                   help="example queries per change (default: 5; 0 for counts only)")
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    d.add_argument("--out", metavar="FILE", help="write the report here (atomically) instead of stdout")
    _add_policy_options(d)
    add_query_input(d)
    add_quiet(d)
    d.set_defaults(func=run_diff)
    p.set_defaults(func=_need_action)


def _need_action(args: argparse.Namespace) -> int:
    raise CliError("choose a policy action: check or diff (see 'searchsafe policy --help')")


def _guard(args: argparse.Namespace, files: list[str], clf: Any, **kw: Any):
    from .._guard import load_policy

    with warnings_to_stderr():
        return load_policy(files or None, classifier=clf, defaults=not args.no_defaults, **kw)


def run_decide(args: argparse.Namespace) -> int:
    """Decisions for each query as JSON Lines; escalations to their own file."""
    from .._ooc import batched
    from .._policy import ACTIONS

    if args.format == "lines" and args.id_column:
        raise CliError("--id-column needs a table input (csv, tsv, jsonl, parquet), not one query per line")
    check_output(args.out)
    check_output(args.escalations)
    clf = load_model(args.model)
    guard = _guard(args, args.policy, clf, market=None, cache_size=65536, log=args.log)
    if args.market not in guard.policy.markets:
        raise CliError(f"--market must be one of {', '.join(guard.policy.markets)}; got {args.market!r}")
    counts = dict.fromkeys(ACTIONS, 0)
    n = escalated = 0
    with guard, output(args.out) as out, output(args.escalations) if args.escalations else _null() as esc, \
            progress(args, desc="deciding") as bar:
        for block in batched(iter_queries(args.input, args.format, args.text_column, args.id_column),
                             args.batch_size):
            decisions = guard.explain_batch([q.text for q in block], market=args.market)
            lines, review = [], []
            for q, d in zip(block, decisions):
                rec: dict[str, Any] = {"line": q.lineno}
                if q.id is not None:
                    rec["id"] = q.id
                rec["text"] = q.text
                rec.update(d.as_dict())
                rec["scores"] = {c: round(s, 6) for c, s in d.scores.items()}
                line = json.dumps(rec, ensure_ascii=False)
                lines.append(line)
                counts[d.action] += 1
                if d.escalate:
                    review.append(line)
            out.write("\n".join(lines) + "\n")
            out.flush()
            if esc is not None and review:
                esc.write("\n".join(review) + "\n")
            escalated += len(review)
            n += len(block)
            bar.update(len(block))
    summary = ", ".join(f"{a} {k}" for a, k in counts.items() if k) or "nothing"
    say(args, f"decided {n} queries for market {args.market} under policy {guard.policy.version}: {summary}; "
              f"{escalated} to review")
    return EXIT_OK


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def policy_summary(policy: Any) -> dict[str, Any]:
    """What each market of a validated policy does, as plain data."""
    markets = {}
    for name, m in policy.markets.items():
        kinds: dict[str, int] = {}
        for o in m.overrides:
            k = f"{o.match} {o.action}"
            kinds[k] = kinds.get(k, 0) + 1
        markets[name] = {
            "language": m.language,
            "categories": {
                c: {"action": r.action, "threshold": r.threshold, "escalate": r.escalate,
                    "escalate_threshold": r.escalate_threshold, "help": r.help}
                for c, r in m.categories.items()
            },
            "overrides": len(m.overrides),
            "override_kinds": dict(sorted(kinds.items())),
        }
    return {
        "version": policy.version, "sha256": policy.sha256, "sources": list(policy.sources),
        "markets": markets, "expired_overrides": [o.as_dict() for o in policy.expired],
    }


def run_check(args: argparse.Namespace) -> int:
    """Validate policy files; print a summary."""
    from .._policy import read_policy

    with warnings_to_stderr():
        policy = read_policy(args.files or None, defaults=not args.no_defaults)
    summary = policy_summary(policy)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"policy {summary['version']} (sha256 {policy.sha256[:12]}) from {', '.join(summary['sources'])}: valid")
    for name, m in summary["markets"].items():
        kinds = ", ".join(f"{k} {v}" for k, v in m["override_kinds"].items()) or "none"
        print(f"market {name} ({m['language']}): {m['overrides']} override entries ({kinds})")
        for c, r in m["categories"].items():
            thr = "model" if r["threshold"] is None else f"{r['threshold']:g}"
            esc = ""
            if r["escalate"]:
                esc = " + review" + (f" at {r['escalate_threshold']:g}" if r["escalate_threshold"] else "")
            helpline = f"  [{r['help']['name']} {r['help'].get('phone', '')}]".rstrip() if r["help"] else ""
            print(f"  {c:<18} {r['action']:<16} threshold {thr:<6}{esc}{helpline}".rstrip())
    if policy.expired:
        print(f"{len(policy.expired)} expired override entries ignored (see warnings)")
    return EXIT_OK


def run_diff(args: argparse.Namespace) -> int:
    """Decide queries under two policies; report the changes; exit 1 when anything changes."""
    from .._guard import policy_diff

    check_output(args.out)
    texts = [q.text for q in iter_queries(args.input, args.format, args.text_column, args.id_column)]
    clf = load_model(args.model)
    old = _guard(args, [] if args.old == "default" else [args.old], clf, cache_size=0)
    new = _guard(args, [args.new], clf, cache_size=0)
    markets = args.market or list(new.policy.markets)
    for m in markets:
        for g, which in ((old, "OLD"), (new, "NEW")):
            if m not in g.policy.markets:
                has = ", ".join(g.policy.markets)
                raise CliError(f"--market {m}: {which} policy has no market {m!r} (it has {has})")
    reports = [policy_diff(old, new, texts, market=m, examples=args.examples) for m in markets]
    changed = sum(r["changed"] for r in reports)
    with output(args.out) as out:
        if args.json:
            out.write(json.dumps(reports if len(reports) > 1 else reports[0], ensure_ascii=False, indent=2) + "\n")
        else:
            for r in reports:
                out.write(_diff_text(r))
    say(args, f"{changed} decision(s) change across {len(markets)} market(s) and {len(texts)} queries")
    return EXIT_FOUND if changed else EXIT_OK


def _diff_text(r: dict[str, Any]) -> str:
    pct = 100.0 * r["changed"] / r["total"] if r["total"] else 0.0
    lines = [
        f"market {r['market']}: {r['changed']} of {r['total']} queries change decision ({pct:.2f} %), "
        f"policy {r['old_version']} -> {r['new_version']}",
    ]
    esc = r["escalations"]
    if esc["added"] or esc["removed"]:
        lines.append(f"  escalations: +{esc['added']} -{esc['removed']}")
    for t, k in r["transitions"].items():
        lines.append(f"  {k:>7}  {t}")
        for ex in r["examples"][t]:
            why = ex["new"]["reason"] if ex["new"]["override"] or not ex["old"]["override"] else ex["old"]["reason"]
            lines.append(f"           {ex['query']!r}: {why}")
    return "\n".join(lines) + "\n"
