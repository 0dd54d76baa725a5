"""``searchsafe info`` and ``searchsafe verify``: a model's manifest, and a check of its files."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

import numpy as np

from ._util import (
    CliError, DEFAULT_MODEL, EXIT_OK, EXIT_VERIFY_FAILED, model_path,
)

COMMANDS = ("info", "verify")


def add_parser(sub: Any) -> None:
    """Add the ``info`` and ``verify`` commands to the subparsers *sub*."""
    # info
    p = sub.add_parser("info", help="a model's manifest: versions, thresholds, metrics",
                       description="Show a model's manifest (the default model without MODEL).")
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL, metavar="MODEL",
                   help="a model directory, or 'default' for the bundled model (default: default)")
    p.add_argument("--json", action="store_true", help="the whole manifest as JSON")
    p.set_defaults(func=run_info)

    # verify
    p = sub.add_parser("verify", help="check a model's files, hashes and compatibility (exit 3 on failure)",
                       description="Check that a model directory is complete and undamaged (a strict manifest, "
                       "every file's sha256, well-formed finite weights, a loadable sentencepiece model), readable "
                       "by this searchsafe, loadable with the installed tokenizers, and scores sanely; print its "
                       "digest. The manifest's hashes catch damage, not someone who rewrites a file and the "
                       "manifest together: pin the digest (--sha256) or check a signature (--public-key) for "
                       "that. Exits 3 on failure.")
    p.add_argument("model", metavar="MODEL", help="a model directory, or 'default' for the bundled model")
    p.add_argument("--strict", action="store_true",
                   help="also fail when the installed tokenizer versions differ from the model's")
    p.add_argument("--sha256", metavar="DIGEST",
                   help="pin the model: fail unless the digest of the whole directory is DIGEST "
                   "(the 'digest:' line of a verify you trust)")
    p.add_argument("--public-key", metavar="PUB.pem",
                   help="fail unless MODEL/signature.ed25519 is a valid signature by this Ed25519 key "
                   "(searchsafe sign; needs the cryptography package)")
    p.set_defaults(func=run_verify)


def run_info(args: argparse.Namespace) -> int:
    """Print a model's manifest, readably or as JSON."""
    from .._modelio import read_manifest

    path = model_path(args.model)
    if args.model != DEFAULT_MODEL and not path.exists():
        raise CliError(f"{args.model}: no such model directory (use 'default' for the bundled model)")
    manifest = read_manifest(path)
    scoring = _scoring_path(manifest)
    if args.json:
        sys.stdout.write(json.dumps({"path": str(path), "scoring": scoring, **manifest}, ensure_ascii=False, indent=2)
                         + "\n")
        return EXIT_OK
    # The schema fixes the types of what the loader acts on; what is only
    # information (training, metrics) may hold anything, so read it defensively.
    training = manifest.get("training", {})
    metrics = manifest.get("metrics", {})
    split = next((s for s in ("test", "dev") if isinstance(_get(metrics, s), dict)), None)
    lines = [
        f"name:       {manifest.get('name', '-')}",
        f"path:       {path}",
        f"format:     {manifest.get('format')} version {manifest.get('format_version')}",
        f"trained:    {_get(training, 'n_train', default='-')} rows; thresholds from "
        f"{_get(training, 'threshold_source', default='-')}"
        + (f"; {training['mode']}" if "mode" in training else ""),
    ]
    if "command" in training:
        lines.append(f"command:    {training['command']}")
    versions = manifest.get("versions", {})
    lines.append("versions:   " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    for lang, tok in manifest.get("tokenizers", {}).items():
        if isinstance(tok, dict):
            lines.append(f"tokenizer:  {lang}: " + ", ".join(f"{k} {v}" for k, v in tok.items()))
    lines.append(f"weights:    {manifest.get('n_weights', '-')} rows; features {manifest.get('features', {})}")
    lines.append(f"scoring:    {scoring}")
    header = f"categories ({len(manifest.get('categories', []))}):"
    if split:
        header += f"  precision / recall / F1 on {split}"
    lines.append(header)
    for c in manifest["categories"]:
        line = f"  {c:<20} threshold {manifest['thresholds'][c]:.4f}"
        m = _get(metrics, split, "overall", "categories", c) if split else None
        if isinstance(m, dict) and all(isinstance(m.get(k), (int, float)) for k in ("precision", "recall", "f1")):
            line += f"   {m['precision']:.3f} / {m['recall']:.3f} / {m['f1']:.3f}"
        lines.append(line)
    for s in ("dev", "test"):
        if isinstance(_get(metrics, s), dict):
            lines.append(f"{s + ':':<11} macro-F1 {_get(metrics, s, 'overall', 'macro_f1')}, "
                         f"hard negatives flagged {_get(metrics, s, 'hard_negatives', 'false_positive_rate')}")
    for name, digest in manifest["files"].items():
        lines.append(f"file:       {name} sha256 {digest}")
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def _get(value: Any, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def _scoring_path(manifest: dict[str, Any]) -> str:
    """Which scoring path (compiled or pure Python) a Classifier of this model takes here."""
    from .._compiled import describe
    from .._features import FeatureConfig

    return describe(FeatureConfig.from_dict(manifest.get("features", {})), len(manifest.get("categories", [])))


def run_verify(args: argparse.Namespace) -> int:
    """Check a model directory; exit 3 on the first problem."""
    from .._classifier import Classifier
    from .._errors import SearchsafeError
    from .._modelio import FORMAT_VERSION, model_digest, read_manifest, read_model, verify_files

    path = model_path(args.model)
    if args.model != DEFAULT_MODEL and not path.exists():
        raise CliError(f"{args.model}: no such model directory (use 'default' for the bundled model)")
    out = sys.stdout
    try:
        manifest = read_manifest(path)
        out.write(f"ok  manifest: format version {manifest['format_version']} "
                  f"(this searchsafe reads up to {FORMAT_VERSION})\n")
        verify_files(path, manifest)
        out.write(f"ok  files: {len(manifest['files'])} match their sha256 in the manifest\n")
        data = read_model(path, sha256=args.sha256, public_key=args.public_key)
        digest = model_digest(path)
        if args.sha256:
            out.write(f"ok  pinned: the directory's digest is the pinned sha256:{digest}\n")
        if args.public_key:
            out.write(f"ok  signature: signed by {args.public_key}\n")
        bad = [c for c, t in zip(data.categories, data.thresholds) if not 0.0 < float(t) < 1.0]
        if bad:
            raise CliError(f"{path}: threshold of {bad[0]!r} is outside (0, 1)", EXIT_VERIFY_FAILED)
        out.write(f"ok  weights: {data.buckets.size} rows for {len(data.categories)} categories\n")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = Classifier(data)
        P = clf.score_batch(["猫 飼い方", "고양이 사료 추천", "死にたい", "자살 방법", ""])
        if not (np.isfinite(P).all() and (P >= 0).all() and (P <= 1).all()):
            raise CliError(f"{path}: scores are not probabilities (NaN or outside [0, 1])", EXIT_VERIFY_FAILED)
        out.write("ok  scoring: tokenizers load and scores are probabilities\n")
        mismatches = []
        for lang, extractor_tok in (("japanese", clf._extractor._ja), ("korean", clf._extractor._ko)):
            recorded = manifest.get("tokenizers", {}).get(lang, {})
            for dist, version in extractor_tok.versions.items():
                if dist in recorded and recorded[dist] != version:
                    mismatches.append(f"{dist} {version} installed, model trained with {recorded[dist]}")
        if mismatches:
            message = "tokenizer versions differ (tokens, so scores, may shift): " + "; ".join(mismatches)
            if args.strict:
                raise CliError(f"{path}: {message}", EXIT_VERIFY_FAILED)
            print(f"searchsafe: warning: {message}", file=sys.stderr)
        else:
            out.write("ok  compatibility: installed tokenizer versions match the model's\n")
    except CliError:
        raise
    except (SearchsafeError, ImportError, OSError, ValueError) as exc:
        raise CliError(str(exc), EXIT_VERIFY_FAILED) from None
    out.write(f"digest: sha256:{digest} (pin it with --sha256)\n")
    out.write(f"verified {path}\n")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run ``info`` or ``verify``, whichever *args* names."""
    return run_verify(args) if args.command == "verify" else run_info(args)

