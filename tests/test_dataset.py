"""The committed dataset in data/: valid rows, clean splits, the sizes issue #3 asks for."""

from __future__ import annotations

import json
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
    import sys

    sys.path.insert(0, str(DATA))
    from build_dataset import _lexicon_entries, _neutral_intent_modifiers

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
