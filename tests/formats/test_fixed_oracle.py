"""FixedFormat against the exact Fraction oracle: every rounding x overflow mode, ties, far out of range,
negative I, I > W, widths up to 64 (object ints), and the raw -> raw cast."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, parse

from ._oracle import fixed_oracle, overflow_int, round_fraction

MODES = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))


@st.composite
def fixed_formats(draw, max_width: int = 64):
    w = draw(st.integers(1, max_width))
    i = draw(st.integers(-12, w + 12))
    signed = draw(st.booleans())
    q = draw(st.sampled_from(ROUNDING_MODES))
    o = draw(st.sampled_from(OVERFLOW_MODES))
    return FixedFormat(w, i, signed, q, o)


@st.composite
def values_near(draw, fmt: FixedFormat):
    """Floats that stress the format: exact ties, grid points, near the bounds, far out, tiny, huge."""
    f = fmt.frac_bits
    kind = draw(st.sampled_from(["tie", "grid", "bound", "far", "tiny", "any"]))
    span = 1 << min(fmt.width + 1, 60)
    if kind == "tie":
        k = draw(st.integers(-span, span))
        v = Fraction(2 * k + 1, 2) * Fraction(2) ** -f
    elif kind == "grid":
        k = draw(st.integers(-span, span))
        num = draw(st.integers(-8, 8))
        v = (k + Fraction(num, 16)) * Fraction(2) ** -f
    elif kind == "bound":
        edge = draw(st.sampled_from([fmt.raw_min, fmt.raw_max, -fmt.raw_max]))
        d = draw(st.sampled_from([-1, Fraction(-1, 2), Fraction(-1, 4), 0, Fraction(1, 4), Fraction(1, 2), 1, 2]))
        v = (edge + d) * Fraction(2) ** -f
    elif kind == "far":
        v = Fraction(draw(st.floats(min_value=1e10, max_value=1e300))) * draw(st.sampled_from([1, -1]))
    elif kind == "tiny":
        v = Fraction(draw(st.floats(min_value=5e-324, max_value=1e-30))) * draw(st.sampled_from([1, -1]))
    else:
        v = Fraction(draw(st.floats(allow_nan=False, allow_infinity=False)))
    x = float(v)  # the float actually fed; the oracle uses it exactly
    return x


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_to_raw_matches_fraction_oracle(data):
    fmt = data.draw(fixed_formats())
    xs = [data.draw(values_near(fmt)) for _ in range(8)]
    got = fmt.to_raw(np.array(xs))
    for x, g in zip(xs, got.tolist()):
        want = fixed_oracle(Fraction(x), fmt.width, fmt.int_bits, fmt.signed, fmt.rounding, fmt.overflow)
        assert int(g) == want, f"{fmt}: to_raw({x!r}) = {g}, oracle {want}"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_cast_raw_matches_fraction_oracle(data):
    fmt = data.draw(fixed_formats())
    from_frac = data.draw(st.integers(fmt.frac_bits - 70, fmt.frac_bits + 70))
    bits = data.draw(st.integers(1, 64))
    raws = data.draw(st.lists(st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1), min_size=1, max_size=8))
    arr = np.array(raws, dtype=np.int64 if bits <= 62 else object)
    got = fmt.cast_raw(arr, from_frac)
    for r, g in zip(raws, got.tolist()):
        want = fixed_oracle(Fraction(r) * Fraction(2) ** -from_frac, fmt.width, fmt.int_bits, fmt.signed, *_modes(fmt))
        assert int(g) == want, f"{fmt}: cast_raw({r}, from_frac_bits={from_frac}) = {g}, oracle {want}"


def _modes(fmt):
    return fmt.rounding, fmt.overflow


@pytest.mark.parametrize("q,o", MODES)
def test_every_mode_on_dense_ties(q, o):
    """All quarter-LSB points over and beyond the range of small formats, signed and unsigned, I < 0 and I > W."""
    for w, i, signed in [(4, 2, True), (4, 2, False), (3, -2, True), (3, 6, True), (5, 7, False), (1, 1, True)]:
        fmt = FixedFormat(w, i, signed, q, o)
        f = fmt.frac_bits
        ks = np.arange(4 * (fmt.raw_min - 5), 4 * (fmt.raw_max + 6))
        xs = np.ldexp(ks.astype(np.float64), -f - 2)
        got = fmt.to_raw(xs)
        want = [fixed_oracle(Fraction(int(k), 4) * Fraction(2) ** -f, w, i, signed, q, o) for k in ks]
        assert got.tolist() == want, f"{fmt}"
        raw_got = fmt.cast_raw(ks, f + 2)
        assert raw_got.tolist() == want, f"{fmt} cast_raw"


@pytest.mark.parametrize("width", [60, 62, 63, 64, 65, 100, 200])
def test_wide_formats_use_exact_python_ints(width):
    rng = np.random.default_rng(width)
    for q, o in MODES:
        fmt = FixedFormat(width, width // 3, True, q, o)
        raws = [int(v) for v in rng.integers(-(2**62), 2**62, size=20)]
        raws += [2 ** (width + 3) + 1, -(2 ** (width + 2)) - 3, 2 ** (width - 1) - 1, -(2 ** (width - 1))]
        src = 5
        got = fmt.cast_raw(np.array(raws, dtype=object), fmt.frac_bits + src)
        for r, g in zip(raws, got.tolist()):
            value = Fraction(r, 2**src) * Fraction(2) ** -fmt.frac_bits
            assert int(g) == fixed_oracle(value, width, width // 3, True, q, o)
        xs = rng.standard_normal(20) * 2.0 ** (width // 3 - 2)
        xs = np.concatenate([xs, [1e300, -1e300, 3e-300, -3e-300]])
        got = fmt.to_raw(xs)
        for x, g in zip(xs.tolist(), got.tolist()):
            assert int(g) == fixed_oracle(Fraction(x), width, width // 3, True, q, o), (fmt, x)


def test_oracle_self_check():
    """The oracle's own tie rules on hand-checked cases (so a wrong oracle cannot hide a wrong model)."""
    half = Fraction(1, 2)
    assert [round_fraction(v, "RND") for v in (half, -half, Fraction(3, 2))] == [1, 0, 2]
    assert [round_fraction(v, "RND_ZERO") for v in (half, -half)] == [0, 0]
    assert [round_fraction(v, "RND_INF") for v in (half, -half)] == [1, -1]
    assert [round_fraction(v, "RND_MIN_INF") for v in (half, -half)] == [0, -1]
    assert [round_fraction(v, "RND_CONV") for v in (half, Fraction(3, 2), -half)] == [0, 2, 0]
    assert [round_fraction(v, "TRN_ZERO") for v in (Fraction(-7, 4), Fraction(7, 4))] == [-1, 1]
    assert overflow_int(200, 8, True, "WRAP") == -56
    assert overflow_int(-128, 8, True, "SAT_SYM") == -127
    assert overflow_int(-200, 8, False, "SAT") == 0


def test_inf_and_nan_policy():
    for o, (pos, neg) in {"SAT": (127, -128), "SAT_SYM": (127, -127), "SAT_ZERO": (0, 0), "WRAP": (127, -128)}.items():
        fmt = parse(f"fixed<8,3,RND,{o}>")
        assert fmt.to_raw(np.array([np.inf, -np.inf])).tolist() == [pos, neg], o
    fmt = parse("fixed<8,3>")
    with pytest.raises(ValueError, match="NaN"):
        fmt.to_raw(np.array([1.0, np.nan]))
    assert fmt.to_raw(np.array([np.nan, 1.0]), nan="zero").tolist() == [0, 32]


def test_float_dtypes_are_converted_exactly():
    fmt = parse("fixed<12,4,RND_CONV,SAT>")
    x32 = np.array([0.1, -2.718, 7.99, 1e-40], dtype=np.float32)
    want = [fixed_oracle(Fraction(float(v)), 12, 4, True, "RND_CONV", "SAT") for v in x32]
    assert fmt.to_raw(x32).tolist() == want
    assert fmt.to_raw(x32.astype(np.float16)).tolist() == [
        fixed_oracle(Fraction(float(v)), 12, 4, True, "RND_CONV", "SAT") for v in x32.astype(np.float16)
    ]


def test_random_raw_covers_range_and_stays_inside():
    rng = np.random.default_rng(1)
    for fmt in [parse("fixed<3,1>"), parse("ufixed<2,0>"), parse("fixed<70,5>")]:
        r = fmt.random_raw(rng, (2000,))
        assert min(int(v) for v in r) == fmt.raw_min or fmt.width > 8
        assert all(fmt.raw_min <= int(v) <= fmt.raw_max for v in r)
        if fmt.width <= 8:
            assert len(set(int(v) for v in r)) == fmt.raw_max - fmt.raw_min + 1
