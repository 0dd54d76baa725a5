"""The model directory format: a manifest plus data-only files, verified on load.

A model is a directory holding ``manifest.json``, ``weights.npz`` (numpy arrays
in a zip, parsed here without numpy's loader) and ``sentencepiece.model``. The
manifest records the format version, library versions, the feature
configuration, categories, thresholds, training-data fingerprint, metrics and
the sha256 of every other file. Loading validates the manifest against its
schema (:mod:`searchsafe._manifest_schema`), checks every hash, then parses the
very bytes it hashed: array headers are checked (plain numeric dtype, shape
within what the manifest's hash space allows) before anything is allocated, a
zip member is never inflated past its declared size, and every number must be
finite. Nothing is ever unpickled.

The sha256 values in the manifest detect damage, not an attacker who rewrites
a file and the manifest together. For that a model can be *pinned*: its
:func:`model_digest` covers every file of the directory, and
``load(path, sha256=DIGEST)`` refuses any other content; or *signed* with an
Ed25519 key (:func:`sign_model`, needs the ``cryptography`` package) and
loaded with ``public_key=``.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ModelError
from ._lexicon import LEXICON_FILE, LexiconEntry, lexicon_tsv, parse_lexicon_tsv

__all__ = [
    "FORMAT_VERSION", "ModelData", "read_model", "write_model", "sha256_file", "read_manifest",
    "verify_files", "model_digest", "sign_model", "SIGNATURE",
]

#: Version of the directory format this searchsafe writes; it reads this and older.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
SENTENCEPIECE = "sentencepiece.model"
SIGNATURE = "signature.ed25519"
_MAX_MANIFEST_BYTES = 1 << 22
# No legitimate model file comes near this (a 2**26-bucket model is 1 GiB).
_MAX_FILE_BYTES = 1 << 31
_ARRAYS = {"buckets": ("iu", 1), "weights": ("f", 2), "bias": ("f", 1), "thresholds": ("f", 1)}
# Weights are stored as float16, whose largest finite value this is; a bias
# beyond this magnitude would flag or clear every query on its own.
_MAX_WEIGHT = 65504.0
_MAX_BIAS = 1e4
_DIGEST_DOMAIN = "searchsafe-model-digest/1"


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
    #: The lexicon whose hits are features (``features["lexicon"]``), or None.
    lexicon: tuple[LexiconEntry, ...] | None = None


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_siblings(path: Path) -> list[Path]:
    """Remove temporary siblings of *path* (``.NAME.tmp-PID-*``, ``.NAME.old-PID-*``) left by dead processes.

    A process killed with SIGKILL cannot clean up; the next write does. The
    process id in the name tells a live writer's files from a dead one's.
    """
    removed = []
    parent = path.parent
    prefix = f".{path.name}."
    try:
        with os.scandir(parent) as entries:
            listing = [e for e in entries if e.name.startswith(prefix)]
    except OSError:
        return removed
    for entry in listing:
        rest = entry.name[len(prefix):]
        kind, _, tail = rest.partition("-")
        pid_text = tail.split("-", 1)[0].split(".", 1)[0]
        if kind not in ("tmp", "old") or not pid_text.isdigit():
            continue
        if int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        target = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(target, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                target.unlink()
        removed.append(target)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(tmp: Path, path: Path) -> None:
    """Put the complete directory *tmp* at *path*, leaving the old or the new one there at every instant.

    On Linux the two are swapped in one system call and the old one removed
    after; elsewhere, or on a filesystem without the call, the old one is
    renamed aside first (a crash in between leaves it at ``.NAME.old-PID-*``,
    which the next write cleans up).
    """
    if not path.exists():
        os.replace(tmp, path)
        return
    if path.is_dir() and not path.is_symlink() and _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    backup = path.with_name(f".{path.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
    os.replace(path, backup)
    os.replace(tmp, path)
    shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def _naming(target: Path):
    # Disk full or a read-only directory: the message names the file being written.
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from None
        raise


def discard_temporary(tmp: str | os.PathLike[str] | None, path: Path, suffix: str = "") -> None:
    """Remove the unfinished temporary sibling of *path* (file or directory) that this process made.

    Ctrl-C or SIGTERM can land inside ``mkstemp`` or ``mkdtemp`` after the
    file or directory exists but before its name is returned (*tmp* is then
    None); then every sibling named ``.NAME.tmp-<this pid>-*<suffix>`` goes,
    which only this process creates for this target.
    """
    if tmp is not None:
        targets = [Path(tmp)]
    else:
        targets = list(path.parent.glob(glob.escape(f".{path.name}.tmp-{os.getpid()}-") + "*" + glob.escape(suffix)))
    for target in targets:
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()


def write_model(model: ModelData, path: str | os.PathLike[str], manifest_extra: dict[str, Any]) -> Path:
    """Write *model* to directory *path* atomically.

    Files go to a temporary sibling directory that replaces *path* only once
    complete (:func:`replace_dir`), so an interrupted write never leaves a half
    model behind, and temporary siblings of dead writers are removed first.
    The directory's mode follows the umask, like any directory ``mkdir`` makes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    tmp: Path | None = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())
        arrays = {
            "buckets": model.buckets.astype(np.int32),
            "weights": model.weights.astype(np.float16),
            "bias": model.bias.astype(np.float32),
            "thresholds": model.thresholds.astype(np.float32),
        }
        with _naming(tmp / WEIGHTS):
            (tmp / WEIGHTS).write_bytes(_npz_bytes(arrays))
        files = [WEIGHTS]
        if model.sentencepiece is not None:
            with _naming(tmp / SENTENCEPIECE):
                (tmp / SENTENCEPIECE).write_bytes(model.sentencepiece)
            files.append(SENTENCEPIECE)
        if model.lexicon is not None:
            with _naming(tmp / LEXICON_FILE):
                (tmp / LEXICON_FILE).write_bytes(lexicon_tsv(model.lexicon))
            files.append(LEXICON_FILE)
        manifest = {
            "format": "searchsafe-model",
            "format_version": FORMAT_VERSION,
            **manifest_extra,
            "categories": list(model.categories),
            "thresholds": {c: round(float(t), 6) for c, t in zip(model.categories, model.thresholds)},
            "features": model.features,
            "sentencepiece": model.sentencepiece is not None,
            "n_weights": int(model.buckets.size),
            "files": {name: sha256_file(tmp / name) for name in files},
        }
        with _naming(tmp / MANIFEST), open(tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=2, sort_keys=False, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        for name in files:
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        replace_dir(tmp, path)
    except BaseException:
        discard_temporary(tmp, path)
        raise
    model.manifest = manifest
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of model directory *path*, parsed and validated against the schema."""
    return _read_manifest_bytes(path)[0]


def _read_manifest_bytes(path: Path) -> tuple[dict[str, Any], bytes]:
    from ._manifest_schema import parse_manifest, validate_manifest

    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: not a model directory (it does not exist or is not a directory)")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise ModelError(f"{path}: no {MANIFEST}; not a searchsafe model directory")
    if mpath.stat().st_size > _MAX_MANIFEST_BYTES:
        raise ModelError(f"{mpath}: larger than {_MAX_MANIFEST_BYTES} bytes; not a searchsafe manifest")
    raw = mpath.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{mpath}: not valid JSON ({exc}); the file is truncated or damaged") from None
    manifest = parse_manifest(text, str(mpath))
    validate_manifest(manifest, str(mpath), format_version=FORMAT_VERSION, directory=str(path))
    return manifest, raw


def _read_listed(path: Path, manifest: dict[str, Any]) -> dict[str, bytes]:
    """Every file the manifest lists, read once and checked against its sha256."""
    out = {}
    for name, expected in manifest["files"].items():
        fpath = path / name
        if fpath.is_symlink() or not fpath.is_file():
            raise ModelError(f"{fpath}: missing (listed in {MANIFEST})")
        if fpath.stat().st_size > _MAX_FILE_BYTES:
            raise ModelError(f"{fpath}: larger than {_MAX_FILE_BYTES} bytes; not a searchsafe model file")
        data = fpath.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ModelError(
                f"{fpath}: sha256 {actual[:12]}… does not match the manifest's {str(expected)[:12]}…; "
                "the file was modified or truncated"
            )
        out[name] = data
    return out


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Check that every file the manifest lists is there with its sha256."""
    _read_listed(Path(path), manifest)


def _digest_of(hashes: dict[str, str]) -> str:
    lines = "".join(f"{hashes[name]}  {name}\n" for name in sorted(hashes, key=os.fsencode))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _directory_hashes(path: Path, known: dict[str, bytes]) -> dict[str, str]:
    hashes = {}
    with os.scandir(path) as entries:
        listing = list(entries)
    for entry in listing:
        if entry.name == SIGNATURE:
            continue
        if not entry.is_file(follow_symlinks=False):
            raise ModelError(f"{entry.path}: not a regular file; a pinned model directory holds only files")
        data = known.get(entry.name)
        hashes[entry.name] = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(Path(entry.path))
    return hashes


def model_digest(path: str | os.PathLike[str]) -> str:
    """The canonical sha256 of a model directory: what ``load(path, sha256=...)`` pins.

    It is the sha256 of the text ``"<sha256 of file>  <file name>\\n"`` for
    every file in the directory (manifest included, ``signature.ed25519``
    excluded), sorted by name: the output of ``sha256sum`` over the sorted
    files, hashed once more. Any added, removed, renamed or changed file
    changes it; a subdirectory or a symbolic link is refused.

    Examples
    --------
    >>> from searchsafe._classifier import default_model_path
    >>> len(model_digest(default_model_path()))
    64
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: not a model directory (it does not exist or is not a directory)")
    return _digest_of(_directory_hashes(path, {}))


def _signed_message(digest: str) -> bytes:
    return f"{_DIGEST_DOMAIN} sha256:{digest}\n".encode("ascii")


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ModelError(
            "model signatures need the cryptography package: pip install 'searchsafe[sign]'"
        ) from None
    return serialization, ed25519, InvalidSignature


def _key_bytes(key: str | os.PathLike[str] | bytes, what: str) -> bytes:
    if isinstance(key, bytes):
        return key
    kpath = Path(key)
    try:
        return kpath.read_bytes()
    except OSError as exc:
        raise ModelError(f"{kpath}: cannot read the {what} ({exc.strerror or exc})") from None


def _public_key(key: Any, where: str):
    serialization, ed25519, _ = _crypto()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    data = _key_bytes(key, "public key")
    try:
        loaded = serialization.load_pem_public_key(data) if data.lstrip().startswith(b"-----") else (
            serialization.load_ssh_public_key(data) if data.startswith(b"ssh-ed25519") else
            ed25519.Ed25519PublicKey.from_public_bytes(data))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{where}: not an Ed25519 public key (PEM, OpenSSH or 32 raw bytes): {exc}") from None
    if not isinstance(loaded, ed25519.Ed25519PublicKey):
        raise ModelError(f"{where}: the public key is not an Ed25519 key")
    return loaded


def sign_model(path: str | os.PathLike[str], private_key: str | os.PathLike[str] | bytes) -> Path:
    """Sign a model directory with an Ed25519 private key (PEM, unencrypted); returns the signature file.

    The signature covers :func:`model_digest` and is written atomically to
    ``signature.ed25519`` in the directory (base64 text, one line).
    """
    import base64

    serialization, ed25519, _ = _crypto()
    path = Path(path)
    read_manifest(path)
    where = "private key" if isinstance(private_key, bytes) else str(private_key)
    try:
        key = serialization.load_pem_private_key(_key_bytes(private_key, "private key"), password=None)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{where}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ModelError(f"{where}: not an Ed25519 private key")
    target = path / SIGNATURE
    # A temporary file a killed signer left inside the directory would change its digest.
    remove_stale_siblings(target)
    signature = key.sign(_signed_message(model_digest(path)))
    fd, tmp = tempfile.mkstemp(prefix=f".{SIGNATURE}.tmp-{os.getpid()}-", dir=path)
    try:
        with _naming(target), os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(base64.b64encode(signature).decode("ascii") + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _check_signature(path: Path, digest: str, public_key: Any) -> None:
    import base64
    import binascii

    _, _, invalid = _crypto()
    key = _public_key(public_key, str(public_key) if not isinstance(public_key, bytes) else "public key")
    spath = path / SIGNATURE
    if not spath.is_file():
        raise ModelError(f"{path}: no {SIGNATURE}; the model is not signed (searchsafe sign MODEL --key KEY)")
    try:
        signature = base64.b64decode(spath.read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ModelError(f"{spath}: not a base64 signature") from None
    try:
        key.verify(signature, _signed_message(digest))
    except invalid:
        raise ModelError(f"{spath}: the signature does not match this model and key; "
                         "the model was modified or signed with another key") from None


def _array(zf: zipfile.ZipFile, name: str, where: str, max_bytes: int) -> np.ndarray:
    kinds, ndim = _ARRAYS[name]
    info = zf.getinfo(name + ".npy")
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelError(f"{where}: {name} is encrypted or compressed in a way this searchsafe does not read")
    if info.file_size > max_bytes + 4096:
        raise ModelError(f"{where}: {name} declares {info.file_size} bytes, more than this model can need")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=1024)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=1024)
        else:
            raise ModelError(f"{where}: {name} has .npy version {version}, which this searchsafe does not read")
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in kinds \
                or dtype.itemsize > 8:
            raise ModelError(f"{where}: {name} has dtype {dtype.str!r}; a plain "
                             f"{'integer' if kinds == 'iu' else 'float'} array is expected")
        if fortran or len(shape) != ndim or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ModelError(f"{where}: {name} has shape {shape}; a C-ordered {ndim}-d array is expected")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > max_bytes:
            raise ModelError(f"{where}: {name} declares shape {shape}, more than this model can need")
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):
            raise ModelError(f"{where}: {name} holds {'fewer' if len(data) != nbytes else 'more'} bytes than "
                             f"its header declares; the file is damaged")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _read_arrays(blob: bytes, where: str, k: int, hash_bits: int) -> dict[str, np.ndarray]:
    rows = 1 << hash_bits
    limits = {"buckets": rows * 8, "weights": rows * k * 8, "bias": k * 8, "thresholds": k * 8}
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            names = zf.namelist()
            expected = {name + ".npy" for name in _ARRAYS}
            if len(names) != len(set(names)) or set(names) != expected:
                raise ModelError(f"{where}: holds {', '.join(sorted(names)) or 'nothing'}; "
                                 f"exactly {', '.join(sorted(expected))} are expected")
            return {name: _array(zf, name, where, limits[name]) for name in _ARRAYS}
    except ModelError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError,
            SyntaxError) as exc:
        raise ModelError(f"{where}: unreadable ({exc})") from None


def _check_arrays(arrays: dict[str, np.ndarray], where: str, k: int, hash_bits: int, n_weights: Any) -> None:
    b, w, bias, t = arrays["buckets"], arrays["weights"], arrays["bias"], arrays["thresholds"]
    if w.shape != (b.size, k) or bias.shape != (k,) or t.shape != (k,):
        raise ModelError(f"{where}: array shapes do not match {k} categories")
    if n_weights is not None and n_weights != b.size:
        raise ModelError(f"{where}: holds {b.size} weight rows, the manifest says {n_weights}")
    if b.size and (int(b.min()) < 0 or int(b.max()) >= 1 << hash_bits):
        raise ModelError(f"{where}: a bucket lies outside the model's hash space of 2**{hash_bits}")
    if b.size > 1 and not (np.diff(b.astype(np.int64)) > 0).all():
        raise ModelError(f"{where}: buckets are not sorted and unique")
    for name, arr, bound in (("weights", w, _MAX_WEIGHT), ("bias", bias, _MAX_BIAS)):
        if not np.isfinite(arr).all():
            raise ModelError(f"{where}: {name} hold NaN or infinity")
        if arr.size and float(np.abs(arr.astype(np.float64)).max()) > bound:
            raise ModelError(f"{where}: {name} exceed {bound:g} in magnitude")
    if not (np.isfinite(t).all() and (t >= 0).all() and (t <= 1).all()):
        raise ModelError(f"{where}: thresholds must be numbers from 0 to 1")


def _check_sentencepiece(blob: bytes, where: str) -> None:
    import sentencepiece

    proc = sentencepiece.SentencePieceProcessor()
    try:
        proc.LoadFromSerializedProto(blob)
        proc.encode("テスト 테스트", out_type=str)
    except Exception as exc:  # sentencepiece raises RuntimeError, OSError or worse
        raise ModelError(f"{where}: not a sentencepiece model ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def read_model(
    path: str | os.PathLike[str], *, sha256: str | None = None, public_key: Any = None
) -> ModelData:
    """Read and verify a model directory.

    Parameters
    ----------
    path : path-like
        The model directory.
    sha256 : str, optional
        The :func:`model_digest` the directory must have (pinning).
    public_key : path-like, bytes or Ed25519PublicKey, optional
        A key whose signature (``signature.ed25519``) the directory must carry.
    """
    path = Path(path)
    if sha256 is not None and not (isinstance(sha256, str) and len(sha256) == 64
                                   and all(c in "0123456789abcdef" for c in sha256.lower())):
        raise ModelError(f"sha256 must be 64 hex digits; got {sha256!r}")
    manifest, manifest_bytes = _read_manifest_bytes(path)
    blobs = _read_listed(path, manifest)
    if sha256 is not None or public_key is not None:
        digest = _digest_of(_directory_hashes(path, {MANIFEST: manifest_bytes, **blobs}))
        if sha256 is not None and digest != sha256.lower():
            raise ModelError(f"{path}: digest sha256:{digest} is not the pinned sha256:{sha256.lower()}; "
                             "the model directory differs from the one pinned")
        if public_key is not None:
            _check_signature(path, digest, public_key)
    from ._manifest_schema import validate_features

    features = validate_features(manifest["features"], str(path / MANIFEST))
    categories = manifest["categories"]
    k = len(categories)
    where = str(path / WEIGHTS)
    arrays = _read_arrays(blobs[WEIGHTS], where, k, features["hash_bits"])
    _check_arrays(arrays, where, k, features["hash_bits"], manifest.get("n_weights"))
    sp_bytes = blobs.get(SENTENCEPIECE)
    if sp_bytes is not None:
        _check_sentencepiece(sp_bytes, str(path / SENTENCEPIECE))
    lexicon = None
    if LEXICON_FILE in blobs:
        lexicon = parse_lexicon_tsv(blobs[LEXICON_FILE], str(path / LEXICON_FILE), categories)
    return ModelData(
        categories=tuple(categories),
        buckets=arrays["buckets"].astype(np.int64),
        weights=arrays["weights"].astype(np.float32),
        bias=arrays["bias"].astype(np.float32),
        thresholds=arrays["thresholds"].astype(np.float32),
        features=features,
        sentencepiece=sp_bytes,
        manifest=manifest,
        lexicon=lexicon,
    )
