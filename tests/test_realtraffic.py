"""Pieces of benchmarks/realtraffic.py: reviewed lists, public-set gold labels, pairs, terms in context."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from benchmarks import realtraffic as R
from benchmarks.peers import KeywordFilter

REVIEWED = "text\tharmful\tcategories\tnote\n# comment\n死ね\t1\tharassment\t\n名前\t0\t\t\nＴＶ\t0\t\t\n未判定\t\t\t\n"


def test_reviewed_list_reads_judgements_by_normalized_text(tmp_path):
    path = tmp_path / "reviewed_ja.tsv"
    path.write_text(REVIEWED, encoding="utf-8")
    assert R.read_reviewed(path) == {"死ね": True, "名前": False, "tv": False}


def test_a_filled_sweep_tsv_is_a_reviewed_list(tmp_path, capsys):
    from searchsafe.cli import main

    words = tmp_path / "w.txt"
    words.write_text("死にたい\n猫 飼い方\n", encoding="utf-8")
    out = tmp_path / "flagged.tsv"
    assert main(["sweep", "default", str(words), "--out", str(out), "-q"]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][: lines[1].rindex("\t\t\t")] + "\t1\tself_harm\tok"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert R.read_reviewed(out) == {"死にたい": True}


@pytest.mark.parametrize(("text", "message"), [
    ("word\tharmful\n", "{p}:1: the header needs 'text' and 'harmful' columns; got ['word', 'harmful']"),
    ("text\tharmful\n死ね\tyes\n", "{p}:2: harmful must be 0 or 1; got 'yes'"),
])
def test_reviewed_list_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "r.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        R.read_reviewed(path)
    assert str(info.value) == message.format(p=path)


def test_missing_reviewed_lists_are_reported_not_fatal(tmp_path):
    got = R.reviewed_lists(tmp_path)
    assert {lang: (v["present"], v["judged"]) for lang, v in got.items()} == {"ja": (False, {}), "ko": (False, {})}


# What each public set counts as harmful, on one tiny file per set.
PUBLIC_FILES = {
    "rtp_lx_ja": ('{"Prompt": "a", "Annotations": {"Toxicity": 3.0}}\n'
                  '{"Prompt": "b", "Annotations": {"Toxicity": 2.6666666666666665}}\n',
                  [("a", True, False), ("b", False, False)]),
    "ja_inspection_toxic": ("id,text,Not Toxic,Hard to Say,Toxic,Very Toxic\n0,a,1,0,1,1\n1,b,2,1,1,1\n2,c,0,3,0,0\n",
                            [("a", True, False), ("b", False, False), ("c", False, False)]),
    "unsmile": ("문장\t악플/욕설\tclean\n가\t1\t0\n나\t0\t1\n다\t0\t0\n",
                [("가", True, True), ("나", False, False), ("다", True, False)]),
    "kmhas": ('document\tlabel\n가\t3\n나\t8\n다\t"0,5"\n', [("가", True, True), ("나", False, False), ("다", True, False)]),
    "apeach": ("text,class\n가,Spoiled\n나,Default\n", [("가", True, False), ("나", False, False)]),
}


@pytest.mark.parametrize("name", sorted(PUBLIC_FILES))
def test_public_set_gold_labels(tmp_path, name):
    text, expected = PUBLIC_FILES[name]
    path = tmp_path / "f"
    path.write_text(text, encoding="utf-8")
    assert R._READERS[name](path) == expected


def test_prf_is_the_textbook_definition():
    gold = np.array([1, 1, 1, 0, 0, 0], bool)
    pred = np.array([1, 1, 0, 1, 0, 0], bool)
    assert R._prf(gold, pred) == {"precision": 0.6667, "recall": 0.6667, "f1": 0.6667, "flagged": 3, "tp": 2,
                                  "fp": 1, "fn": 1}
    assert R._prf(gold, np.zeros(6, bool))["f1"] == 0.0


def test_f1_difference_interval_is_paired_and_seeded():
    rng = np.random.default_rng(3)
    gold = rng.random(300) < 0.3
    a = gold ^ (rng.random(300) < 0.1)
    b = gold ^ (rng.random(300) < 0.3)
    assert R.f1_difference_interval(gold, a, a) == (0.0, 0.0)
    lo, hi = R.f1_difference_interval(gold, a, b)
    point = R._prf(gold, a)["f1"] - R._prf(gold, b)["f1"]
    assert lo < point < hi
    assert R.f1_difference_interval(gold, b, a) == pytest.approx((-hi, -lo), abs=1e-4)
    assert R.f1_difference_interval(gold, a, b) == (lo, hi)
    assert R.f1_difference_interval(gold[:0], a[:0], b[:0]) == (0.0, 0.0)


def test_pairs_are_distinct_seeded_and_bounded():
    nouns = ["天気", "東京", "ラーメン", "駅"]
    a = R._pairs(nouns, 50, random.Random("x"))
    assert len(a) == len(set(a)) == 12  # every ordered pair of 4 distinct nouns, no more
    assert all(len(set(q.split())) == 2 for q in a)
    assert R._pairs(nouns, 5, random.Random("x")) == R._pairs(nouns, 5, random.Random("x"))
    assert R._pairs(["駅"], 5, random.Random("x")) == []


@pytest.mark.parametrize("word, latin", [
    ("tv", True), ("iPhone", True), ("ｔｖ", True), ("netflix2", True),
    ("5ch", False), ("a", False), ("東京", False), ("tv番組", False), ("e-mail", False), ("", False),
])
def test_latin_words_are_letters_and_digits_starting_with_a_letter(word, latin):
    assert R.is_latin_word(word) is latin


def test_latin_queries_take_distinct_seeded_modifiers_per_word():
    mods = ["動画", "無料", "方法", "画像", "公式"]
    a = R._latin_queries(["tv", "iphone"], mods, 4, random.Random("x"))
    assert a == R._latin_queries(["tv", "iphone"], mods, 4, random.Random("x"))
    assert len(a) == 8 and len(set(a)) == 8
    assert {q.split()[0] for q in a[:4]} == {"tv"} and all(q.split()[1] in mods for q in a)
    assert len(R._latin_queries(["tv"], mods[:2], 4, random.Random("x"))) == 2  # never more than there are
    assert R._latin_queries(["tv"], [], 4, random.Random("x")) == []


def test_possessed_queries_give_each_adjective_distinct_animals_with_a_possessor():
    animals = ["犬", "猫", "鳩", "金魚", "亀"]
    a = R._possessed_queries("ja", ["うるさい", "可愛い"], animals, ("隣の", "うちの"), 4, random.Random("x"))
    assert a == R._possessed_queries("ja", ["うるさい", "可愛い"], animals, ("隣の", "うちの"), 4, random.Random("x"))
    assert len(a) == 8 and all(q.startswith(("隣の", "うちの")) for q in a)
    said_of = [q.split(" ")[0].removeprefix("隣の").removeprefix("うちの") for q in a[:4]]
    assert len(set(said_of)) == 4 and set(said_of) <= set(animals)  # four distinct animals per adjective
    assert R._possessed_queries("ko", ["시끄러운"], ["개"], ("옆집",), 4, random.Random("x")) == ["옆집 개 시끄러운"]
    assert R._possessed_queries("ja", ["うるさい"], [], ("隣の",), 4, random.Random("x")) == []


def test_action_queries_ask_each_verb_about_distinct_animals():
    animals = ["猫", "犬", "鳩", "金魚"]
    a = R._action_queries("ja", ["慣れさせる"], animals, 4, random.Random("x"))
    assert a == R._action_queries("ja", ["慣れさせる"], animals, 4, random.Random("x"))
    assert sorted(q.split(" ")[0] for q in a) == sorted(animals) and all(q.endswith(" 慣れさせる 方法") for q in a)
    assert R._action_queries("ko", ["만들", "씻"], ["개"], 4, random.Random("x")) == ["개 만드는 법", "개 씻는 법"]
    assert R._action_queries("ja", ["慣れる"], [], 4, random.Random("x")) == []


def test_subjects_of_kind_read_the_subject_table(tmp_path):
    path = tmp_path / "subjects.tsv"
    path.write_text("# comment\ntext\tkind\tnote\n犬\tanimal\tdog\n上司\tperson\t\n猫\tanimal\n", encoding="utf-8")
    assert R._subjects_of_kind(path, "animal") == ["犬", "猫"]
    assert R._subjects_of_kind(tmp_path / "missing.tsv", "animal") == []


def test_everyday_intent_modifiers_take_the_neutral_ones_except_those_unsafe_after_a_minor(tmp_path):
    d = tmp_path / "lexicons" / "ja"
    d.mkdir(parents=True)
    (d / "modifiers_review.tsv").write_text(
        "text\tneutral\tnote\n動画\t1\t\n下着\t1\tbenign except after a minor\n殺し方\t0\tintent\n無料\t1\tfree\n",
        encoding="utf-8")
    assert R.everyday_intent_modifiers("ja", tmp_path) == ["動画", "無料"]
    assert R.everyday_intent_modifiers("ko", tmp_path) == []  # no review: nothing to compose


@pytest.mark.parametrize(("content", "message"), [
    ("word\tneutral\n動画\t1\n", "modifiers_review.tsv:1: header must start with text neutral; got word neutral"),
    ("text\tneutral\tnote\n動画\tyes\t\n", "modifiers_review.tsv:2: neutral must be 0 or 1; got 'yes'"),
])
def test_modifier_review_errors_name_the_file_and_line(tmp_path, content, message):
    from searchsafe import InvalidParameterError
    from searchsafe._modifiers import read_modifier_review

    path = tmp_path / "modifiers_review.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidParameterError) as exc:
        read_modifier_review(path)
    assert str(exc.value) == f"{tmp_path}/{message}"


def test_even_sample_is_fixed_and_spread():
    assert R._even(list(range(10)), 3) == [0, 3, 6]
    assert R._even(list(range(3)), None) == [0, 1, 2]


def test_lexicon_terms_take_term_rows_and_public_terms(tmp_path):
    d = tmp_path / "lexicons" / "ja"
    d.mkdir(parents=True)
    (d / "hate.tsv").write_text("kind\ttext\tlabels\talone\tnote\nterm\t支那\t\t1\t\nterm\t爆弾\t\t0\t\nmodifier\t意味\t\t\t\n",
                                encoding="utf-8")
    (d / "benign.tsv").write_text("kind\tfamily\ttext\tnear\tnote\nquery\ttitle\t猫\t\t\n", encoding="utf-8")
    (d / "public_terms.tsv").write_text("text\tlabels\talone\tsource\tnote\nポルノ\tsexual\t1\tours\t\n"
                                        "支那\thate,harassment\t1\tours\t\n", encoding="utf-8")
    cats = ("hate", "harassment", "sexual")
    assert R.lexicon_terms("ja", cats, tmp_path) == [("ポルノ", ("sexual",)), ("支那", ("harassment", "hate")),
                                                     ("爆弾", ("hate",))]
    assert R.lexicon_terms("ja", cats, tmp_path, alone_only=True) == [("ポルノ", ("sexual",)),
                                                                      ("支那", ("harassment", "hate"))]


def test_terms_in_context_with_the_keyword_filter_keep_every_flag(clf, tmp_path):
    d = tmp_path / "ja"
    d.mkdir()
    (d / "self_harm.tsv").write_text("kind\ttext\tlabels\talone\tnote\nterm\t死にたい\t\t1\t\n", encoding="utf-8")
    kw = KeywordFilter.from_lexicons(tmp_path, clf.categories)
    systems = R.Systems(clf, kw)
    res = R._in_context(systems, "ja", [("死にたい", ("self_harm",)), ("天気", ("self_harm",))],
                        ["東京", "駅", "ラーメン"], None)
    k = res["systems"]["keyword"]
    assert (k["flagged_alone"], k["measured"], k["kept_share"]) == (1, 1, 1.0)
    s = res["systems"]["searchsafe"]
    assert s["flagged_alone"] == 1 and s["measured"] == 1
    json.dumps(res)


def test_public_part_skips_without_shared_data(clf, tmp_path):
    systems = R.Systems(clf, KeywordFilter({"死にたい": 2}, clf.categories))
    assert R._public(systems, tmp_path / "absent", None) == {
        "skipped": f"public sets: skipped: no shared datasets at {tmp_path / 'absent'}"}
    (tmp_path / "present").mkdir()
    got = R._public(systems, tmp_path / "present", None)
    assert got["apeach"] == {"skipped": f"no {tmp_path / 'present' / 'ko-apeach/APEACH/test.csv'}"}


def test_harmful_readings_prefer_the_review_over_the_lexicon():
    judged = {"自殺": False, "死ね": True}
    assert R.harmful_readings(judged, ["自殺", "ＪＫ", "ロリ"]) == {"死ね", "jk", "ロリ"}


def test_worst_list_keeps_one_entry_per_cause():
    hits = [{"source": "pair", "text": "部落 くも", "score": 0.99}, {"source": "word", "text": "部落", "score": 1.0},
            {"source": "pair", "text": "猫 ネギ", "score": 0.98}, {"source": "pair", "text": "箱 部落", "score": 0.97},
            {"source": "word", "text": "tv", "score": 0.5}]
    assert [h["text"] for h in R.worst_list(hits)] == ["部落", "猫 ネギ", "tv"]
    assert [h["text"] for h in R.worst_list(hits, 2)] == ["部落", "猫 ネギ"]
