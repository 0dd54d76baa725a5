"""searchsafe.spark on a real local[2] Spark session: scores, flags, samples and metrics equal the library's."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import searchsafe
from searchsafe._classifier import default_model_path

pytestmark = [pytest.mark.xdist_group("spark")]

ROOT = Path(__file__).resolve().parent.parent
JAVA = shutil.which("java") or (os.environ.get("JAVA_HOME") and Path(os.environ["JAVA_HOME"], "bin", "java"))

# (query, what it is): Japanese and Korean, benign and harmful, evasive spellings, blanks.
CASES = [
    ("猫 飼い方", "ja benign"),
    ("東京 天気", "ja benign"),
    ("同級生 住所 特定", "ja harassment"),
    ("ｸﾗｽﾒｲﾄ 住所 特定", "ja half-width"),
    ("死・に・た・い", "ja separators"),
    ("고양이 사료 추천", "ko benign"),
    ("전여친 신상털기", "ko harassment"),
    ("자살 방법", "ko self_harm"),
    ("ㅈㅏㅅㅏㄹ", "ko jamo"),
    ("dkssud ＳＥＯＵＬ", "ko typed in QWERTY"),
    ("ラーメン 라면", "mixed"),
    ("", "empty"),
    ("   ", "whitespace"),
    (None, "null"),
    ("あ" * 400, "longer than MAX_QUERY_CHARS"),
]


@pytest.fixture(scope="session")
def spark():
    if not JAVA:
        pytest.skip("Spark needs Java 17 or newer: apt-get install default-jre-headless")
    from searchsafe import spark as ss

    session = ss.session("local[2]", "searchsafe-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def queries() -> list[str | None]:
    with open(ROOT / "data" / "test.jsonl", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f][:1500]
    return [q for q, _ in CASES] + texts


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.fixture(scope="module")
def scored(spark, queries) -> list:
    from searchsafe import spark as ss

    # Five slices in order: Spark keeps each partition's order, and collect() the partitions'.
    rdd = spark.sparkContext.parallelize([(i, q) for i, q in enumerate(queries)], 5)
    return ss.score(spark.createDataFrame(rdd, "id long, query string")).collect()


def test_scores_equal_score_batch_bit_for_bit(scored, clf, queries) -> None:
    cats = clf.categories
    assert [r["id"] for r in scored] == list(range(len(queries)))
    assert [r["query"] for r in scored] == queries
    got = np.array([[r[f"score_{c}"] for c in cats] for r in scored], dtype=np.float32)
    assert np.array_equal(_bits(got), _bits(clf.score_batch(queries)))
    flags = np.array([[r[f"flag_{c}"] for c in cats] for r in scored], dtype=bool)
    assert np.array_equal(flags, clf.predict_batch(queries))


@pytest.mark.parametrize(("i", "query", "what"), [(i, q, w) for i, (q, w) in enumerate(CASES)])
def test_each_case_as_the_library_scores_it_alone(scored, clf, i, query, what) -> None:
    row = scored[i]
    assert row["query"] == query
    expected = clf.score(query)
    assert {c: row[f"score_{c}"] for c in clf.categories} == expected, what
    assert [c for c in clf.categories if row[f"flag_{c}"]] == clf.predict(query), what
    if not (query or "").strip():
        assert set(expected.values()) == {0.0}


def test_schema_keeps_every_column_and_adds_scores_then_flags(spark, clf) -> None:
    import datetime

    from searchsafe import spark as ss

    df = spark.createDataFrame(
        [(1, "猫 飼い方", 2.5, datetime.datetime(2026, 12, 1, 9, 30), ["a", "b"], {"k": 1}),
         (2, None, None, None, None, None)],
        "id int, query string, x double, at timestamp, tags array<string>, m map<string,int>")
    out = ss.score(df)
    assert out.columns == df.columns + ss.output_columns(clf.categories)
    types = dict(out.dtypes)
    assert {types[f"score_{c}"] for c in clf.categories} == {"float"}
    assert {types[f"flag_{c}"] for c in clf.categories} == {"boolean"}
    rows = out.collect()
    assert [tuple(r)[:6] for r in rows] == [tuple(r) for r in df.collect()]


def test_all_null_column_scores_zero(spark, clf) -> None:
    from pyspark.sql import functions as F

    from searchsafe import spark as ss

    df = spark.range(3).withColumn("query", F.lit(None))
    rows = ss.score(df).collect()
    assert {r[f"score_{c}"] for r in rows for c in clf.categories} == {0.0}


def test_model_loads_once_per_python_worker(spark) -> None:
    import pyarrow as pa

    from searchsafe import spark as ss

    rdd = spark.sparkContext.parallelize([(f"猫 {i}",) for i in range(400)], 8)
    df = spark.createDataFrame(rdd, "query string")
    assert ss.score(df).count() == 400

    def report(batches):
        import os as _os

        from searchsafe import spark as worker_ss

        for _ in batches:
            pass
        loads = worker_ss.loads_in_this_process()
        yield pa.RecordBatch.from_pylist([{"pid": _os.getpid(), "loads": json.dumps(loads)}])

    probes = spark.range(0, 8, numPartitions=8).mapInArrow(report, "pid long, loads string").collect()
    digest = "model:" + __import__("hashlib").sha256((default_model_path() / "manifest.json").read_bytes()).hexdigest()
    counts = {r["pid"]: json.loads(r["loads"]) for r in probes}
    assert any(digest in c for c in counts.values())
    assert {c[digest] for c in counts.values() if digest in c} == {1}


# -- errors ------------------------------------------------------------------
def test_non_string_text_column_is_an_error(spark) -> None:
    from searchsafe import spark as ss

    df = spark.createDataFrame([(1,)], "query long")
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        ss.score(df)
    assert str(e.value) == ("text_col 'query' is a bigint column; queries must be strings "
                            "(cast it: df.withColumn('query', df['query'].cast('string')))")
    assert isinstance(e.value, TypeError)


def test_missing_text_column_is_an_error(spark) -> None:
    from searchsafe import spark as ss

    df = spark.createDataFrame([("猫",)], "text string")
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        ss.score(df)
    assert str(e.value) == "text_col 'query' is not a column of the DataFrame (columns: text)"


def test_column_clash_is_an_error(spark) -> None:
    from searchsafe import spark as ss

    df = spark.createDataFrame([("猫", 1.0)], "query string, score_hate double")
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        ss.score(df)
    assert str(e.value) == ("the DataFrame already has columns named score_hate, which score() adds; "
                            "drop or rename them first")


def test_not_a_dataframe_and_bad_distribute_are_errors(spark) -> None:
    from searchsafe import spark as ss

    with pytest.raises(searchsafe.InvalidParameterError) as e:
        ss.score(["猫"])
    assert str(e.value) == "df must be a pyspark.sql.DataFrame; got list"
    df = spark.createDataFrame([("猫",)], "query string")
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        ss.score(df, distribute="copy")
    assert str(e.value) == "distribute must be one of ('ship', 'path'); got 'copy'"
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        ss.score(df, market="jp")
    assert str(e.value) == "market= needs policy=; give the policy file that defines the market"


def test_tampered_model_is_refused_on_the_driver(spark, tmp_path) -> None:
    from searchsafe import spark as ss

    bad = tmp_path / "bad-model"
    shutil.copytree(default_model_path(), bad)
    with open(bad / "weights.npz", "r+b") as f:
        f.seek(100)
        f.write(b"\0\0\0\0")
    df = spark.createDataFrame([("猫",)], "query string")
    with pytest.raises(searchsafe.ModelError, match=r"weights.npz: sha256 .* does not match the manifest's"):
        ss.score(df, model=bad)
    with pytest.raises(searchsafe.ModelError) as e:
        ss.score(df, model=tmp_path / "nowhere")
    assert str(e.value) == f"{tmp_path / 'nowhere'}: no such model directory (use 'default' for the bundled model)"


def test_executor_refuses_a_model_that_changed_after_the_driver_checked_it(spark, tmp_path) -> None:
    from searchsafe import spark as ss

    model = tmp_path / "model"
    shutil.copytree(default_model_path(), model)
    df = spark.createDataFrame([("猫",)], "query string")
    scored = ss.score(df, model=model, distribute="path")
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    manifest["name"] = "changed"
    (model / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(searchsafe.ModelError, match=r"this executor's model \(sha256 .*\) differs from the driver's"):
        ss._run(scored.collect)


POLICY = """\
[market.jp]
language = "ja"
[market.jp.categories.sexual]
threshold = 0.5
action = "block"
[market.jp.categories.harassment]
action = "downrank"
"""


@pytest.mark.parametrize("which", ["default", "file"])
def test_policy_adds_action_and_escalate(spark, clf, tmp_path, which) -> None:
    from searchsafe import spark as ss

    df = spark.createDataFrame([(i, q) for i, (q, _) in enumerate(CASES)], "id long, query string")
    if not hasattr(searchsafe, "load_policy"):
        with pytest.raises(searchsafe.InvalidParameterError, match=r"policy= needs searchsafe.load_policy"):
            ss.score(df, policy="default", market="jp")
        pytest.skip("searchsafe.load_policy is not in this searchsafe yet (the policy branch adds it)")
    if which == "file":
        policy = tmp_path / "policy.toml"
        policy.write_text(POLICY, encoding="utf-8")
        guard = searchsafe.load_policy(str(policy), market="jp", classifier=clf)
    else:
        policy = "default"
        guard = searchsafe.load_policy(market="jp", classifier=clf)
    texts = [q for q, _ in CASES]
    rows = ss.score(df, policy=policy, market="jp").collect()
    codes = guard.decide_batch(texts)
    assert [r["action"] for r in rows] == [searchsafe.ACTIONS[int(c)] for c in codes]
    assert [r["escalate"] for r in rows] == [bool(x) for x in codes.escalate]
    assert {r["action"] for r in rows} <= set(searchsafe.ACTIONS)


# -- sample and evaluate -----------------------------------------------------
def test_sample_is_the_command_lines_sample(spark, queries, tmp_path) -> None:
    from searchsafe import spark as ss
    from searchsafe.cli import main

    texts = [q for q in queries if q is not None and "\n" not in q and q.strip() == q and q][:1200]
    src = tmp_path / "queries.txt"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "audit.csv"
    assert main(["sample", "default", str(src), "--n", "60", "--seed", "5", "--out", str(out), "--quiet"]) == 0
    with open(out, encoding="utf-8-sig", newline="") as f:
        expected = list(csv.DictReader(f))
    # Three slices of the data in order, as a file read in parts would be.
    df = spark.createDataFrame(spark.sparkContext.parallelize([(t,) for t in texts], 3), "query string")
    result = ss.sample(df, 60, seed=5)
    got = result.rows.collect()
    assert result.total == len(texts)
    assert [(r["sample_id"], r["query"], f"{src}:{r['row_number']}", r["stratum"], r["category"], r["band"],
             f"{r['score']:.4f}", f"{r['threshold']:.4f}", r["model_flags"], f"{r['weight']:.3f}") for r in got] == [
        (int(e["sample_id"]), e["text"], e["where"], e["stratum"], e["category"], e["band"], e["score"],
         e["threshold"], e["model_flags"], e["weight"]) for e in expected]
    assert sum(sampled for _, sampled in result.strata.values()) == 60


def test_sample_parameters_are_checked(spark) -> None:
    from searchsafe import spark as ss

    df = spark.createDataFrame([("猫",)], "query string")
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        ss.sample(df, 0)
    assert str(e.value) == "n must be a positive integer; got 0"
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        ss.sample(df, 5, uncertain_width=2)
    assert str(e.value) == "uncertain_width must be a number from 0 to 1; got 2"


def test_evaluate_equals_the_single_machine_metrics(spark, clf) -> None:
    from searchsafe import spark as ss
    from searchsafe._metrics import evaluate_predictions

    with open(ROOT / "data" / "test.jsonl", encoding="utf-8") as f:
        recs = [json.loads(line) for line in f][:2500]
    texts = [r["text"] for r in recs]
    labels = [r["labels"] for r in recs]
    tags = [r.get("tags") or [] for r in recs]
    langs = [r.get("lang") for r in recs]
    # A third as comma-separated strings, the rest as arrays: both are label columns.
    df = spark.createDataFrame(
        [(t, ",".join(y), l if i % 2 else None, tg) for i, (t, y, l, tg) in enumerate(zip(texts, labels, langs, tags))],
        "query string, labels string, lang string, tags array<string>")
    got = ss.evaluate(df, "labels")
    index = {c: j for j, c in enumerate(clf.categories)}
    Y = np.zeros((len(texts), len(index)), dtype=bool)
    for i, y in enumerate(labels):
        for c in y:
            Y[i, index[c]] = True
    detected = [l if i % 2 else searchsafe.detect_language(searchsafe.normalize(t)) for i, (t, l) in
                enumerate(zip(texts, langs))]
    thresholds = np.array([clf.thresholds[c] for c in clf.categories], dtype=np.float32)
    expected = evaluate_predictions(Y, clf.score_batch(texts), thresholds, clf.categories, langs=detected, tags=tags)
    assert got["n"] == len(texts)
    for key in ("overall", "by_lang", "hard_negatives", "evasion"):
        assert got[key] == expected[key], key
    assert got["evasion"]["n"] > 0 and got["hard_negatives"]["n"] > 0


def test_evaluate_names_a_bad_label(spark) -> None:
    from searchsafe import spark as ss
    from searchsafe._data import DataError

    df = spark.createDataFrame([("猫", ""), ("犬", "hate,spam")], "query string, labels string").coalesce(1)
    with pytest.raises(DataError) as e:
        ss.evaluate(df, "labels", pr_auc=False)
    assert str(e.value) == ("'labels' in partition 0, row 2: unknown category 'spam'; known: child_safety, self_harm, "
                            "violence, violent_extremism, hate, harassment, sexual, animal_cruelty")
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        ss.evaluate(spark.createDataFrame([("猫", 1)], "query string, labels int"), "labels")
    assert str(e.value) == ("labels_col 'labels' is a int column; labels must be a string (comma-separated "
                            "categories) or an array of strings")


def test_import_searchsafe_does_not_import_pyspark() -> None:
    code = "import sys, searchsafe; searchsafe.load(); print('pyspark' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


# -- the command line ----------------------------------------------------------
def _read_dir(path: Path):
    import pyarrow.dataset as ds

    return ds.dataset(str(path), format="parquet", partitioning="hive").to_table()


def test_cli_scores_parquet_into_partitioned_parquet(spark, clf, queries, tmp_path, capsys) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from searchsafe.cli import main

    texts = queries[:600]
    days = ["2026-12-01", "2026-12-02", "2026-12-03"] * 200
    pq.write_table(pa.table({"text": texts, "day": days, "n": list(range(600))}), tmp_path / "logs.parquet")
    out = tmp_path / "scored"
    assert main(["spark", "score", str(tmp_path / "logs.parquet"), "--out", str(out), "--partition-by", "day"]) == 0
    err = capsys.readouterr().err
    assert f"wrote {out}" in err
    assert "scored 600 rows in" in err
    assert "stage " in err and " tasks, " in err
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["day=2026-12-01", "day=2026-12-02",
                                                                   "day=2026-12-03"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scored")]
    table = _read_dir(out).to_pylist()
    by_n = sorted(table, key=lambda r: r["n"])
    assert [r["text"] for r in by_n] == texts
    got = np.array([[r[f"score_{c}"] for c in clf.categories] for r in by_n], dtype=np.float32)
    assert np.array_equal(_bits(got), _bits(clf.score_batch(texts)))
    flagged = clf.predict_batch(texts).sum(axis=0)
    summary = ", ".join(f"{c} {int(k)}" for c, k in zip(clf.categories, flagged) if k)
    assert f"flagged: {summary}" in err
    # An existing output stays unless --force.
    assert main(["spark", "score", str(tmp_path / "logs.parquet"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"searchsafe: error: {out}: already exists; pass --force to replace it"


def test_cli_reads_csv_and_lines_and_writes_json_lines(spark, clf, tmp_path, capsys) -> None:
    from searchsafe.cli import main

    texts = [q for q, _ in CASES if q and q.strip() == q and "," not in q]
    (tmp_path / "q.csv").write_text("query,id\n" + "".join(f"{t},{i}\n" for i, t in enumerate(texts)),
                                    encoding="utf-8")
    out = tmp_path / "scored.jsonl"
    assert main(["spark", "score", str(tmp_path / "q.csv"), "--out", str(out), "--text-column", "query",
                 "--partitions", "2", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    rows = [json.loads(line) for part in sorted(out.glob("part-*")) for line in part.read_text("utf-8").splitlines()]
    rows.sort(key=lambda r: int(r["id"]))
    assert [r["query"] for r in rows] == texts
    # JSON holds each float32 as its shortest decimal, which reads back to the same bits.
    got = np.array([[r[f"score_{c}"] for c in clf.categories] for r in rows], dtype=np.float32)
    assert np.array_equal(_bits(got), _bits(clf.score_batch(texts)))
    (tmp_path / "q.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    out2 = tmp_path / "lines-out"
    assert main(["spark", "score", str(tmp_path / "q.txt"), "--out", str(out2), "--quiet"]) == 0
    assert [r["text"] for r in _read_dir(out2).to_pylist()] == texts


@pytest.mark.parametrize(("argv", "message"), [
    (["spark", "score", "{tmp}/missing.parquet", "--out", "{tmp}/o"], "{tmp}/missing.parquet: no such file or directory"),
    (["spark", "score", "{tmp}/q.parquet", "--out", "{tmp}/o", "--text-column", "body"],
     "{tmp}/q.parquet: no column 'body' (columns: text); use --text-column"),
    (["spark", "score", "{tmp}/q.parquet", "--out", "{tmp}/o", "--market", "jp"], "--market needs --policy"),
    (["spark", "score", "{tmp}/q.data", "--out", "{tmp}/o"],
     "{tmp}/q.data: cannot tell the format from the file name; pass --format (parquet, csv, tsv, jsonl, lines)"),
    (["spark", "score", "{tmp}/q.parquet", "--out", "{tmp}/o", "--conf", "spark.x"],
     "--conf 'spark.x': expected KEY=VALUE, e.g. spark.executor.memory=2g"),
    (["spark"], "choose a spark command: score (see 'searchsafe spark --help')"),
])
def test_cli_errors_are_one_line(spark, tmp_path, capsys, argv, message) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from searchsafe.cli import main

    pq.write_table(pa.table({"text": ["猫"]}), tmp_path / "q.parquet")
    (tmp_path / "q.data").write_text("x", encoding="utf-8")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert capsys.readouterr().err.strip() == "searchsafe: error: " + message.format(tmp=tmp_path)
    assert not (tmp_path / "o").exists()


def test_cli_outside_an_activated_venv_runs_workers_on_the_same_python(clf, tmp_path) -> None:
    # `/path/to/venv/bin/searchsafe spark score` with the venv not on PATH: the
    # workers must not start whatever `python3` PATH finds (one without pyarrow).
    if not JAVA:
        pytest.skip("Spark needs Java 17 or newer: apt-get install default-jre-headless")
    texts = ["猫 飼い方", "자살 방법", "東京 天気"]
    (tmp_path / "q.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env["JAVA_HOME"] = env.get("JAVA_HOME") or str(Path(os.path.realpath(JAVA)).parent.parent)
    proc = subprocess.run([sys.executable, "-m", "searchsafe", "spark", "score", str(tmp_path / "q.txt"),
                           "--out", str(tmp_path / "out"), "--master", "local[1]", "--quiet"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _read_dir(tmp_path / "out").to_pylist()
    assert sorted(r["text"] for r in rows) == sorted(texts)
    by_text = {r["text"]: r for r in rows}
    expected = clf.score_batch(texts)
    for t, row in zip(texts, expected):
        assert [by_text[t][f"score_{c}"] for c in clf.categories] == row.tolist()
