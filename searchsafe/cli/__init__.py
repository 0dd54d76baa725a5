"""The ``searchsafe`` command line: retrain on your own labels, evaluate, explain, compare, audit.

Commands (``searchsafe COMMAND --help`` for each)::

    score      [FILE|-]               queries in, JSON Lines of scores and flags out (streams)
    train      DATA... --out DIR      train a model directory from labeled files
    evaluate   MODEL DATA...          metrics as JSON and a self-contained HTML report
    explain    MODEL QUERY...         normalized text, tokens and the features behind each score
    diff       MODEL_A MODEL_B DATA   queries two models (or a model and the labels) disagree on
    sample     MODEL DATA --n N       a stratified, reproducible audit sample as CSV
    agreement  LABELS...              inter-annotator agreement (Cohen's / Fleiss' kappa)
    info       [MODEL]                a model's manifest: versions, thresholds, metrics
    verify     MODEL                  check a model's hashes and compatibility

Wherever a MODEL is expected, ``default`` names the bundled model; anything
else is a model directory. Data goes to stdout, messages to stderr, and ``-``
means stdin (or stdout for an output file).

Layout: one module per command family (``score``, ``train``, ``evaluate``,
``explain``, ``diff``, ``sample``, ``agreement``, ``info`` with ``verify``) over
``_util`` (input, output, errors, exit codes). A family module exposes
``COMMANDS`` (its command names), ``add_parser(sub)`` (adds them to the
subparsers, each with ``set_defaults(func=...)``) and ``run(args)``;
registering a new family is one entry in :data:`FAMILIES`.

Exit codes: 0 success; 1 a ``score --fail-on`` category was flagged, ``diff``
found disagreements, or ``agreement --min-kappa`` was not reached; 2 bad
input or usage (one line ``searchsafe: error: <file>:<line>: <problem>`` on
stderr, and no output file is left half-written); 3 ``verify`` found a
problem; 130 interrupted; 141 stdout was closed early (``| head``).

Examples
--------
>>> main(["--version"])
searchsafe 0.1.0
0
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import numpy as np

from . import agreement, diff, evaluate, explain, info, sample, score, train
from ._util import (
    EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_FOUND, EXIT_INTERRUPTED, EXIT_OK, EXIT_VERIFY_FAILED,
    CliError, Parser, one_line,
)

__all__ = ["main", "EXIT_OK", "EXIT_FOUND", "EXIT_BAD_INPUT", "EXIT_VERIFY_FAILED"]

#: The command families, in the order ``--help`` lists them. Add a family here.
FAMILIES = (score, train, evaluate, explain, diff, sample, agreement, info)
COMMANDS = tuple(name for family in FAMILIES for name in family.COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    """The ``searchsafe`` argument parser."""
    from .. import __version__

    parser = Parser(
        prog="searchsafe",
        description="Harmful-intent scores for Japanese and Korean search queries: score, retrain, evaluate, "
        "explain, compare and audit models from the command line.",
        epilog="MODEL is a model directory, or 'default' for the bundled model. '-' means stdin. "
        "Exit codes: 0 ok; 1 --fail-on matched, diff found disagreements or --min-kappa missed; "
        "2 bad input; 3 verify failed.",
    )
    parser.add_argument("--version", action="version", version=f"searchsafe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for family in FAMILIES:
        family.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``searchsafe`` command line and return its exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 ok, 1 something was found (``--fail-on``, ``diff``, ``--min-kappa``),
        2 bad input or usage, 3 ``verify`` failed, 130 interrupted, 141 broken pipe.
    """
    from .._data import DataError
    from .._errors import SearchsafeError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
            raise CliError(f"unknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)} "
                           "(see 'searchsafe --help')")
        args = parser.parse_args(argv)
        if args.command is None:
            raise CliError(f"choose a command: {', '.join(COMMANDS)} (see 'searchsafe --help')")
    except CliError as exc:
        print(f"searchsafe: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.code
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    args.argv = argv
    try:
        # A steep calibration can push a logit past float32's exp range; the
        # score is then exactly 0.0 or 1.0, which is right, so say nothing.
        with np.errstate(over="ignore"):
            return args.func(args)
    except CliError as exc:
        message, code = str(exc), exc.code
    except (DataError, SearchsafeError) as exc:
        message, code = str(exc), EXIT_BAD_INPUT
    except ImportError as exc:  # an optional dependency, e.g. matplotlib for --html
        message, code = str(exc), EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (`searchsafe score big.txt | head`): stop quietly.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        where = exc.filename if exc.filename is not None else "searchsafe"
        message, code = f"{where}: {exc.strerror or exc}", EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("searchsafe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"searchsafe: error: {one_line(message)}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
