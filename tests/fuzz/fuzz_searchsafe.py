"""Long local fuzzing with atheris (libFuzzer): queries, manifests and data files.

    pip install atheris
    python tests/fuzz/fuzz_searchsafe.py query -max_total_time=3600
    python tests/fuzz/fuzz_searchsafe.py manifest -runs=200000 corpus_dir/
    python tests/fuzz/fuzz_searchsafe.py table -max_total_time=600

The first argument picks the target (query, manifest, table); the rest go to
libFuzzer. A crash is an uncaught exception or a broken invariant from
``tests/fuzz/targets.py``; libFuzzer writes the input that caused it to
``crash-*``. pytest never collects this file (it is not ``test_*``) and it
imports atheris only when run, so CI needs no atheris: ``tests/test_fuzz.py``
runs the same targets with hypothesis on a short budget.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TARGETS = ("query", "manifest", "table")


def _one_input(target: str):
    import atheris

    from tests.fuzz import targets

    def query(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        # ConsumeUnicode may return lone surrogates and any plane: what a caller can pass.
        targets.check_query(fdp.ConsumeUnicode(fdp.remaining_bytes()))

    def manifest(data: bytes) -> None:
        targets.check_manifest(data)

    def table(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        suffix = (".jsonl", ".csv", ".tsv", ".jsonl.gz")[fdp.ConsumeIntInRange(0, 3)]
        targets.check_table(fdp.ConsumeBytes(fdp.remaining_bytes()), suffix)

    return {"query": query, "manifest": manifest, "table": table}[target]


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in TARGETS:
        print(f"usage: {argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options]", file=sys.stderr)
        return 2
    try:
        import atheris
    except ImportError:
        print("fuzz_searchsafe: needs atheris: pip install atheris", file=sys.stderr)
        return 2
    with atheris.instrument_imports():
        import searchsafe  # noqa: F401
        from tests.fuzz import targets  # noqa: F401
    one = _one_input(argv[1])
    atheris.Setup([argv[0], *argv[2:]], one)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
