"""The committed dataset in data/: valid rows, clean splits, the sizes issue #3 asks for."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from searchsafe import CATEGORIES, normalize
from searchsafe._normalize import fold

DATA = Path(__file__).resolve().parent.parent / "data"
SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict]]:
    return {s: [json.loads(line) for line in (DATA / f"{s}.jsonl").read_text(encoding="utf-8").splitlines()] for s in SPLITS}


@pytest.fixture(scope="module")
def background() -> dict[str, list[dict]]:
    import gzip

    out = {}
    for s in ("train", "dev"):
        with gzip.open(DATA / "background" / f"{s}.jsonl.gz", "rt", encoding="utf-8") as f:
            out[s] = [json.loads(line) for line in f]
    return out


def test_every_row_is_valid(rows: dict[str, list[dict]]) -> None:
    for split, rs in rows.items():
        for i, r in enumerate(rs, 1):
            where = f"{split}.jsonl:{i}"
            assert set(r) <= {"text", "lang", "labels", "source", "group", "tags"}, where
            assert isinstance(r["text"], str) and r["text"].strip(), where
            assert r["lang"] in ("ja", "ko"), where
            assert isinstance(r["labels"], list) and set(r["labels"]) <= set(CATEGORIES), where
            assert len(set(r["labels"])) == len(r["labels"]), where
            assert not ({"child_safety", "sexual"} <= set(r["labels"])), where
            assert r["source"] and r["group"], where


def test_no_text_in_two_splits(rows: dict[str, list[dict]], background: dict[str, list[dict]]) -> None:
    seen: dict[str, str] = {}
    for split, rs in [*rows.items(), *background.items()]:
        for r in rs:
            key = fold(normalize(r["text"]))
            assert seen.setdefault(key, split) == split, r["text"]


def test_groups_do_not_cross_splits(rows: dict[str, list[dict]]) -> None:
    where: dict[str, str] = {}
    for split, rs in rows.items():
        for r in rs:
            assert where.setdefault(r["group"], split) == split, r["group"]


def test_sizes(rows: dict[str, list[dict]], background: dict[str, list[dict]]) -> None:
    everything = [r for rs in [*rows.values(), *background.values()] for r in rs]
    for lang in ("ja", "ko"):
        rs = [r for r in everything if r["lang"] == lang]
        assert len(rs) >= 20_000, lang
        positives = Counter(c for r in rs for c in r["labels"])
        for c in CATEGORIES:
            assert positives[c] >= 500, (lang, c, positives[c])
        n_pos = sum(1 for r in rs if r["labels"])
        n_hard = sum(1 for r in rs if not r["labels"] and "hard_negative" in r.get("tags", []))
        assert n_hard >= n_pos, (lang, n_hard, n_pos)


def test_handwritten_mostly_in_dev_and_test(rows: dict[str, list[dict]]) -> None:
    hw = Counter(s for s, rs in rows.items() for r in rs if r["source"] == "handwritten")
    assert hw["dev"] + hw["test"] > hw["train"]


def test_datasheet_table_matches_build(rows: dict[str, list[dict]], background: dict[str, list[dict]]) -> None:
    text = (DATA / "README.md").read_text(encoding="utf-8")
    for lang in ("ja", "ko"):
        for split in SPLITS:
            n = sum(1 for r in rows[split] + background.get(split, []) if r["lang"] == lang)
            assert f"| {lang} | {split} | {n} |" in text


SHARED = DATA.parent.parent / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not found: the committed dataset is built with the public data beside the repo")
def test_build_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(DATA / "build_dataset.py"), "--out", str(tmp_path)],
        check=True, capture_output=True, text=True,
    )
    for split in SPLITS:
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (DATA / f"{split}.jsonl").read_bytes(), split
    for split in ("train", "dev"):
        name = f"background/{split}.jsonl.gz"
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_build_without_shared_data_warns_and_works(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, str(DATA / "build_dataset.py"), "--out", str(tmp_path), "--shared", str(tmp_path / "absent"),
         "--no-background"],
        check=True, capture_output=True, text=True,
    )
    assert out.stderr.startswith(f"warning: {tmp_path / 'absent'} not found: building from our own lexicons and queries only")
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows and not any(r["source"].startswith("public") for r in rows)


def test_background_is_benign_large_and_never_in_test(background: dict[str, list[dict]]) -> None:
    """Issue #8: at least 200k benign rows per language from sources nobody here wrote, none in test."""
    assert not (DATA / "background" / "test.jsonl.gz").exists()
    for split, rs in background.items():
        for i, r in enumerate(rs, 1):
            assert r["labels"] == [] and r["source"].startswith("background:"), f"{split}:{i}"
            assert r["lang"] in ("ja", "ko") and r["text"].strip(), f"{split}:{i}"
    for lang in ("ja", "ko"):
        assert sum(r["lang"] == lang for rs in background.values() for r in rs) >= 200_000, lang


def test_background_uses_no_held_out_entry(background: dict[str, list[dict]]) -> None:
    """Single words and entities come from the training share of the split that the sweeps hold out."""
    from searchsafe._wordsources import is_heldout

    singles = [r["text"] for rs in background.values() for r in rs if r["source"] in ("background:word", "background:entity")]
    assert len(singles) > 100_000
    assert not any(map(is_heldout, singles))


def test_intent_modifiers_are_far_more_common_in_benign_rows(rows, background) -> None:
    """Every everyday intent modifier (動画, 방법...) follows innocent subjects more often than harmful ones."""
    bd = _build_module()
    _lexicon_entries, _neutral_intent_modifiers = bd._lexicon_entries, bd._neutral_intent_modifiers

    everything = [r for rs in [*rows.values(), *background.values()] for r in rs]
    for lang in ("ja", "ko"):
        neutral, _ = _neutral_intent_modifiers(lang, _lexicon_entries(lang))
        assert len(neutral) > 100, lang
        benign, harmful = Counter(), Counter()
        for r in everything:
            if r["lang"] == lang:
                (harmful if r["labels"] else benign).update(set(r["text"].split()) & set(neutral))
        worst = min(neutral, key=lambda m: benign[m] / (harmful[m] or 0.5))
        assert benign[worst] >= 3 * harmful[worst], (lang, worst, benign[worst], harmful[worst])


@pytest.mark.parametrize(("lang", "query", "harmful_pattern"), [
    ("ja", "JS 値段", True),  # a minor slang term with a child_safety modifier
    ("ja", "ロリコン まとめ", True),
    ("ja", "セックス 相場", True),
    ("ja", "拷問 動画", True),
    ("ja", "朝鮮人 見分け方", True),  # a group with a modifier specific to hate
    ("ja", "カラス もがく", True),
    ("ja", "東京 値段", False),
    ("ja", "朝鮮人 名前", False),
    ("ja", "カラス 写真", False),
    ("ja", "猫 動画", False),  # a subject with a generic modifier stays benign
    ("ja", "中学生 制服", False),
    ("ko", "원조 만나는법", True),  # two modifiers specific to child_safety
    ("ko", "중학생 만나는법", True),
    ("ko", "고등학생 팝니다", True),
    ("ko", "자해 도구", True),
    ("ko", "흑인 구별법", True),
    ("ko", "원조 맛집", False),
    ("ko", "고양이 모음", False),
    ("ko", "흑인 음악", False),
    ("ko", "수원 재료 구하는법", False),  # one modifier of two words, not two modifiers
    ("ko", "고등학생 교복", False),
])
def test_composition_guard(lang: str, query: str, harmful_pattern: bool) -> None:
    """A benign composition never says what a harmful row says (JS 値段 labelled benign decided child_safety's threshold)."""
    assert _build_module().composition_guard(lang)(query) is harmful_pattern


def test_no_background_composition_reads_like_a_harmful_row(background: dict[str, list[dict]]) -> None:
    bd = _build_module()
    for lang in ("ja", "ko"):
        guard = bd.composition_guard(lang)
        composed = [r["text"] for rs in background.values() for r in rs
                    if r["lang"] == lang and r["source"] not in ("background:word", "background:entity")]
        assert len(composed) > 100_000, lang
        assert [t for t in composed if guard(t)] == [], lang


def _reviewed_harmful_modifiers(lang: str) -> set[str]:
    bd = _build_module()
    return {e["text"] for e in bd.read_tsv(DATA / "lexicons" / lang / "modifiers_review.tsv") if e["neutral"] == "0"}


def test_no_benign_query_carries_a_harmful_modifier(rows: dict[str, list[dict]]) -> None:
    """A benign lexicon query with a modifier harmful in itself ("성소수자 상담 격리해야") is no hard negative."""
    bd = _build_module()
    checked = 0
    for lang in ("ja", "ko"):
        harmful = _reviewed_harmful_modifiers(lang)
        guard = bd.composition_guard(lang)
        for r in (r for rs in rows.values() for r in rs):
            if r["lang"] != lang or r["source"] != "generated" or r["labels"] or ":benign:" not in r["group"]:
                continue
            if any(t.startswith("evasion:") for t in r.get("tags", [])):
                continue
            query = r["group"].split(":", 3)[3]
            if r["text"] == query:
                continue
            modifier = r["text"][len(query):].strip()
            checked += 1
            assert modifier not in harmful, r["text"]
            assert not guard(r["text"]), r["text"]
    assert checked > 3000


@pytest.mark.parametrize(("text", "qwerty"), [
    ("자살 방법", "wktkf qkdqjq"),
    ("야동", "diehd"),
    ("ㅇㄷ", None),  # would be "de", a Latin word in many languages
    ("섹", None),    # three keys: "tpr"
])
def test_qwerty_evasions_are_long_enough_not_to_read_as_latin(text: str, qwerty: str | None) -> None:
    import random

    got = dict(_build_module().evasions(text, "ko", random.Random(0))).get("qwerty")
    assert got == qwerty


def test_evasions_of_a_row_do_not_depend_on_the_other_rows() -> None:
    """Adding a query leaves every other row's evasive spellings alone (they used to shift, and the splits with them)."""
    bd = _build_module()
    rows = [bd.Row(t, lang, ["self_harm"], "handwritten", f"{lang}:g{i}", [], 0)
            for i, (t, lang) in enumerate([("死にたい", "ja"), ("自殺 方法", "ja"), ("자살 방법", "ko"), ("죽고 싶다", "ko")] * 3)]
    before = [(r.text, r.group, r.tags) for r in bd.add_evasions(rows, 13, 0.5)]
    after = [(r.text, r.group, r.tags) for r in bd.add_evasions([bd.Row("首吊り", "ja", ["self_harm"], "handwritten", "ja:new", [], 0), *rows], 13, 0.5)
             if r.group != "ja:new"]
    assert before and after == before


def test_lexicon_rows_of_an_entry_do_not_depend_on_the_other_entries(tmp_path: Path, monkeypatch) -> None:
    """Flipping one term's ``alone`` changes that term's rows only. With one generator for the
    whole lexicon in file order, 15 such label fixes redrew 32,000 of 57,000 training rows."""
    import shutil

    bd = _build_module()
    before = {(r.text, tuple(r.labels), r.group) for r in bd.lexicon_rows("ko", 7)}
    shutil.copytree(DATA / "lexicons", tmp_path / "lexicons")
    path = tmp_path / "lexicons" / "ko" / "hate.tsv"
    lines = path.read_text(encoding="utf-8").split("\n")
    at = next(i for i, ln in enumerate(lines) if ln.startswith("term\t") and ln.split("\t")[3] == "0")
    cells = lines[at].split("\t")
    lines[at] = "\t".join([*cells[:3], "1", *cells[4:]])
    path.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setattr(bd, "DATA", tmp_path)
    after = {(r.text, tuple(r.labels), r.group) for r in bd.lexicon_rows("ko", 7)}
    assert {r[2] for r in before ^ after} == {f"ko:hate:term:{cells[1]}"}


def test_background_parts_do_not_depend_on_each_other() -> None:
    """A modifier used once more in harmful rows adds benign rows of its own and moves no other row."""
    _build_module()
    import background as bg

    nouns = [("東京", 5.0), ("天気", 4.0), ("猫", 3.0), ("駅", 2.0)]
    src = bg.Sources(words=nouns, nouns=nouns, entities=["大阪", "札幌", "那覇"], everyday_modifiers=["レシピ", "意味"],
                     intent_modifiers=["動画", "方法"], subjects=[("子供", "minor"), ("犬", "animal")])
    composer = bg.Composer("ja", src)
    a = composer.compose("s", 80, {"動画": 1})
    b = composer.compose("s", 80, {"動画": 1, "方法": 2})
    added = list(b)
    for row in a:
        added.remove(row)
    assert len(added) == bg.INTENT_MODIFIER_RATIO * 2 and all("方法" in text for text, _ in added)


@pytest.mark.parametrize("lang", ["ja", "ko"])
def test_possessed_rows_say_whose_animal_or_person_and_only_animals_take_adjectives(lang: str) -> None:
    """"隣の犬 うるさい": the possessor harmful rows use ("隣の犬 毒") stands in everyday rows too."""
    _build_module()
    import background as bg

    nouns = [("東京", 5.0), ("天気", 4.0)] if lang == "ja" else [("서울", 5.0), ("날씨", 4.0)]
    subjects = [("犬", "animal"), ("上司", "person"), ("子供", "minor"), ("中国人", "group")] if lang == "ja" else \
        [("강아지", "animal"), ("부장", "person"), ("초딩", "minor"), ("조선족", "group")]
    adjective = "うるさい" if lang == "ja" else "시끄러운"
    src = bg.Sources(words=nouns, nouns=nouns, entities=["大阪"], everyday_modifiers=["意味"], intent_modifiers=[],
                     subjects=subjects, adjectives=((adjective, 1.0),))
    composer = bg.Composer(lang, src)
    rows = composer._possessed(random.Random("p"), 400)
    assert rows == composer._possessed(random.Random("p"), 400)
    possessors = bg.JA_POSSESSORS if lang == "ja" else bg.KO_POSSESSORS
    animal, person = subjects[0][0], subjects[1][0]
    assert {kind for _, kind in rows} == {"possessed"}
    for text, _ in rows:
        assert text.startswith(tuple(possessors)) and (animal in text) != (person in text), text
        assert subjects[2][0] not in text and subjects[3][0] not in text, text
        assert adjective not in text or animal in text, text
    assert any(adjective in text for text, _ in rows)


def test_possessed_rows_are_a_part_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turning the possessed part off removes its rows and moves no other row."""
    _build_module()
    import background as bg

    nouns = [("東京", 5.0), ("天気", 4.0), ("猫", 3.0)]
    src = bg.Sources(words=nouns, nouns=nouns, entities=["大阪", "札幌"], everyday_modifiers=["レシピ"],
                     intent_modifiers=["動画"], subjects=[("犬", "animal")], adjectives=(("可愛い", 1.0),))
    with_part, n = bg.Composer("ja", src).compose("s", 60), bg.POSSESSED_ROWS
    monkeypatch.setattr(bg, "POSSESSED_ROWS", 0)
    without = bg.Composer("ja", src).compose("s", 60)
    assert [r for r in with_part if r[1] != "possessed"] == without
    assert sum(kind == "possessed" for _, kind in with_part) == n > 0


@pytest.mark.parametrize("lang", ["ja", "ko"])
def test_action_rows_ask_how_to_with_reviewed_verbs_for_animals_and_people_only(lang: str,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """"猫 爪 切る 方法": an everyday verb before a how-to word, only for animals and people."""
    _build_module()
    import background as bg

    nouns = [("東京", 5.0), ("天気", 4.0)] if lang == "ja" else [("서울", 5.0), ("날씨", 4.0)]
    subjects = [("猫", "animal"), ("上司", "person"), ("子供", "minor"), ("中国人", "group")] if lang == "ja" else \
        [("고양이", "animal"), ("부장", "person"), ("초딩", "minor"), ("조선족", "group")]
    animal_verb, person_verb = ("慣れさせる", "説得する") if lang == "ja" else ("씻기는", "설득하는")
    src = bg.Sources(words=nouns, nouns=nouns, entities=["大阪"], everyday_modifiers=["意味"], intent_modifiers=[],
                     subjects=subjects, animal_verbs=((animal_verb, 1.0),), person_verbs=((person_verb, 1.0),))
    composer = bg.Composer(lang, src)
    rows = composer._actions(random.Random("a"), 400)
    assert rows == composer._actions(random.Random("a"), 400) and {k for _, k in rows} == {"action"}
    for text, _ in rows:
        assert (animal_verb in text) == text.startswith(subjects[0][0]), text
        assert (person_verb in text) == text.startswith(subjects[1][0]), text
        assert not text.startswith((subjects[2][0], subjects[3][0])), text
    monkeypatch.setattr(bg, "ACTION_ROWS", 0)
    without = composer.compose("s", 40)
    monkeypatch.setattr(bg, "ACTION_ROWS", 500)
    with_part = composer.compose("s", 40)
    assert [r for r in with_part if r[1] != "action"] == without
    assert sum(k == "action" for _, k in with_part) == 500


def test_verb_review_reads_both_judgements(tmp_path: Path) -> None:
    _build_module()
    import background as bg

    path = tmp_path / "verbs_ja.tsv"
    path.write_text("# judged by hand\nverb\tsafe_animal\tsafe_person\tnote\n育てる\t1\t1\t\n殺す\t0\t0\tkill\n"
                    "飼う\t1\t0\n", encoding="utf-8")
    assert bg.read_verb_review(path) == {"育てる": (True, True), "殺す": (False, False), "飼う": (True, False)}
    assert bg.read_verb_review(tmp_path / "missing.tsv") == {}


@pytest.mark.parametrize("content, message", [
    ("verb\tsafe\n", "verbs.tsv:1: expected the header verb<TAB>safe_animal<TAB>safe_person<TAB>note"),
    ("verb\tsafe_animal\tsafe_person\tnote\n育てる\t1\tyes\n",
     "verbs.tsv:2: expected a verb and two 0/1 columns, got '育てる\\t1\\tyes'"),
])
def test_verb_review_errors_name_the_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    _build_module()
    import background as bg

    path = tmp_path / "verbs.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        bg.read_verb_review(path)
    assert str(exc.value) == f"{path.parent}/{message}"


def _build_module():
    import sys

    if str(DATA) not in sys.path:
        sys.path.insert(0, str(DATA))
    import build_dataset

    return build_dataset


def _review_fixture(tmp_path: Path, lines: list[str], review_rows: list[str]) -> tuple[Path, Path]:
    shared = tmp_path / "shared"
    (shared / "ja-xsafety" / "ja").mkdir(parents=True)
    # A BOM and trailing blanks, as the public files have them.
    (shared / "ja-xsafety" / "ja" / "Insult.csv").write_text("\ufeff" + "\n".join(lines) + "  \n", encoding="utf-8")
    reviews = tmp_path / "reviews"
    reviews.mkdir()
    (reviews / "ja-xsafety.tsv").write_text("file\tline\tsha1\tlabels\tnote\n" + "".join(r + "\n" for r in review_rows),
                                            encoding="utf-8")
    return shared, reviews


def test_reviewed_public_rows_follow_the_review(tmp_path: Path) -> None:
    bd = _build_module()
    lines = ["お前 ほんと 役立たず", "今日は いい天気", "どちらとも 言えない"]
    review = [f"Insult.csv\t{i}\t{bd._line_sha1(t)}\t{lab}\tnote" for i, (t, lab) in
              enumerate(zip(lines, ["harassment", "", "skip"]), 1)]
    shared, reviews = _review_fixture(tmp_path, lines, review)
    rows = bd.reviewed_public_rows(shared, reviews)
    assert [(r.text, r.labels, r.source, r.group) for r in rows] == [
        ("お前 ほんと 役立たず", ["harassment"], "public:ja-xsafety", "ja:ja-xsafety:Insult:1"),
        ("今日は いい天気", [], "public:ja-xsafety", "ja:ja-xsafety:Insult:2"),
    ]


def test_public_word_list_terms_compose_only_as_judged(tmp_path: Path) -> None:
    """Terms of a public word list become harmful rows only where public_terms.tsv judged them, with those labels."""
    import random

    bd = _build_module()
    judged = {t: (labels, source) for t, labels, _, source in bd.public_term_rows("ja")}
    listed = sorted(t for t, (_, source) in judged.items() if "ja-inappropriate-words" in source.split(","))[:2]
    unjudged = ["陰毛", "コンドーム"]
    assert listed and not set(unjudged) & set(judged)
    folder = tmp_path / "ja-inappropriate-words"
    folder.mkdir()
    (folder / "Sexual.txt").write_text("\n".join(listed + unjudged) + "\n", encoding="utf-8")
    rows = bd.shared_wordlist_rows(tmp_path, random.Random(0))
    assert sorted({r.text.split()[0] for r in rows}) == listed
    assert all(r.labels == judged[r.text.split()[0]][0] and len(r.text.split()) == 2 for r in rows)
    assert len(rows) == 3 * len(listed)


def test_reviewed_public_rows_stop_when_the_shared_file_changed(tmp_path: Path) -> None:
    bd = _build_module()
    shared, reviews = _review_fixture(tmp_path, ["変わった 行"], ["Insult.csv\t1\t000000000000\tharassment\t"])
    with pytest.raises(SystemExit) as exc:
        bd.reviewed_public_rows(shared, reviews)
    assert str(exc.value) == (
        f"{reviews / 'ja-xsafety.tsv'}:2: line 1 of {shared / 'ja-xsafety' / 'ja' / 'Insult.csv'} does not have "
        "sha1 000000000000; the shared file changed since the review: review that line again")


def test_committed_review_matches_the_shared_data() -> None:
    """Every reviewed line still hashes as reviewed, and only policy categories (or skip) are used."""
    bd = _build_module()
    if not (SHARED / "ja-xsafety").is_dir():
        pytest.skip(f"{SHARED / 'ja-xsafety'} not found")
    review = bd.read_tsv(DATA / "reviews" / "ja-xsafety.tsv")
    assert len(review) > 300
    for e in review:
        assert e["labels"] == "skip" or set(filter(None, e["labels"].split(","))) <= set(CATEGORIES), e
    rows = bd.reviewed_public_rows(SHARED)
    assert len(rows) == sum(e["labels"] != "skip" for e in review)
    assert all(2 <= len(r.text) <= bd.MAX_PUBLIC_CHARS for r in rows)


def test_transfer_benchmarks_stay_out_of_training(rows: dict[str, list[dict]], background: dict[str, list[dict]]) -> None:
    """Issue 8's six public sets measure transfer: none of their texts, nor (Japanese) a part of one, is trained on.

    The shipped model learns train + dev + the background, so all of them are checked.
    """
    import unicodedata

    from benchmarks import realtraffic

    def key(text: str) -> str:
        return "".join(unicodedata.normalize("NFKC", text).casefold().split())

    trained = [r for s in ("train", "dev") for r in [*rows[s], *background[s]]]
    keys = {key(r["text"]) for r in trained}
    present = 0
    for name, spec in realtraffic.PUBLIC_SETS.items():
        path = SHARED / spec["file"]
        if not path.is_file():
            continue
        present += 1
        texts = [key(t) for t, _, _ in realtraffic._READERS[name](path)]
        # Texts under 5 characters are words (はい, なるほど) that word lists and lexicons hold too.
        same = {t for t in texts if len(t) >= 5} & keys
        assert not same, (name, sorted(same)[:5])
        if spec["lang"] == "ja":
            # A copied phrase counts too: no trained row of 7+ characters inside a
            # benchmark text, and no benchmark text of 7+ characters inside a trained
            # row. Single word-list and dictionary entries (ドキュメンタリー) are words
            # any text may hold, and shorter texts (ありがとう) are everyday phrases.
            # Paraphrases escape any such rule: writers of our rows never see these sets.
            bench = "\n".join(texts)
            inside = [r["text"] for r in trained if r["lang"] == "ja" and len(key(r["text"])) >= 7
                      and r["source"] not in ("background:word", "background:entity") and key(r["text"]) in bench]
            assert not inside, (name, inside[:5])
            joined = "\n".join(key(r["text"]) for r in trained if r["lang"] == "ja")
            holding = [t for t in texts if len(t) >= 7 and t in joined]
            assert not holding, (name, holding[:5])
    if not present:
        pytest.skip(f"{SHARED} holds none of the transfer benchmarks")


def test_no_harmful_row_is_everyday_choseong_shorthand(rows: dict[str, list[dict]]) -> None:
    """흑형's choseong is ㅎㅎ, Korean laughter: a harmful row spelled so would teach the model to flag it."""
    everyday = _build_module().EVERYDAY_CHOSEONG
    assert {"ㅎㅎ", "ㅋㅋ", "ㅇㅇ"} <= everyday
    bad = [r["text"] for rs in rows.values() for r in rs if r["labels"] and r["text"].strip() in everyday]
    assert not bad
