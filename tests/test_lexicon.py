"""Lexicon features: positions, the lexicon files, the model round trip and both scoring paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import searchsafe
from searchsafe._errors import InvalidParameterError, ModelError
from searchsafe._lexicon import (
    LexiconEntry, LexiconFeatures, fold_term, lexicon_tsv, parse_lexicon_tsv, read_lexicon_dir,
)
from searchsafe._normalize import fold_words, normalize
from searchsafe._train import QueryClassifier

ROOT = Path(__file__).resolve().parent.parent
LEXICONS = ROOT / "data" / "lexicons"

ENTRIES = [
    LexiconEntry("しね", "harassment", True),
    LexiconEntry("爆弾", "violence", False),
    LexiconEntry("강간", "sexual", True),
    LexiconEntry("강간", "violence", True),
    LexiconEntry("ass", "harassment", True),
]


def features(query: str) -> list[str]:
    return LexiconFeatures(ENTRIES)(fold_words(normalize(query)))


@pytest.mark.parametrize(("query", "expected"), [
    ("しね", ["L1wharassment"]),  # the whole query
    ("シネ 動画", ["L1wharassment"]),  # katakana folds to the stored hiragana
    ("爆弾 作り方", ["L0wviolence"]),  # needs a modifier: alone=0
    ("爆弾おにぎり", ["L0eviolence"]),  # begins a word
    ("すといこしねま", ["L1iharassment"]),  # only inside a longer word
    ("강간범 신상", ["L1esexual", "L1eviolence"]),  # one term, two categories
    ("강간", ["L1wsexual", "L1wviolence"]),
    ("class ass", ["L1wharassment"]),  # a Latin term never matches inside a Latin word
    ("東京 天気", []),
    ("고양이 사료 추천", []),
    ("", []),
])
def test_positions_and_categories(query: str, expected: list[str]) -> None:
    assert features(query) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("しね爆弾おにぎり강간범 ass클래스")), max_size=24))
def test_aho_corasick_and_python_backends_agree(text: str) -> None:
    folded = fold_words(normalize(text))
    fast = LexiconFeatures(ENTRIES, backend="ahocorasick")
    slow = LexiconFeatures(ENTRIES, backend="python")
    assert fast(folded) == slow(folded)


def test_the_repository_lexicon_reads() -> None:
    entries = read_lexicon_dir(LEXICONS)
    assert len(entries) > 2000
    assert {e.category for e in entries} == set(searchsafe.load().categories)
    assert all(e.term == fold_term(e.term) for e in entries)
    assert LexiconEntry("しね", "harassment", True) in entries


def test_lexicon_tsv_round_trip() -> None:
    entries = read_lexicon_dir(LEXICONS)
    data = lexicon_tsv(entries)
    assert parse_lexicon_tsv(data, "lexicon.tsv", searchsafe.load().categories) == entries
    assert lexicon_tsv(reversed(entries)) == data  # sorted: the same lexicon gives the same bytes


def _lexicon_dir(tmp_path: Path, text: str, name: str = "hate.tsv") -> Path:
    (tmp_path / "lex" / "ja").mkdir(parents=True)
    (tmp_path / "lex" / "ja" / name).write_text(text, encoding="utf-8")
    return tmp_path / "lex"


@pytest.mark.parametrize(("name", "text", "message"), [
    ("hate.tsv", "kind\ttext\tlabels\talone\tnote\nterm\t支那\t\t2\t\n", "{f}:2: alone must be 0 or 1; got '2'"),
    ("hate.tsv", "kind\ttext\tlabels\talone\tnote\nterm\t支那\tspam\t1\t\n",
     "{f}:2: unknown category 'spam'; known: child_safety, self_harm, violence, violent_extremism, hate, "
     "harassment, sexual, animal_cruelty"),
    ("hate.tsv", "text\tkind\n", "{f}:1: header must start with kind text labels alone; got text kind"),
    ("hate.tsv", "kind\ttext\tlabels\talone\tnote\nterm\t支那\n", "{f}:2: expected 5 tab-separated fields; got 2"),
    ("public_terms.tsv", "text\tlabels\talone\tsource\tnote\n支那\t\t1\tours\t\n",
     "{f}:2: labels is empty; a public term needs its categories"),
    ("notes.tsv", "anything\n", "{d}: no lexicon terms found (expected <lang>/<category>.tsv files with rows of "
                                "kind 'term'; see data/lexicons/FORMAT.md)"),
])
def test_lexicon_directory_errors_name_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    d = _lexicon_dir(tmp_path, text, name)
    with pytest.raises(InvalidParameterError) as e:
        read_lexicon_dir(d)
    assert str(e.value) == message.format(f=d / "ja" / name, d=d)


def test_a_missing_lexicon_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError) as e:
        read_lexicon_dir(tmp_path / "nope")
    assert str(e.value) == f"{tmp_path / 'nope'}: not a lexicon directory (expected <lang>/<category>.tsv files)"


@pytest.mark.parametrize(("data", "message"), [
    (b"term\tcat\talone\n", "m/lexicon.tsv:1: header must be term category alone; got term cat alone"),
    (b"term\tcategory\talone\nx\thate\n", "m/lexicon.tsv:2: expected 3 tab-separated fields; got 2"),
    (b"term\tcategory\talone\nX\thate\t1\n", "m/lexicon.tsv:2: term 'X' is not a folded term of 1 to 64 characters"),
    (b"term\tcategory\talone\nx\thate\tyes\n", "m/lexicon.tsv:2: alone must be 0 or 1; got 'yes'"),
    (b"term\tcategory\talone\n", "m/lexicon.tsv: no terms; a lexicon model needs at least one"),
    (b"\xff\xfe", "m/lexicon.tsv: not UTF-8 (invalid start byte at byte 0); the file is damaged"),
])
def test_model_lexicon_file_errors(data: bytes, message: str) -> None:
    with pytest.raises(ModelError) as e:
        parse_lexicon_tsv(data, "m/lexicon.tsv", ("hate",))
    assert str(e.value) == message


# -- a trained model ---------------------------------------------------------------

@pytest.fixture(scope="module")
def lexicon_model(tmp_path_factory) -> Path:
    rows = [json.loads(line) for line in (ROOT / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()][::12]
    est = QueryClassifier(lexicon=LEXICONS, hash_bits=16, sentencepiece_vocab_size=0, length_norm="none")
    est.fit([r["text"] for r in rows], [r["labels"] for r in rows])
    return est.save(tmp_path_factory.mktemp("lex") / "model")


def test_the_model_carries_its_lexicon(lexicon_model: Path) -> None:
    manifest = json.loads((lexicon_model / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["features"]["lexicon"] is True
    assert "lexicon.tsv" in manifest["files"]
    # Relative to the working directory when the lexicon lies inside it (pytest runs from the checkout).
    recorded = manifest["training"]["estimator"]["lexicon"]
    assert recorded in ("data/lexicons", str(LEXICONS)) and (Path.cwd() / recorded).resolve() == LEXICONS.resolve()
    assert (lexicon_model / "lexicon.tsv").read_bytes() == lexicon_tsv(read_lexicon_dir(LEXICONS))


def test_lexicon_features_drive_scores_and_show_in_explain(lexicon_model: Path) -> None:
    clf = searchsafe.load(lexicon_model)
    e = clf.explain("しね", categories=["harassment"])
    names = [f for f, _ in e["features"]["harassment"]]
    assert "L1wharassment" in names
    assert dict(e["features"]["harassment"])["L1wharassment"] > 0


def test_both_scoring_paths_give_the_same_bits_with_a_lexicon(lexicon_model: Path) -> None:
    pure = searchsafe.load(lexicon_model, compiled=False)
    lines = (ROOT / "data" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(line)["text"] for line in lines[:3000]]
    queries += ["しね", "すといこびっち", "강간범 신상", "", None, "ｼﾈ!!!! 動画", "爆弾おにぎり 作り方"]
    expected = pure.score_batch(queries).view(np.uint32)
    if searchsafe.load(lexicon_model).scoring_path == "compiled":
        fast = searchsafe.load(lexicon_model, compiled=True)
        assert np.array_equal(fast.score_batch(queries).view(np.uint32), expected)
        assert all(np.array_equal(np.array(list(fast.score(q).values()), np.float32).view(np.uint32), expected[i])
                   for i, q in enumerate(queries[-7:], len(queries) - 7))


def test_a_model_without_its_lexicon_file_is_refused(lexicon_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "m"
    shutil.copytree(lexicon_model, broken)
    manifest = json.loads((broken / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]["lexicon.tsv"]
    (broken / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError) as e:
        searchsafe.load(broken)
    assert str(e.value) == f"{broken / 'manifest.json'}: features.lexicon is True but 'files' lists no lexicon.tsv"


def test_a_changed_lexicon_file_is_refused(lexicon_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "m"
    shutil.copytree(lexicon_model, broken)
    with open(broken / "lexicon.tsv", "ab") as f:
        f.write("ねこ\tanimal_cruelty\t1\n".encode())
    with pytest.raises(ModelError, match=r"lexicon\.tsv: sha256 .* does not match the manifest's"):
        searchsafe.load(broken)


@pytest.mark.parametrize(("lexicon", "message"), [
    (42, "lexicon must be None, a lexicon directory or a non-empty sequence of LexiconEntry; got int"),
    ([LexiconEntry("x", "spam", True)], "lexicon names categories this estimator does not train: spam"),
])
def test_estimator_lexicon_errors(lexicon, message: str) -> None:
    with pytest.raises(InvalidParameterError) as e:
        QueryClassifier(lexicon=lexicon, hash_bits=12, sentencepiece_vocab_size=0).fit(["猫"] * 30, [[]] * 30)
    assert str(e.value) == message


def test_cli_train_lexicon_errors(tmp_path: Path, capsys) -> None:
    from searchsafe.cli import main

    data = tmp_path / "d.csv"
    data.write_text("text,labels\n猫,\n", encoding="utf-8")
    assert main(["train", str(data), "--out", str(tmp_path / "m"), "--lexicon", str(LEXICONS), "--out-of-core"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "--lexicon works with in-memory training only; drop --out-of-core or --lexicon")
    assert main(["train", str(data), "--out", str(tmp_path / "m"), "--lexicon", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"--lexicon: {tmp_path / 'none'}: not a lexicon directory (expected <lang>/<category>.tsv files)")


@pytest.mark.parametrize("inside", [True, False])
def test_the_manifest_names_a_lexicon_inside_the_working_directory_relatively(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inside: bool) -> None:
    d = _lexicon_dir(tmp_path / "work", "kind\ttext\tlabels\talone\tnote\nterm\t爆弾魔\tviolence\t1\t\n", "violence.tsv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path / "work" if inside else elsewhere)
    est = QueryClassifier(categories=["violence"], lexicon=d, hash_bits=12, sentencepiece_vocab_size=0, C=1.0)
    est.fit(["爆弾魔 募集", "猫 飼い方", "爆弾魔 事件", "東京 天気"] * 5, [["violence"], [], ["violence"], []] * 5)
    manifest = json.loads((est.save(tmp_path / "m") / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["training"]["estimator"]["lexicon"] == (d.relative_to(tmp_path / "work").as_posix() if inside
                                                            else str(d))


def test_a_model_of_some_categories_reads_a_lexicon_that_labels_others(tmp_path: Path) -> None:
    d = _lexicon_dir(tmp_path, "kind\ttext\tlabels\talone\tnote\nterm\t爆弾魔\tviolence,hate\t1\t\n", "violence.tsv")
    est = QueryClassifier(categories=["violence"], lexicon=d, hash_bits=12, sentencepiece_vocab_size=0)
    assert est._lexicon_entries() == (LexiconEntry("爆弾魔", "violence", True),)


def morpheme_features(query: str) -> list[str]:
    surface = normalize(query)
    return LexiconFeatures(ENTRIES, position="morpheme")(fold_words(surface), surface)


@pytest.mark.parametrize(("query", "expected"), [
    ("しね", ["L1wharassment"]),  # whole words are the same in both modes
    ("爆弾 作り方", ["L0wviolence"]),
    ("爆弾おにぎり", ["L0eviolence"]),  # 爆弾|おにぎり: its own morphemes
    ("シネマ", ["L1iharassment"]),  # one morpheme: was "e" under "space"
    ("すといこしねま", ["L1iharassment"]),
    ("강간범 신상", ["L1isexual", "L1iviolence"]),  # 강간범 is one morpheme
    ("강간을", ["L1esexual", "L1eviolence"]),  # 강간|을: a particle follows
    ("東京 天気", []),
    ("", []),
])
def test_morpheme_positions(query: str, expected: list[str]) -> None:
    assert morpheme_features(query) == expected


def test_morpheme_positions_without_a_surface_count_inside() -> None:
    # No surface to read morphemes from: a term inside a word never counts as standing apart.
    assert LexiconFeatures(ENTRIES, position="morpheme")("爆弾おにぎり") == ["L0iviolence"]


def test_an_unknown_lexicon_position_is_named() -> None:
    with pytest.raises(InvalidParameterError) as err:
        LexiconFeatures(ENTRIES, position="edge")
    assert str(err.value) == "lexicon_position must be one of 'space', 'morpheme'; got 'edge'"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("しね爆弾おにぎり강간범을 assシネマ")), max_size=24))
def test_the_surface_may_come_lazily(text: str) -> None:
    surface = normalize(text)
    lex = LexiconFeatures(ENTRIES, position="morpheme")
    assert lex(fold_words(surface), surface) == lex(fold_words(surface), lambda: surface)


@pytest.fixture(scope="module")
def morpheme_model(tmp_path_factory) -> Path:
    rows = [json.loads(line) for line in (ROOT / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()][::12]
    est = QueryClassifier(lexicon=LEXICONS, lexicon_position="morpheme", hash_bits=16,
                          sentencepiece_vocab_size=0, length_norm="none")
    est.fit([r["text"] for r in rows], [r["labels"] for r in rows])
    return est.save(tmp_path_factory.mktemp("lexm") / "model")


def test_morpheme_model_round_trips_and_both_paths_agree(morpheme_model: Path) -> None:
    manifest = json.loads((morpheme_model / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["features"]["lexicon_position"] == "morpheme"
    pure = searchsafe.load(morpheme_model, compiled=False)
    assert pure._extractor.lexicon.position == "morpheme"
    lines = (ROOT / "data" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(line)["text"] for line in lines[:2000]]
    queries += ["ストイコビッチ", "おっぱいから", "라펠라", "펠라가", "", None, "ｼﾈ!!!! 動画"]
    expected = pure.score_batch(queries).view(np.uint32)
    single = np.array([list(pure.score(q).values()) for q in queries], np.float32).view(np.uint32)
    assert np.array_equal(single, expected)
    if searchsafe.load(morpheme_model).scoring_path == "compiled":
        fast = searchsafe.load(morpheme_model, compiled=True)
        assert np.array_equal(fast.score_batch(queries).view(np.uint32), expected)
