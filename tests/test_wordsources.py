"""Word sources nobody here wrote: the forms they hand to the background and the benchmarks."""

from __future__ import annotations

import pytest

from searchsafe._errors import InvalidParameterError
from searchsafe._wordsources import common_adjectives, common_verbs, is_heldout, korean_adnominal


@pytest.mark.parametrize("stem, form", [
    ("기다리", "기다리는"), ("씻", "씻는"), ("만들", "만드는"), ("살", "사는"), ("놀", "노는"), ("먹이", "먹이는"),
    ("가르치", "가르치는"), ("알", "아는"),
])
def test_korean_adnominal_drops_a_final_l_and_adds_neun(stem, form):
    assert korean_adnominal(stem) == form


def test_korean_adnominal_refuses_an_empty_stem():
    with pytest.raises(InvalidParameterError) as exc:
        korean_adnominal("")
    assert str(exc.value) == "korean_adnominal needs a verb stem; got an empty string"


@pytest.mark.parametrize("lang", ["ja", "ko"])
def test_verbs_and_adjectives_are_single_words_in_the_form_queries_use(lang):
    verbs = dict(common_verbs(lang, 5000))
    adjectives = dict(common_adjectives(lang, 5000))
    assert len(verbs) > 50 and len(adjectives) > 30
    assert all(f > 0 for f in verbs.values())
    if lang == "ja":
        assert {"食べる", "寝る"} <= set(verbs) and all(w.endswith(("い", "イ")) for w in adjectives)
    else:
        assert "기다리" in verbs and all(len(w) >= 2 for w in adjectives)
    # Both sides of the split are there: training takes one, the benchmarks the other.
    assert any(map(is_heldout, verbs)) and not all(map(is_heldout, verbs))
