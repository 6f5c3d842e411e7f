"""Exhaustive checks on every encoding of fixed formats up to 10 bits; the string <-> parser contract."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES, CsdFormat, FixedFormat, FloatFormat, IntFormat, parse
from hwq.formats.minifloat import POLICIES

ALL_SMALL = [
    FixedFormat(w, i, s, q, o)
    for w in range(1, 11)
    for i in ((-3, 0, 1, w // 2, w, w + 3) if w <= 8 else (-2, w // 2, w + 1))
    for s in (True, False)
    for q, o in [("TRN", "WRAP"), ("RND_CONV", "SAT"), ("RND", "SAT_SYM"), ("RND_ZERO", "SAT_ZERO")]
]


def test_every_encoding_of_every_small_fixed_format():
    """to_bits/from_bits are inverse on all 2**W patterns; every value quantises to itself in every mode."""
    for fmt in ALL_SMALL:
        codes = np.arange(1 << fmt.width)
        raw = fmt.from_bits(codes)
        assert np.array_equal(fmt.to_bits(raw), codes), fmt
        assert sorted(raw.tolist()) == list(range(fmt.raw_min, fmt.raw_max + 1)), fmt
        vals = fmt.from_raw(raw)
        exact = [Fraction(int(r)) * Fraction(2) ** -fmt.frac_bits for r in raw]
        assert [Fraction(float(v)) for v in vals] == exact
        keep = raw if not (fmt.overflow == "SAT_SYM" and fmt.signed and fmt.width > 1) else raw[raw != fmt.raw_min]
        assert np.array_equal(fmt.to_raw(fmt.from_raw(keep)), keep), fmt
        assert np.array_equal(fmt.cast_raw(keep, fmt.frac_bits), keep), fmt


def test_sat_sym_never_produces_the_minimum_code():
    for w in range(2, 9):
        fmt = FixedFormat(w, 2, True, "TRN", "SAT_SYM")
        raw = fmt.cast_raw(np.arange(-(1 << (w + 1)), 1 << (w + 1)), fmt.frac_bits)
        assert raw.min() == -fmt.raw_max
    assert FixedFormat(1, 1, True, "TRN", "SAT_SYM").cast_raw(np.array([-5, 5]), 0).tolist() == [-1, 0]


def test_finfo_identities():
    for fmt in ALL_SMALL:
        assert fmt.step == 2.0**-fmt.frac_bits
        assert fmt.max == fmt.raw_max * fmt.step and fmt.min == fmt.raw_min * fmt.step
    f = parse("fixed<8,3,RND,SAT>")
    assert (f.step, f.min, f.max) == (0.03125, -4.0, 3.96875)


fixed_st = st.builds(
    FixedFormat,
    st.integers(1, 128),
    st.integers(-40, 160),
    st.booleans(),
    st.sampled_from(ROUNDING_MODES),
    st.sampled_from(OVERFLOW_MODES),
)
float_st = st.builds(
    FloatFormat,
    st.integers(2, 8),
    st.integers(0, 10),
    st.sampled_from(POLICIES),
    st.one_of(st.none(), st.integers(-5, 140)),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["RNE", "SR"]),
)
csd_st = st.builds(CsdFormat, st.integers(2, 16), st.integers(-4, 20), st.integers(1, 3), st.booleans())
int_st = st.builds(
    lambda w, s, sc, zp, narrow, q: IntFormat(
        w, s, sc, zp if not s else zp - (1 << (w - 1)) // 2, None, narrow and s, q
    ),
    st.integers(2, 16),
    st.booleans(),
    st.floats(min_value=1e-8, max_value=1e4),
    st.integers(0, 1),
    st.booleans(),
    st.sampled_from(["RND_INF", "RND_CONV"]),
)


@given(st.one_of(fixed_st, float_st, csd_st, int_st))
def test_parse_of_str_is_identity(fmt):
    assert parse(str(fmt)) == fmt
    assert str(parse(str(fmt))) == str(fmt)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("fixed<8>", "2 to 4 arguments"),
        ("fixed<8,3,RND,SAT,X>", "2 to 4 arguments"),
        ("fixed<8,3,ROUND>", "unknown rounding mode 'ROUND'"),
        ("fixed<8,3,RND,CLAMP>", "unknown overflow mode 'CLAMP'"),
        ("fixed<x,3>", "width W must be an integer"),
        ("fixed<0,3>", "at least 1"),
        ("fixed<8,3", "not of the form"),
        ("fixed<8,,3>", "empty argument"),
        ("float<4,3,bias=>", "bias"),
        ("float<9,3>", "exponent bits"),
        ("int<8,scale=-1>", "scale"),
        ("int<8,scale=[0.1,0.2]>", "channel axis"),
        ("int<8,axis=0,scale=[0.1,0.2],zp=[1]>", None),
        ("csd<8,3,x>", "digit budget k must be an integer"),
        ("quux<3>", "unknown format kind 'quux'"),
        ("e4m3xx", "unknown format kind"),
    ],
)
def test_malformed_strings_raise_value_error_quoting_the_text(text, fragment):
    if fragment is None:  # a valid spelling (one zero point broadcast to every channel)
        assert parse(text).zero_point == (1, 1)
        return
    with pytest.raises(ValueError) as info:
        parse(text)
    msg = str(info.value)
    assert repr(text) in msg and fragment in msg, msg


def test_ap_spellings():
    assert parse("ap_fixed<8,3,AP_RND,AP_SAT>") == FixedFormat(8, 3, True, "RND", "SAT")
    assert parse("ap_ufixed<6,2,AP_TRN_ZERO>") == FixedFormat(6, 2, False, "TRN_ZERO")
    assert parse("ap_int<12>") == FixedFormat(12, 12, True)
    assert parse("ap_uint<3>") == FixedFormat(3, 3, False)
    assert str(parse(" fixed< 8 , 3 , RND_CONV , SAT > ")) == "fixed<8,3,RND_CONV,SAT>"
    assert str(parse("fixed<8,3,TRN,SAT>")) == "fixed<8,3,TRN,SAT>"
    assert [str(parse(s)) for s in ("fixed<8,3,TRN>", "fixed<8,3,TRN,WRAP>")] == ["fixed<8,3>"] * 2


def test_all_mode_combinations_roundtrip():
    for w, i, s, q, o in itertools.product((1, 8, 64, 65), (-5, 3, 70), (True, False), ROUNDING_MODES, OVERFLOW_MODES):
        f = FixedFormat(w, i, s, q, o)
        assert parse(str(f)) == f
