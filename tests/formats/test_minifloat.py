"""Minifloats against ml_dtypes (every format it has) and an exact Fraction oracle (every format)."""

from __future__ import annotations

import functools
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from hwq.formats import FloatFormat, parse
from hwq.formats.minifloat import NAMED

from ._oracle import minifloat_rne, minifloat_values

ML_DTYPES = {
    name: getattr(ml_dtypes, f"float{bits}_{name}")
    for name in NAMED
    for bits in (8, 6, 4)
    if hasattr(ml_dtypes, f"float{bits}_{name}")
}


def test_ml_dtypes_cover_the_expected_names():
    assert {"e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e4m3b11fnuz", "e2m1fn", "e2m3fn", "e3m2fn"} <= set(ML_DTYPES)


def _all_ml_values(dt) -> np.ndarray:
    """float64 value of every code of an ml_dtypes type (NaN/inf included)."""
    bits = int(ml_dtypes.finfo(dt).bits)
    codes = np.arange(1 << bits, dtype=np.uint8)
    return codes.view(dt).astype(np.float64), codes


@pytest.mark.parametrize("name", sorted(ML_DTYPES))
def test_every_code_decodes_and_roundtrips(name):
    fmt, dt = parse(name), ML_DTYPES[name]
    vals, codes = _all_ml_values(dt)
    assert np.array_equal(np.isnan(fmt.decode(codes)), np.isnan(vals)), "NaN codes differ"
    assert np.array_equal(fmt.decode(codes)[~np.isnan(vals)], vals[~np.isnan(vals)])
    finite = np.isfinite(vals)
    raw = fmt.to_raw(vals[finite])
    assert np.array_equal(fmt.from_raw(raw), vals[finite])
    # to_bits gives the canonical code of each value (+0 for zeros)
    back = fmt.to_bits(raw)
    assert np.array_equal(fmt.decode(back), vals[finite])
    assert np.array_equal(fmt.quantize(vals[finite]), vals[finite])
    assert fmt.max == float(ml_dtypes.finfo(dt).max)
    assert fmt.smallest_subnormal == float(ml_dtypes.finfo(dt).smallest_subnormal)
    assert fmt.smallest_normal == float(ml_dtypes.finfo(dt).smallest_normal)


@pytest.mark.parametrize("name", sorted(ML_DTYPES))
def test_midpoints_and_beyond_round_like_ml_dtypes(name):
    fmt, dt = parse(name), ML_DTYPES[name]
    vals = np.unique(fmt.from_raw(fmt.all_raw()))
    mids = (vals[1:] + vals[:-1]) / 2  # exact in float64
    quarter = (3 * vals[1:] + vals[:-1]) / 4
    step_max = vals[-1] - vals[-2]
    beyond = vals[-1] + step_max * np.array([0.25, 0.5, 0.5 + 2**-16, 0.75, 1, 1.5, 4, 1e3])
    tiny = fmt.smallest_subnormal * np.array([0.25, 0.5, 0.5 + 2**-16, 0.75, 1.5, 2.5])
    xs = np.concatenate([mids, quarter, beyond, -beyond, tiny, -tiny, [np.inf, -np.inf, 2.0**100, -(2.0**100)]])
    # ml_dtypes converts float64 through float32 (two roundings): compare on float32-exact inputs only
    assert np.array_equal(xs.astype(np.float32).astype(np.float64), xs)
    want = xs.astype(np.float32).astype(dt).astype(np.float64)
    got = fmt.quantize(xs)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    assert same.all(), f"{name}: first differences {xs[~same][:4]} -> {got[~same][:4]} vs ml_dtypes {want[~same][:4]}"


@pytest.mark.parametrize("name", sorted(ML_DTYPES))
def test_random_values_match_ml_dtypes(name):
    fmt, dt = parse(name), ML_DTYPES[name]
    rng = np.random.default_rng(3)
    xs = rng.standard_normal(20000) * np.exp2(rng.integers(-24, 20, size=20000))
    xs = xs.astype(np.float32).astype(np.float64)  # see test_single_rounding_of_float64_inputs
    want = xs.astype(np.float32).astype(dt).astype(np.float64)
    got = fmt.quantize(xs)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(got[~np.isnan(got)], want[~np.isnan(want)])


@pytest.mark.parametrize("name", sorted(ML_DTYPES))
def test_nan_policy(name):
    fmt = parse(name)
    if fmt.policy == "finite":
        with pytest.raises(ValueError, match="no NaN"):
            fmt.quantize(np.array([np.nan]))
        assert fmt.quantize(np.array([np.nan]), nan="zero").tolist() == [0.0]
    else:
        assert np.isnan(fmt.quantize(np.array([np.nan]))).all()
    with pytest.raises(ValueError, match="NaN"):
        fmt.to_raw(np.array([np.nan]))
    # the raw protocol saturates
    assert fmt.to_raw(np.array([np.inf, -np.inf, 1e30])).tolist() == [fmt.raw_max, fmt.raw_min, fmt.raw_max]


def test_single_rounding_of_float64_inputs():
    """hwq rounds a float64 once, exactly; ml_dtypes rounds it to float32 first (double rounding)."""
    fmt = parse("e4m3fn")
    x = np.array([1.0625 + 2.0**-40])  # just above the midpoint of 1.0 and 1.125
    assert fmt.quantize(x).tolist() == [1.125]
    assert _oracle_cast(fmt, Fraction(float(x[0])))[0] == Fraction(9, 8)
    assert x.astype(ML_DTYPES["e4m3fn"]).astype(np.float64).tolist() == [1.0]  # the peer's double rounding


OTHER_FORMATS = [
    "float<4,3>",
    "float<4,3,fn,nosub>",
    "float<5,2,bias=13>",
    "float<3,3,fnuz>",
    "float<2,1,finite>",
    "float<5,4,satfinite>",
    "float<6,5>",
    "float<8,7>",  # bfloat16-like: wide raws
    "float<5,10,fn>",
    "float<1,3,finite>",
]


@functools.lru_cache(maxsize=32)
def _oracle_values(fmt: FloatFormat) -> list:
    return minifloat_values(fmt.exp_bits, fmt.man_bits, fmt.bias, fmt.max_code, subnormals=True)


def _oracle_cast(fmt: FloatFormat, value: Fraction) -> tuple[Fraction, bool]:
    values = _oracle_values(fmt)
    mag, over = minifloat_rne(value, values)
    if not fmt.subnormals and mag < Fraction(2) ** (1 - fmt.bias):
        mag = Fraction(0)
    return (-mag if value < 0 else mag), over


@pytest.mark.parametrize("text", OTHER_FORMATS + sorted(ML_DTYPES))
def test_cast_raw_matches_fraction_oracle(text):
    """Exact fixed-point integers at many scales, including exact ties and far out of range."""
    fmt = parse(text)
    rng = np.random.default_rng(len(text))
    f = fmt.frac_bits
    cases = []
    for from_frac in (f - 3, f, f + 1, f + 5, f + 40):
        raws = rng.integers(-(2**40), 2**40, size=60) >> rng.integers(0, 40, size=60)
        cases += [(int(r), from_frac) for r in raws]
    # exact ties between neighbours, and beyond max
    table = fmt.all_raw()
    picks = rng.integers(0, len(table) - 1, size=min(len(table) - 1, 300))
    picks = np.concatenate([picks, [0, len(table) // 2 - 1, len(table) // 2, len(table) - 2]])
    cases += [(int(table[i]) + int(table[i + 1]), f + 1) for i in picks]
    cases += [(2 * fmt.raw_max + 1, f + 1), (4 * fmt.raw_max, f), (-(3 * fmt.raw_max), f + 1)]
    for raw, from_frac in cases:
        got = int(
            np.asarray(fmt.cast_raw(np.array([raw], dtype=object if fmt.needs_object_ints else np.int64), from_frac))[0]
        )
        want, over = _oracle_cast(fmt, Fraction(raw) / Fraction(2) ** from_frac)
        want_raw = want * Fraction(2) ** f
        if over:
            want_raw = fmt.raw_max if raw > 0 else fmt.raw_min
        assert got == want_raw, f"{fmt}: cast_raw({raw}, {from_frac}) = {got}, oracle {want_raw}"


@pytest.mark.parametrize("text", OTHER_FORMATS)
def test_quantize_policy_on_overflow(text):
    fmt = parse(text)
    big = np.array([fmt.max * 4, -fmt.max * 4])
    got = fmt.quantize(big)
    if fmt.satfinite:
        assert got.tolist() == [fmt.max, -fmt.max]
    elif fmt.policy == "ieee":
        assert got.tolist() == [np.inf, -np.inf]
    else:
        assert np.isnan(got).all()


@pytest.mark.parametrize("text", OTHER_FORMATS + sorted(ML_DTYPES))
def test_encodings_exhaustive(text):
    """Every code (up to 16 bits): decode -> from_bits -> to_bits gives the code back (except the zeros and the
    unused subnormal codes of nosub formats)."""
    fmt = parse(text)
    codes = np.arange(1 << fmt.width)
    vals = fmt.decode(codes)
    ok = np.isfinite(vals) & (vals != 0)
    if not fmt.subnormals:
        ok &= np.abs(vals) >= fmt.smallest_normal
    raw = fmt.from_bits(codes[ok])
    assert np.array_equal(fmt.from_raw(raw), vals[ok])
    assert np.array_equal(fmt.to_bits(raw), codes[ok])
    assert len(set(fmt.all_raw().tolist())) == len(fmt.all_raw())


def test_random_raw_draws_only_finite_encodings():
    rng = np.random.default_rng(0)
    for text in ("e4m3fn", "e5m2", "e2m1fn", "float<4,3,nosub>"):
        fmt = parse(text)
        r = fmt.random_raw(rng, (5000,))
        allowed = set(fmt.all_raw().tolist())
        assert set(r.tolist()) <= allowed
        assert len(set(r.tolist())) > 0.9 * len(allowed) or len(allowed) > 4000


def test_stochastic_rounding_is_seeded_unbiased_and_lands_on_neighbours():
    fmt = parse("float<4,3,SR>")
    x = np.full(40000, 1.0 + 1 / 32)  # between 1 and 1.125, a quarter of the way up
    q1, q2 = fmt.quantize(x, seed=5), fmt.quantize(x, seed=5)
    assert np.array_equal(q1, q2)
    assert set(np.unique(q1).tolist()) == {1.0, 1.125}
    frac_up = float(np.mean(q1 == 1.125))
    assert abs(frac_up - 0.25) < 0.02
    assert not np.array_equal(q1, fmt.quantize(x, seed=6))
    raw = fmt.cast_raw(np.full(20000, 3), 2)  # 0.75 exactly representable: never moves
    assert set(np.unique(raw).tolist()) == {int(0.75 * 2**fmt.frac_bits)}


def test_names_and_canonical_strings():
    for name in NAMED:
        fmt = parse(name)
        assert str(fmt) == name and parse(str(fmt)) == fmt
    assert str(parse("float8_e4m3fn")) == "e4m3fn"
    assert str(FloatFormat(4, 3, "fn", subnormals=False)) == "float<4,3,fn,nosub>"
    fmt = parse("e4m3fn")
    assert fmt.frac_bits == 9 and fmt.raw_max == 448 * 2**9 and fmt.raw_min == -fmt.raw_max
    with pytest.raises(ValueError, match="e9m1"):
        parse("e9m1")
    with pytest.raises(ValueError, match="unknown float option"):
        parse("float<4,3,fancy>")
