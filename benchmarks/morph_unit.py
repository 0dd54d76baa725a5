"""Compiled throughput with morph_unit "query" against "word", on the default model's weights.

    python benchmarks/morph_unit.py

The default model is trained with per-word tokens, so its "query" scores are
not the quality a model trained that way would have; this measures speed only: 20,000
unique mixed queries from the suite's query pool, best of three, CPU time.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as C  # noqa: E402
from benchmarks.compiled import _cpu  # noqa: E402


def main() -> int:
    from searchsafe._classifier import Classifier, default_model_path
    from searchsafe._modelio import read_model

    model = read_model(default_model_path())
    queries = C.QueryPool(seed=1).take("mixed", 20_000)
    for unit in ("query", "word"):
        clf = Classifier(dataclasses.replace(model, features={**model.features, "morph_unit": unit}))
        clf.score_batch(queries[:2000])
        best = _cpu(lambda: clf.score_batch(queries), 3)
        print(f"morph_unit={unit}: {clf.scoring_path} path, {len(queries) / best:,.0f} queries/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
