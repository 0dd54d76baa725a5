"""Hostile model directories: strict manifest schema, hash-consistent bad files, pinning, signatures (issue #14)."""

from __future__ import annotations

import copy
import functools
import errno
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import searchsafe
from searchsafe import ModelError
from searchsafe import _modelio
from searchsafe._classifier import default_model_path
from searchsafe._modelio import SIGNATURE, model_digest, read_model, sign_model, write_model

#: Weight rows of the shipped model, read from its manifest, so a retrained model needs no edit here.
_MANIFEST = json.loads((default_model_path() / "manifest.json").read_text(encoding="utf-8"))
N_ROWS = _MANIFEST["n_weights"]
HASH_BITS = _MANIFEST["features"]["hash_bits"]


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(default_model_path(), dst)
    return dst


def _manifest(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))


def _write_manifest(model_dir: Path, manifest: dict[str, Any]) -> None:
    (model_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def _del(*keys: str) -> Callable[[dict], None]:
    def mutate(m: dict) -> None:
        target = m
        for k in keys[:-1]:
            target = target[k]
        del target[keys[-1]]
    return mutate


def _set(value: Any, *keys: str) -> Callable[[dict], None]:
    def mutate(m: dict) -> None:
        target = m
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return mutate


def _dup_category(m: dict) -> None:
    m["categories"] = m["categories"] + ["hate"]


# (what the attacker changes, the exact error after "<dir>/manifest.json: ")
MANIFEST_CASES = [
    (_del("features"), "no 'features'; the manifest is incomplete"),
    (_set(None, "features"), "'features' must be an object; got null"),
    (_set("pieces", "features", "char_mode"), "features: char_mode must be 'word' or 'folded'; got 'pieces'"),
    (_set(40, "features", "hash_bits"), "features: hash_bits must be an integer from 10 to 26; got 40"),
    (_set("20", "features", "hash_bits"), "features.hash_bits must be int; got str '20'"),
    (_set(True, "features", "hash_bits"), "features.hash_bits must be int; got bool True"),
    (_set(1, "features", "morph_bigrams"), "features.morph_bigrams must be bool; got int 1"),
    (_set("evil", "features", "korean_backend"),
     "features.korean_backend 'evil' is not one of mecab-ko-dic, konlpy-mecab, konlpy-okt, konlpy-komoran, "
     "konlpy-hannanum, konlpy-kkma"),
    (_set(0, "features", "char_ngram_min"),
     "features: char_ngram_min and char_ngram_max must be integers with 1 <= char_ngram_min <= char_ngram_max <= 8; "
     "got 0 and 4"),
    (_del("features", "char_mode"), "features lack char_mode"),
    (_set(True, "format_version"), "format_version must be a positive integer; got bool True"),
    (_set("1", "format_version"), "format_version must be a positive integer; got str '1'"),
    (_set(0, "format_version"), "format_version must be a positive integer; got int 0"),
    (_set("x", "format"), 'not a searchsafe model manifest (no "format": "searchsafe-model")'),
    (_set([0.5] * 8, "thresholds"), "'thresholds' must be an object of category: number; got list"),
    (_set(["weights.npz"], "files"), "'files' must be an object of file name: sha256; got list"),
    (_set("x", "n_weights"), "'n_weights' must be int; got str"),
    (_set([], "categories"), "categories must be a non-empty list of names (printable, at most 64 characters)"),
    (_dup_category, "category 'hate' is listed twice"),
    (_del("thresholds", "hate"),
     "thresholds must name exactly the categories child_safety, self_harm, violence, violent_extremism, hate, "
     "harassment, sexual, animal_cruelty"),
    (_set(2, "thresholds", "hate"), "thresholds.hate must be a number from 0 to 1; got 2"),
    (_set(None, "thresholds", "hate"), "thresholds.hate must be a number from 0 to 1; got None"),
    (_del("files", "sentencepiece.model"),
     "the features use sentencepiece pieces but 'files' lists no sentencepiece.model"),
    (_del("files", "weights.npz"), "lists no hash for weights.npz"),
    (_set("0" * 64, "files", "../weights.npz"), "bad file name '../weights.npz' in 'files'"),
    (_set("ABC", "files", "weights.npz"), "files.weights.npz must be a sha256 of 64 lowercase hex digits"),
    (_set("a string", "training"), "'training' must be dict; got str"),
]


@pytest.mark.parametrize(("mutate", "message"), MANIFEST_CASES)
def test_manifest_schema_refuses(model_dir: Path, mutate: Callable[[dict], None], message: str) -> None:
    manifest = _manifest(model_dir)
    mutate(manifest)
    _write_manifest(model_dir, manifest)
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir)
    assert str(info.value) == f"{model_dir / 'manifest.json'}: {message}"


def test_unknown_feature_key_is_refused(model_dir: Path) -> None:
    manifest = _manifest(model_dir)
    manifest["features"]["word_skipgrams"] = 2
    _write_manifest(model_dir, manifest)
    with pytest.raises(ModelError, match=r"manifest\.json: unknown feature setting 'word_skipgrams'; this searchsafe "
                                         r"knows char_ngram_min, .*\(a newer searchsafe may have written it\)$"):
        searchsafe.load(model_dir)


def test_informational_keys_are_accepted(model_dir: Path, clf: searchsafe.Classifier) -> None:
    manifest = _manifest(model_dir)
    manifest["prevalence"] = {"ja": {"self_harm": 0.01}, "note": ["any", 1, 2.5, None, True]}
    manifest["training"]["new_field"] = {"nested": [1, 2, {"x": "y"}]}
    _write_manifest(model_dir, manifest)
    again = searchsafe.load(model_dir)
    assert again.manifest["prevalence"]["ja"] == {"self_harm": 0.01}
    assert np.array_equal(again.score_batch(["자살 방법", "猫"]), clf.score_batch(["자살 방법", "猫"]))


def test_a_feature_field_added_later_is_typed_from_featureconfig(model_dir: Path) -> None:
    # The schema reads FeatureConfig's fields: a new field needs no change there.
    import dataclasses

    from searchsafe import _features, _manifest_schema

    base = _features.FeatureConfig
    extended = dataclasses.make_dataclass("FeatureConfig", [("shiny", "bool", dataclasses.field(default=False)),
                                                            ("ratio", "float | None", dataclasses.field(default=None))],
                                          bases=(base,), frozen=True)
    manifest = _manifest(model_dir)
    manifest["features"]["shiny"] = "yes"
    _write_manifest(model_dir, manifest)
    mp = pytest.MonkeyPatch()
    mp.setattr(_features, "FeatureConfig", extended)
    try:
        with pytest.raises(ModelError, match=r"features\.shiny must be bool; got str 'yes'$"):
            _manifest_schema.validate_features(manifest["features"], "m.json")
        manifest["features"]["shiny"] = True
        assert _manifest_schema.validate_features(manifest["features"], "m.json")["shiny"] is True
        del manifest["features"]["shiny"]
        assert _manifest_schema.validate_features(manifest["features"], "m.json")["shiny"] is False
        for ok in (1, 0.5, None):
            assert _manifest_schema.validate_features({**manifest["features"], "ratio": ok}, "m.json")["ratio"] == ok
        with pytest.raises(ModelError, match=r"features\.ratio must be float or null; got bool True$"):
            _manifest_schema.validate_features({**manifest["features"], "ratio": True}, "m.json")
    finally:
        mp.undo()


RAW_MANIFESTS = [
    ('{"format": "searchsafe-model", "format": "x"}', "not a valid manifest: key 'format' appears twice in one object"),
    ("[" * 5000 + "]" * 5000, "not a valid manifest: nested deeper than 32 levels"),
    ('{"a": ' + "[" * 40 + "]" * 40 + "}", "not a valid manifest: nested deeper than 32 levels"),
    ('{"format_version": ' + "9" * 5000 + "}", "not a valid manifest: an integer of 5000 digits (at most 20)"),
    ('{"x": NaN}', "not a valid manifest: NaN is not a number JSON allows"),
    ('{"x": -Infinity}', "not a valid manifest: -Infinity is not a number JSON allows"),
    ('{"x": 1e999}', "not a valid manifest: the number 1e999 overflows a float"),
    ('"just a string"', "not a searchsafe model manifest (a JSON object is expected)"),
]


@pytest.mark.parametrize(("text", "message"), RAW_MANIFESTS)
def test_hostile_manifest_text_is_refused(model_dir: Path, text: str, message: str) -> None:
    (model_dir / "manifest.json").write_text(text, encoding="utf-8")
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir)
    assert str(info.value) == f"{model_dir / 'manifest.json'}: {message}"


def _put(model_dir: Path, name: str, blob: bytes) -> None:
    """Replace a file and make the manifest's hash match: damage the hashes cannot see."""
    (model_dir / name).write_bytes(blob)
    manifest = _manifest(model_dir)
    manifest["files"][name] = hashlib.sha256(blob).hexdigest()
    _write_manifest(model_dir, manifest)


def _npy(arr: np.ndarray | None = None, *, header: dict | None = None, tail: bytes = b"") -> bytes:
    buf = io.BytesIO()
    if header is not None:
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue() + tail


def _npz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members.items():
            zf.writestr(name + ".npy", blob)
    return buf.getvalue()


@functools.lru_cache(maxsize=1)
def _arrays() -> dict[str, np.ndarray]:
    with np.load(default_model_path() / "weights.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in ("buckets", "weights", "bias", "thresholds")}


@functools.lru_cache(maxsize=1)
def _default_data() -> _modelio.ModelData:
    return read_model(default_model_path())


def _weights_with(**changes: bytes) -> bytes:
    members = {k: _npy(v) for k, v in _arrays().items()}
    members.update(changes)
    return _npz(members)


def _nan_weights() -> bytes:
    w = _arrays()["weights"].copy()
    w[5, 2] = np.nan
    return _npy(w)


WEIGHT_CASES = [
    ("a (2**40, 8) header", lambda: _weights_with(weights=_npy(header={"descr": "<f2", "fortran_order": False,
                                                                        "shape": (1 << 40, 8)})),
     "weights declares shape (1099511627776, 8), more than this model can need"),
    ("a structured dtype", lambda: _weights_with(bias=_npy(np.zeros(8, dtype=[("a", "<f4"), ("b", "<f4")]))),
     "bias has dtype '|V8'; a plain float array is expected"),
    ("an object dtype", lambda: _weights_with(thresholds=_npy(header={"descr": "|O", "fortran_order": False,
                                                                       "shape": (8,)})),
     "thresholds has dtype '|O'; a plain float array is expected"),
    ("NaN weights", lambda: _weights_with(weights=_nan_weights()), "weights hold NaN or infinity"),
    ("an infinite bias", lambda: _weights_with(bias=_npy(np.full(8, np.inf, dtype=np.float32))),
     "bias hold NaN or infinity"),
    ("a huge bias", lambda: _weights_with(bias=_npy(np.full(8, 1e6, dtype=np.float32))),
     "bias exceed 10000 in magnitude"),
    ("a threshold above 1", lambda: _weights_with(thresholds=_npy(np.full(8, 1.5, dtype=np.float32))),
     "thresholds must be numbers from 0 to 1"),
    ("unsorted buckets", lambda: _weights_with(buckets=_npy(_arrays()["buckets"][::-1].copy())),
     "buckets are not sorted and unique"),
    ("a bucket out of range", lambda: _weights_with(buckets=_npy(_arrays()["buckets"] + (1 << HASH_BITS))),
     f"a bucket lies outside the model's hash space of 2**{HASH_BITS}"),
    ("bytes past the header's shape", lambda: _weights_with(bias=_npy(np.zeros(8, np.float32), tail=b"\0" * 64)),
     "bias holds more bytes than its header declares; the file is damaged"),
    ("a member cut short", lambda: _weights_with(bias=_npy(np.zeros(8, np.float32))[:-4]),
     "bias holds fewer bytes than its header declares; the file is damaged"),
    ("a missing member", lambda: _npz({k: _npy(v) for k, v in _arrays().items() if k != "bias"}),
     "holds buckets.npy, thresholds.npy, weights.npy; exactly bias.npy, buckets.npy, thresholds.npy, weights.npy "
     "are expected"),
    ("not a zip", lambda: b"PK\x03\x04 not really", "unreadable (File is not a zip file)"),
    ("fortran order", lambda: _weights_with(weights=_npy(np.asfortranarray(_arrays()["weights"]))),
     f"weights has shape ({N_ROWS}, 8); a C-ordered 2-d array is expected"),
]


@pytest.mark.parametrize(("label", "make", "message"), WEIGHT_CASES, ids=[c[0] for c in WEIGHT_CASES])
def test_hash_consistent_hostile_weights_are_refused(model_dir: Path, label: str, make: Callable[[], bytes],
                                                     message: str) -> None:
    _put(model_dir, "weights.npz", make())
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir)
    assert str(info.value) == f"{model_dir / 'weights.npz'}: {message}"


def test_zip_bomb_is_refused_before_it_is_inflated(model_dir: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in _arrays().items():
            if name != "bias":
                zf.writestr(name + ".npy", _npy(arr))
        with zf.open("bias.npy", "w") as f:
            f.write(_npy(np.zeros(8, np.float32)))
            zeros = bytes(1 << 20)
            for _ in range(32):  # 32 MiB that deflate to 32 KB
                f.write(zeros)
    _put(model_dir, "weights.npz", buf.getvalue())
    tracemalloc.start()
    try:
        with pytest.raises(ModelError) as info:
            read_model(model_dir)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    declared = 32 * (1 << 20) + len(_npy(np.zeros(8, np.float32)))
    assert str(info.value) == (f"{model_dir / 'weights.npz'}: bias declares {declared} bytes, "
                               "more than this model can need")
    # Reading the default model's real weights costs about 22 MB; inflating the
    # bomb would add its 32 MiB on top.
    assert peak < 32 << 20


@pytest.mark.parametrize("blob", [b"", b"garbage", b"\n\x03abc"])
def test_hash_consistent_bad_sentencepiece_is_refused(model_dir: Path, blob: bytes) -> None:
    _put(model_dir, "sentencepiece.model", blob)
    with pytest.raises(ModelError, match=r"sentencepiece\.model: not a sentencepiece model \(.+\)$"):
        searchsafe.load(model_dir)


def test_n_weights_must_match(model_dir: Path) -> None:
    manifest = _manifest(model_dir)
    manifest["n_weights"] = 12
    _write_manifest(model_dir, manifest)
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir)
    assert str(info.value) == f"{model_dir / 'weights.npz'}: holds {N_ROWS} weight rows, the manifest says 12"


# -- pinning ------------------------------------------------------------------
def test_digest_is_sha256sum_of_the_sorted_files(model_dir: Path) -> None:
    names = sorted(os.listdir(model_dir))
    listing = "".join(f"{hashlib.sha256((model_dir / n).read_bytes()).hexdigest()}  {n}\n" for n in names)
    assert model_digest(model_dir) == hashlib.sha256(listing.encode()).hexdigest()
    if shutil.which("sha256sum"):
        out = subprocess.run(["sha256sum", *names], cwd=model_dir, capture_output=True, check=True).stdout
        assert hashlib.sha256(out).hexdigest() == model_digest(model_dir)


def test_pinned_load(model_dir: Path) -> None:
    digest = model_digest(model_dir)
    assert searchsafe.load(model_dir, sha256=digest).categories == tuple(searchsafe.CATEGORIES)
    assert searchsafe.load(model_dir, sha256=digest.upper()).categories == tuple(searchsafe.CATEGORIES)


REPINS = [
    ("a rewritten manifest", lambda d: _write_manifest(d, {**_manifest(d), "name": "evil"})),
    ("a file added", lambda d: (d / "README").write_text("hi", encoding="utf-8")),
    ("weights rewritten with the manifest", lambda d: _put(d, "weights.npz", _weights_with())),
]


@pytest.mark.parametrize(("label", "change"), REPINS, ids=[r[0] for r in REPINS])
def test_pin_refuses_any_other_content(model_dir: Path, label: str, change: Callable[[Path], None]) -> None:
    digest = model_digest(model_dir)
    change(model_dir)
    searchsafe.load(model_dir)  # the manifest's own hashes are satisfied
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir, sha256=digest)
    assert str(info.value) == (f"{model_dir}: digest sha256:{model_digest(model_dir)} is not the pinned "
                               f"sha256:{digest}; the model directory differs from the one pinned")


def test_pin_refuses_subdirectories(model_dir: Path) -> None:
    digest = model_digest(model_dir)
    (model_dir / "sub").mkdir()
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir, sha256=digest)
    assert str(info.value) == f"{model_dir / 'sub'}: not a regular file; a pinned model directory holds only files"


@pytest.mark.parametrize("bad", ["xyz", "0" * 63, "g" * 64])
def test_pin_must_be_a_digest(model_dir: Path, bad: str) -> None:
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir, sha256=bad)
    assert str(info.value) == f"sha256 must be 64 hex digits; got {bad!r}"


# -- signatures ---------------------------------------------------------------
def _keys() -> tuple[bytes, bytes]:
    ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives import serialization

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def test_signed_model_round_trip(model_dir: Path, tmp_path: Path) -> None:
    private, public = _keys()
    (tmp_path / "key.pem").write_bytes(private)
    (tmp_path / "pub.pem").write_bytes(public)
    digest = model_digest(model_dir)
    sign_model(model_dir, tmp_path / "key.pem")
    assert (model_dir / SIGNATURE).is_file()
    assert model_digest(model_dir) == digest  # the signature is not part of what it signs
    searchsafe.load(model_dir, public_key=tmp_path / "pub.pem")
    searchsafe.load(model_dir, public_key=public, sha256=digest)


def test_signature_refuses_changes_and_other_keys(model_dir: Path) -> None:
    private, public = _keys()
    _, other_public = _keys()
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir, public_key=public)
    assert str(info.value) == f"{model_dir}: no {SIGNATURE}; the model is not signed (searchsafe sign MODEL --key KEY)"
    sign_model(model_dir, private)
    expected = (f"{model_dir / SIGNATURE}: the signature does not match this model and key; "
                "the model was modified or signed with another key")
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir, public_key=other_public)
    assert str(info.value) == expected
    _write_manifest(model_dir, {**_manifest(model_dir), "name": "evil"})
    with pytest.raises(ModelError) as info:
        searchsafe.load(model_dir, public_key=public)
    assert str(info.value) == expected


def test_bad_keys_are_model_errors(model_dir: Path) -> None:
    with pytest.raises(ModelError, match=r"^public key: not an Ed25519 public key"):
        searchsafe.load(model_dir, public_key=b"not a key")
    with pytest.raises(ModelError, match=r"^private key: not an unencrypted PEM private key"):
        sign_model(model_dir, b"not a key")


# -- writing ------------------------------------------------------------------
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o755), (0o077, 0o700), (0o002, 0o775)])
def test_written_model_follows_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    data = _default_data()
    old = os.umask(umask)
    try:
        out = write_model(data, tmp_path / "m", {"name": "m"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == mode


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    data = _default_data()
    dead, live = _dead_pid(), os.getppid()
    stale = [tmp_path / f".m.tmp-{dead}-abc", tmp_path / f".m.old-{dead}-0f"]
    for p in stale:
        p.mkdir()
        (p / "weights.npz").write_bytes(b"x")
    (tmp_path / f".m.tmp-{dead}-x.tmp").write_bytes(b"x")
    kept = [tmp_path / f".m.tmp-{live}-abc", tmp_path / ".other.tmp-1-abc", tmp_path / ".m.notes"]
    for p in kept:
        p.mkdir()
    write_model(data, tmp_path / "m", {"name": "m"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m", *(p.name for p in kept)])


@pytest.mark.parametrize("exchange", [True, False])
def test_replacing_a_model_always_leaves_one_at_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    exchange: bool) -> None:
    data = _default_data()
    out = write_model(data, tmp_path / "m", {"name": "old"})
    if not exchange:
        monkeypatch.setattr(_modelio, "_exchange", lambda a, b: False)
    seen = []
    real_replace = os.replace

    def watching_replace(a, b):
        real_replace(a, b)
        seen.append(_manifest(out)["name"] if (out / "manifest.json").is_file() else None)

    monkeypatch.setattr(os, "replace", watching_replace)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        write_model(data, out, {"name": "new"})
    monkeypatch.undo()
    assert _manifest(out)["name"] == "new"
    if exchange:
        assert seen == []  # one renameat2 call, no rename leaves --out missing
    else:
        assert None in seen  # the documented window of the fallback
    searchsafe.load(out)


def test_disk_full_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _default_data()

    def full(self, blob):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError) as info:
        write_model(data, tmp_path / "m", {"name": "m"})
    assert info.value.errno == errno.ENOSPC
    assert Path(info.value.filename).name == "weights.npz"
    assert not any(tmp_path.iterdir())


def test_written_manifest_says_whether_pieces_are_used(tmp_path: Path) -> None:
    data = copy.copy(_default_data())
    assert _manifest(write_model(data, tmp_path / "a", {}))["sentencepiece"] is True
    data.sentencepiece = None
    out = write_model(data, tmp_path / "b", {})
    assert _manifest(out)["sentencepiece"] is False
    assert read_model(out).sentencepiece is None
