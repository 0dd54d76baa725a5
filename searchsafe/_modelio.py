"""The model directory format: a manifest plus data-only files, verified on load.

A model is a directory holding ``manifest.json``, ``weights.npz`` (numpy arrays,
read with ``allow_pickle=False``) and ``sentencepiece.model``. The manifest
records the format version, library versions, the feature configuration,
categories, thresholds, training-data fingerprint, metrics and the sha256 of
every other file. Loading checks the format version and every hash before it
reads a byte of the data files; nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ModelError

__all__ = ["FORMAT_VERSION", "ModelData", "read_model", "write_model", "sha256_file"]

#: Version of the directory format this searchsafe writes; it reads this and older.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
SENTENCEPIECE = "sentencepiece.model"
_MAX_MANIFEST_BYTES = 1 << 22


@dataclass
class ModelData:
    """A model in memory: compact weights plus everything the manifest says."""

    categories: tuple[str, ...]
    buckets: np.ndarray  # int32 (n_rows,), sorted hash buckets that carry weight
    weights: np.ndarray  # float32 (n_rows, n_categories)
    bias: np.ndarray  # float32 (n_categories,)
    thresholds: np.ndarray  # float32 (n_categories,)
    features: dict[str, Any]
    sentencepiece: bytes | None
    manifest: dict[str, Any] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    # Written by hand into a zip with fixed timestamps so that the same model
    # gives the same bytes (and hash) on every run.
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            arr_buf = io.BytesIO()
            np.lib.format.write_array(arr_buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, arr_buf.getvalue())
    return buf.getvalue()


def write_model(model: ModelData, path: str | os.PathLike[str], manifest_extra: dict[str, Any]) -> Path:
    """Write *model* to directory *path* atomically.

    Files go to a temporary sibling directory that replaces *path* only once
    complete, so an interrupted write never leaves a half model behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        arrays = {
            "buckets": model.buckets.astype(np.int32),
            "weights": model.weights.astype(np.float16),
            "bias": model.bias.astype(np.float32),
            "thresholds": model.thresholds.astype(np.float32),
        }
        (tmp / WEIGHTS).write_bytes(_npz_bytes(arrays))
        files = [WEIGHTS]
        if model.sentencepiece is not None:
            (tmp / SENTENCEPIECE).write_bytes(model.sentencepiece)
            files.append(SENTENCEPIECE)
        manifest = {
            "format": "searchsafe-model",
            "format_version": FORMAT_VERSION,
            **manifest_extra,
            "categories": list(model.categories),
            "thresholds": {c: round(float(t), 6) for c, t in zip(model.categories, model.thresholds)},
            "features": model.features,
            "n_weights": int(model.buckets.size),
            "files": {name: sha256_file(tmp / name) for name in files},
        }
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=2, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        backup = None
        if path.exists():
            backup = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, backup)
        os.replace(tmp, path)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    model.manifest = manifest
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise ModelError(f"{path}: not a model directory (it does not exist or is not a directory)")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise ModelError(f"{path}: no {MANIFEST}; not a searchsafe model directory")
    if mpath.stat().st_size > _MAX_MANIFEST_BYTES:
        raise ModelError(f"{mpath}: larger than {_MAX_MANIFEST_BYTES} bytes; not a searchsafe manifest")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{mpath}: not valid JSON ({exc}); the file is truncated or damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "searchsafe-model":
        raise ModelError(f"{mpath}: not a searchsafe model manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelError(f"{mpath}: format_version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format {version} is newer than this searchsafe reads "
            f"(up to {FORMAT_VERSION}); upgrade searchsafe to load it"
        )
    return manifest


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    files = manifest.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files:
        raise ModelError(f"{path / MANIFEST}: lists no file hashes")
    for name, expected in files.items():
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            raise ModelError(f"{path / MANIFEST}: bad file name {name!r}")
        fpath = path / name
        if not fpath.is_file():
            raise ModelError(f"{fpath}: missing (listed in {MANIFEST})")
        actual = sha256_file(fpath)
        if actual != expected:
            raise ModelError(
                f"{fpath}: sha256 {actual[:12]}… does not match the manifest's {str(expected)[:12]}…; "
                "the file was modified or truncated"
            )


def read_model(path: str | os.PathLike[str]) -> ModelData:
    """Read and verify a model directory."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_files(path, manifest)
    try:
        with np.load(path / WEIGHTS, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("buckets", "weights", "bias", "thresholds")}
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise ModelError(f"{path / WEIGHTS}: unreadable ({exc})") from None
    categories = manifest.get("categories")
    if not (isinstance(categories, list) and categories and all(isinstance(c, str) for c in categories)):
        raise ModelError(f"{path / MANIFEST}: categories must be a non-empty list of names")
    k = len(categories)
    b, w = arrays["buckets"], arrays["weights"]
    if b.ndim != 1 or w.shape != (b.size, k) or arrays["bias"].shape != (k,) or arrays["thresholds"].shape != (k,):
        raise ModelError(f"{path / WEIGHTS}: array shapes do not match {k} categories")
    sp_bytes = (path / SENTENCEPIECE).read_bytes() if SENTENCEPIECE in manifest["files"] else None
    return ModelData(
        categories=tuple(categories),
        buckets=b.astype(np.int64),
        weights=w.astype(np.float32),
        bias=arrays["bias"].astype(np.float32),
        thresholds=arrays["thresholds"].astype(np.float32),
        features=dict(manifest.get("features", {})),
        sentencepiece=sp_bytes,
        manifest=manifest,
    )
