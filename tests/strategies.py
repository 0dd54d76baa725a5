"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

# Characters a query might hold: Hangul syllables and jamo, kana of both widths,
# kanji, Latin, digits, separators, and anything else Unicode has.
_interesting = st.sampled_from(
    list("자살방법죽고싶다ㅈㅅㅂㅋㅏㅓㅗ死にたいタヒ氏ねｼﾈﾀﾋ殺す猫犬 　・.*_-!?0123456789abcXYZ")
)
query_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=_interesting, max_size=40),
    st.text(alphabet=st.one_of(_interesting, st.characters()), max_size=300),
)
query_lists = st.lists(st.one_of(query_text, st.none()), max_size=12)
