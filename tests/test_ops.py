"""The operations tools: dashboard (alerts, rising queries), labelers, rca, and diff's calibration pack."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import searchsafe
from searchsafe._agreement import cohen_kappa
from searchsafe._dashboard import (
    SpaceSaving, build_dashboard, parse_timestamp, rate_alerts, rising_queries, robust_z,
)
from searchsafe._data import DataError
from searchsafe._labelers import labeler_quality
from searchsafe._ooc import LabeledReader
from searchsafe._opsreport import render_calibration, render_dashboard, render_labelers, render_rca
from searchsafe._rca import describe_feature, length_bin, root_causes
from searchsafe.cli import main

from .test_cli import CHROMIUM_FLAGS, SMALL, find_chromium

CATS = list(searchsafe.CATEGORIES)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def clf():
    return searchsafe.load()


# -- alert rules -----------------------------------------------------------------------------
# (name, volumes, flagged counts, options, expected alerts as (period index, direction, z))
ALERT_CASES = [
    # t=4: history .010 .012 .011 .009, median .0105, MAD .001 -> 1.4826e-3 < binomial SE sqrt(.0105*.9895/1000)
    ("spike above the binomial floor", [1000] * 5, [10, 12, 11, 9, 30], {},
     [(4, "spike", (0.030 - 0.0105) / math.sqrt(0.0105 * 0.9895 / 1000))]),
    # t=4: median .1, MAD .005 -> .0074 < binomial SE sqrt(.1*.9/1000) = .0095
    ("drop", [1000] * 5, [100, 110, 90, 100, 20], {}, [(4, "drop", (0.02 - 0.1) / math.sqrt(0.1 * 0.9 / 1000))]),
    # A noisy history .01 .02 .015: median .015, MAD .005 -> scale .0074 (the SE of 1e5 queries is .0004),
    # so .035 is only z 2.7
    ("a noisy history widens the range", [100_000] * 4, [1000, 2000, 1500, 3500], {}, []),
    ("... and a bigger jump still alerts", [100_000] * 4, [1000, 2000, 1500, 5000], {},
     [(3, "spike", (0.05 - 0.015) / (1.4826 * 0.005))]),
    ("too little history", [1000] * 3, [10, 10, 90], {}, []),
    ("min_history 2 allows it", [1000] * 3, [10, 10, 90], {"min_history": 2},
     [(2, "spike", (0.09 - 0.01) / math.sqrt(0.01 * 0.99 / 1000))]),
    # Periods under min_volume neither alert nor count as history.
    ("low-volume periods are skipped", [1000, 50, 1000, 50, 1000, 1000], [10, 40, 10, 0, 10, 60], {},
     [(5, "spike", (0.06 - 0.01) / math.sqrt(0.01 * 0.99 / 1000))]),
    # window 2: the baseline of t=4 is t=2,3 only (rate .05), so .05 is no alert though t=0,1 were .01
    ("the window limits the baseline", [1000] * 5, [10, 10, 50, 50, 50], {"window": 2, "min_history": 2},
     [(2, "spike", (0.05 - 0.01) / math.sqrt(0.01 * 0.99 / 1000))]),
    ("a higher z threshold", [1000] * 5, [10, 12, 11, 9, 30], {"z_threshold": 7.0}, []),
]


@pytest.mark.parametrize("name,volume,flagged,options,expected", ALERT_CASES, ids=[c[0] for c in ALERT_CASES])
def test_rate_alert_rule(name, volume, flagged, options, expected):
    periods = [f"d{i}" for i in range(len(volume))]
    got = rate_alerts(periods, volume, flagged, **options)
    assert [(periods.index(a["period"]), a["direction"]) for a in got] == [(t, d) for t, d, _ in expected]
    for a, (_, _, z) in zip(got, expected):
        assert a["z"] == round(z, 2)


def test_robust_z_by_hand():
    z, med, scale = robust_z([0.2, 0.4, 0.3], 0.6, 100)
    # median .3, MAD .1 -> 0.14826; binomial SE sqrt(.3 * .7 / 100) = 0.0458
    assert (round(med, 6), round(scale, 6), round(z, 6)) == (0.3, 0.14826, round(0.3 / 0.14826, 6))
    # A flat zero history: the floor is sqrt((1/n) * 1 / n), so one flag in 100 queries is z 1, not infinity.
    assert robust_z([0.0, 0.0, 0.0], 0.01, 100) == (1.0, 0.0, 0.01)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12), st.floats(0, 1), st.integers(1, 10**6))
@settings(max_examples=200, deadline=None)
def test_robust_z_is_finite_and_signed_like_the_deviation(history, value, n):
    z, med, scale = robust_z(history, value, n)
    assert scale > 0 and math.isfinite(z)
    assert np.sign(z) == np.sign(round(value - med, 12)) or abs(value - med) < 1e-12


# (name, last period's queries, previous periods' queries, options, expected [(text, count, ratio)])
RISING_CASES = [
    ("new today", ["新語"] * 9 + ["猫"] * 5, [["猫"] * 5 + ["犬"] * 5], {}, [("新語", 9, 10.0)]),
    ("too few to rise", ["新語"] * 4, [["猫"] * 4], {}, []),
    ("min_count 3", ["新語"] * 4, [["猫"] * 4], {"min_count": 3}, [("新語", 4, 5.0)]),
    # 살인 10 a day before, 30 today with the same traffic: (30+1)/(10+1) = 2.8 < 5
    ("up but within 5x", ["살인"] * 30 + ["x"] * 70, [["살인"] * 10 + ["x"] * 90] * 2, {}, []),
    ("ratio 2.5", ["살인"] * 30 + ["x"] * 70, [["살인"] * 10 + ["x"] * 90] * 2, {"min_ratio": 2.5},
     [("살인", 30, round(31 / 11, 2))]),
    # Traffic doubled: 20 of 200 against 10 of 100 is no rise at all.
    ("traffic growth is taken out", ["살인"] * 20 + ["x"] * 180, [["살인"] * 2 + ["x"] * 98], {"min_ratio": 2},
     [("살인", 20, round(21 / 5, 2))]),
]


@pytest.mark.parametrize("name,last,previous,options,expected", RISING_CASES, ids=[c[0] for c in RISING_CASES])
def test_rising_query_rule(name, last, previous, options, expected):
    def sketch(queries):
        s = SpaceSaving(100)
        for q in queries:
            s.add(q)
        return s

    got = rising_queries(sketch(last), [sketch(p) for p in previous], len(last), [len(p) for p in previous],
                         **options)
    assert [(r["text"], r["count"], r["ratio"]) for r in got] == expected


def test_rising_needs_a_previous_period():
    s = SpaceSaving(10)
    s.add("x", 50)
    assert rising_queries(s, [], 50, []) == []


@given(st.lists(st.sampled_from("abcdefghij"), max_size=300), st.integers(1, 12))
@settings(max_examples=100, deadline=None)
def test_space_saving_is_exact_when_it_fits_and_never_undercounts(keys, capacity):
    s = SpaceSaving(capacity)
    for k in keys:
        s.add(k)
    true = {k: keys.count(k) for k in set(keys)}
    if len(true) <= capacity:
        assert s.exact and s.counts == true
    for k, c in s.counts.items():
        assert c >= true.get(k, 0)
        assert c - true.get(k, 0) <= (min(s.counts.values()) if not s.exact else 0)
    assert sum(s.counts.values()) == len(keys)


TIMES = [
    ("2026-11-30T23:30:00+09:00", "2026-11-30T14:30:00+00:00"),
    ("2026-11-30T14:30:00Z", "2026-11-30T14:30:00+00:00"),
    ("2026-11-30 14:30:00", "2026-11-30T14:30:00+00:00"),  # no zone: UTC
    ("2026-11-30", "2026-11-30T00:00:00+00:00"),
    (1796049000, "2026-11-30T14:30:00+00:00"),
    ("1796049000", "2026-11-30T14:30:00+00:00"),
    (1796049000.5, "2026-11-30T14:30:00.500000+00:00"),
]


@pytest.mark.parametrize("value,expected", TIMES)
def test_parse_timestamp(value, expected):
    assert parse_timestamp(value, "logs:2", "ts").isoformat() == expected


@pytest.mark.parametrize("value", ["yesterday", "", None, "2026-13-01", True])
def test_parse_timestamp_refuses_with_the_row(value):
    with pytest.raises(DataError, match=re.escape("logs:2: ts ") + ".* is not an ISO 8601 time or Unix seconds"):
        parse_timestamp(value, "logs:2", "ts")


# -- dashboard on hand-made logs -------------------------------------------------------------
HAND_LOGS = [
    {"ts": "2026-11-01T01:00:00Z", "text": "猫 飼い方", "market": "jp", "lang": "ja", "flagged": [], "action": "allow"},
    {"ts": "2026-11-01T02:00:00Z", "text": "死ね", "market": "jp", "lang": "ja", "flagged": ["harassment"],
     "action": "block"},
    {"ts": "2026-11-01T23:59:59Z", "text": "고양이 사료", "market": "kr", "lang": "ko", "flagged": "",
     "action": "allow"},
    {"ts": "2026-11-02T08:59:59+09:00", "text": "죽어라", "market": "kr", "lang": "ko",
     "flagged": "harassment,violence", "action": "block"},  # 2026-11-01T23:59:59Z
    # 2026-11-02 has no traffic at all
    {"ts": "2026-11-03T10:00:00Z", "text": "죽어라", "market": "kr", "flagged": ["harassment", "violence"],
     "action": "warn"},  # no lang: detected (ko)
    {"ts": 1793700000, "text": "  죽어라 ", "flagged": ["harassment"]},  # 2026-11-03T10:00Z; no market, no action
]


def test_dashboard_counts_by_hand(tmp_path):
    d = build_dashboard(str(write_jsonl(tmp_path / "logs.jsonl", HAND_LOGS)), top=5)
    assert d["periods"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert d["n"] == 6 and d["scored_by"] == "input" and d["categories"] == CATS
    a = d["slices"]["all"]
    assert a["volume"] == [4, 0, 2]
    assert a["flagged"]["harassment"] == [2, 0, 2] and a["flagged"]["violence"] == [1, 0, 1]
    assert a["rate"]["harassment"] == [0.5, None, 1.0] and a["rate"]["violence"] == [0.25, None, 0.5]
    assert a["actions"] == {"allow": [2, 0, 0], "block": [2, 0, 0], "warn": [0, 0, 1]}
    assert list(d["slices"]) == ["all", "market=(none)", "market=jp", "market=kr", "lang=ja", "lang=ko"]
    assert d["slices"]["market=kr"]["volume"] == [2, 0, 1]
    assert d["slices"]["lang=ko"]["volume"] == [2, 0, 2]  # the detected language counts
    assert d["slices"]["lang=ko"]["flagged"]["harassment"] == [1, 0, 2]
    # Queries are counted with their spaces collapsed.
    assert d["top_flagged"]["harassment"]["2026-11-03"] == [{"text": "죽어라", "count": 2}]
    assert d["top_flagged"]["harassment"]["2026-11-01"] == [{"text": "死ね", "count": 1}, {"text": "죽어라", "count": 1}]
    assert d["top_flagged"]["hate"] == {}
    assert d["alerts"] == [] and d["current_alerts"] == 0 and d["sketch"]["exact"]


def test_dashboard_refuses_an_unknown_period(tmp_path):
    with pytest.raises(DataError, match="^period must be one of hour, day; got 'week'$"):
        build_dashboard(str(write_jsonl(tmp_path / "logs.jsonl", HAND_LOGS)), period="week")


def test_dashboard_by_hour(tmp_path):
    d = build_dashboard(str(write_jsonl(tmp_path / "logs.jsonl", HAND_LOGS[:3])), period="hour")
    assert d["periods"][0] == "2026-11-01T01" and d["periods"][-1] == "2026-11-01T23" and len(d["periods"]) == 23
    assert d["slices"]["all"]["volume"][:2] == [1, 1] and sum(d["slices"]["all"]["volume"]) == 3


def incident_logs(path: Path, *, last_day_hate: int, days: int = 8, per_day: int = 200) -> Path:
    """Scored logs with a hate rate of about 2 % a day, and *last_day_hate* hate flags on the last day."""
    rows = []
    for day in range(days):
        k = last_day_hate if day == days - 1 else [4, 5, 3, 4, 4, 5, 3][day % 7]
        for i in range(per_day):
            rows.append({"ts": f"2026-11-{day + 1:02d}T{i % 24:02d}:00:00Z", "market": "jp" if i % 2 else "kr",
                         "lang": "ja",
                         "text": f"q{i % 50}" if i >= k else "新しい悪口", "flagged": ["hate"] if i < k else []})
    return write_jsonl(path, rows)


def test_dashboard_alert_and_fail_on_alert(capsys, tmp_path):
    logs = incident_logs(tmp_path / "logs.jsonl", last_day_hate=30)
    d = build_dashboard(str(logs))
    spike = [a for a in d["alerts"] if a["slice"] == "all"]
    # History (7 days): rates .02 .025 .015 .02 .02 .025 .015: median .02, MAD .005 -> 1.4826 x .005 = .0074,
    # under the binomial SE sqrt(.02 x .98 / 200) = .0099, so the scale is .0099.
    assert [(a["category"], a["period"], a["direction"]) for a in spike] == [("hate", "2026-11-08", "spike")]
    assert spike[0]["z"] == round((0.15 - 0.02) / math.sqrt(0.02 * 0.98 / 200), 2) and spike[0]["current"]
    # All traffic first, then markets, then languages.
    assert [a["slice"] for a in d["alerts"]] == ["all", "market=jp", "market=kr", "lang=ja"]
    assert d["rising"][0]["text"] == "新しい悪口" and d["rising"][0]["flagged"] == {"hate": 30}

    code, out, err = run(capsys, "dashboard", logs, "--fail-on-alert", "--json", tmp_path / "d.json")
    assert code == 1
    assert "ALERT 2026-11-08 all hate: spike to 15.00% (median 2.00%" in err
    assert err.endswith("searchsafe: --fail-on-alert: 4 alerts in 2026-11-08\n")
    assert json.loads((tmp_path / "d.json").read_text(encoding="utf-8")) == json.loads(json.dumps(d))
    code, out, err = run(capsys, "dashboard", logs, "-q")
    assert code == 0 and err == "" and json.loads(out)["current_alerts"] == 4

    quiet = incident_logs(tmp_path / "calm.jsonl", last_day_hate=4)
    code, out, err = run(capsys, "dashboard", quiet, "--fail-on-alert", "-q")
    assert code == 0 and json.loads(out)["alerts"] == []


def test_dashboard_scores_raw_logs_like_scored_ones(tmp_path, clf):
    """--model on raw logs gives the same dashboard as logs whose 'flagged' column the model filled."""
    texts = ["猫 飼い方", "死にたい", "자살 방법", "고양이 사료 추천", "ぶっ殺す", "살인 사건 뉴스"] * 3
    raw = [{"ts": f"2026-11-0{1 + i % 3}T12:00:00Z", "text": t} for i, t in enumerate(texts)]
    F = clf.predict_batch(texts)
    scored = [{**r, "flagged": [c for c, f in zip(clf.categories, row) if f]} for r, row in zip(raw, F)]
    a = build_dashboard(str(write_jsonl(tmp_path / "raw.jsonl", raw)), classifier=clf, batch_size=4)
    b = build_dashboard(str(write_jsonl(tmp_path / "scored.jsonl", scored)))
    for key in ("periods", "slices", "top_flagged", "rising", "alerts", "n"):
        assert a[key] == b[key]
    assert a["scored_by"] == "model" and b["scored_by"] == "input"


def test_dashboard_streams_csv_and_parquet_alike(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [{k: (",".join(v) if isinstance(v, list) else v) for k, v in r.items()} for r in HAND_LOGS[:4]]
    header = ["ts", "text", "market", "lang", "flagged", "action"]
    write_csv(tmp_path / "logs.csv", header, [[r[h] for h in header] for r in rows])
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "logs.parquet")
    j = build_dashboard(str(write_jsonl(tmp_path / "logs.jsonl", HAND_LOGS[:4])))
    for name in ("logs.csv", "logs.parquet"):
        other = build_dashboard(str(tmp_path / name))
        assert other["slices"] == j["slices"] and other["top_flagged"] == j["top_flagged"]


def test_dashboard_memory_does_not_grow_with_the_rows(tmp_path):
    """Ten times the rows (same queries): the peak stays about the same."""
    import tracemalloc

    def peak(days: int) -> int:
        rows = [{"ts": f"2026-11-{1 + d % 28:02d}T00:00:00Z", "text": f"q{i % 300}", "flagged": ["hate"] if i % 37 == 0
                 else []} for d in range(days) for i in range(1000)]
        path = write_jsonl(tmp_path / f"logs{days}.jsonl", rows)
        del rows
        tracemalloc.start()
        try:
            build_dashboard(str(path), batch_size=512)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, big = peak(2), peak(20)
    assert big < 1.5 * small + 2_000_000, (small, big)


# (name, argv after 'dashboard', file contents, expected message)
def _bad_dashboard_cases():
    cats = ", ".join(CATS)
    return [
        ("no such file", ["{d}/nope.jsonl"], None, "{d}/nope.jsonl: no such file"),
        ("empty file", ["{d}/x.jsonl"], "", "{d}/x.jsonl: empty: no queries"),
        ("no time column", ["{d}/x.jsonl"], '{"text": "猫", "flagged": []}\n',
         "{d}/x.jsonl:1: no column 'ts' (columns: text, flagged); use --time-column"),
        ("bad time", ["{d}/x.jsonl"], '{"ts": "2026-11-01", "text": "a", "flagged": []}\n'
                                      '{"ts": "yesterday", "text": "b", "flagged": []}\n',
         "{d}/x.jsonl:2: ts 'yesterday' is not an ISO 8601 time or Unix seconds"),
        ("not scored", ["{d}/x.jsonl"], '{"ts": "2026-11-01", "text": "猫"}\n',
         "{d}/x.jsonl:1: no column 'flagged': the logs are not scored; pass --model to score them, or score them "
         "first with 'searchsafe score'"),
        ("unknown category", ["{d}/x.jsonl"], '{"ts": "2026-11-01", "text": "猫", "flagged": ["spam"]}\n',
         f"{{d}}/x.jsonl:1: unknown category 'spam' in 'flagged'; known: {cats}"),
        ("no text column", ["{d}/x.jsonl", "--text-column", "query"], '{"ts": "2026-11-01", "text": "猫"}\n',
         "{d}/x.jsonl:1: no column 'query' (columns: ts, text); use --text-column"),
        ("both to stdout", ["{d}/x.jsonl", "--json", "-", "--html", "-"], "", "--json and --html cannot both write "
         "to stdout"),
        ("stdin without --format", ["-"], None, "<stdin>: pass --format (jsonl, csv, tsv) to read a table from stdin"),
        ("no model", ["{d}/x.jsonl", "--model", "{d}/nomodel"], '{"ts": 1, "text": "a"}\n',
         "{d}/nomodel: no such model directory (use 'default' for the bundled model)"),
        ("bad period", ["{d}/x.jsonl", "--period", "week"], "",
         "argument --period: invalid choice: 'week' (choose from 'day', 'hour') (see 'searchsafe dashboard --help')"),
        ("bad z", ["{d}/x.jsonl", "--z-threshold", "0"], "",
         "argument --z-threshold: must be a positive number; got '0' (see 'searchsafe dashboard --help')"),
        ("history longer than the window", ["{d}/x.jsonl", "--window", "3", "--min-history", "4"],
         '{"ts": 1, "text": "a", "flagged": []}\n', "--min-history 4 is more than --window 3: no period could alert"),
        ("output in a missing directory", ["{d}/x.jsonl", "--html", "{d}/no/d.html"], "",
         "{d}/no/d.html: cannot write: no directory {d}/no"),
    ]


@pytest.mark.parametrize("name,argv,content,message", _bad_dashboard_cases(), ids=[c[0] for c in _bad_dashboard_cases()])
def test_dashboard_bad_input(capsys, tmp_path, monkeypatch, name, argv, content, message):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO('{"ts": 1, "text": "a", "flagged": []}\n'))
    if content is not None:
        (tmp_path / "x.jsonl").write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "dashboard", *[a.format(d=tmp_path) for a in argv])
    assert (code, out) == (2, "")
    assert err == f"searchsafe: error: {message.format(d=tmp_path)}\n"


# -- labelers ----------------------------------------------------------------------------------
GOLD = [["A", "hate"], ["B", "harassment"], ["C", ""], ["D", "self_harm"], ["E", ""], ["F", "hate,harassment"]]
MINE = [["A", "harassment"], ["B", "harassment"], ["C", "hate"], ["D", ""], ["E", ""], ["Z", "hate"]]  # F unanswered


def _rows(path: Path, categories=None):
    return list(LabeledReader(str(path), categories))


def test_labeler_metrics_by_hand(tmp_path):
    gold = _rows(write_csv(tmp_path / "gold.csv", ["text", "labels"], GOLD))
    mine = _rows(write_csv(tmp_path / "mine.csv", ["text", "labels"], MINE))
    q = labeler_quality(gold, {"mine": mine}, ["hate", "harassment", "self_harm"], pass_accuracy=0.3)
    m = q["labelers"]["mine"]
    # Exact matches: B and E of the six gold items (F was not answered: wrong).
    assert (m["accuracy"], m["correct"], m["answered"], m["unanswered"], m["not_in_gold"]) == (0.3333, 2, 5, 1, 1)
    assert m["passed"] and q["pass_rate"] == 1.0
    # Over the five answered items A-E:
    assert m["categories"] == {
        # gold 10000, mine 00100: observed .6, expected .2*.2 + .8*.8 = .68 -> kappa (.6-.68)/.32
        "hate": {"tp": 0, "fp": 1, "fn": 1, "tn": 3, "precision": 0.0, "recall": 0.0, "accuracy": 0.6,
                 "kappa": -0.25},
        # gold 01000, mine 11000: observed .8, expected .2*.4 + .8*.6 = .56 -> (.8-.56)/.44
        "harassment": {"tp": 1, "fp": 1, "fn": 0, "tn": 3, "precision": 0.5, "recall": 1.0, "accuracy": 0.8,
                       "kappa": round(0.24 / 0.44, 4)},
        # gold 00010, mine 00000: expected .8, observed .8 -> 0
        "self_harm": {"tp": 0, "fp": 0, "fn": 1, "tn": 4, "precision": None, "recall": 0.0, "accuracy": 0.8,
                      "kappa": 0.0},
    }
    assert m["confusions"] == [{"gold": "hate", "labeled": "harassment", "count": 1},
                               {"gold": "none", "labeled": "hate", "count": 1},
                               {"gold": "self_harm", "labeled": "none", "count": 1}]
    # Most severe first (all three are high severity), then the item with more wrong categories.
    assert [(w["text"], w["missed"], w["extra"], w["severity"]) for w in m["worst_items"]] == [
        ("A", ["hate"], ["harassment"], "high"), ("C", [], ["hate"], "high"), ("D", ["self_harm"], [], "high")]
    assert labeler_quality(gold, {"mine": mine}, ["hate", "harassment", "self_harm"],
                           pass_accuracy=0.5)["labelers"]["mine"]["passed"] is False
    assert cohen_kappa(np.array([0, 1, 0, 0, 0]), np.array([1, 1, 0, 0, 0])) == round(0.24 / 0.44, 4)


def test_labelers_cli(capsys, tmp_path):
    gold = write_csv(tmp_path / "gold.csv", ["id", "text", "labels"],
                     [[f"i{k}", t, lab] for k, (t, lab) in enumerate(GOLD)])
    good = write_csv(tmp_path / "quiz_good.csv", ["id", "text", "labels"],
                     [[f"i{k}", t, lab] for k, (t, lab) in enumerate(GOLD)])
    bad = write_csv(tmp_path / "quiz_bad.csv", ["id", "text", "labels"],
                    [[f"i{k}", t, lab] for k, (t, lab) in enumerate(MINE[:5])])
    code, out, err = run(capsys, "labelers", gold, good, bad, "--id-column", "id", "--html", tmp_path / "l.html",
                         "--json", tmp_path / "l.json")
    assert code == 0 and out == ""
    q = json.loads((tmp_path / "l.json").read_text(encoding="utf-8"))
    assert list(q["labelers"]) == ["quiz_good", "quiz_bad"]
    assert q["labelers"]["quiz_good"]["accuracy"] == 1.0 and q["passed"] == 1 and q["pass_rate"] == 0.5
    assert q["labelers"]["quiz_bad"]["categories"]["hate"]["fp"] == 1
    assert err.splitlines()[0] == "6 gold items; 1 of 2 labelers pass at accuracy >= 0.9"
    assert re.search(r"quiz_bad\s+accuracy 0.333  FAIL  wrong 3, unanswered 1; most confused: hate -> harassment",
                     err)
    html = (tmp_path / "l.html").read_text(encoding="utf-8")
    assert "<title>searchsafe labeler quality</title>" in html and ">fail</span>" in html


def _bad_labelers_cases():
    cats = ", ".join(CATS)
    return [
        ("same file twice", ["{d}/gold.csv", "{d}/gold.csv"], "each file may be given once (GOLD and every "
         "LABELER_FILE)"),
        ("no labeler", ["{d}/gold.csv"], "the following arguments are required: LABELER_FILE (see 'searchsafe "
         "labelers --help')"),
        ("missing file", ["{d}/gold.csv", "{d}/nope.csv"], "{d}/nope.csv: no such file"),
        ("duplicate item", ["{d}/dup.csv", "{d}/gold.csv"], "{d}/dup.csv:3: duplicate item 'A' (also at "
         "{d}/dup.csv:2); each item may appear once per file (align with --id-column)"),
        ("unknown category", ["{d}/gold.csv", "{d}/spam.csv"], f"{{d}}/spam.csv:2: unknown category 'spam'; known: "
         f"{cats}"),
        ("no id column", ["{d}/gold.csv", "{d}/gold.csv2", "--id-column", "id"],
         "{d}/gold.csv:2: no column 'id' (columns: text, labels); use --id-column"),
        ("bad pass bar", ["{d}/gold.csv", "{d}/spam.csv", "--pass-accuracy", "90"],
         "argument --pass-accuracy: must be a number from 0 to 1; got '90' (see 'searchsafe labelers --help')"),
    ]


@pytest.mark.parametrize("name,argv,message", _bad_labelers_cases(), ids=[c[0] for c in _bad_labelers_cases()])
def test_labelers_bad_input(capsys, tmp_path, name, argv, message):
    write_csv(tmp_path / "gold.csv", ["text", "labels"], GOLD)
    write_csv(tmp_path / "gold.csv2", ["text", "labels"], GOLD)
    write_csv(tmp_path / "dup.csv", ["text", "labels"], [["A", "hate"], ["A", ""]])
    write_csv(tmp_path / "spam.csv", ["text", "labels"], [["A", "spam"]])
    code, out, err = run(capsys, "labelers", *[a.format(d=tmp_path) for a in argv])
    assert (code, out) == (2, "")
    assert err == f"searchsafe: error: {message.format(d=tmp_path)}\n"


# -- rca -----------------------------------------------------------------------------------------
RCA_ROWS = [
    ["死にたい", "self_harm", "", "ja:self_harm:hw", "ja"],
    ["しにたい", "self_harm", "evasion:kana", "ja:self_harm:hw", "ja"],
    ["自殺 方法", "self_harm", "", "ja:self_harm:hw", "ja"],
    ["자살 방법", "self_harm", "", "ko:self_harm:hw", "ko"],
    ["ㅈㅅ 방법", "self_harm", "evasion:choseong", "ko:self_harm:hw", "ko"],
    ["猫 飼い方", "", "", "ja:benign:pets:猫", "ja"],
    ["고양이 사료 추천", "", "", "ko:benign:pets:고양이", "ko"],
    ["自殺 予防 ポスター", "", "hard_negative", "ja:self_harm:term:自殺", "ja"],
    ["자살 예방 상담", "", "hard_negative", "ko:self_harm:term:자살", "ko"],
    ["殺虫剤 おすすめ", "", "hard_negative", "ja:violence:term:殺", ""],
    ["죽을 만큼 맛있는 라면", "", "hard_negative", "ko:self_harm:term:죽다", "ko"],
    ["ぶっ殺すぞ", "harassment,violence", "", "ja:harassment:hw", "ja"],
    ["犬 殴る 動画", "animal_cruelty", "", "ja:animal_cruelty:hw", "ja"],
    ["개 때리는 영상", "animal_cruelty", "", "ko:animal_cruelty:hw", "ko"],
    ["틀딱 꺼져", "harassment", "", "ko:harassment:hw", "ko"],  # the model calls it hate: a confusion
]


def test_rca_groups_every_error(tmp_path, clf):
    path = write_csv(tmp_path / "rca.csv", ["text", "labels", "tags", "group", "lang"], RCA_ROWS)
    rows = _rows(path, clf.categories)
    r = root_causes(clf, rows, max_examples=3, min_count=1)
    F = clf.predict_batch([x.text for x in rows])
    Y = np.array([[c in x.labels for c in clf.categories] for x in rows])
    n_fp, n_fn = int((F & ~Y).sum()), int((~F & Y).sum())
    assert r["n_errors"] == {"false_positive": n_fp, "false_negative": n_fn, "total": n_fp + n_fn}
    assert n_fp + n_fn > 0
    for dim in ("feature", "language", "length"):  # these partition every error
        for kind, n in (("false_positive", n_fp), ("false_negative", n_fn)):
            causes = [c for c in r["dimensions"][dim] if c["kind"] == kind]
            assert sum(c["count"] for c in causes) == n
            assert all(c["share"] == round(c["count"] / n, 4) for c in causes)
    for c in r["dimensions"]["language"] + r["dimensions"]["length"]:
        assert c["error_rate"] == round(c["count"] / c["rows"], 4)
    hard = {x.text for x in rows if "hard_negative" in x.tags}
    for c in r["dimensions"]["hard_negative_family"]:
        assert c["kind"] == "false_positive" and all(e["text"] in hard for e in c["examples"])
        assert re.fullmatch(r"(ja|ko):\w+:term", c["key"])
    assert all(c["kind"] == "false_negative" for c in r["dimensions"]["evasion"])
    for dim in r["dimensions"].values():
        counts = [c["count"] for c in dim]
        assert counts == sorted(counts, reverse=True)
        for c in dim:
            gaps = [abs(e["score"] - e["threshold"]) for e in c["examples"]]
            assert gaps == sorted(gaps, reverse=True) and len(c["examples"]) <= 3 and c["fix"]
    assert [c["count"] for c in r["ranked"]] == sorted((c["count"] for c in r["ranked"]), reverse=True)
    assert {c["dimension"] for c in r["ranked"]} <= {"feature", "hard_negative_family", "evasion", "confusion"}


def test_rca_cli_writes_what_the_library_returns(capsys, tmp_path, clf):
    path = write_csv(tmp_path / "rca.csv", ["text", "labels", "tags", "group", "lang"], RCA_ROWS)
    code, out, err = run(capsys, "rca", "default", path, "--json", tmp_path / "r.json", "--html",
                         tmp_path / "r.html")
    assert code == 0 and out == ""
    got = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    expected = root_causes(clf, _rows(path, clf.categories))
    assert got == json.loads(json.dumps({**expected, "data": [str(path)]}))
    assert err.startswith(f"15 queries: {got['n_errors']['false_positive']} false positives")


@pytest.mark.parametrize("text,expected", [("猫", "1-3 chars"), ("死にたい", "4-6 chars"), ("고양이 사료 추천", "7-10 chars"),
                                           ("자살 예방 상담 전화번호 알려줘", "11-20 chars"), ("あ" * 21, "21+ chars")])
def test_length_bins(text, expected):
    assert length_bin(text) == expected


@pytest.mark.parametrize("feature,expected", [("m死ぬ", "死ぬ  (morpheme)"), ("w 자살", "␣자살  (characters in a word)"),
                                              ("kㅈㅅ", "ㅈㅅ  (Korean initials)"), ("x?", "?  (feature)")])
def test_describe_feature(feature, expected):
    assert describe_feature(feature) == expected


def test_rca_bad_input(capsys, tmp_path):
    write_csv(tmp_path / "x.csv", ["query"], [["猫"]])
    code, out, err = run(capsys, "rca", "default", tmp_path / "x.csv")
    assert (code, out) == (2, "")
    assert err == (f"searchsafe: error: {tmp_path}/x.csv:2: no column 'text' (columns: query); use --text-column\n")
    write_csv(tmp_path / "y.csv", ["text"], [["猫"]])
    code, out, err = run(capsys, "rca", "default", tmp_path / "y.csv")
    assert err == (f"searchsafe: error: {tmp_path}/y.csv:2: no labels column 'labels' and no per-category 0/1 "
                   f"columns ({', '.join(CATS)}); use --labels-column\n") and code == 2
    code, out, err = run(capsys, "rca", "default")
    assert err == ("searchsafe: error: the following arguments are required: LABELED "
                   "(see 'searchsafe rca --help')\n") and code == 2


# -- diff: the calibration pack -------------------------------------------------------------------
def test_calibration_pack_is_read_back_by_evaluate_and_train(capsys, tmp_path):
    path = write_csv(tmp_path / "held.csv", ["text", "labels", "tags", "group", "lang"], RCA_ROWS)
    code, out, err = run(capsys, "diff", "default", "labels", path, "--out", tmp_path / "pack.csv", "--html",
                         tmp_path / "pack.html", "-q")
    assert code == 1 and out == "" and err == ""
    pack = read_csv(tmp_path / "pack.csv")
    assert pack and all(r["verdict_labels"] == "" and r["verdict_notes"] == "" for r in pack)
    gaps = [float(r["gap"]) for r in pack]
    assert gaps == sorted(gaps, reverse=True)
    html = (tmp_path / "pack.html").read_text(encoding="utf-8")
    assert html.count('<td class="verdict"></td>') == 2 * len(pack)
    # The meeting decides every row: here it keeps the labels (none = benign) and says why.
    for r in pack:
        r["verdict_labels"] = r["labels"] or "none"
        r["verdict_notes"] = "checked"
    with open(tmp_path / "filled.csv", "w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, list(pack[0]))
        w.writeheader()
        w.writerows(pack)
    code, out, err = run(capsys, "evaluate", "default", tmp_path / "filled.csv", "--labels-column", "verdict_labels",
                         "--json", "-", "-q")
    assert code == 0
    report = json.loads(out)
    assert report["n"] == len(pack)
    support = {c: sum(c in r["labels"].split(",") for r in pack) for c in CATS}
    assert {c: m["support"] for c, m in report["overall"]["categories"].items()} == support
    code, out, err = run(capsys, "train", tmp_path / "filled.csv", "--labels-column", "verdict_labels", "--out",
                         tmp_path / "m", "-q", *SMALL)
    assert code == 0 and (tmp_path / "m" / "manifest.json").is_file()


def test_calibration_pack_order_and_groups(capsys, tmp_path):
    path = write_csv(tmp_path / "held.csv", ["text", "labels", "tags", "group", "lang"], RCA_ROWS)
    code, out, _ = run(capsys, "diff", "default", "labels", path, "-q")
    result = json.loads(out)
    firsts = [g["items"][0]["gap"] for g in result["groups"]]
    assert firsts == sorted(firsts, reverse=True)  # groups by their biggest gap
    ranks = sorted(it["rank"] for g in result["groups"] for it in g["items"])
    assert ranks == list(range(1, result["total"] + 1))
    for g in result["groups"]:
        assert [it["rank"] for it in g["items"]] == sorted(it["rank"] for it in g["items"])
    html = render_calibration(result)
    assert html.count("<h2>") == len(result["groups"]) + 1


def test_diff_html_refuses_two_stdouts(capsys, tmp_path):
    (tmp_path / "x.csv").write_text("text,labels\n猫 飼い方,\n", encoding="utf-8")
    code, out, err = run(capsys, "diff", "default", "labels", tmp_path / "x.csv", "--html", "-")
    assert (code, out) == (2, "")
    assert err == "searchsafe: error: --out and --html cannot both write to stdout; give --out FILE\n"


# -- the pages in a real browser ---------------------------------------------------------------------
def _visible_text(browser: str, page: Path, tmp_path: Path) -> tuple[dict[str, str], str]:
    """The page's self-check attributes (from the DOM after its scripts ran) and its printed text."""
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    dom = subprocess.run([browser, *CHROMIUM_FLAGS, profile, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    root = re.search(r"<html[^>]*>", dom.stdout)
    assert root, dom.stdout[:500]
    attrs = dict(re.findall(r'(data-[\w-]+)="([^"]*)"', root.group(0)))
    pdf = tmp_path / (page.stem + ".pdf")
    printed = subprocess.run([browser, *CHROMIUM_FLAGS, profile, "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                              page.as_uri()], capture_output=True, text=True, timeout=180)
    assert printed.returncode == 0 and pdf.is_file(), printed.stderr[-2000:]
    pypdf = pytest.importorskip("pypdf")
    # Printing lays out what a reader sees: text folded into a closed <details>, or only in
    # attributes, is not in the PDF.
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages)
    return attrs, text


def test_pages_render_japanese_and_korean_as_visible_text(tmp_path, clf):
    browser = find_chromium()
    if browser is None:
        pytest.skip("Chromium is not installed; apt-get install chromium fonts-noto-cjk")
    logs = write_jsonl(tmp_path / "logs.jsonl", [
        {"ts": f"2026-11-0{d}T10:00:00Z", "text": t, "flagged": f}
        for d in range(1, 4) for t, f in (("死ね 日本語", ["harassment"]), ("죽어라 한국어", ["harassment"]),
                                           ("猫 飼い方", []))])
    gold = write_csv(tmp_path / "gold.csv", ["text", "labels"], [["死ね 日本語", "harassment"], ["죽어라 한국어", "harassment"],
                                                                 ["猫 飼い方", ""]])
    quiz = write_csv(tmp_path / "quiz.csv", ["text", "labels"], [["死ね 日本語", ""], ["죽어라 한국어", "hate"],
                                                                 ["猫 飼い方", ""]])
    # A mislabeled Japanese row guarantees a Japanese error whatever the model gets right.
    held = write_csv(tmp_path / "held.csv", ["text", "labels", "tags", "group", "lang"],
                     [*RCA_ROWS, ["東京 天気 ラーメン", "violence", "", "", "ja"]])
    pages = {
        "dashboard": (render_dashboard(build_dashboard(str(logs))), ["死ね 日本語", "죽어라 한국어"]),
        "labelers": (render_labelers(labeler_quality(_rows(gold), {"quiz": _rows(quiz)}, CATS)),
                     ["死ね 日本語", "죽어라 한국어"]),
    }
    rca = root_causes(clf, _rows(held, clf.categories), max_examples=20)
    rca_texts = [e["text"] for dim in rca["dimensions"].values() for c in dim for e in c["examples"]]
    ja = next(t for t in rca_texts if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", t))
    ko = next(t for t in rca_texts if re.search(r"[\uac00-\ud7a3]", t))
    # The examples sit in folded sections; opened, they print.
    pages["rca"] = (render_rca({**rca, "data": ["held.csv"]}).replace("<details>", "<details open>"), [ja, ko])
    code = main(["diff", "default", "labels", str(held), "--out", str(tmp_path / "pack.json"), "-q"])
    assert code == 1
    diff = json.loads((tmp_path / "pack.json").read_text(encoding="utf-8"))
    diff_texts = [it["text"] for g in diff["groups"] for it in g["items"]]
    pages["calibration"] = (render_calibration(diff), [next(t for t in diff_texts if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", t)),
                                                       next(t for t in diff_texts if re.search(r"[\uac00-\ud7a3]", t))])
    for name, (html, texts) in pages.items():
        page = tmp_path / f"{name}.html"
        page.write_text(html, encoding="utf-8")
        attrs, text = _visible_text(browser, page, tmp_path)
        assert attrs == {"data-images": "0", "data-images-ok": "0", "data-errors": "0", "data-rendered": "1"}, name
        # The CJK fonts' PDF text maps give some ideographs as their compatibility forms (日 as the
        # Kangxi radical ⽇); NFKC folds them back. A narrow cell may wrap a query, so whitespace is dropped.
        flat = "".join(unicodedata.normalize("NFKC", text).split())
        for t in texts:
            assert "".join(unicodedata.normalize("NFKC", t).split()) in flat, (name, t)


def test_score_keep_columns_feeds_the_dashboard(capsys, tmp_path, clf):
    """score --keep-columns, then dashboard on its output, equals dashboard --model on the raw logs."""
    texts = ["猫 飼い方", "死にたい", "자살 방법", "고양이 사료 추천", "ぶっ殺す", "부산 여행"] * 2
    raw = write_jsonl(tmp_path / "raw.jsonl", [{"ts": f"2026-11-0{1 + i % 2}T12:00:00Z", "text": t,
                                                "market": "jp" if i % 2 else "kr"} for i, t in enumerate(texts)])
    code, _, _ = run(capsys, "score", raw, "--keep-columns", "--out", tmp_path / "scored.jsonl", "-q")
    assert code == 0
    first = json.loads((tmp_path / "scored.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert list(first) == ["line", "text", "ts", "market", "scores", "flagged"]
    a = build_dashboard(str(tmp_path / "scored.jsonl"))
    b = build_dashboard(str(raw), classifier=clf)
    assert a["slices"] == b["slices"] and a["top_flagged"] == b["top_flagged"] and a["n"] == b["n"] == 12


def test_score_keep_columns_refuses_a_column_it_would_overwrite(capsys, tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": "猫", "scores": 1}])
    code, out, err = run(capsys, "score", path, "--keep-columns")
    assert (code, out) == (2, "")
    assert err == (f"searchsafe: error: {path}:1: --keep-columns: the input's column 'scores' would overwrite the "
                   "output's own; rename it\n")
