"""The command line on hostile files and signals: one line and exit 2 (3 for verify, 130/143 for signals)."""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from searchsafe._classifier import default_model_path
from searchsafe._modelio import model_digest
from searchsafe.cli import main

from .test_cli import CATS, SMALL, TRAIN_SUFFIXES, labeled_rows, leftovers, run, write_csv

REPO = Path(__file__).resolve().parent.parent


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(default_model_path(), dst)
    return dst


SURROGATE_LINE = '{"text": "\\ud800 死にたい", "labels": []}'


@pytest.mark.parametrize("command", ["score", "sample"])
def test_lone_surrogate_escape_is_one_line(capsys, tmp_path: Path, command: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"text": "猫", "labels": []}\n' + SURROGATE_LINE + "\n", encoding="utf-8")
    out = tmp_path / ("out.jsonl" if command == "score" else "out.csv")
    argv = (["score", path, "--out", out] if command == "score"
            else ["sample", "default", path, "--n", "1", "--out", out])
    code, _, err = run(capsys, *argv)
    assert (code, err) == (2, f"searchsafe: error: {path}:2: a \\uD800-\\uDFFF escape that is not half of a "
                              "surrogate pair; the line is not valid Unicode\n")
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(("line", "message"), [
    ('{"text": ' + "[" * 5000 + "]" * 5000 + "}", "arrays or objects nested too deeply to read"),
    ('{"text": "猫", "n": ' + "1" * 5000 + "}", "a number of 5000 digits; at most 4000 are read"),
])
def test_hostile_jsonl_is_one_line(capsys, tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    code, _, err = run(capsys, "score", path)
    assert (code, err) == (2, f"searchsafe: error: {path}:1: {message}\n")


@pytest.mark.parametrize("suffix", [".txt.gz", ".jsonl.gz"])
def test_truncated_gzip_is_one_line_after_partial_output(capsys, tmp_path: Path, suffix: str) -> None:
    lines = [json.dumps({"text": f"猫 飼い方 {i}"}, ensure_ascii=False) if "jsonl" in suffix else f"猫 飼い方 {i}"
             for i in range(30_000)]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / ("q" + suffix)
    path.write_bytes(blob[: len(blob) * 2 // 3])
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "score", path, "--out", out, "-q")
    assert code == 2
    assert err.startswith(f"searchsafe: error: {path}:") and err.count("\n") == 1
    assert "the gzip data is truncated or corrupt" in err and "lines were read before it" in err
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(("key", "value", "message"), [
    ("thresholds", [0.5], "'thresholds' must be an object of category: number; got list"),
    ("files", "weights.npz", "'files' must be an object of file name: sha256; got str"),
    ("metrics", [], "'metrics' must be dict; got list"),
    ("format_version", True, "format_version must be a positive integer; got bool True"),
])
def test_info_on_a_malformed_manifest_is_one_line(capsys, model_dir: Path, key: str, value, message: str) -> None:
    mpath = model_dir / "manifest.json"
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    manifest[key] = value
    mpath.write_text(json.dumps(manifest), encoding="utf-8")
    for command, code_expected in (("info", 2), ("verify", 3)):
        code, _, err = run(capsys, command, model_dir)
        assert (code, err) == (code_expected, f"searchsafe: error: {mpath}: {message}\n")


def _rewrite_weights(model_dir: Path, change) -> None:
    import hashlib
    import io
    import zipfile

    with np.load(model_dir / "weights.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in arrays.items():
            b = io.BytesIO()
            np.lib.format.write_array(b, arr, allow_pickle=False)
            zf.writestr(name + ".npy", b.getvalue())
    (model_dir / "weights.npz").write_bytes(buf.getvalue())
    mpath = model_dir / "manifest.json"
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    manifest["files"]["weights.npz"] = hashlib.sha256(buf.getvalue()).hexdigest()
    mpath.write_text(json.dumps(manifest), encoding="utf-8")


def test_verify_exits_3_on_hash_consistent_hostile_files(capsys, model_dir: Path) -> None:
    _rewrite_weights(model_dir, lambda a: a.__setitem__("bias", np.full(8, np.inf, np.float32)))
    code, out, err = run(capsys, "verify", model_dir)
    assert (code, err) == (3, f"searchsafe: error: {model_dir / 'weights.npz'}: bias hold NaN or infinity\n")
    assert "ok  files: " in out  # the hashes alone were satisfied
    (model_dir / "sentencepiece.model").write_bytes(b"")
    code, _, err = run(capsys, "score", "-", "--model", model_dir)
    assert code == 2 and err.count("\n") == 1


def test_verify_prints_the_digest_and_pins_it(capsys, model_dir: Path) -> None:
    digest = model_digest(model_dir)
    code, out, _ = run(capsys, "verify", model_dir)
    assert code == 0
    assert f"digest: sha256:{digest} (pin it with --sha256)\n" in out
    code, out, _ = run(capsys, "verify", model_dir, "--sha256", digest)
    assert code == 0 and f"ok  pinned: the directory's digest is the pinned sha256:{digest}\n" in out
    mpath = model_dir / "manifest.json"
    mpath.write_text(mpath.read_text(encoding="utf-8").replace('"searchsafe-default"', '"evil"'), encoding="utf-8")
    code, _, err = run(capsys, "verify", model_dir, "--sha256", digest)
    assert (code, err) == (3, f"searchsafe: error: {model_dir}: digest sha256:{model_digest(model_dir)} is not the "
                              f"pinned sha256:{digest}; the model directory differs from the one pinned\n")


def test_sign_and_verify_with_a_public_key(capsys, model_dir: Path, tmp_path: Path) -> None:
    ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives import serialization

    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp_path / "pub.pem").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    code, out, _ = run(capsys, "sign", model_dir, "--key", tmp_path / "key.pem")
    assert (code, out) == (0, f"signed {model_dir}: signature.ed25519 over sha256:{model_digest(model_dir)}\n")
    code, out, _ = run(capsys, "verify", model_dir, "--public-key", tmp_path / "pub.pem")
    assert code == 0 and f"ok  signature: signed by {tmp_path / 'pub.pem'}\n" in out
    (model_dir / "manifest.json").write_text(
        (model_dir / "manifest.json").read_text(encoding="utf-8").replace("searchsafe-default", "x"), encoding="utf-8")
    code, _, err = run(capsys, "verify", model_dir, "--public-key", tmp_path / "pub.pem")
    assert (code, err) == (3, f"searchsafe: error: {model_dir / 'signature.ed25519'}: the signature does not match "
                              "this model and key; the model was modified or signed with another key\n")
    code, _, err = run(capsys, "sign", "default", "--key", tmp_path / "key.pem")
    assert code == 2 and "the bundled model is not signed in place" in err


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_score_out_removes_temporaries_of_killed_runs(capsys, tmp_path: Path) -> None:
    (tmp_path / "q.txt").write_text("猫\n", encoding="utf-8")
    stale = tmp_path / f".out.jsonl.tmp-{_dead_pid()}-abcd.tmp"
    stale.write_text("half", encoding="utf-8")
    code, _, _ = run(capsys, "score", tmp_path / "q.txt", "--out", tmp_path / "out.jsonl")
    assert code == 0 and not stale.exists() and leftovers(tmp_path) == []


def test_disk_full_names_the_output_file(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "q.txt").write_text("猫\n", encoding="utf-8")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "score", tmp_path / "q.txt", "--out", out)
    assert (code, err) == (2, f"searchsafe: error: {out}: No space left on device\n")
    assert leftovers(tmp_path) == []


def test_interrupt_inside_mkstemp_leaves_no_temporary_file(capsys, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The window CI hit once: the signal lands after mkstemp made the file, before its name is returned."""
    import tempfile

    (tmp_path / "q.txt").write_text("猫\n", encoding="utf-8")
    real = tempfile.mkstemp

    def made_then_interrupted(*args, **kwargs):
        fd, _ = real(*args, **kwargs)
        os.close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(tempfile, "mkstemp", made_then_interrupted)
    code, _, err = run(capsys, "score", tmp_path / "q.txt", "--out", tmp_path / "out.jsonl")
    assert (code, err) == (130, "searchsafe: interrupted\n")
    assert leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["q.txt"]


def test_sigterm_cleans_up_like_sigint(tmp_path: Path) -> None:
    src = tmp_path / "q.txt"
    src.write_text("".join(f"猫 飼い方 {i}\n" for i in range(400_000)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "searchsafe", "score", str(src), "--out", str(out), "-q"],
                            env=_child_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900  # start-up takes minutes on a loaded machine
    while not any(p.name.startswith(".out.jsonl.tmp-") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "score never started writing"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert (proc.returncode, err) == (143, "searchsafe: terminated\n")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["q.txt"]


def test_sigint_during_import_is_one_line() -> None:
    # Ctrl-C lands while numpy is being imported: deterministic stand-in for a real keypress.
    code = ("import builtins, sys\n"
            "real = builtins.__import__\n"
            "def interrupting(name, *a, **k):\n"
            "    if name == 'numpy':\n"
            "        raise KeyboardInterrupt\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = interrupting\n"
            "sys.argv = ['/usr/local/bin/searchsafe', 'score']\n"
            "from searchsafe.cli import main\n")
    proc = subprocess.run([sys.executable, "-c", code], env=_child_env(), capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (130, "searchsafe: interrupted\n")


def test_train_force_replaces_in_place_and_follows_the_umask(capsys, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "train.csv", labeled_rows(TRAIN_SUFFIXES))
    out = tmp_path / "models" / "m"
    old = os.umask(0o022)
    try:
        for extra in ([], ["--force"]):
            code, _, err = run(capsys, "train", data, "--out", out, "--categories", ",".join(CATS), *SMALL, "-q",
                               *extra)
            assert code == 0, err
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert leftovers(out.parent) == []


def test_info_reads_odd_informational_keys(capsys, model_dir: Path) -> None:
    mpath = model_dir / "manifest.json"
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    manifest["metrics"] = {"test": {"overall": "n/a", "hard_negatives": 3}, "dev": {"overall": {"categories": []}}}
    manifest["training"] = {"n_train": [1], "threshold_source": {"a": 1}}
    manifest["tokenizers"] = {"japanese": "ipadic"}
    manifest["prevalence"] = {"ja": 0.1}
    mpath.write_text(json.dumps(manifest), encoding="utf-8")
    code, out, err = run(capsys, "info", model_dir)
    assert (code, err) == (0, "")
    assert "categories (8):  precision / recall / F1 on test" in out
    code, out, _ = run(capsys, "info", model_dir, "--json")
    assert code == 0 and json.loads(out)["prevalence"] == {"ja": 0.1}
