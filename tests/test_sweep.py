"""The false-positive sweep: library function and ``searchsafe sweep``."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchsafe import InvalidParameterError
from searchsafe._sweep import SweepResult, sweep
from searchsafe.cli import main

# (entry, language, category it must be flagged for, or None for benign)
CASES = [
    ("死にたい", "ja", "self_harm"),
    ("猫 飼い方", "ja", None),
    ("東京 天気", "ja", None),
    ("자살 방법", "ko", "self_harm"),
    ("부산 여행", "ko", None),
    ("", None, None),
]
POOL = ["名前", "無料", "参加", "存在", "猫", "犬", "学校", "사람", "일본", "개", "서울", "확인", "얼굴", "tv",
        "死にたい", "자살 방법", "猫 飼い方", "부산 여행", "ラーメン 라면", "", "   "]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- library ---------------------------------------------------------------------------
@pytest.mark.parametrize(("entry", "lang", "category"), CASES)
def test_sweep_flags_harmful_entries_and_not_benign_ones(clf, entry, lang, category):
    r = sweep(clf, [entry])
    assert (r.entries, r.blank) == ((0, 1) if lang is None else (1, 0))
    if category is None:
        assert r.hits == [] and r.flagged == 0
    else:
        (hit,) = r.hits
        assert (hit.index, hit.text, hit.lang) == (0, entry, lang)
        assert category in hit.flagged and hit.features[category]
        assert r.per_language[lang] == {"entries": 1, "flagged": 1}


def _reference(clf, words, categories=None):
    """What a sweep must find, from predict_batch alone."""
    cats = list(categories or clf.categories)
    F = clf.predict_batch(words)[:, [clf.categories.index(c) for c in cats]]
    keep = np.array([bool(w and w.strip()) for w in words], dtype=bool)
    return cats, F & keep[:, None]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(POOL), max_size=30), batch_size=st.integers(1, 8),
       categories=st.none() | st.lists(st.sampled_from(["hate", "sexual", "violence", "self_harm"]), min_size=1,
                                       unique=True))
def test_sweep_agrees_with_predict_batch_at_every_batch_size(clf, words, batch_size, categories):
    r = sweep(clf, words, categories=categories, batch_size=batch_size)
    cats, F = _reference(clf, words, categories)
    assert r.categories == tuple(cats)
    assert r.flagged == int(F.any(axis=1).sum()) == len(r.hits)
    assert r.per_category == {c: int(F[:, j].sum()) for j, c in enumerate(cats)}
    assert r.blank == sum(not (w and w.strip()) for w in words)
    assert r.entries + r.blank == len(words)
    assert sorted(h.index for h in r.hits) == [int(i) for i in np.flatnonzero(F.any(axis=1))]
    P = clf.score_batch(words)
    for h in r.hits:
        assert h.flagged == tuple(c for j, c in enumerate(cats) if F[h.index, j])
        assert h.scores == {c: float(v) for c, v in zip(clf.categories, P[h.index])}
        assert h.scores == clf.score(h.text)  # the single-query path gives the same bits
    scores = [h.top_score for h in r.hits]
    assert scores == sorted(scores, reverse=True)


def test_sweep_language_filter_leaves_other_languages_out(clf):
    words = ["死にたい", "자살 방법", "ラーメン 라면", "tv", "猫 飼い方"]
    r = sweep(clf, words, languages=["ko"])
    assert r.entries == 1 and set(r.per_language) == {"ko"}
    assert [h.text for h in r.hits] == ["자살 방법"]
    full = sweep(clf, words)
    assert {lg: v["entries"] for lg, v in full.per_language.items()} == {"ja": 2, "ko": 1, "mixed": 1, "other": 1}


def test_sweep_of_nothing_is_empty_not_an_error(clf):
    r = sweep(clf, iter([]))
    assert (r.entries, r.flagged, r.share, r.hits) == (0, 0, 0.0, [])
    assert r.summary()["per_language"]["ja"] == {"entries": 0, "flagged": 0, "share": 0.0}


def test_summary_is_json_and_the_table_names_every_count(clf):
    r = sweep(clf, ["死にたい", "猫 飼い方", ""])
    s = json.loads(json.dumps(r.summary()))
    assert (s["entries"], s["blank"], s["flagged"], s["share"]) == (2, 1, 1, 0.5)
    assert s["per_category"]["self_harm"] == {"flagged": 1, "share": 0.5}
    text = r.table()
    assert text.splitlines()[0] == "2 entries, 1 flagged (50.00 %); 1 blank entries skipped"
    assert "self_harm                   1   50.00%" in text
    assert "ja                          2        1   50.00%" in text


BAD_CALLS = [
    ({"categories": ["spam"]}, "categories must name some of child_safety, self_harm, violence, violent_extremism, "
                               "hate, harassment, sexual, animal_cruelty; got 'spam'"),
    ({"categories": "hate"}, "categories must be a list of names, not a str; got 'hate'"),
    ({"categories": []}, "categories must name at least one of child_safety, self_harm, violence, "
                         "violent_extremism, hate, harassment, sexual, animal_cruelty"),
    ({"languages": ["en"]}, "languages must name some of ja, ko, mixed, other; got 'en'"),
    ({"top": 0}, "top must be a positive integer; got 0"),
    ({"batch_size": True}, "batch_size must be a positive integer; got True"),
    ({"words": "猫"}, "words must be a list of entries, not a single str"),
    ({"words": ["猫", 3]}, "words[1] must be str or None; got int"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_CALLS)
def test_sweep_refuses_bad_parameters_with_a_clear_message(clf, kwargs, message):
    kwargs = dict(kwargs)
    words = kwargs.pop("words", ["猫"])
    with pytest.raises(InvalidParameterError) as info:
        sweep(clf, words, **kwargs)
    assert str(info.value) == message


def test_sweep_result_is_a_plain_record(clf):
    r = sweep(clf, ["死にたい"])
    assert isinstance(r, SweepResult)
    d = r.hits[0].to_dict()
    assert json.loads(json.dumps(d, ensure_ascii=False)) == d
    assert d["top_category"] == "self_harm" and d["features"]["self_harm"][0][1] > 0


# -- command line ----------------------------------------------------------------------
@pytest.fixture()
def wordlist(tmp_path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text("死にたい\n猫 飼い方\n\n자살 방법\n부산 여행\n", encoding="utf-8")
    return path


def test_cli_writes_flagged_entries_as_jsonl_to_stdout_and_the_summary_to_stderr(capsys, wordlist):
    code, out, err = run(capsys, "sweep", "default", wordlist)
    assert code == 0
    recs = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["where"] for r in recs) == [f"{wordlist}:1", f"{wordlist}:4"]
    assert {r["text"]: r["flagged"] for r in recs} == {"死にたい": ["self_harm"], "자살 방법": ["self_harm"]}
    assert all(r["features"]["self_harm"] for r in recs)
    assert err.splitlines()[0] == "4 entries, 2 flagged (50.00 %); 1 blank entries skipped"


@pytest.mark.parametrize(("suffix", "delimiter", "encoding"), [(".csv", ",", "utf-8-sig"), (".tsv", "\t", "utf-8")])
def test_cli_table_output_round_trips_with_review_columns(capsys, wordlist, tmp_path, suffix, delimiter, encoding):
    out_path = tmp_path / f"flagged{suffix}"
    code, out, err = run(capsys, "sweep", "default", wordlist, "--out", out_path, "--top", "2", "-q")
    assert (code, out, err) == (0, "", "")
    with open(out_path, encoding=encoding, newline="") as f:
        rows = list(csv.DictReader(f, delimiter=delimiter))
    assert list(rows[0]) == ["where", "text", "lang", "flagged", "top_category", "top_score", "features",
                             "harmful", "categories", "note"]
    assert {r["text"] for r in rows} == {"死にたい", "자살 방법"}
    for r in rows:
        assert r["features"].startswith("self_harm: ") and r["features"].count(" | ") == 1
        assert (r["harmful"], r["categories"], r["note"]) == ("", "", "")
        assert 0.0 < float(r["top_score"]) <= 1.0


def test_cli_reads_a_table_column_from_stdin_with_ids_and_writes_a_summary(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO("q,key\n死にたい,a\n東京 天気,b\n"))
    summary = tmp_path / "summary.json"
    code, out, _ = run(capsys, "sweep", "default", "-", "--format", "csv", "--text-column", "q",
                       "--id-column", "key", "--summary", summary)
    assert code == 0
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert (rec["where"], rec["id"], rec["text"]) == ("<stdin>:2", "a", "死にたい")
    s = json.loads(summary.read_text(encoding="utf-8"))
    assert (s["model"], s["wordlist"], s["entries"], s["flagged"]) == ("default", "-", 2, 1)


def test_cli_max_share_exits_1_above_the_limit(capsys, wordlist):
    code, _, err = run(capsys, "sweep", "default", wordlist, "--max-share", "0.4", "--categories", "self_harm",
                       "--lang", "ja,ko")
    assert code == 1
    assert err.splitlines()[-1] == "searchsafe: --max-share: 2 of 4 entries flagged (50.00 %), above 40.00 %"
    assert run(capsys, "sweep", "default", wordlist, "--max-share", "0.5", "-q")[0] == 0


def test_cli_lang_filter(capsys, wordlist):
    code, out, err = run(capsys, "sweep", "default", wordlist, "--lang", "ko")
    assert code == 0
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["자살 방법"]
    assert err.splitlines()[0] == "2 entries, 1 flagged (50.00 %); 1 blank entries skipped"


CLI_ERRORS = [
    (["sweep", "default", "{d}/missing.txt"], "{d}/missing.txt: no such file"),
    (["sweep", "default", "{d}/empty.txt"], "{d}/empty.txt: empty: no queries"),
    (["sweep", "no-model", "{d}/words.txt"], "no-model: no such model directory (use 'default' for the bundled model)"),
    (["sweep", "default", "{d}/words.txt", "--categories", "spam"],
     "--categories: unknown category 'spam'; the model has: child_safety, self_harm, violence, violent_extremism, "
     "hate, harassment, sexual, animal_cruelty"),
    (["sweep", "default", "{d}/words.txt", "--lang", "en"],
     "argument --lang: must be comma-separated languages of ja, ko, mixed, other; got 'en' "
     "(see 'searchsafe sweep --help')"),
    (["sweep", "default", "{d}/words.txt", "--max-share", "2"],
     "argument --max-share: must be a number from 0 to 1; got '2' (see 'searchsafe sweep --help')"),
    (["sweep", "default", "{d}/words.txt", "--top", "0"],
     "argument --top: must be a positive integer; got '0' (see 'searchsafe sweep --help')"),
    (["sweep", "default", "{d}/words.txt", "--summary", "-"],
     "--summary - and the flagged entries cannot both go to stdout; give --out FILE"),
    (["sweep", "default", "{d}/words.txt", "--out", "{d}/nodir/x.csv"], "{d}/nodir/x.csv: cannot write: no directory {d}/nodir"),
    (["sweep", "default", "{d}/words.txt", "--id-column", "key"],
     "--id-column needs a table input (csv, tsv, jsonl, parquet), not one query per line"),
    (["sweep", "default", "{d}/latin1.txt"], "{d}/latin1.txt:2: not valid UTF-8; pass --encoding with the encoding the file was saved in "
                                                    "(e.g. cp932, cp949)"),
]


@pytest.mark.parametrize(("argv", "message"), CLI_ERRORS)
def test_cli_errors_are_one_line_with_exit_2_and_no_output_file(capsys, tmp_path, argv, message):
    (tmp_path / "words.txt").write_text("猫\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("猫\n".encode() + "caf\xe9\n".encode("latin-1"))
    argv = [a.replace("{d}", str(tmp_path)) for a in argv]
    code, out, err = run(capsys, *argv, "--out", tmp_path / "out.csv") if "--out" not in argv and \
        "--summary" not in argv else run(capsys, *argv)
    assert (code, out, err) == (2, "", f"searchsafe: error: {message.replace('{d}', str(tmp_path))}\n")
    assert not (tmp_path / "out.csv").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
