"""Hypothesis strategies shared by the property tests and the fuzz harness."""

from __future__ import annotations

from hypothesis import strategies as st

# Characters a query might hold: Hangul syllables and jamo, kana of both widths,
# kanji, Latin, digits, separators, and anything else Unicode has.
_interesting = st.sampled_from(
    list("자살방법죽고싶다ㅈㅅㅂㅋㅏㅓㅗ死にたいタヒ氏ねｼﾈﾀﾋ殺す猫犬 　・.*_-!?0123456789abcXYZ")
)

#: Lone surrogates: Python strings hold them, no encoder can write them.
surrogates = st.integers(0xD800, 0xDFFF).map(chr)

#: What renders as nothing: blanks of every kind, zero-width and bidi controls,
#: BOM, soft hyphen, NUL and other controls, Hangul fillers, variation selectors.
invisible = st.one_of(
    st.sampled_from(
        list(" \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000")  # blanks
        + list("\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2066\u2069\u202a\u202e\ufeff\xad\u034f")
        + list("\x00\x01\x08\x1b\x7f\x9f\u115f\u1160\u3164\uffa0\ufe00\ufe0f\U000e0001\U000e0041\U000e0100")
    ),
    surrogates,
)

#: Jamo soup: compatibility, conjoining (modern and archaic) and half-width
#: jamo mixed with syllables and separators, the input that composition rules chew on.
jamo_soup = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x3131, max_codepoint=0x318E),
        st.characters(min_codepoint=0x1100, max_codepoint=0x11FF),
        st.characters(min_codepoint=0xA960, max_codepoint=0xA97C),
        st.characters(min_codepoint=0xD7B0, max_codepoint=0xD7FB),
        st.characters(min_codepoint=0xFFA0, max_codepoint=0xFFDC),
        st.sampled_from(list("가각갃값괜찮의 ?.!*1qwert")),
    ),
    max_size=24,
)

query_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=_interesting, max_size=40),
    st.text(alphabet=st.one_of(_interesting, st.characters()), max_size=300),
    st.text(alphabet=st.one_of(_interesting, invisible), max_size=80),
    jamo_soup,
)
query_lists = st.lists(st.one_of(query_text, st.none()), max_size=12)
