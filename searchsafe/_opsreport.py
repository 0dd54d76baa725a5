"""HTML pages of the operations tools: dashboard, labeler quality, root-cause analysis, calibration pack.

Each ``render_*`` takes the JSON-ready dict its library function returns and
gives one self-contained HTML document (:func:`searchsafe._html.page`): inline
CSS and SVG, queries as visible text. Only the standard library is needed.
"""

from __future__ import annotations

from typing import Any

from ._html import cards, details, esc, line_chart, num, page, pct, stacked_bars, table

__all__ = ["render_dashboard", "render_labelers", "render_rca", "render_calibration", "CALIBRATION_TITLE"]

CALIBRATION_TITLE = "searchsafe calibration pack"
_FOOTER = ("Scores are a model's estimate, not a verdict: review the queries before acting on them. "
           "The same numbers are in the JSON written beside this page.")


def _q(text: str) -> str:
    return f'<span class="q">{esc(text)}</span>'


# -- dashboard -----------------------------------------------------------------
def render_dashboard(result: dict[str, Any]) -> str:
    """The dashboard of :func:`searchsafe._dashboard.build_dashboard` as one HTML page.

    Examples
    --------
    >>> import tempfile, os
    >>> from searchsafe._dashboard import build_dashboard
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "logs.jsonl")
    ...     with open(path, "w", encoding="utf-8") as f:
    ...         _ = f.write('{"ts": "2026-11-30T10:00:00Z", "text": "부산 여행", "flagged": []}\\n')
    ...     html = render_dashboard(build_dashboard(path))
    >>> html.startswith("<!DOCTYPE html>"), "No alert in the last period (2026-11-30)" in html
    (True, True)
    """
    periods = result["periods"]
    cats = result["categories"]
    alerts = result["alerts"]
    current = [a for a in alerts if a["current"]]
    rule = result["alert_rule"]

    def alert_row(a: dict[str, Any]) -> list[str]:
        return [esc(a["period"]), esc(a["slice"]), esc(a["category"]),
                f'<span class="{"bad" if a["direction"] == "spike" else ""}">{esc(a["direction"])}</span>',
                pct(a["rate"], 2), pct(a["median"], 2), f"{a['z']:+.1f}", esc(a["volume"]), esc(a["flagged"])]

    alert_header = ["period", "slice", "category", "direction", "rate", "median before", "z", "queries", "flagged"]
    if current:
        alert_html = "".join(
            f'<div class="alert"><b>{esc(a["category"])}</b> in <b>{esc(a["slice"])}</b>: {esc(a["direction"])} to '
            f'{pct(a["rate"], 2)} of {esc(a["volume"])} queries on {esc(a["period"])} (median before '
            f'{pct(a["median"], 2)}, z {a["z"]:+.1f})</div>' for a in current)
    else:
        alert_html = f'<div class="ok">No alert in the last period ({esc(periods[-1])}).</div>'
    if len(alerts) > len(current):
        past = [a for a in alerts if not a["current"]]
        alert_html += details(f"{len(past)} alerts in earlier periods", table(alert_header, [alert_row(a) for a in past],
                                                                               left=4))
    alert_html += f'<p class="rule"><b>Rule.</b> {esc(rule["text"])}</p>'

    marks = [(periods.index(a["period"]), a["category"]) for a in alerts if a["slice"] == "all"]
    all_ = result["slices"]["all"]
    charts = [line_chart(periods, all_["rate"], title="flag rate per category, all traffic", marks=marks)]
    charts.append(line_chart(periods, {"queries": [float(v) for v in all_["volume"]]}, title="queries per period",
                             y_format="count", height=180))
    if "actions" in all_:
        shares = {a: [v / t if t else 0.0 for v, t in zip(vals, all_["volume"])] for a, vals in all_["actions"].items()}
        charts.append(stacked_bars(periods, shares, title="action shares, all traffic"))

    slice_html = []
    for name, sl in result["slices"].items():
        rows = [[esc(p), esc(sl["volume"][t])] + [pct(sl["rate"][c][t], 2) for c in cats]
                + ([", ".join(f"{esc(a)} {pct(v[t] / sl['volume'][t] if sl['volume'][t] else None)}"
                              for a, v in sl["actions"].items())] if "actions" in sl else [])
                for t, p in enumerate(periods)]
        header = ["period", "queries", *map(esc, cats)] + (["actions"] if "actions" in sl else [])
        slice_html.append(details(f"{esc(name)}: {sum(sl['volume'])} queries", table(header, rows),
                                  open_=name == "all"))

    rising = result["rising"]
    if rising:
        rising_html = table(
            ["query", "count", "baseline", "expected", "ratio", "flagged for"],
            [[_q(r["text"]), esc(r["count"]), num(r["baseline"], 2), num(r["expected"], 2), num(r["ratio"], 1),
              esc(", ".join(f"{c} {n}" for c, n in r["flagged"].items()) or "nothing")] for r in rising])
    else:
        rising_html = '<p class="note">No rising query.</p>'
    rising_html += f'<p class="rule"><b>Rule.</b> {esc(result["rising_rule"]["text"])}</p>'

    top_html = []
    for c in cats:
        per = result["top_flagged"].get(c, {})
        if not per:
            continue
        blocks = []
        for p in reversed(periods):
            if p in per:
                blocks.append(f"<h3>{esc(p)}</h3>" + table(["query", "count"],
                                                              [[_q(r["text"]), esc(r["count"])] for r in per[p]]))
        top_html.append(details(f"{esc(c)}: flagged queries in {len(per)} periods", "".join(blocks),
                                open_=len(top_html) == 0))
    exact = result["sketch"]["exact"]
    body = f"""
{cards([("queries", esc(result["n"])), ("periods", esc(len(periods))), ("alerts now", esc(len(current))),
        ("rising queries", esc(len(rising)))])}
<h2 id="alerts">Alerts</h2>
{alert_html}
<h2 id="rates">Flag rate over time</h2>
{"".join(charts)}
<h2 id="slices">Per market and language</h2>
{"".join(slice_html)}
<h2 id="rising">Rising queries in {esc(periods[-1])}</h2>
{rising_html}
<h2 id="top">Top flagged queries per category and period</h2>
{"".join(top_html) or '<p class="note">Nothing was flagged.</p>'}
<p class="note">Query counts come from top-k sketches of {esc(result["sketch"]["size"])} counters per period;
{"they are exact for this input." if exact else "a period had more distinct queries, so counts may be overestimated by at most the smallest count kept."}</p>
"""
    meta = (f"<code>{esc(result['input'])}</code>: {esc(result['n'])} queries by {esc(result['period'])} (UTC), "
            f"{esc(periods[0])} to {esc(periods[-1])}; flags from "
            + (f"model <b>{esc(result['model'])}</b>." if result["scored_by"] == "model" else "the input's "
               "<code>flagged</code> column."))
    return page(result["title"], meta, body, "Written by <code>searchsafe dashboard</code>. " + _FOOTER)


# -- labelers ------------------------------------------------------------------
def render_labelers(result: dict[str, Any]) -> str:
    """The labeler-quality result of :func:`searchsafe._labelers.labeler_quality` as one HTML page."""
    cats = result["categories"]
    summary = []
    for name, q in result["labelers"].items():
        summary.append([esc(name), pct(q["accuracy"]), f'<span class="{"pass" if q["passed"] else "fail"}">'
                        f'{"pass" if q["passed"] else "fail"}</span>', esc(q["correct"]), esc(q["answered"]),
                        esc(q["unanswered"]), esc(q["n_wrong"])])
    parts = [
        cards([("gold items", esc(result["n_gold"])), ("labelers", esc(len(result["labelers"]))),
               ("passed", f'{esc(result["passed"])} of {esc(len(result["labelers"]))}'),
               ("success rate", pct(result["pass_rate"]))]),
        f'<p class="rule"><b>Pass bar.</b> Accuracy is the share of the {esc(result["n_gold"])} gold items on which '
        f'all of a labeler\'s categories match gold (an item left unlabeled counts as wrong); a labeler passes at '
        f'{pct(result["pass_accuracy"])} or more.</p>',
        "<h2 id=\"summary\">Labelers</h2>",
        table(["labeler", "accuracy", "result", "correct", "answered", "unanswered", "wrong"], summary),
    ]
    for name, q in result["labelers"].items():
        rows = [[esc(c), num(m["precision"]), num(m["recall"]), num(m["accuracy"]), num(m["kappa"]), esc(m["tp"]),
                 esc(m["fp"]), esc(m["fn"])] for c, m in q["categories"].items()]
        conf = table(["gold", "labeled", "items"], [[esc(x["gold"]), esc(x["labeled"]), esc(x["count"])]
                                                      for x in q["confusions"]]) if q["confusions"] else \
            '<p class="note">No confusion.</p>'
        worst = table(["where", "query", "gold", "labeled", "missed", "added", "severity"],
                      [[esc(w["where"]), _q(w["text"]), esc(", ".join(w["gold"]) or "none"),
                        esc(", ".join(w["labeled"]) or "none"), esc(", ".join(w["missed"])),
                        esc(", ".join(w["extra"])), esc(w["severity"])] for w in q["worst_items"]], left=6) \
            if q["worst_items"] else '<p class="note">No wrong item.</p>'
        parts.append(f'<h2>{esc(name)}: {pct(q["accuracy"])} '
                     f'<span class="{"pass" if q["passed"] else "fail"}">{"pass" if q["passed"] else "fail"}</span></h2>'
                     + table(["category", "precision", "recall", "accuracy", "kappa with gold", "TP", "FP", "FN"], rows)
                     + "<h3>Confusions (gold → labeled)</h3>" + conf
                     + f"<h3>Worst items for coaching ({len(q['worst_items'])} of {q['n_wrong']} wrong)</h3>" + worst)
    meta = f"Gold: {esc(result.get('gold', ''))}; categories: {esc(', '.join(cats))}."
    return page(result["title"], meta, "".join(parts), "Written by <code>searchsafe labelers</code>. "
                "Kappa corrects agreement for chance; precision and recall treat gold as the truth.")


# -- rca -----------------------------------------------------------------------
_DIM_TITLES = {
    "feature": "The feature that drove the score", "hard_negative_family": "Hard-negative family",
    "evasion": "Evasion kind (false negatives)", "confusion": "Category confusion",
    "language": "Language", "length": "Query length",
}


def _examples_table(examples: list[dict[str, Any]]) -> str:
    return table(["where", "query", "category", "score", "threshold", "labels"],
                 [[esc(e["where"]), _q(e["text"]), esc(e["category"]), num(e["score"]), num(e["threshold"]),
                   esc(", ".join(e["labels"]) or "none")] for e in examples], left=3)


def render_rca(result: dict[str, Any]) -> str:
    """The root-cause analysis of :func:`searchsafe._rca.root_causes` as one HTML page."""
    ne = result["n_errors"]
    parts = [cards([("queries", esc(result["n"])), ("false positives", esc(ne["false_positive"])),
                    ("false negatives", esc(ne["false_negative"]))])]
    kinds = {"false_positive": "FP", "false_negative": "FN"}
    ranked = [[esc(c["dimension"].replace("_", " ")), esc(c["key"]), esc(kinds[c["kind"]]), esc(c["count"]),
               pct(c["share"]), esc(c["fix"])] for c in result["ranked"]]
    parts.append('<h2 id="ranked">Causes ranked by the errors they explain</h2>')
    parts.append(table(["dimension", "cause", "kind", "errors", "share of kind", "suggested fix"], ranked, left=3,
                       cell_classes={5: "t"})
                 if ranked else '<p class="note">No cause explains two or more errors.</p>')
    for dim, causes in result["dimensions"].items():
        blocks = []
        for c in causes:
            extra = (f", {esc(c['rows'])} rows, error rate {pct(c['error_rate'])}" if "rows" in c else "")
            blocks.append(details(
                f"{esc(kinds[c['kind']])} · {_q(c['key'])}: {esc(c['count'])} errors ({pct(c['share'])}){extra}",
                f'<p>Fix: {esc(c["fix"])}. Categories: '
                f'{esc(", ".join(f"{k} {v}" for k, v in c["categories"].items()))}.</p>'
                + _examples_table(c["examples"])))
        parts.append(f'<h2>{esc(_DIM_TITLES[dim])}</h2>' + ("".join(blocks) or '<p class="note">None.</p>'))
    meta = (f"Model <b>{esc(result['model'].get('name'))}</b> on <code>{esc(', '.join(result.get('data', [])))}</code>: "
            f"{esc(result['n'])} labeled queries, {esc(ne['total'])} errors (one per query and category).")
    return page(result["title"], meta, "".join(parts), "Written by <code>searchsafe rca</code>. Each error counts "
                "once per dimension; the feature is the one that moved the category's logit most in the error's "
                "direction.")


# -- calibration pack -------------------------------------------------------------
def render_calibration(result: dict[str, Any]) -> str:
    """The calibration-meeting pack: ``searchsafe diff``'s result with empty verdict columns.

    Groups (category and direction) come in order of their largest score gap and
    rows within a group by gap; ``#`` is a row's rank by gap across the whole file,
    the order of the CSV pack.
    """
    dirs = result["directions"]
    b_name = "labels" if result["b"] == "labels" else result["b"]["model"]
    score_b = "label" if result["b"] == "labels" else "score B"
    summary = table(["category", *map(esc, dirs)], [[esc(c), *(esc(result["counts"][c][d]) for d in dirs)]
                                                     for c in result["categories"]])
    parts = [cards([("queries", esc(result["n"])), ("with a disagreement", esc(result["rows_with_disagreement"])),
                    ("query-category pairs", esc(result["total"]))]),
             '<p class="rule"><b>For the meeting.</b> Fill the verdict in the CSV pack written with this page '
             "(<code>verdict_labels</code>: the query's categories as decided, <code>none</code> when benign; "
             "<code>verdict_notes</code>: why). The filled CSV is labeled data: <code>searchsafe evaluate MODEL "
             "pack.csv --labels-column verdict_labels</code> and <code>searchsafe train pack.csv "
             "--labels-column verdict_labels</code> read it.</p>",
             "<h2>Counts</h2>", summary]
    # Beside two models, the labels the file already has (diff carries them over from a table).
    file_labels = result["b"] != "labels" and any("labels" in it for g in result["groups"] for it in g["items"])
    header = ["#", "where", "query", "score A", score_b, "gap", *(["labels"] if file_labels else []), "verdict", "notes"]
    for g in result["groups"]:
        rows = [[esc(it["rank"]), esc(it["where"]), _q(it["text"]), num(it["score_a"], 4),
                 num(it.get("score_b", 1.0 if g["category"] in it.get("labels", []) else 0.0), 4), num(it["gap"], 4),
                 *([esc(", ".join(it.get("labels", [])) or "none")] if file_labels else []),
                 "", ""] for it in g["items"]]
        shown = f" ({len(g['items'])} listed)" if len(g["items"]) < g["count"] else ""
        parts.append(f'<h2>{esc(g["category"])} · {esc(dirs[g["direction"]])}: {esc(g["count"])}{shown}</h2>'
                     + table(header, rows, left=3,
                             cell_classes={len(header) - 2: "verdict", len(header) - 1: "verdict"}))
    meta = (f"<b>{esc(result['a']['model'])}</b> against <b>{esc(b_name)}</b> on "
            f"<code>{esc(result['data'])}</code>.")
    return page(CALIBRATION_TITLE, meta, "".join(parts), "Written by <code>searchsafe diff --html</code>.")
