"""Invariants one fuzzed input must keep. Each target raises AssertionError on a bug.

- :func:`check_query`: normalization is bounded, stripped and idempotent;
  folding is idempotent; scores are finite probabilities, identical alone and
  in a batch.
- :func:`check_manifest`: any manifest text either loads or raises ModelError.
- :func:`check_table`: any bytes in a JSON Lines / CSV / TSV file either read
  or raise DataError, whose message is one line naming the file.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

import searchsafe
from searchsafe import MAX_QUERY_CHARS, ModelError, normalize
from searchsafe._classifier import default_model_path
from searchsafe._data import DataError, read_labeled
from searchsafe._modelio import read_model

__all__ = ["check_query", "check_manifest", "check_table", "default_model_path"]
from searchsafe._normalize import fold

_STATE: dict[str, object] = {}


def classifier() -> searchsafe.Classifier:
    if "clf" not in _STATE:
        _STATE["clf"] = searchsafe.load()
    return _STATE["clf"]  # type: ignore[return-value]


def scratch() -> Path:
    """A model copy and a folder for data files, made once per process."""
    if "dir" not in _STATE:
        root = Path(tempfile.mkdtemp(prefix="searchsafe-fuzz-"))
        shutil.copytree(default_model_path(), root / "model")
        _STATE["dir"] = root
        _STATE["manifest"] = (root / "model" / "manifest.json").read_bytes()
    return _STATE["dir"]  # type: ignore[return-value]


def check_query(text: str) -> None:
    once = normalize(text)
    assert len(once) <= MAX_QUERY_CHARS and once == once.strip()
    assert normalize(once) == once, (text, once)
    folded = fold(once)
    assert fold(folded) == folded
    clf = classifier()
    alone = clf._scores([text], None)[0]
    batch = clf.score_batch(["猫 飼い方", text, None])[1]
    assert np.isfinite(alone).all() and (alone >= 0).all() and (alone <= 1).all()
    assert np.array_equal(alone, batch)


def check_manifest(blob: bytes) -> None:
    model = scratch() / "model"
    (model / "manifest.json").write_bytes(blob)
    try:
        read_model(model)
    except ModelError as exc:
        assert "\n" not in str(exc), str(exc)
    finally:
        (model / "manifest.json").write_bytes(_STATE["manifest"])  # type: ignore[arg-type]


def check_table(blob: bytes, suffix: str) -> None:
    path = scratch() / f"data{suffix}"
    path.write_bytes(blob)
    try:
        read_labeled(path, searchsafe.CATEGORIES)
    except DataError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message, message
