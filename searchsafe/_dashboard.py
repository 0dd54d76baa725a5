"""The traffic dashboard: flag rates over time, top and rising queries, and rate alerts, in one pass.

:func:`build_dashboard` streams search logs (JSON Lines, CSV, TSV or Parquet)
once, already scored (a ``flagged`` column, as ``searchsafe score`` writes) or
raw (then a :class:`~searchsafe.Classifier` scores them in batches), and keeps
only counters: per period, slice (all traffic, each market, each language) and
category, plus bounded top-k sketches of the queries. Memory does not grow with
the number of rows, so files larger than memory are fine.

The alert rule (:func:`rate_alerts`) is a robust z-score: a category's flag
rate in a period is compared with the median of its rate over the previous
``window`` periods, in units of the scaled median absolute deviation (MAD), and
an alert fires when ``|z| >= z_threshold``. Because a flat history has MAD 0,
the scale never drops below the binomial standard error of the period's rate.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ._categories import CATEGORIES
from ._data import DataError

__all__ = ["build_dashboard", "rate_alerts", "robust_z", "rising_queries", "SpaceSaving", "parse_timestamp",
           "period_of", "DASHBOARD_TITLE"]

DASHBOARD_TITLE = "searchsafe traffic dashboard"
PERIODS = ("hour", "day")
#: 1.4826 × MAD estimates the standard deviation of normal data.
MAD_SCALE = 1.4826
#: Values that mean "no market" or "no language" in a log row.
_MISSING = (None, "")


# -- time ----------------------------------------------------------------------
def parse_timestamp(value: Any, where: str, column: str) -> _dt.datetime:
    """A log row's time as an aware UTC datetime: ISO 8601 text, or Unix seconds (number or digits).

    Text without a time zone is taken as UTC.

    Examples
    --------
    >>> parse_timestamp("2026-11-30T23:30:00+09:00", "logs.jsonl:1", "ts").isoformat()
    '2026-11-30T14:30:00+00:00'
    >>> parse_timestamp(0, "logs.jsonl:1", "ts").isoformat()
    '1970-01-01T00:00:00+00:00'
    """
    if isinstance(value, _dt.datetime):
        dt = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        dt = _dt.datetime.fromtimestamp(float(value), _dt.timezone.utc)
    else:
        text = "" if value is None else str(value).strip()
        try:
            dt = (_dt.datetime.fromtimestamp(float(text), _dt.timezone.utc)
                  if text.replace(".", "", 1).isdigit() else _dt.datetime.fromisoformat(text))
        except (ValueError, OverflowError, OSError):
            raise DataError(f"{where}: {column} {text!r} is not an ISO 8601 time or Unix seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return dt.astimezone(_dt.timezone.utc)


def period_of(dt: _dt.datetime, period: str) -> str:
    """The period a UTC time falls in: ``2026-11-30`` (day) or ``2026-11-30T14`` (hour).

    Examples
    --------
    >>> t = parse_timestamp("2026-11-30T14:05:00Z", "x", "ts")
    >>> period_of(t, "day"), period_of(t, "hour")
    ('2026-11-30', '2026-11-30T14')
    """
    return dt.strftime("%Y-%m-%d" if period == "day" else "%Y-%m-%dT%H")


def _all_periods(first: str, last: str, period: str) -> list[str]:
    """Every period from *first* to *last*, so a period without traffic shows as a gap, not a jump."""
    fmt = "%Y-%m-%d" if period == "day" else "%Y-%m-%dT%H"
    step = _dt.timedelta(days=1) if period == "day" else _dt.timedelta(hours=1)
    t, end = _dt.datetime.strptime(first, fmt), _dt.datetime.strptime(last, fmt)
    out = []
    while t <= end:
        out.append(t.strftime(fmt))
        t += step
    return out


# -- top-k sketch --------------------------------------------------------------
class SpaceSaving:
    """The Space-Saving top-k sketch (Metwally et al., 2005): at most *capacity* counters.

    Exact while at most *capacity* distinct keys were seen; afterwards each
    count overestimates by at most the smallest count in the sketch, and every
    key more frequent than ``total / capacity`` is kept.

    Examples
    --------
    >>> s = SpaceSaving(2)
    >>> for k in "aabac":
    ...     s.add(k)
    >>> s.top(2), s.exact
    ([('a', 3), ('c', 2)], False)
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.counts: dict[str, int] = {}
        self.exact = True

    def add(self, key: str, n: int = 1) -> None:
        counts = self.counts
        if key in counts:
            counts[key] += n
        elif len(counts) < self.capacity:
            counts[key] = n
        else:
            # Evicting the smallest is O(capacity); it only happens once the sketch is full,
            # and the sketch is sized so that most adds hit an existing key.
            victim = min(counts, key=counts.__getitem__)
            counts[key] = counts.pop(victim) + n
            self.exact = False

    def count(self, key: str) -> int:
        """The key's count; for a key not held, 0 while exact, else the bound the smallest counter gives."""
        if key in self.counts:
            return self.counts[key]
        return 0 if self.exact or not self.counts else min(self.counts.values())

    def top(self, k: int) -> list[tuple[str, int]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


# -- alerts --------------------------------------------------------------------
def robust_z(history: Sequence[float], value: float, n: int) -> tuple[float, float, float]:
    """``(z, median, scale)`` of *value* against *history*; *n* is the volume behind *value*.

    ``scale = max(1.4826 * MAD(history), sqrt(max(median, 1/n) * max(1 - median, 1/n) / n))``:
    the scaled MAD, floored by the binomial standard error of a rate measured on
    *n* queries, so a flat history does not make every wobble infinite.

    Examples
    --------
    >>> z, med, scale = robust_z([0.010, 0.012, 0.011, 0.009, 0.010], 0.030, 10_000)
    >>> round(med, 3), round(scale, 5), round(z, 1)
    (0.01, 0.00148, 13.5)
    """
    h = np.asarray(history, dtype=float)
    med = float(np.median(h))
    mad = float(np.median(np.abs(h - med)))
    # Both the rate and its complement are floored at 1/n, so a history at 0 %
    # or at 100 % still leaves a positive scale.
    floor = math.sqrt(max(med, 1.0 / n) * max(1.0 - med, 1.0 / n) / n)
    scale = max(MAD_SCALE * mad, floor)
    return (value - med) / scale, med, scale


def rate_alerts(periods: Sequence[str], volume: Sequence[int], flagged: Sequence[int], *, window: int = 7,
                min_history: int = 3, z_threshold: float = 3.5, min_volume: int = 100) -> list[dict[str, Any]]:
    """Alerts for one slice and category: periods whose flag rate leaves its recent range.

    For each period with at least *min_volume* queries, the history is the flag
    rate of up to *window* previous periods that also had *min_volume* queries;
    with at least *min_history* of them, :func:`robust_z` compares the period's
    rate with them. ``z >= z_threshold`` is a ``spike``, ``z <= -z_threshold`` a
    ``drop`` (e.g. a broken upstream or model).

    Examples
    --------
    >>> days = ["d1", "d2", "d3", "d4", "d5"]
    >>> [a["period"] + " " + a["direction"] for a in rate_alerts(days, [1000] * 5, [10, 11, 9, 10, 40])]
    ['d5 spike']
    """
    out: list[dict[str, Any]] = []
    usable: list[int] = []
    for t, (n, k) in enumerate(zip(volume, flagged)):
        if n < min_volume:
            continue
        history = usable[-window:]
        if len(history) >= min_history:
            rates = [flagged[i] / volume[i] for i in history]
            rate = k / n
            z, med, scale = robust_z(rates, rate, n)
            if abs(z) >= z_threshold:
                out.append({"period": periods[t], "direction": "spike" if z > 0 else "drop", "rate": round(rate, 6),
                            "median": round(med, 6), "scale": round(scale, 6), "z": round(z, 2),
                            "volume": int(n), "flagged": int(k), "history": len(history)})
        usable.append(t)
    return out


def rising_queries(last: SpaceSaving, previous: Sequence[SpaceSaving], last_volume: int,
                   previous_volumes: Sequence[int], *, min_count: int = 5, min_ratio: float = 5.0,
                   top: int = 20) -> list[dict[str, Any]]:
    """Queries whose count in the last period is far above their baseline.

    The baseline is the query's mean count over the *previous* periods, scaled by
    the traffic change (``last_volume / mean(previous_volumes)``); a query rises
    when it was seen at least *min_count* times in the last period and
    ``(count + 1) / (expected + 1) >= min_ratio``. The +1 keeps a query new
    today from an infinite ratio and ranks it by how often it was seen.

    Examples
    --------
    >>> old, new = SpaceSaving(10), SpaceSaving(10)
    >>> for q in ["猫"] * 5 + ["犬"] * 5:
    ...     old.add(q)
    >>> for q in ["猫"] * 5 + ["新語"] * 9:
    ...     new.add(q)
    >>> [(r["text"], r["count"], r["ratio"]) for r in rising_queries(new, [old], 14, [10])]
    [('新語', 9, 10.0)]
    """
    if not previous:
        return []
    mean_volume = float(np.mean(previous_volumes)) if len(previous_volumes) else 0.0
    growth = last_volume / mean_volume if mean_volume > 0 else 1.0
    out = []
    for text, count in last.counts.items():
        if count < min_count:
            continue
        baseline = float(np.mean([s.count(text) for s in previous]))
        expected = baseline * growth
        ratio = (count + 1) / (expected + 1)
        if ratio >= min_ratio:
            out.append({"text": text, "count": int(count), "baseline": round(baseline, 3),
                        "expected": round(expected, 3), "ratio": round(ratio, 2)})
    out.sort(key=lambda r: (-r["ratio"], -r["count"], r["text"]))
    return out[:top]


# -- aggregation ---------------------------------------------------------------
@dataclass
class _Slice:
    volume: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, np.ndarray] = field(default_factory=dict)
    actions: dict[str, dict[str, int]] = field(default_factory=dict)


def _flag_list(value: Any, where: str, categories: Sequence[str]) -> list[str]:
    if value is None or value == "":
        names: list[str] = []
    elif isinstance(value, (list, tuple, np.ndarray)):
        names = [str(v).strip() for v in value]
    else:
        names = [v.strip() for v in str(value).strip("[]").replace('"', "").replace("'", "").split(",")]
    names = [n for n in names if n]
    for n in names:
        if n not in categories:
            raise DataError(f"{where}: unknown category {n!r} in 'flagged'; known: {', '.join(categories)}")
    return names


def _query_key(text: str) -> str:
    # Counting is per query as typed, with runs of spaces collapsed: the same query
    # typed twice is one key, while spelling variants stay apart (they are the signal).
    return " ".join(text.split())


def _rows(source: str, fmt: str | None, *, text_column: str, time_column: str, market_column: str | None,
          lang_column: str | None, action_column: str | None, scored: bool, categories: Sequence[str],
          ) -> Iterator[tuple[str, str, str | None, str | None, str | None, list[str] | None]]:
    """``(where, text, time, market, lang, action, flagged or None)`` per log row, streamed."""
    from ._data import text_of
    from ._ooc import display_name, iter_records

    name = display_name(source)
    n = 0
    for lineno, rec in iter_records(source, fmt):
        where = f"{name}:{lineno}"
        text = text_of(rec, text_column, where)
        if time_column not in rec:
            raise DataError(f"{where}: no column {time_column!r} (columns: {', '.join(map(str, rec))}); "
                            "use --time-column")
        flagged = None
        if scored:
            if "flagged" not in rec:
                raise DataError(f"{where}: no column 'flagged': the logs are not scored; pass --model to score "
                                "them, or score them first with 'searchsafe score'")
            flagged = _flag_list(rec["flagged"], where, categories)
        market = rec.get(market_column) if market_column else None
        lang = rec.get(lang_column) if lang_column else None
        action = rec.get(action_column) if action_column else None
        n += 1
        yield (where, text, rec[time_column], None if market in _MISSING else str(market),
               None if lang in _MISSING else str(lang), None if action in _MISSING else str(action), flagged)
    if n == 0:
        raise DataError(f"{name}: empty: no queries")


def build_dashboard(
    source: str,
    *,
    classifier: Any = None,
    fmt: str | None = None,
    text_column: str = "text",
    time_column: str = "ts",
    market_column: str | None = "market",
    lang_column: str | None = "lang",
    action_column: str | None = "action",
    period: str = "day",
    window: int = 7,
    min_history: int = 3,
    z_threshold: float = 3.5,
    min_volume: int = 100,
    rising_min_count: int = 5,
    rising_ratio: float = 5.0,
    top: int = 10,
    sketch_size: int = 5000,
    batch_size: int = 4096,
) -> dict[str, Any]:
    """Read search logs once and return the dashboard as a JSON-ready dict.

    Parameters
    ----------
    source : str
        A log file (JSON Lines, CSV, TSV, Parquet), or ``-`` for stdin with *fmt*.
    classifier : Classifier, optional
        Scores the queries; without it, every row needs a ``flagged`` column (a
        list, or categories separated by commas), as ``searchsafe score`` writes.
    text_column, time_column : str
        The query and its timestamp (ISO 8601, or Unix seconds).
    market_column, lang_column, action_column : str or None
        Optional columns; a row without them counts under ``(none)`` (language:
        detected from the text). Actions, when present, give stacked shares.
    period : {"day", "hour"}
        The time bucket, in UTC.
    window, min_history, z_threshold, min_volume
        The alert rule; see :func:`rate_alerts`.
    rising_min_count, rising_ratio
        The rising-query rule; see :func:`rising_queries`.
    top : int
        Queries listed per category and period, and rising queries listed x 2.
    sketch_size : int
        Counters per period's top-k sketch; the counts are exact while a period
        has at most this many distinct queries (``exact`` says whether they were).

    Returns
    -------
    dict
        ``periods``, ``slices`` (``all``, ``market=...``, ``lang=...``: volume,
        flagged and rate per category, actions), ``alerts``, ``alert_rule``,
        ``top_flagged``, ``rising``, ``rising_rule`` and totals.

    Raises
    ------
    searchsafe._data.DataError
        On a missing or empty file, a missing column, a bad timestamp or an unknown category.
    """
    from ._lang import detect_language
    from ._normalize import normalize
    from ._ooc import batched, display_name

    if period not in PERIODS:
        raise DataError(f"period must be one of {', '.join(PERIODS)}; got {period!r}")
    if min_history > window:
        raise DataError(f"--min-history {min_history} is more than --window {window}: no period could alert")
    categories = tuple(classifier.categories) if classifier is not None else CATEGORIES
    k = len(categories)
    index = {c: j for j, c in enumerate(categories)}
    slices: dict[str, _Slice] = {}
    queries: dict[str, SpaceSaving] = {}
    flagged_queries: dict[tuple[str, str], SpaceSaving] = {}
    thresholds = (np.array([classifier.thresholds[c] for c in categories], dtype=np.float32)
                  if classifier is not None else None)
    has_actions = False
    n = 0
    rows = _rows(source, fmt, text_column=text_column, time_column=time_column, market_column=market_column,
                 lang_column=lang_column, action_column=action_column, scored=classifier is None,
                 categories=categories)
    for block in batched(rows, batch_size):
        if classifier is not None:
            F = classifier.score_batch([r[1] for r in block]) >= thresholds
        else:
            F = np.zeros((len(block), k), dtype=bool)
            for i, r in enumerate(block):
                for c in r[6] or ():
                    F[i, index[c]] = True
        for i, (where, text, ts, market, lang, action, _) in enumerate(block):
            p = period_of(parse_timestamp(ts, where, time_column), period)
            if lang is None:
                lang = detect_language(normalize(text)) if text.strip() else "(none)"
            key = _query_key(text)
            names = ["all", f"market={market or '(none)'}", f"lang={lang}"]
            for s in names:
                sl = slices.get(s)
                if sl is None:
                    sl = slices[s] = _Slice()
                sl.volume[p] = sl.volume.get(p, 0) + 1
                counts = sl.flagged.get(p)
                if counts is None:
                    counts = sl.flagged[p] = np.zeros(k, dtype=np.int64)
                counts += F[i]
                if action is not None:
                    has_actions = True
                    acts = sl.actions.setdefault(p, {})
                    acts[action] = acts.get(action, 0) + 1
            sk = queries.get(p)
            if sk is None:
                sk = queries[p] = SpaceSaving(sketch_size)
            sk.add(key)
            for j in np.nonzero(F[i])[0]:
                fk = flagged_queries.get((p, categories[j]))
                if fk is None:
                    fk = flagged_queries[(p, categories[j])] = SpaceSaving(sketch_size)
                fk.add(key)
        n += len(block)

    seen = sorted(slices["all"].volume)
    periods = _all_periods(seen[0], seen[-1], period)
    order = ["all"] + sorted(s for s in slices if s.startswith("market=")) + sorted(
        s for s in slices if s.startswith("lang="))
    out_slices: dict[str, Any] = {}
    alerts: list[dict[str, Any]] = []
    for s in order:
        sl = slices[s]
        volume = [sl.volume.get(p, 0) for p in periods]
        zero = np.zeros(k, dtype=np.int64)
        flagged = {c: [int(sl.flagged.get(p, zero)[j]) for p in periods] for j, c in enumerate(categories)}
        rate = {c: [round(f / v, 6) if v else None for f, v in zip(flagged[c], volume)] for c in categories}
        entry: dict[str, Any] = {"volume": volume, "flagged": flagged, "rate": rate}
        if has_actions:
            names = sorted({a for acts in sl.actions.values() for a in acts})
            entry["actions"] = {a: [sl.actions.get(p, {}).get(a, 0) for p in periods] for a in names}
        out_slices[s] = entry
        for c in categories:
            for a in rate_alerts(periods, volume, flagged[c], window=window, min_history=min_history,
                                 z_threshold=z_threshold, min_volume=min_volume):
                alerts.append({"slice": s, "category": c, **a, "current": a["period"] == periods[-1]})
    # Newest first (the current period's alerts lead); within a period all traffic, markets, languages,
    # each by strength.
    alerts.sort(key=lambda a: (order.index(a["slice"]), -abs(a["z"])))
    alerts.sort(key=lambda a: a["period"], reverse=True)

    empty = SpaceSaving(1)
    last = periods[-1]
    prev = periods[:-1][-window:]
    rising = rising_queries(queries.get(last, empty), [queries.get(p, empty) for p in prev],
                            slices["all"].volume.get(last, 0), [slices["all"].volume.get(p, 0) for p in prev],
                            min_count=rising_min_count, min_ratio=rising_ratio, top=2 * top)
    for r in rising:
        r["flagged"] = {c: flagged_queries[(last, c)].count(r["text"]) for c in categories
                        if (last, c) in flagged_queries and flagged_queries[(last, c)].count(r["text"])}
    top_flagged = {
        c: {p: [{"text": t, "count": m} for t, m in flagged_queries[(p, c)].top(top)]
            for p in periods if (p, c) in flagged_queries}
        for c in categories
    }
    return {
        "title": DASHBOARD_TITLE,
        "input": display_name(source),
        "scored_by": "model" if classifier is not None else "input",
        "model": classifier.manifest.get("name") if classifier is not None else None,
        "period": period,
        "n": n,
        "categories": list(categories),
        "periods": periods,
        "slices": out_slices,
        "alert_rule": {
            "text": (f"A category's flag rate in a period is compared with the median of its rate over the "
                     f"previous {window} periods (at least {min_history} of them, each with at least {min_volume} "
                     f"queries): z = (rate - median) / scale, scale = max(1.4826 x MAD, binomial standard error "
                     f"of the period's rate). |z| >= {z_threshold} is an alert: a spike above, a drop below."),
            "window": window, "min_history": min_history, "z_threshold": z_threshold, "min_volume": min_volume,
        },
        "alerts": alerts,
        "current_alerts": sum(a["current"] for a in alerts),
        "rising_rule": {
            "text": (f"Queries seen at least {rising_min_count} times in the last period ({last}) whose count is "
                     f"at least {rising_ratio}x their baseline: (count + 1) / (expected + 1), expected = mean count "
                     f"over the previous {len(prev)} periods x the change in traffic."),
            "min_count": rising_min_count, "min_ratio": rising_ratio, "periods": len(prev),
        },
        "rising": rising,
        "top_flagged": top_flagged,
        "sketch": {"size": sketch_size, "exact": all(s.exact for s in queries.values())
                   and all(s.exact for s in flagged_queries.values())},
    }


def iter_alert_lines(result: dict[str, Any]) -> Iterable[str]:
    """One line per current alert, for the terminal."""
    for a in result["alerts"]:
        if a["current"]:
            yield (f"ALERT {a['period']} {a['slice']} {a['category']}: {a['direction']} to {100 * a['rate']:.2f}% "
                   f"(median {100 * a['median']:.2f}%, z {a['z']:+.1f}, {a['volume']} queries)")
