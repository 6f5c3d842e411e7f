"""CSD digits (minimal, exact, non-adjacent) and the CsdFormat projection, against brute force."""

from __future__ import annotations

import functools
import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwq.formats import CsdFormat, csd_digits, parse


@functools.lru_cache(maxsize=1)
def min_signed_digits(limit: int = 1 << 10) -> dict[int, int]:
    """Breadth-first search: fewest signed powers of two summing to each |n| <= limit."""
    powers = [1 << k for k in range(12)]
    best = {0: 0}
    frontier = {0}
    for depth in range(1, 8):
        nxt = set()
        for v in frontier:
            for p in powers:
                for w in (v + p, v - p):
                    if abs(w) <= 4 * limit and w not in best:
                        best[w] = depth
                        nxt.add(w)
        frontier = nxt
    return best


def test_digit_count_is_minimal_for_small_ints():
    best = min_signed_digits()
    for n in range(-1024, 1025):
        d = csd_digits(n)
        assert sum(s << k for s, k in d) == n
        assert len(d) == best[n], n
        shifts = [k for _, k in d]
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:])), f"{n}: adjacent digits {d}"
        assert all(s in (1, -1) for s, _ in d)


@given(st.integers(-(2**200), 2**200))
def test_reconstruction_is_exact_for_big_ints(n):
    d = csd_digits(n)
    assert sum(s * (1 << k) for s, k in d) == n
    shifts = [k for _, k in d]
    assert shifts == sorted(shifts) and all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))


def _brute_allowed(fmt: CsdFormat) -> list[int]:
    lo, hi = fmt.base.raw_min, fmt.base.raw_max
    return [v for v in range(lo, hi + 1) if len(csd_digits(v)) <= fmt.digits]


def _brute_nearest(allowed: list[int], value: Fraction) -> int:
    """Nearest allowed raw to an exact value (in LSBs); ties: fewer digits, then smaller magnitude."""
    return min(allowed, key=lambda c: (abs(c - value), len(csd_digits(c)), abs(c)))


@pytest.mark.parametrize("text", ["csd<8,3,1>", "csd<8,3,2>", "csd<6,0,3>", "ucsd<7,2,2>", "csd<9,4,2>"])
def test_projection_is_nearest_with_documented_ties(text):
    fmt = parse(text)
    allowed = _brute_allowed(fmt)
    assert fmt.values_raw().tolist() == allowed
    assert fmt.raw_min == allowed[0] and fmt.raw_max == allowed[-1]
    base = fmt.base
    # every quarter-LSB point over and beyond the range, as raws at 2 extra fractional bits
    quarters = np.arange(4 * base.raw_min - 40, 4 * base.raw_max + 40)
    got = fmt.cast_raw(quarters, fmt.frac_bits + 2)
    want = [_brute_nearest(allowed, Fraction(int(q), 4)) for q in quarters]
    assert got.tolist() == want, text
    # the same points as floats, plus points just off them, through to_raw
    xs = np.ldexp(quarters.astype(np.float64), -fmt.frac_bits - 2)
    assert fmt.to_raw(xs).tolist() == want
    off = xs + np.ldexp(1.0, -fmt.frac_bits - 9)
    assert fmt.to_raw(off).tolist() == [_brute_nearest(allowed, Fraction(float(v)) * 2**fmt.frac_bits) for v in off]
    # coarser sources (shift left) and integers
    assert fmt.cast_raw(np.arange(-20, 20), fmt.frac_bits - 3).tolist() == [
        _brute_nearest(allowed, Fraction(int(v) * 8)) for v in np.arange(-20, 20)
    ]


def test_projection_is_single_rounding():
    """6.1 LSB goes to 8 (nearest), not to 4 via the fixed grid point 6 (which is a tie between 4 and 8)."""
    fmt = parse("csd<8,7,1>")  # F = 1: one LSB = 0.5
    assert fmt.to_raw(np.array([6.1 * 0.5, 5.9 * 0.5, 6.0 * 0.5, -6.1 * 0.5])).tolist() == [8, 4, 4, -8]
    assert fmt.to_raw(np.array([np.inf, -np.inf, 1e300])).tolist() == [64, -128, 64]
    with pytest.raises(ValueError, match="NaN"):
        fmt.to_raw(np.array([np.nan]))


def test_power_of_two_format_and_cast():
    fmt = parse("pow2<8,1>")
    assert str(fmt) == "csd<8,1,1>"
    vals = set(fmt.values_raw().tolist())
    assert vals == {0} | {1 << k for k in range(7)} | {-(1 << k) for k in range(8)}
    # from 13 fractional bits: 212 / 2**6 = 3.3125 LSBs -> nearest power of two 4; -320 / 2**6 = -5 -> -4;
    # 192 / 2**6 = 3 LSBs: tie between 2 and 4 (one digit each) -> the smaller magnitude, 2
    assert fmt.cast_raw(np.array([212, -320, 192]), 13).tolist() == [4, -4, 2]


def test_digits_of_weight_match_emitter_contract():
    fmt = parse("csd<8,3,3>")
    rng = np.random.default_rng(0)
    for r in fmt.random_raw(rng, (200,)).tolist():
        d = fmt.digits_of(r)
        assert len(d) <= 3 and sum(s << k for s, k in d) == r


def test_csd_errors():
    with pytest.raises(ValueError, match="digit budget"):
        parse("csd<8,3,0>")
    with pytest.raises(ValueError, match="csd<8,3>"):
        parse("csd<8,3>")
    with pytest.raises(ValueError, match="W <= 48"):
        parse("csd<60,3,2>")
    assert list(itertools.islice(csd_digits(7), 5)) == [(-1, 0), (1, 3)]
