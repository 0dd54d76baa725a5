"""benchmarks/policy.py runs and writes well-formed results (never timing thresholds)."""

from __future__ import annotations

import pytest

from benchmarks import policy


@pytest.fixture(scope="module")
def result():
    return policy.run(quick=True)


def test_quick_run_measures_every_system(result) -> None:
    n = result["overrides"]["entries"]
    assert n == result["overrides"]["exact"] + result["overrides"]["term"] and n > 900
    assert list(result["unique"]) == [
        "score_batch", "decide_batch, shipped policy (no overrides)", "decide_batch, 20 overrides",
        f"decide_batch, {n:,} overrides (Aho-Corasick)", f"decide_batch, {n:,} overrides (pure Python)",
    ]
    assert all(v > 0 for v in result["unique"].values()) and all(v > 0 for v in result["zipf"].values())
    assert set(result["match_us_per_query"]) == {"ahocorasick", "python", "match_key only"}
    assert 0 < result["match_hit_fraction"] < 1
    assert all(0 < h < 1 for h in result["zipf_hit_rate"].values())
    assert set(result["ratios"]) == {
        "decide_batch_10k_overrides_vs_score_batch", "decide_batch_20_overrides_vs_score_batch",
        "decide_batch_shipped_vs_score_batch", "zipf_decide_batch_cache_lift", "zipf_decide_cache_lift",
        "zipf_decide_batch_small_cache_lift",
        "zipf_score_batch_cache_lift", "zipf_cached_decide_batch_vs_unique", "zipf_cached_score_batch_vs_unique",
        "zipf_lift_bound_at_hit_rate",
    }
    h = result["zipf_hit_rate"]["65,536"]
    assert result["ratios"]["zipf_lift_bound_at_hit_rate"] == round(1 / (1 - h), 2)


def test_write_replaces_only_its_block(result, tmp_path) -> None:
    (tmp_path / "RESULTS.md").write_text("# Results\n\nother parts\n", encoding="utf-8")
    policy.write(result, tmp_path)
    policy.write(result, tmp_path)
    text = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert text.startswith("# Results\n\nother parts\n\n" + policy.START + "\n## Search policy\n")
    assert text.count(policy.START) == 1 and text.rstrip().endswith(policy.END)
    assert (tmp_path / "policy.json").is_file()
