"""``searchsafe sign``: sign a model directory with an Ed25519 private key."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._util import DEFAULT_MODEL, EXIT_OK, CliError, model_path

COMMANDS = ("sign",)


def add_parser(sub: Any) -> None:
    """Add the ``sign`` command to the subparsers *sub*."""
    p = sub.add_parser(
        "sign", help="sign a model directory with an Ed25519 key (needs the cryptography package)",
        description="Write MODEL/signature.ed25519: an Ed25519 signature over the model's digest (the sha256 "
        "that `searchsafe verify` prints). Check it with `searchsafe verify MODEL --public-key PUB.pem` or "
        "`searchsafe.load(MODEL, public_key=...)`. Make a key with `openssl genpkey -algorithm ed25519 -out "
        "key.pem` and its public half with `openssl pkey -in key.pem -pubout -out pub.pem`.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--key", required=True, metavar="KEY.pem", help="an unencrypted PEM Ed25519 private key")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Sign the model and print the signature file and the digest it covers."""
    from .._modelio import model_digest, sign_model

    if args.model == DEFAULT_MODEL:
        raise CliError("the bundled model is not signed in place; copy it to a directory and sign the copy")
    path = model_path(args.model)
    if not path.exists():
        raise CliError(f"{args.model}: no such model directory")
    target = sign_model(path, args.key)
    sys.stdout.write(f"signed {path}: {target.name} over sha256:{model_digest(path)}\n")
    return EXIT_OK
