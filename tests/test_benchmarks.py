"""The benchmark suite runs and writes well-formed results (never timing thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import _common as C
from benchmarks import _report, peers, public

REPO = Path(__file__).resolve().parent.parent

PERCENTILES = [
    ([1.0], 50, 1.0),
    ([1.0, 3.0], 50, 2.0),
    ([1.0, 2.0, 3.0, 4.0, 5.0], 0, 1.0),
    ([1.0, 2.0, 3.0, 4.0, 5.0], 100, 5.0),
    ([1.0, 2.0, 3.0, 4.0, 5.0], 75, 4.0),
]

LEXICON = {
    "self_harm.tsv": "kind\ttext\tlabels\talone\tnote\nterm\t死にたい\t\t1\t\nmodifier\t方法\t\t\t\n",
    "harassment.tsv": "kind\ttext\tlabels\talone\tnote\n# a comment line\n"
                      "term\t리벤지포르노\tharassment,sexual\t1\t\nphrase\tＡＢＣ 晒し\t\t\t\n",
    "benign.tsv": "kind\tfamily\ttext\tnear\tnote\nquery\ttitle\t死にたい\tself_harm\t\n",
}
KEYWORD_CASES = [
    ("死にたい 方法", ["self_harm"]),
    ("死 に た い", ["self_harm"]),           # spaces are stripped before matching
    ("방법 없음", []),
    ("리벤지포르노 사이트", ["harassment", "sexual"]),
    ("abc晒し まとめ", ["harassment"]),        # NFKC and case-fold: ＡＢＣ == abc
    ("方法", []),                              # modifiers are not terms
    ("", []),
]


@pytest.mark.parametrize(("values", "q", "expected"), PERCENTILES)
def test_percentile(values, q, expected):
    assert C.percentile(values, q) == expected


def test_latency_summary_is_in_microseconds():
    s = C.latency_summary([1e-6] * 99 + [1e-3])
    assert (s["n"], s["p50_us"], s["max_us"]) == (100, 1.0, 1000.0)


@pytest.fixture(scope="module")
def keyword_filter(tmp_path_factory):
    root = tmp_path_factory.mktemp("lexicons")
    (root / "ja").mkdir()
    for name, text in LEXICON.items():
        (root / "ja" / name).write_text(text, encoding="utf-8")
    return peers.KeywordFilter.from_lexicons(root, peers._categories())


@pytest.mark.parametrize(("query", "expected"), KEYWORD_CASES)
def test_keyword_filter(keyword_filter, query, expected):
    cats = keyword_filter.categories
    assert [c for c, v in zip(cats, keyword_filter.score_one(query)) if v] == expected


def test_keyword_filter_batch_equals_singles_and_round_trips(keyword_filter, tmp_path):
    queries = [q for q, _ in KEYWORD_CASES]
    batch = keyword_filter.score_batch(queries)
    assert batch.shape == (len(queries), 8)
    assert np.array_equal(batch, np.vstack([keyword_filter.score_one(q) for q in queries]))
    keyword_filter.save(tmp_path)
    assert np.array_equal(peers.KeywordFilter.load(tmp_path).score_batch(queries), batch)


def _toy_data(path: Path, n: int = 60) -> None:
    path.mkdir()
    with open(path / "train.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            for text, lang in ((f"猫 {i} 飼い方{i % 7}", "ja"), (f"고양이 {i} 사료{i % 7}", "ko")):
                f.write(json.dumps({"text": text, "lang": lang, "labels": []}, ensure_ascii=False) + "\n")


def test_query_pool_never_repeats_and_recombines(tmp_path):
    _toy_data(tmp_path / "data")
    pool = C.QueryPool(data_dir=tmp_path / "data")
    taken = pool.take("ja", 100) + pool.take("ko", 100) + pool.take("mixed", 50)
    assert len(taken) == len(set(taken)) == 250
    assert all(len(q) <= pool.max_chars for q in taken)
    assert pool.stats()["handed_out"] == {"ja_original": 60, "ja_recombined": 65, "ko_original": 60,
                                          "ko_recombined": 65}


def test_query_pool_is_deterministic(tmp_path):
    _toy_data(tmp_path / "data")
    assert C.QueryPool(data_dir=tmp_path / "data").take("mixed", 150) == \
        C.QueryPool(data_dir=tmp_path / "data").take("mixed", 150)


def test_zipf_stream_repeats_the_head():
    pool = [f"q{i}" for i in range(1000)]
    stream, info = C.zipf_stream(pool, 5000)
    assert len(stream) == 5000
    assert stream.count("q0") > stream.count("q10") > stream.count("q500")
    assert info["distinct_fraction"] < 0.5


def test_public_skips_without_shared_data(tmp_path):
    res = public.run(quick=True, root=tmp_path / "absent")
    assert "skipped" in res
    assert public.tables(res) == res["skipped"]


def test_validate_catches_broken_results():
    assert _report.validate({}, ("speed",)) == ["speed: missing"]
    bad = {"peers": {"systems": {"searchsafe": {}}, "ratios": {}}}
    problems = _report.validate(bad, ("peers",))
    assert problems and problems[0].startswith("peers: missing systems")
    failed = {"public": {"error": "Traceback ...\nValueError: boom\n"}}
    assert _report.validate(failed, ("public",)) == ["public: failed: ValueError: boom"]


# The run takes most of a minute; setup.cfg's --dist loadscope keeps this module's tests on
# one worker, so it runs once.
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, cwd=str(REPO), timeout=900,
    )
    return proc, out


def test_quick_run_succeeds(quick_run):
    proc, _ = quick_run
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_quick_run_writes_well_formed_results(quick_run):
    proc, out = quick_run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    parts = ("speed", "peers") + (("public",) if C.SHARED_DATA.is_dir() else ()) + ("realtraffic",)
    assert _report.validate(results, parts) == []
    assert results["meta"]["quick"] is True
    assert set(results["peers"]["systems"]) == set(peers.SYSTEMS)
    for name in peers.PEERS:
        assert results["peers"]["ratios"][name]["batch_throughput"] > 0
    speed = results["speed"]
    assert all(v > 0 for lang in C.LANGS for v in speed["throughput"]["unique"][lang].values())
    assert speed["latency"]["mixed"]["p99_9_us"] >= speed["latency"]["mixed"]["p50_us"] > 0
    # Each cached run starts from a cache warmed on an earlier stream of the same Zipf law, so the head hits.
    assert all(0.5 < r <= 1 for r in speed["throughput"]["zipf_cached_hit_rate"].values())
    assert speed["scaling"]["workers"]["2"]["processes_seen"] == 2


def test_quick_run_writes_markdown_and_plots(quick_run):
    proc, out = quick_run
    md = (out / "RESULTS.md").read_text(encoding="utf-8")
    for heading in ("## Speed", "## Peers", "## Public Korean datasets", "## Real traffic", "Machine: "):
        assert heading in md
    assert md in proc.stdout
    for png in ("throughput_by_batch.png", "peers_quality_speed.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_benchmark_reports_fresh_process_times_and_no_training_stack(tmp_path):
    out = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "load.py"), "--repeats", "1", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text(encoding="utf-8"))
    for kind in ("searchsafe", "python"):
        times = res[kind]
        assert times["process_wall_s"]["median"] >= times["ready_s"]["median"] > 0
    assert res["searchsafe"]["heavy_modules_after_load"] == []  # no scikit-learn or scipy at import or load
    assert "heavy modules after load: none" in proc.stdout


def test_load_benchmark_refuses_zero_repeats():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "load.py"), "--repeats", "0"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.splitlines()[-1] == "load.py: error: --repeats must be at least 1"
