"""The fuzz targets on a short hypothesis budget (CI); atheris runs them for hours locally.

Set ``SEARCHSAFE_FUZZ_EXAMPLES`` for a longer hypothesis run, e.g. 20000.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fuzz import targets
from .strategies import invisible, jamo_soup, query_text, surrogates

BUDGET = int(os.environ.get("SEARCHSAFE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=BUDGET, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hostile_text = st.one_of(
    query_text,
    jamo_soup,
    st.text(alphabet=st.one_of(surrogates, invisible, st.characters()), max_size=600),
    st.builds(lambda pad, q: pad + q, st.text(alphabet=invisible, min_size=200, max_size=2000), query_text),
)


@given(hostile_text)
@FUZZ
def test_fuzz_queries(text: str) -> None:
    targets.check_query(text)


def _manifest_mutations() -> st.SearchStrategy[bytes]:
    base = json.loads((targets.default_model_path() / "manifest.json").read_text(encoding="utf-8"))
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                               | st.text(max_size=10), lambda inner: st.lists(inner, max_size=3)
                               | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)

    def mutate(key_path: list[str], value) -> bytes:
        doc = json.loads(json.dumps(base))
        target = doc
        for k in key_path[:-1]:
            target = target.setdefault(k, {}) if isinstance(target, dict) else target
        if isinstance(target, dict):
            target[key_path[-1]] = value
        return json.dumps(doc).encode()

    keys = st.sampled_from([["features"], ["features", "hash_bits"], ["features", "char_mode"], ["thresholds"],
                            ["thresholds", "hate"], ["files"], ["categories"], ["format_version"], ["n_weights"],
                            ["features", "morph_bigrams"], ["sentencepiece"], ["metrics"], ["new_key"]])
    return st.one_of(st.builds(mutate, keys, json_values), st.binary(max_size=300),
                     st.text(max_size=300).map(str.encode))


@given(_manifest_mutations())
@FUZZ
def test_fuzz_manifests(blob: bytes) -> None:
    targets.check_manifest(blob)


table_bytes = st.one_of(
    st.binary(max_size=400),
    st.lists(st.text(alphabet=st.one_of(st.sampled_from(list('",\t\n\r{}[]:\\"u')), st.characters()), max_size=30),
             max_size=8).map(lambda rows: ("text,labels\n" + "\n".join(rows)).encode("utf-8", "surrogatepass")),
)


@given(table_bytes, st.sampled_from([".jsonl", ".csv", ".tsv", ".jsonl.gz", ".tsv.gz"]))
@FUZZ
def test_fuzz_tables(blob: bytes, suffix: str) -> None:
    targets.check_table(blob, suffix)


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed")
@pytest.mark.parametrize("target", ["query", "manifest", "table"])
def test_atheris_entry_point_runs(target: str) -> None:
    script = Path(__file__).resolve().parent / "fuzz" / "fuzz_searchsafe.py"
    proc = subprocess.run([sys.executable, str(script), target, "-runs=200"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_fuzz_entry_point_without_atheris_says_what_to_install() -> None:
    script = Path(__file__).resolve().parent / "fuzz" / "fuzz_searchsafe.py"
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "usage:" in proc.stderr
