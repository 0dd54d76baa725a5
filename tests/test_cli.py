"""End-to-end tests of the ``searchsafe`` command line, run in-process through ``main([...])``.

A small model is trained once per module on a few hundred Japanese and Korean
queries built from the tables below, then every command runs against it, the
bundled default model, and files made here. Every bad-input path is checked
for its exact one-line message and exit code 2, and for leaving nothing
half-written.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import searchsafe
from searchsafe.cli import main

# -- the data: (category -> language -> seed queries) ---------------------------------
CATS = ("self_harm", "violence", "animal_cruelty")
SEEDS = {
    "self_harm": {
        "ja": ["死にたい", "消えたい 楽に", "自殺 方法", "リストカット やり方", "飛び降り 場所 高さ",
               "楽に死ねる 方法", "首吊り 方法", "睡眠薬 致死量", "一緒に死んでくれる人 募集", "練炭 やり方"],
        "ko": ["죽고 싶다", "자살 방법", "자해 방법", "손목 긋는 법", "투신 장소 추천",
               "같이 죽을 사람 구해요", "수면제 치사량", "번개탄 피우는 법", "목매는 방법", "조용히 사라지는 법"],
    },
    "violence": {
        "ja": ["人を殺す 方法", "爆弾 作り方", "毒薬 作り方 人に", "ナイフで 刺す 殺し方", "放火 やり方 バレない",
               "誘拐 方法 子供", "殺害予告 書き方", "拳銃 密造 方法", "人を 痛めつける 方法", "死体 処理 方法"],
        "ko": ["사람 죽이는 법", "폭탄 만드는 법", "독극물 구하는 법 사람", "칼로 찌르는 법", "방화 방법 들키지 않게",
               "납치 방법", "살인 청부", "총 만드는 법", "사람 때리는 법 흔적 없이", "시체 처리 방법"],
    },
    "animal_cruelty": {
        "ja": ["猫 殺す 方法", "犬 虐待 動画", "野良猫 毒餌 作り方", "動物 虐待 やり方", "猫 いじめ 動画",
               "犬 蹴る 動画", "ハムスター 殺し方", "鳩 毒 殺す", "猫 虐待 生配信", "子猫 捨てる 殺す"],
        "ko": ["고양이 학대 영상", "강아지 죽이는 법", "길고양이 독약", "동물 학대 방법", "고양이 괴롭히는 영상",
               "개 때리는 영상", "햄스터 죽이는 법", "비둘기 독 먹이기", "고양이 학대 생방송", "새끼 고양이 죽이기"],
    },
}
BENIGN = {
    "ja": ["猫 飼い方", "犬 しつけ 方法", "ラーメン 作り方", "東京 天気", "新幹線 予約", "カレー レシピ",
           "英語 勉強 方法", "ユニクロ セール", "京都 観光", "iPhone 修理"],
    "ko": ["고양이 키우기", "강아지 사료 추천", "라면 끓이는 법", "서울 날씨", "ktx 예매", "김치찌개 레시피",
           "영어 공부 방법", "다이소 추천템", "부산 여행", "아이폰 수리"],
}
#: Benign queries that contain words of harmful ones (tagged hard_negative).
HARD_NEGATIVES = {
    "ja": ["自殺 予防 相談", "殺人事件 ニュース", "進撃の巨人 最終回", "死ぬほど 美味しい ラーメン", "鬼滅の刃 映画",
           "害虫 駆除 方法", "魚 さばき方", "包丁 研ぎ方", "動物 保護 団体", "爆弾おにぎり 作り方"],
    "ko": ["자살 예방 상담", "살인 사건 뉴스", "배틀그라운드 킬 영상", "죽을 만큼 맛있는 라면", "오징어 게임 시즌2",
           "바퀴벌레 퇴치 방법", "생선 손질 방법", "칼 가는 법", "유기견 보호소 봉사", "폭탄주 만드는 법"],
}
#: Suffixes that turn each seed into several queries; train and dev use different ones.
TRAIN_SUFFIXES = {"ja": ["", " 教えて", " 知恵袋", " まとめ"], "ko": ["", " 알려줘", " 후기", " 정리"]}
DEV_SUFFIXES = {"ja": [" 簡単", " 2024"], "ko": [" 쉽게", " 2024"]}
COLUMNS = ["text", "lang", "labels", "group", "tags"]

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Finds the first Japanese and the first Korean query in the report, opens what
#: folds it away, and records on <html> whether it is laid out and whether its
#: characters are drawn as glyphs. Without a font for a script every character
#: is the same missing-glyph box, so one image shared by all distinct characters
#: of a query means boxes.
CJK_PROBE = """<script>
window.addEventListener("load", function () {
  var root = document.documentElement;
  var scripts = {ja: /[\\u3040-\\u30ff]/, ko: /[\\uac00-\\ud7a3]/};
  var spans = Array.prototype.slice.call(document.querySelectorAll(".q"));
  Object.keys(scripts).forEach(function (lang) {
    var el = spans.filter(function (s) { return scripts[lang].test(s.textContent); })[0];
    if (!el) { root.setAttribute("data-" + lang + "-query", ""); return; }
    for (var d = el.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) d.open = true;
    var style = getComputedStyle(el), box = el.getBoundingClientRect();
    var chars = Array.from(new Set(Array.from(el.textContent).filter(function (ch) { return ch.trim(); })));
    var images = chars.map(function (ch) {
      var c = document.createElement("canvas"); c.width = 48; c.height = 48;
      var ctx = c.getContext("2d");
      ctx.font = "32px " + style.fontFamily; ctx.textBaseline = "top"; ctx.fillText(ch, 4, 4);
      return Array.prototype.join.call(ctx.getImageData(0, 0, 48, 48).data, ",");
    });
    var inked = images.filter(function (im) { return /[1-9]/.test(im); }).length;
    root.setAttribute("data-" + lang + "-query", el.textContent);
    root.setAttribute("data-" + lang + "-visible",
                      box.width > 0 && box.height > 0 && style.visibility === "visible" ? "1" : "0");
    root.setAttribute("data-" + lang + "-glyphs",
                      chars.length > 1 && inked === chars.length && new Set(images).size === chars.length
                      ? "drawn" : "boxes");
  });
});
</script>"""
#: Options that keep a test model small and fast to train.
SMALL = ["--hash-bits", "12", "--sentencepiece-vocab-size", "0"]


def labeled_rows(suffixes: dict[str, list[str]]) -> list[dict[str, str]]:
    rows = []
    for cat, by_lang in SEEDS.items():
        for lang, seeds in by_lang.items():
            for seed, suffix in itertools.product(seeds, suffixes[lang]):
                rows.append({"text": seed + suffix, "lang": lang, "labels": cat, "group": f"{lang}:{cat}:{seed}",
                             "tags": ""})
    for table, tag in ((BENIGN, ""), (HARD_NEGATIVES, "hard_negative")):
        for lang, seeds in table.items():
            for seed, suffix in itertools.product(seeds, suffixes[lang]):
                rows.append({"text": seed + suffix, "lang": lang, "labels": "", "group": f"{lang}:benign:{seed}",
                             "tags": tag})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, columns)
        w.writeheader()
        w.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(directory: Path) -> list[str]:
    """Temporary files an interrupted write would leave behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp"))


# -- fixtures --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A directory of good and bad input files."""
    d = tmp_path_factory.mktemp("data")
    write_csv(d / "train.csv", labeled_rows(TRAIN_SUFFIXES))
    dev = labeled_rows(DEV_SUFFIXES)
    write_csv(d / "dev.csv", dev)
    write_jsonl(d / "dev.jsonl", [{**r, "labels": [r["labels"]] if r["labels"] else [],
                                   "tags": [r["tags"]] if r["tags"] else []} for r in dev])
    (d / "queries.txt").write_text("死にたい 教えて\n猫 飼い方\n\n고양이 학대 영상 후기\n부산 여행\n", encoding="utf-8")
    # Bad inputs.
    (d / "empty.txt").write_bytes(b"")
    write_csv(d / "empty.csv", [])
    (d / "bad_fields.csv").write_text("text,lang,labels,group,tags\n猫 飼い方,ja,,g,\n死にたい,ja,self_harm,g,,x\n",
                                      encoding="utf-8")
    (d / "bad.jsonl").write_text('{"text": "猫 飼い方", "labels": []}\n{"text": "死にたい", "labels": [\n',
                                 encoding="utf-8")
    (d / "latin1.txt").write_bytes("猫 飼い方\n".encode() + "caf\xe9\n".encode("latin-1"))
    write_csv(d / "unknown_label.csv", [{"text": "猫 飼い方", "labels": ""}, {"text": "死にたい", "labels": "spam"}],
              ["text", "labels"])
    write_csv(d / "hate_label.csv", [{"text": "外国人 出ていけ", "labels": "hate"}], ["text", "labels"])
    write_csv(d / "columns_mismatch.csv", [{"text": "死にたい", "self_harm": "1", "violence": "0", "hate": "0"}],
              ["text", "self_harm", "violence", "hate"])
    write_csv(d / "late_error.csv", labeled_rows(DEV_SUFFIXES)[:50] + [{"text": "x", "labels": "spam"}])
    (d / "notamodel").mkdir()
    return d


@pytest.fixture(scope="module")
def model(data, tmp_path_factory) -> Path:
    """A small model trained through the CLI on train.csv, thresholds chosen on dev.csv."""
    out = tmp_path_factory.mktemp("models") / "small"
    code = main(["train", str(data / "train.csv"), "--dev", str(data / "dev.csv"), "--out", str(out),
                 "--categories", ",".join(CATS), *SMALL, "-q"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def small_clf(model):
    return searchsafe.load(model)


# -- bad input: (name, argv, exact stderr) with {d} the data dir and {m} the model -------------
BAD_INPUT = [
    ("missing file", ["score", "{d}/nope.txt", "--model", "{m}"], "{d}/nope.txt: no such file"),
    ("missing labeled file", ["evaluate", "{m}", "{d}/nope.csv"], "{d}/nope.csv: no such file"),
    ("missing model", ["score", "{d}/queries.txt", "--model", "{d}/no_model"],
     "{d}/no_model: no such model directory (use 'default' for the bundled model)"),
    ("not a model directory", ["explain", "{d}/notamodel", "猫"],
     "{d}/notamodel: no manifest.json; not a searchsafe model directory"),
    ("wrong text column", ["evaluate", "{m}", "{d}/dev.csv", "--text-column", "query"],
     "{d}/dev.csv:2: no column 'query' (columns: text, lang, labels, group, tags); use --text-column"),
    ("wrong labels column", ["evaluate", "{m}", "{d}/dev.csv", "--labels-column", "label"],
     "{d}/dev.csv:2: no labels column 'label' and no per-category 0/1 columns "
     "(self_harm, violence, animal_cruelty); use --labels-column"),
    ("wrong column to score", ["score", "{d}/dev.jsonl", "--model", "{m}", "--text-column", "query"],
     "{d}/dev.jsonl:1: no column 'query' (columns: text, lang, labels, group, tags); use --text-column"),
    ("wrong id column", ["score", "{d}/dev.csv", "--model", "{m}", "--id-column", "qid"],
     "{d}/dev.csv:2: no column 'qid' (columns: text, lang, labels, group, tags); use --id-column"),
    ("unknown category in labels", ["evaluate", "{m}", "{d}/unknown_label.csv"],
     "{d}/unknown_label.csv:3: unknown category 'spam'; known: self_harm, violence, animal_cruelty"),
    ("category-set mismatch: columns", ["diff", "{m}", "labels", "{d}/columns_mismatch.csv"],
     "{d}/columns_mismatch.csv:2: the file's category columns (self_harm, violence, hate) differ from the "
     "categories of the model {m} (self_harm, violence, animal_cruelty)"),
    ("empty labeled file", ["evaluate", "{m}", "{d}/empty.csv"], "{d}/empty.csv: empty: no labeled rows"),
    ("empty query file", ["score", "{d}/empty.txt", "--model", "{m}"], "{d}/empty.txt: empty: no queries"),
    ("empty training file", ["train", "{d}/empty.csv", "--out", "{d}/m2"], "{d}/empty.csv: empty: no labeled rows"),
    ("malformed CSV line", ["evaluate", "{m}", "{d}/bad_fields.csv"], "{d}/bad_fields.csv:3: expected 5 fields, got 6"),
    ("malformed JSON line", ["score", "{d}/bad.jsonl", "--model", "{m}"],
     "{d}/bad.jsonl:2: not valid JSON (Expecting value)"),
    ("not UTF-8", ["score", "{d}/latin1.txt", "--model", "{m}"],
     "{d}/latin1.txt:2: not valid UTF-8; pass --encoding with the encoding the file was saved in "
     "(e.g. cp932, cp949)"),
    ("--fail-on unknown category", ["score", "{d}/queries.txt", "--model", "{m}", "--fail-on", "hate"],
     "--fail-on: unknown category 'hate'; the model has: self_harm, violence, animal_cruelty"),
    ("--category unknown", ["explain", "{m}", "猫", "--category", "sexual"],
     "--category: unknown category 'sexual'; the model has: self_harm, violence, animal_cruelty"),
    ("--id-column with plain lines", ["score", "{d}/queries.txt", "--model", "{m}", "--id-column", "id"],
     "--id-column needs a table input (csv, tsv, jsonl, parquet), not one query per line"),
    ("stdin table without --format", ["evaluate", "{m}", "-"],
     "<stdin>: pass --format (jsonl, csv, tsv) to read a table from stdin"),
    ("output directory missing", ["score", "{d}/queries.txt", "--model", "{m}", "--out", "{d}/nodir/out.jsonl"],
     "{d}/nodir/out.jsonl: cannot write: no directory {d}/nodir"),
    ("no command", [], "choose a command: score, train, evaluate, explain, diff, sample, agreement, info, verify, "
                       "sign, decide, policy, sweep, dashboard, labelers, rca, spark (see 'searchsafe --help')"),
    ("unknown command", ["predict"], "unknown command 'predict'; choose one of: score, train, evaluate, explain, "
                                     "diff, sample, agreement, info, verify, sign, decide, policy, sweep, dashboard, labelers, "
                                     "rca, spark (see 'searchsafe --help')"),
    ("train without --out", ["train", "{d}/train.csv"],
     "the following arguments are required: --out (see 'searchsafe train --help')"),
    ("sample --n 0", ["sample", "{m}", "{d}/dev.csv", "--n", "0"],
     "argument --n: must be a positive integer; got '0' (see 'searchsafe sample --help')"),
    ("--validation-split out of range", ["train", "{d}/train.csv", "--out", "{d}/m3", "--validation-split", "1.5"],
     "argument --validation-split: must be a fraction between 0 and 1 (exclusive); got '1.5' "
     "(see 'searchsafe train --help')"),
    ("--dev with --validation-split", ["train", "{d}/train.csv", "--out", "{d}/m4", "--dev", "{d}/dev.csv",
                                       "--validation-split", "0.2"],
     "argument --validation-split: not allowed with argument --dev (see 'searchsafe train --help')"),
    ("--hash-bits out of range", ["train", "{d}/train.csv", "--out", "{d}/m11", "--categories", ",".join(CATS),
                                  "--hash-bits", "40"],
     "argument --hash-bits: must be an integer from 10 to 26; got '40' (see 'searchsafe train --help')"),
    ("--C not positive", ["train", "{d}/train.csv", "--out", "{d}/m12", "--C", "0"],
     "argument --C: must be a positive number; got '0' (see 'searchsafe train --help')"),
    ("diff against labels in plain lines", ["diff", "{m}", "labels", "{d}/queries.txt", "--format", "lines"],
     "diff against 'labels' needs a labeled table (jsonl, csv, tsv, parquet)"),
    ("bad --target-precision", ["train", "{d}/train.csv", "--out", "{d}/m5", "--target-precision", "high"],
     "argument --target-precision: must be a number in (0, 1] or CATEGORY=NUMBER; got 'high' "
     "(see 'searchsafe train --help')"),
    ("--target-precision unknown category", ["train", "{d}/train.csv", "--out", "{d}/m6", "--categories",
                                             ",".join(CATS), "--target-precision", "hate=0.9"],
     "--target-precision: unknown category 'hate'; categories: self_harm, violence, animal_cruelty"),
    ("precision and recall for one category", ["train", "{d}/train.csv", "--out", "{d}/m7", "--categories",
                                               ",".join(CATS), "--dev", "{d}/dev.csv", "--target-precision",
                                               "violence=0.9", "--target-recall", "violence=0.8"],
     "category 'violence' has both a target precision and a target recall; give one"),
    ("--target-recall without held-out data", ["train", "{d}/train.csv", "--out", "{d}/m8", "--target-recall", "0.9"],
     "--target-recall needs held-out data to choose thresholds on: pass --dev FILE or --validation-split FRACTION"),
    ("--out-of-core from stdin", ["train", "-", "--format", "csv", "--out", "{d}/m10", "--out-of-core",
                                  "--validation-split", "0.2"],
     "--out-of-core reads the data several times and cannot read stdin; pass a file"),
    ("train over a directory that is not a model", ["train", "{d}/train.csv", "--out", "{d}/notamodel"],
     "{d}/notamodel: exists and is not a searchsafe model directory; choose a new --out"),
    ("train over a model without --force", ["train", "{d}/train.csv", "--out", "{m}"],
     "{m}: a model is already there; pass --force to replace it"),
    ("diff against labels with plain lines", ["diff", "{m}", "labels", "{d}/queries.txt"],
     "{d}/queries.txt: a .txt file is one query per line and holds no labels; name a labeled table .tsv, .csv "
     "or .jsonl, or pass --format (jsonl, csv, tsv, parquet)"),
    ("agreement with one file", ["agreement", "{d}/dev.csv"],
     "agreement needs at least two label files, one per labeler; got 1"),
    ("agreement with a duplicate item", ["agreement", "{d}/dev.csv", "{d}/train.csv", "--id-column", "group"],
     "{d}/dev.csv:3: duplicate item 'ja:self_harm:死にたい' (also at {d}/dev.csv:2); each item may appear "
     "once per file"),
    ("agreement with nothing in common", ["agreement", "{d}/dev.csv", "{d}/train.csv", "--categories", ",".join(CATS)],
     "no item appears in every file (aligned by text)"),
    ("info on a missing model", ["info", "{d}/no_model"],
     "{d}/no_model: no such model directory (use 'default' for the bundled model)"),
    ("verify a missing model", ["verify", "{d}/no_model"],
     "{d}/no_model: no such model directory (use 'default' for the bundled model)"),
]


@pytest.mark.parametrize("argv, message", [pytest.param(a, m, id=n) for n, a, m in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(capsys, data, model, argv, message):
    fill = {"d": str(data), "m": str(model)}
    before = sorted(p.name for p in data.iterdir())
    code, out, err = run(capsys, *(a.format(**fill) for a in argv))
    assert (code, err) == (2, f"searchsafe: error: {message.format(**fill)}\n")
    assert out == ""
    assert sorted(p.name for p in data.iterdir()) == before  # nothing written, nothing half-written


def test_errors_mid_stream_leave_no_output_file(capsys, data, model, tmp_path):
    # Bad lines after dozens of good ones: every output is written whole or not at all.
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    late = data / "late_error.csv"  # 50 good rows, then an unknown category on line 52
    unknown = f"searchsafe: error: {late}:52: unknown category 'spam'; known: self_harm, violence, animal_cruelty\n"
    for argv in (["evaluate", model, late, "--json", outputs / "e.json", "--html", outputs / "e.html"],
                 ["diff", model, "labels", late, "--out", outputs / "d.csv"],
                 ["sample", model, late, "--n", "5", "--out", outputs / "s.csv"],
                 ["train", data / "train.csv", late, "--out", outputs / "m", "--categories", ",".join(CATS), *SMALL]):
        if argv[0] == "sample":
            # sample reads only the text column, so line 52 is fine there; break the text instead.
            late_text = inputs / "late_text.jsonl"
            late_text.write_text('{"text": "猫 飼い方"}\n' * 40 + '{"text": 7}\n', encoding="utf-8")
            argv[2] = late_text
            expected = f"searchsafe: error: {late_text}:41: 'text' must be a string; got int\n"
        else:
            expected = unknown
        assert run(capsys, *argv, "-q") == (2, "", expected)
    lines = inputs / "late.txt"
    lines.write_bytes(("猫 飼い方\n" * 40).encode() + b"\xff\n")
    code, out, err = run(capsys, "score", lines, "--model", model, "--out", outputs / "s.jsonl", "--batch-size", "8")
    assert (code, out, err) == (2, "", f"searchsafe: error: {lines}:41: not valid UTF-8; pass --encoding with the "
                                       "encoding the file was saved in (e.g. cp932, cp949)\n")
    jsonl = inputs / "late.jsonl"
    jsonl.write_text('{"text": "猫 飼い方"}\n' * 40 + '{"text": "死にたい"\n', encoding="utf-8")
    code, out, err = run(capsys, "score", jsonl, "--model", model, "--out", outputs / "s.jsonl", "--batch-size", "8")
    assert (code, out, err) == (2, "", f"searchsafe: error: {jsonl}:41: not valid JSON (Expecting ',' delimiter)\n")
    assert sorted(p.name for p in outputs.iterdir()) == []


@pytest.mark.parametrize("argv", [["score", "-"], ["explain", "default", "-"], ["train", "-", "--format", "csv",
                                                                                  "--out", "m"]])
def test_reading_stdin_when_there_is_none(capsys, monkeypatch, argv):
    monkeypatch.setattr(sys, "stdin", None)
    assert run(capsys, *argv) == (2, "", "searchsafe: error: <stdin>: there is no standard input to read; "
                                         "give a file instead of '-'\n")


def test_evaluate_html_without_matplotlib_says_what_to_install(capsys, data, model, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, out, err = run(capsys, "evaluate", model, data / "dev.csv", "--json", tmp_path / "e.json",
                         "--html", tmp_path / "e.html")
    assert (code, out) == (2, "")
    assert err == ("searchsafe: error: the HTML report needs matplotlib, which is not installed: "
                   "pip install matplotlib (or, in a clone of searchsafe, pip install '.[report]')\n")
    assert list(tmp_path.iterdir()) == []


# -- help, version, python -m ---------------------------------------------------------------
def test_help_lists_every_command_and_exit_codes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("score", "train", "evaluate", "explain", "diff", "sample", "agreement", "info", "verify",
                    "dashboard", "labelers", "rca"):
        assert command in out
    assert "3 verify failed" in " ".join(out.split())
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "--out-of-core" in out and "--target-recall" in out


def test_python_dash_m_runs_the_cli():
    root = Path(searchsafe.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "searchsafe", "--version"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert (proc.returncode, proc.stdout) == (0, f"searchsafe {searchsafe.__version__}\n")


# -- train --------------------------------------------------------------------------------
def test_train_writes_a_model_directory_like_the_default(model, small_clf, data):
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "searchsafe-model"
    assert manifest["categories"] == list(CATS)
    training = manifest["training"]
    assert training["mode"] == "in-memory"
    assert training["threshold_source"] == "dev"
    assert training["n_train"] == training["n_rows"] == len(labeled_rows(TRAIN_SUFFIXES))
    assert training["n_dev"] == len(labeled_rows(DEV_SUFFIXES))
    assert set(training["data_files"]) == {str(data / "train.csv")}
    assert training["targets"]["violence"] == {"kind": "precision", "value": 0.9}  # high severity default
    assert training["targets"]["animal_cruelty"] == {"kind": "f1", "value": None}
    assert training["command"].startswith("searchsafe train ")
    assert set(manifest["metrics"]["dev"]["overall"]["categories"]) == set(CATS)
    assert [p.name for p in model.parent.iterdir()] == ["small"]  # no temporary directories left
    assert small_clf.predict("死にたい 教えて") == ["self_harm"]
    assert small_clf.predict("고양이 학대 영상 쉽게") == ["animal_cruelty"]
    assert small_clf.predict("부산 여행") == []


def test_train_shows_progress_unless_quiet_and_reads_stdin(capsys, data, tmp_path, monkeypatch):
    rows = [r for r in labeled_rows(TRAIN_SUFFIXES) if r["labels"] in ("", "animal_cruelty")]
    text = "".join(json.dumps({"text": r["text"], "labels": [r["labels"]] if r["labels"] else []},
                              ensure_ascii=False) + "\n" for r in rows)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8"))
    code, out, err = run(capsys, "train", "-", "--format", "jsonl", "--out", tmp_path / "m", "--categories",
                         "animal_cruelty", *SMALL)
    assert (code, out) == (0, "")
    assert "training categories" in err and "100%" in err  # the tqdm bar
    assert f"wrote {tmp_path / 'm'}" in err
    assert "no held-out data: thresholds come from out-of-fold scores" in err
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["training"]["data_files"] == {"-": None}
    assert manifest["training"]["threshold_source"] == "out-of-fold"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8"))
    code, out, err = run(capsys, "train", "-", "--format", "jsonl", "--out", tmp_path / "m", "--force",
                         "--categories", "animal_cruelty", *SMALL, "--quiet")
    assert (code, out, err) == (0, "", "")


def test_train_warns_about_a_category_without_examples(capsys, tmp_path):
    rows = [r for r in labeled_rows(TRAIN_SUFFIXES) if r["labels"] in ("", "self_harm")]
    write_csv(tmp_path / "self_harm.csv", rows)
    code, _, err = run(capsys, "train", tmp_path / "self_harm.csv", "--out", tmp_path / "m", "--categories",
                       "self_harm,sexual", *SMALL, "-q")
    assert code == 0
    assert err == "searchsafe: warning: category 'sexual' has only negative examples; it will never be flagged\n"


def test_train_on_per_category_columns_infers_the_categories(capsys, data, tmp_path):
    rows = [{"text": r["text"], **{c: int(r["labels"] == c) for c in CATS}} for r in labeled_rows(TRAIN_SUFFIXES)]
    write_csv(tmp_path / "columns.csv", rows, ["text", *CATS])
    code, _, err = run(capsys, "train", tmp_path / "columns.csv", "--out", tmp_path / "m", *SMALL, "-q")
    assert (code, err) == (0, "")
    assert json.loads((tmp_path / "m" / "manifest.json").read_text(encoding="utf-8"))["categories"] == list(CATS)
    code, out, err = run(capsys, "score", "--model", tmp_path / "m", data / "queries.txt", "-q")
    assert (code, err) == (0, "") and len(out.splitlines()) == 5


def test_train_validation_split_and_target_recall(capsys, data, tmp_path):
    code, _, err = run(capsys, "train", data / "train.csv", data / "dev.csv", "--out", tmp_path / "m",
                       "--categories", ",".join(CATS), "--validation-split", "0.3", "--seed", "7",
                       "--target-recall", "0.95", "--target-precision", "animal_cruelty=0.9", *SMALL, "-q")
    assert (code, err) == (0, "")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text(encoding="utf-8"))
    training = manifest["training"]
    assert training["validation_split"] == 0.3 and training["seed"] == 7
    assert training["n_rows"] + training["n_dev"] == len(labeled_rows(TRAIN_SUFFIXES)) + len(labeled_rows(DEV_SUFFIXES))
    assert training["targets"] == {"self_harm": {"kind": "recall", "value": 0.95},
                                   "violence": {"kind": "recall", "value": 0.95},
                                   "animal_cruelty": {"kind": "precision", "value": 0.9}}
    dev = manifest["metrics"]["dev"]["overall"]["categories"]
    assert dev["self_harm"]["recall"] >= 0.95 and dev["violence"]["recall"] >= 0.95
    # About 30% held out; the split draws whole groups, so the share is not exact.
    assert 0.15 < training["n_dev"] / (training["n_rows"] + training["n_dev"]) < 0.45


def test_train_out_of_core(capsys, data, small_clf, tmp_path):
    code, _, err = run(capsys, "train", data / "train.csv", "--dev", data / "dev.jsonl", "--out", tmp_path / "ooc",
                       "--categories", ",".join(CATS), "--out-of-core", "--chunk-size", "64", "--epochs", "4",
                       *SMALL, "-q")
    assert (code, err) == (0, "")
    manifest = json.loads((tmp_path / "ooc" / "manifest.json").read_text(encoding="utf-8"))
    training = manifest["training"]
    assert training["mode"] == "out-of-core" and training["estimator"]["kind"] == "out-of-core"
    assert (training["chunk_size"], training["epochs"]) == (64, 4)
    assert training["n_train"] == len(labeled_rows(TRAIN_SUFFIXES))
    assert training["positives"] == {c: 2 * 10 * 4 for c in CATS}
    clf = searchsafe.load(tmp_path / "ooc")
    n_rows = 1 << manifest["features"]["hash_bits"]
    assert 0 < manifest["n_weights"] <= n_rows  # compact: only rows that carry weight
    assert clf.predict("死にたい 教えて") == ["self_harm"]
    assert clf.predict("부산 여행") == []
    # Dev metrics are those of the model as written.
    dev = labeled_rows(DEV_SUFFIXES)
    P = clf.score_batch([r["text"] for r in dev])
    flagged = P[:, CATS.index("violence")] >= clf.thresholds["violence"]
    truth = np.array([r["labels"] == "violence" for r in dev])
    assert manifest["metrics"]["dev"]["overall"]["categories"]["violence"]["tp"] == int((flagged & truth).sum())
    assert manifest["metrics"]["dev"]["overall"]["macro_f1"] > 0.6


def test_out_of_core_memory_stays_flat(data, tmp_path):
    """Eight times the rows: out-of-core training peaks at the same memory; in-memory training does not."""
    import tracemalloc

    rows = labeled_rows(TRAIN_SUFFIXES)
    write_csv(tmp_path / "x1.csv", rows)
    write_csv(tmp_path / "x8.csv", rows * 8)  # the same texts, so tokenizer caches do not grow either

    def peak(source: str, *options: str) -> int:
        tracemalloc.start()
        try:
            assert main(["train", str(tmp_path / source), "--dev", str(data / "dev.csv"), "--out",
                         str(tmp_path / "m"), "--force", "--categories", ",".join(CATS), *SMALL, "-q",
                         *options]) == 0
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    ooc = ["--out-of-core", "--chunk-size", "100", "--epochs", "1"]
    peak("x1.csv", *ooc)  # load dictionaries and caches first
    small, large = peak("x1.csv", *ooc), peak("x8.csv", *ooc)
    assert large < 1.25 * small
    assert peak("x8.csv") > 3 * large  # the control: loading all rows does grow


# -- score --------------------------------------------------------------------------------
def test_score_writes_json_lines_matching_the_library(capsys, data, model, small_clf):
    code, out, err = run(capsys, "score", data / "queries.txt", "--model", model, "-q")
    assert (code, err) == (0, "")
    records = [json.loads(line) for line in out.splitlines()]
    texts = (data / "queries.txt").read_text(encoding="utf-8").splitlines()
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["text"] for r in records] == texts
    P = small_clf.score_batch(texts)
    for r, p in zip(records, P):
        assert list(r["scores"]) == list(CATS)
        assert np.allclose(list(r["scores"].values()), p, atol=1e-6)
        assert r["flagged"] == [c for c, x in zip(CATS, p) if x >= small_clf.thresholds[c]]
    assert records[0]["flagged"] == ["self_harm"] and records[2]["flagged"] == []  # blank line scores 0


def test_score_table_column_with_ids_to_an_atomic_file(capsys, data, model, tmp_path):
    out_file = tmp_path / "scores.jsonl"
    code, out, err = run(capsys, "score", data / "dev.csv", "--model", model, "--id-column", "group",
                         "--out", out_file, "--fail-on", "violence", "--batch-size", "7")
    assert code == 1  # dev.csv has violent queries
    assert out == ""
    assert err.endswith("searchsafe: --fail-on: queries flagged for violence ("
                        + err.rsplit("violence (", 1)[1])
    assert re.search(r"scored 200 queries; flagged: self_harm \d+, violence \d+, animal_cruelty \d+\n", err)
    records = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 200
    assert records[0] == {**records[0], "line": 2, "id": "ja:self_harm:死にたい", "text": "死にたい 簡単"}
    assert leftovers(tmp_path) == []


def test_score_fail_on_exits_0_when_nothing_is_flagged(capsys, model, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("猫 飼い方\n부산 여행\n"))
    code, out, err = run(capsys, "score", "--model", model, "--fail-on", "self_harm", "--fail-on", "violence")
    assert code == 0
    assert [json.loads(line)["flagged"] for line in out.splitlines()] == [[], []]
    assert err == "scored 2 queries; flagged: none\n"


def test_score_default_model_from_stdin_bytes(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\ufeff死にたい\r\n猫 飼い方\r\n".encode())))
    code, out, _ = run(capsys, "score", "-", "--fail-on", "self_harm", "-q")
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in records] == ["死にたい", "猫 飼い方"]
    assert records[0]["flagged"] == ["self_harm"] and len(records[0]["scores"]) == 8


def test_score_streams_output_before_the_input_ends(model, monkeypatch):
    # Batches of 10: the first results must be out while line 25 is still unread.
    out = io.StringIO()
    seen: list[int] = []

    def lines():
        for i in range(30):
            if i == 25:
                seen.append(out.getvalue().count("\n"))
            yield f"猫 飼い方 {i}\n".encode()

    class Stdin:
        buffer = lines()

    monkeypatch.setattr(sys, "stdin", Stdin())
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["score", "--model", str(model), "--batch-size", "10", "-q"]) == 0
    assert seen == [20]
    assert out.getvalue().count("\n") == 30


# -- evaluate -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report(data, model, tmp_path_factory) -> tuple[dict, Path]:
    d = tmp_path_factory.mktemp("report")
    code = main(["evaluate", str(model), str(data / "dev.csv"), "--json", str(d / "eval.json"),
                 "--html", str(d / "report.html"), "-q"])
    assert code == 0
    return json.loads((d / "eval.json").read_text(encoding="utf-8")), d / "report.html"


def test_evaluate_json_metrics_match_the_model(report, data, small_clf):
    result, _ = report
    rows = labeled_rows(DEV_SUFFIXES)
    P = small_clf.score_batch([r["text"] for r in rows])
    for j, c in enumerate(CATS):
        flagged = P[:, j] >= small_clf.thresholds[c]
        truth = np.array([r["labels"] == c for r in rows])
        m = result["overall"]["categories"][c]
        assert (m["tp"], m["fp"], m["fn"]) == (int((flagged & truth).sum()), int((flagged & ~truth).sum()),
                                               int((~flagged & truth).sum()))
        assert 0 <= m["pr_auc"] <= 1
    assert result["n"] == len(rows) and result["categories"] == list(CATS)
    assert set(result["by_lang"]) == {"ja", "ko"}
    assert result["hard_negatives"]["n"] == 2 * 10 * 2
    confusion = np.array(result["confusion"]["matrix"])
    assert result["confusion"]["true"] == [*CATS, "none"] and confusion.shape == (4, 4)
    assert confusion[:3].sum(axis=1).min() >= 40  # every labeled row lands in some column
    assert confusion[3].sum() >= 80  # every benign row too
    assert len(result["threshold_sweep"]["violence"]["f1"]) == 99
    assert sum(b["n"] for b in result["calibration"]["all"]["bins"]) == len(rows) * 3
    flagged_hard = result["hard_negative_false_positives"]
    assert all(r["flagged"] for r in flagged_hard)
    assert len(flagged_hard) == round(result["hard_negatives"]["false_positive_rate"] * 40)


def test_evaluate_html_is_self_contained(report):
    _, html_path = report
    html = html_path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<title>searchsafe evaluation report</title>" in html
    assert html.count('<img src="data:image/png;base64,') == 4
    assert not re.search(r'(src|href)="(?!data:)', html)  # no external resources
    for section in ("Per category", "Per language", "Precision-recall curves", "Threshold sweeps", "Calibration",
                    "Confusion between categories", "False positives on hard negatives"):
        assert f">{section}</h2>" in html


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def test_html_report_renders_in_headless_chromium(report, tmp_path):
    browser = find_chromium()
    if browser is None:
        pytest.skip("Chromium is not installed; apt-get install chromium")
    _, html_path = report
    # A copy of the report with a probe that checks its queries are drawn as glyphs.
    probed = tmp_path / "probed.html"
    probed.write_text(html_path.read_text(encoding="utf-8").replace("</body>", CJK_PROBE + "</body>"),
                      encoding="utf-8")
    proc = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    root = re.search(r"<html[^>]*>", proc.stdout)
    assert root, proc.stdout[:500]
    attrs = dict(re.findall(r'(data-[\w-]+)="([^"]*)"', root.group(0)))
    # Set by the report's own script once loaded: every image decoded, no error.
    probe = {k: attrs.pop(k) for k in list(attrs) if k.startswith(("data-ja", "data-ko"))}
    assert attrs == {"data-images": "4", "data-images-ok": "4", "data-errors": "0", "data-rendered": "1"}
    # A Japanese and a Korean query are laid out and drawn as distinct glyphs, not as boxes.
    assert re.search(r"[\u3040-\u30ff]", probe["data-ja-query"])
    assert re.search(r"[\uac00-\ud7a3]", probe["data-ko-query"])
    assert (probe["data-ja-visible"], probe["data-ko-visible"]) == ("1", "1")
    assert (probe["data-ja-glyphs"], probe["data-ko-glyphs"]) == ("drawn", "drawn"), (
        "CJK text renders as boxes: install a CJK font (apt-get install fonts-noto-cjk)")
    assert "<title>searchsafe evaluation report</title>" in proc.stdout
    assert "Confusion between categories" in proc.stdout


def test_evaluate_default_model_json_to_stdout(capsys, data):
    code, out, err = run(capsys, "evaluate", "default", data / "dev.jsonl", "--labels-column", "labels", "--json", "-",
                         "-q")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["model"]["name"] == "searchsafe-default"
    assert result["categories"] == list(searchsafe.CATEGORIES)
    assert result["n"] == 200


# -- explain ------------------------------------------------------------------------------
def test_explain_shows_normalization_tokens_scores_and_features(capsys, model):
    code, out, err = run(capsys, "explain", model, "ＲＩＳＵＫＡ 死にたい")
    assert (code, err) == (0, "")
    assert "normalized: risuka 死にたい" in out.lower()
    assert "language:   ja" in out
    assert re.search(r"tokens: .*死ぬ", out)
    assert re.search(r"self_harm\s+0\.\d{4}\s+\(threshold 0\.\d{4}\)\s+FLAGGED", out)
    assert "features behind self_harm" in out
    assert re.search(r"\+\d\.\d{4}  .*\((characters|morpheme)\)", out)


def test_explain_unflagged_query_explains_the_closest_category(capsys, model, small_clf):
    code, out, _ = run(capsys, "explain", model, "부산 여행")
    assert code == 0 and "FLAGGED" not in out
    e = small_clf.explain("부산 여행", categories=list(CATS))
    best = max(CATS, key=lambda c: e["scores"][c] - small_clf.thresholds[c])
    assert f"nothing flagged; explaining the category closest to its threshold, {best}" in out


def test_explain_json_from_stdin_with_the_default_model(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("죽고 싶다\n\n猫 飼い方\n"))
    code, out, _ = run(capsys, "explain", "default", "-", "--json", "--category", "self_harm", "--top", "3")
    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["lang"] == "ko" and first["flagged"] == ["self_harm"]
    assert list(first["features"]) == ["self_harm"] and len(first["features"]["self_harm"]) == 3
    assert first["thresholds"] == searchsafe.load().thresholds
    assert second["text"] == "猫 飼い方" and second["flagged"] == []


# -- diff ---------------------------------------------------------------------------------
def test_diff_model_against_the_default_model(capsys, data, model, small_clf, tmp_path):
    code, out, err = run(capsys, "diff", model, "default", data / "dev.csv")
    assert code == 1  # they disagree somewhere
    result = json.loads(out)
    assert result["categories"] == list(CATS)
    assert "not compared: child_safety, harassment, hate, sexual, violent_extremism" in err
    texts = [r["text"] for r in labeled_rows(DEV_SUFFIXES)]
    default = searchsafe.load()
    Fa = small_clf.predict_batch(texts)
    Fb = default.predict_batch(texts)[:, [default.categories.index(c) for c in CATS]]
    for j, c in enumerate(CATS):
        assert result["counts"][c] == {"a_only": int((Fa[:, j] & ~Fb[:, j]).sum()),
                                       "b_only": int((~Fa[:, j] & Fb[:, j]).sum())}
    assert result["total"] == int((Fa != Fb).sum()) and result["rows_with_disagreement"] == int((Fa != Fb).any(1).sum())
    for group in result["groups"]:
        assert group["count"] == len(group["items"]) == result["counts"][group["category"]][group["direction"]]
        gaps = [abs(i["score_a"] - i["score_b"]) for i in group["items"]]
        assert gaps == sorted(gaps, reverse=True)  # biggest disagreement first
    code, _, _ = run(capsys, "diff", model, "default", data / "dev.csv", "--out", tmp_path / "d.csv",
                     "--max-items", "2", "-q")
    rows = read_csv(tmp_path / "d.csv")
    assert code == 1 and list(rows[0]) == ["category", "direction", "where", "id", "text", "score_a", "score_b",
                                           "labels", "gap", "verdict_labels", "verdict_notes"]
    assert len(rows) == sum(min(2, g["count"]) for g in result["groups"])
    gaps = [float(r["gap"]) for r in rows]
    assert gaps == sorted(gaps, reverse=True)  # the whole file, not each group, is in gap order
    assert {r["verdict_labels"] for r in rows} == {r["verdict_notes"] for r in rows} == {""}


def test_diff_of_two_models_carries_the_files_labels(capsys, data, model, tmp_path):
    """Beside two models, a calibration meeting sees the labels the table already has; a text file has none."""
    code, out, _ = run(capsys, "diff", model, "default", data / "dev.csv", "-q")
    result = json.loads(out)
    truth = {r["text"]: [r["labels"]] if r["labels"] else [] for r in labeled_rows(DEV_SUFFIXES)}
    items = [it for g in result["groups"] for it in g["items"]]
    assert code == 1 and items
    assert all(sorted(it["labels"]) == truth[it["text"]] for it in items)
    run(capsys, "diff", model, "default", data / "dev.csv", "--out", tmp_path / "d.csv", "--html",
        tmp_path / "d.html", "-q")
    rows = read_csv(tmp_path / "d.csv")
    assert {r["text"]: sorted(filter(None, r["labels"].split(","))) for r in rows} == {r["text"]: truth[r["text"]]
                                                                                       for r in rows}
    assert "<th>labels</th>" in (tmp_path / "d.html").read_text(encoding="utf-8")
    lines = tmp_path / "q.txt"
    lines.write_text("\n".join(truth), encoding="utf-8")
    _, out, _ = run(capsys, "diff", model, "default", lines, "-q")
    assert all("labels" not in it for g in json.loads(out)["groups"] for it in g["items"])
    bad = tmp_path / "bad.csv"
    bad.write_text('text,labels\n猫 飼い方,"[hate"\n', encoding="utf-8")
    code, _, err = run(capsys, "diff", model, "default", bad, "-q")
    assert code == 2 and err.strip() == f"searchsafe: error: {bad}:2: labels '[hate' are not a valid JSON list"


def test_diff_a_model_with_itself_finds_nothing(capsys, data, model):
    code, out, _ = run(capsys, "diff", model, model, data / "queries.txt", "-q")
    assert code == 0
    assert json.loads(out)["total"] == 0 and json.loads(out)["groups"] == []


def test_diff_model_against_labels_lists_false_positives_and_negatives(capsys, data, model, report):
    result, _ = report
    code, out, _ = run(capsys, "diff", model, "labels", data / "dev.csv", "-q")
    diff = json.loads(out)
    assert code == (1 if diff["total"] else 0)
    assert diff["b"] == "labels"
    for c in CATS:
        m = result["overall"]["categories"][c]
        assert diff["counts"][c] == {"false_positive": m["fp"], "false_negative": m["fn"]}
    for group in diff["groups"]:
        for item in group["items"]:
            assert (group["category"] in item["labels"]) == (group["direction"] == "false_negative")


# -- sample -------------------------------------------------------------------------------
def test_sample_is_stratified_reproducible_and_ready_for_labelers(capsys, data, model, tmp_path):
    args = ["sample", model, data / "train.csv", "--n", "40", "--uncertain-width", "0.15"]
    code, _, err = run(capsys, *args, "--seed", "3", "--out", tmp_path / "a.csv")
    assert code == 0
    assert re.search(r"sampled 40 of 400 queries \(seed 3\)", err)
    run(capsys, *args, "--seed", "3", "--out", tmp_path / "b.csv", "-q")
    run(capsys, *args, "--seed", "4", "--out", tmp_path / "c.csv", "-q")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes().startswith("\ufeffsample_id,".encode())  # opens right in spreadsheets
    rows = read_csv(tmp_path / "a.csv")
    assert len(rows) == 40 and len({r["where"] for r in rows}) == 40
    assert list(rows[0]) == ["sample_id", "text", "where", "stratum", "category", "band", "score", "threshold",
                             "model_flags", "weight", "audit_labels", "audit_notes"]
    assert [r["sample_id"] for r in rows] == [str(i) for i in range(1, 41)]
    assert all(r["audit_labels"] == r["audit_notes"] == "" for r in rows)
    # Population of each stratum, from the stderr summary; uncertain strata get three times the draws.
    population = {m[0]: int(m[1]) for m in re.findall(r"^(\S+/\S+)\s+(\d+)\s+\d+$", err, re.M)}
    drawn = {s: sum(r["stratum"] == s for r in rows) for s in population}
    assert all(drawn[s] >= 1 for s in population)
    for r in rows:
        weight = float(r["weight"])
        assert weight == pytest.approx(population[r["stratum"]] / drawn[r["stratum"]], abs=1e-3)
        assert abs(float(r["score"]) - float(r["threshold"])) <= 0.15 + 1e-4 or r["band"] != "uncertain"
    # The uncertain band is over-sampled: a larger share of it is drawn than of the rest.
    uncertain = [s for s in population if s.endswith("/uncertain")]
    others = [s for s in population if s not in uncertain]
    assert uncertain and others

    def rate(strata):
        return sum(drawn[s] for s in strata) / sum(population[s] for s in strata)

    assert rate(uncertain) > 2 * rate(others)
    # Square-root allocation: strata not drawn whole get draws in proportion to sqrt(size),
    # times 3 (--oversample) when uncertain, up to rounding.
    weight = {s: (3 if s in uncertain else 1) * population[s] ** 0.5 for s in population}
    partial = [s for s in population if drawn[s] < population[s]]
    per_weight = sum(drawn[s] for s in partial) / sum(weight[s] for s in partial)
    assert all(abs(drawn[s] - per_weight * weight[s]) < 1 for s in partial)


def test_sample_blind_and_larger_than_the_data(capsys, data, model, tmp_path):
    code, out, _ = run(capsys, "sample", model, data / "queries.txt", "--n", "50", "--blind", "-q")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["sample_id", "text", "where", "audit_labels", "audit_notes"]
    assert sorted(r["where"] for r in rows) == [f"{data / 'queries.txt'}:{i}" for i in range(1, 6)]


# -- agreement ----------------------------------------------------------------------------
ITEMS = ["死にたい", "猫 飼い方", "자살 방법", "부산 여행", "爆弾 作り方", "고양이 학대 영상", "包丁 研ぎ方", "칼 가는 법"]
#: Labels per labeler for ITEMS (same order).
LABELER_A = ["self_harm", "", "self_harm", "", "violence", "animal_cruelty", "", ""]
LABELER_B = ["self_harm", "", "self_harm", "", "violence", "animal_cruelty", "violence", ""]
LABELER_C = ["self_harm", "", "", "", "violence", "animal_cruelty", "violence", "violence"]


def labeler_file(path: Path, labels: list[str], order: list[int] | None = None) -> Path:
    order = order or list(range(len(ITEMS)))
    rows = [{"id": f"q{i}", "text": ITEMS[i], "labels": labels[i]} for i in order]
    return write_csv(path, rows, ["id", "text", "labels"])


def test_agreement_of_two_labelers_is_cohens_kappa(capsys, tmp_path):
    a = labeler_file(tmp_path / "a.csv", LABELER_A)
    b = labeler_file(tmp_path / "b.csv", LABELER_B, order=[7, 6, 5, 4, 3, 2, 1, 0])  # aligned by text
    code, out, err = run(capsys, "agreement", a, b, "--categories", ",".join(CATS), "--disagreements",
                         tmp_path / "dis.csv")
    assert code == 0
    result = json.loads(out)
    assert result["method"] == "Cohen's kappa" and result["n_items"] == 8
    # violence: A says yes on 1 item, B on 2; they agree on 7 of 8.
    # p_o = 7/8, p_e = 1/8 * 2/8 + 7/8 * 6/8 = 44/64, kappa = (56/64 - 44/64) / (20/64) = 0.6
    assert result["categories"]["violence"]["kappa"] == 0.6
    assert result["categories"]["self_harm"]["kappa"] == 1.0
    assert result["categories"]["violence"]["positives"] == {str(a): 1, str(b): 2}
    assert result["disagreements"] == [{
        "item": "包丁 研ぎ方", "text": "包丁 研ぎ方", "where": {str(a): f"{a}:8", str(b): f"{b}:3"},
        "categories": {"violence": {str(a): 0, str(b): 1}},
    }]
    assert read_csv(tmp_path / "dis.csv") == [{"item": "包丁 研ぎ方", "text": "包丁 研ぎ方", "category": "violence",
                                               str(a): "0", str(b): "1"}]
    assert "violence             kappa +0.600" in err
    code, _, err = run(capsys, "agreement", a, b, "--categories", ",".join(CATS), "--min-kappa", "0.8", "-q")
    assert (code, err) == (1, "searchsafe: --min-kappa 0.8: below it: violence (0.6)\n")


def test_agreement_of_three_labelers_is_fleiss_kappa_by_id(capsys, tmp_path):
    files = [labeler_file(tmp_path / f"{n}.csv", labels, order)
             for n, labels, order in (("a", LABELER_A, None), ("b", LABELER_B, [1, 0, 3, 2, 5, 4, 7, 6]),
                                      ("c", LABELER_C, None))]
    code, out, _ = run(capsys, "agreement", *files, "--id-column", "id", "-q")
    assert code == 0
    result = json.loads(out)
    assert result["method"] == "Fleiss' kappa" and result["aligned_by"] == "id"
    # self_harm votes per item: 3,0,2,0,0,0,0,0 of 3. P_i = 1 except item 3 (1/3): P = 22/24;
    # p_yes = 5/24, P_e = (5/24)^2 + (19/24)^2 = 386/576; kappa = (528/576 - 386/576) / (190/576) = 0.7474
    assert result["categories"]["self_harm"]["kappa"] == 0.7474
    assert result["categories"]["hate"]["kappa"] is None  # nobody used it: agreement by chance is total
    assert [d["item"] for d in result["disagreements"]] == ["q2", "q6", "q7"]


# -- info and verify ----------------------------------------------------------------------
def test_info_of_the_default_and_a_trained_model(capsys, model):
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert "name:       searchsafe-default" in out and "categories (8):" in out
    assert re.search(r"child_safety\s+threshold 0\.\d{4}\s+0\.\d{3} / 0\.\d{3} / 0\.\d{3}", out)
    code, out, _ = run(capsys, "info", model, "--json")
    manifest = json.loads(out)
    assert code == 0 and manifest["path"] == str(model) and manifest["categories"] == list(CATS)


def test_verify_accepts_good_models(capsys, model):
    for spec in ("default", str(model)):
        code, out, err = run(capsys, "verify", spec)
        assert (code, err) == (0, "")
        assert out.splitlines()[0].startswith("ok  manifest: format version 1")
        assert "ok  files: " in out and "ok  scoring: " in out and out.splitlines()[-1].startswith("verified ")


def test_verify_fails_with_exit_3_on_a_tampered_model(capsys, model, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(model, bad)
    weights = bad / "weights.npz"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    weights.write_bytes(bytes(raw))
    code, out, err = run(capsys, "verify", bad)
    assert code == 3
    assert out.startswith("ok  manifest")  # what passed before the failure
    assert re.fullmatch(r"searchsafe: error: \S+/weights\.npz: sha256 [0-9a-f]{12}… does not match the manifest's "
                        r"[0-9a-f]{12}…; the file was modified or truncated\n", err)
    # Other commands refuse the tampered model as bad input.
    code, _, err = run(capsys, "explain", bad, "猫")
    assert code == 2 and "does not match the manifest's" in err


def test_verify_fails_on_a_newer_format_and_a_missing_file(capsys, model, tmp_path):
    newer = tmp_path / "newer"
    shutil.copytree(model, newer)
    manifest = json.loads((newer / "manifest.json").read_text(encoding="utf-8"))
    (newer / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}), encoding="utf-8")
    code, _, err = run(capsys, "verify", newer)
    assert (code, err) == (3, f"searchsafe: error: {newer}: model format 99 is newer than this searchsafe reads "
                              "(up to 1); upgrade searchsafe to load it\n")
    (tmp_path / "incomplete").mkdir()
    code, _, err = run(capsys, "verify", tmp_path / "incomplete")
    assert (code, err) == (3, f"searchsafe: error: {tmp_path / 'incomplete'}: no manifest.json; "
                              "not a searchsafe model directory\n")


@pytest.mark.parametrize(("value", "stored"), [("0.1", 0.1), ("none", None)])
def test_train_prevalence_is_stored_in_the_manifest(capsys, data, tmp_path, value, stored):
    for extra in ([], ["--out-of-core", "--chunk-size", "64", "--epochs", "2"]):
        out = tmp_path / f"m{len(extra)}"
        code, _, err = run(capsys, "train", data / "train.csv", "--dev", data / "dev.jsonl", "--out", out,
                           "--categories", ",".join(CATS), "--prevalence", value, *extra, *SMALL, "-q")
        assert (code, err) == (0, "")
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["prevalence"] == stored


def test_train_rejects_a_prevalence_outside_zero_one(capsys, data, tmp_path):
    code, _, err = run(capsys, "train", data / "train.csv", "--out", tmp_path / "m", "--prevalence", "2")
    assert code == 2
    assert err == ("searchsafe: error: argument --prevalence: must be a fraction between 0 and 1 (exclusive); "
                   "got '2' (see 'searchsafe train --help')\n")
