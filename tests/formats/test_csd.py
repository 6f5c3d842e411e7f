"""CSD digits (minimal, exact, non-adjacent) and the CsdFormat projection, against brute force."""

from __future__ import annotations

import functools
import itertools

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


@pytest.mark.parametrize("text", ["csd<8,3,1>", "csd<8,3,2>", "csd<6,0,3>", "ucsd<7,2,2>", "csd<10,4,2,TRN,WRAP>"])
def test_projection_is_nearest_with_documented_ties(text):
    fmt = parse(text)
    allowed = _brute_allowed(fmt)
    assert fmt.values_raw().tolist() == allowed
    assert fmt.raw_min == allowed[0] and fmt.raw_max == allowed[-1]
    base = fmt.base
    for r in range(base.raw_min, base.raw_max + 1):
        got = int(fmt.project(np.array([r]))[0])
        best = min(allowed, key=lambda c: (abs(c - r), len(csd_digits(c)), abs(c)))
        assert got == best, (text, r)
    # the real-valued path is base quantisation then projection
    xs = np.linspace(fmt.min * 1.5, fmt.max * 1.5, 333)
    want = fmt.project(base.to_raw(xs))
    assert np.array_equal(fmt.to_raw(xs), want)
    assert set(fmt.to_raw(xs).tolist()) <= set(allowed)


def test_power_of_two_format_and_cast():
    fmt = parse("pow2<8,1>")
    assert str(fmt) == "csd<8,1,1>"
    vals = set(fmt.values_raw().tolist())
    assert vals == {0} | {1 << k for k in range(7)} | {-(1 << k) for k in range(8)}
    # cast from 13 fractional bits: 212 / 2**6 = 3.3125 LSBs -> RND_CONV 3 -> tie between 2 and 4 (one digit
    # each) -> the smaller magnitude, 2; -320 / 2**6 = -5 LSBs -> nearest power of two -4
    raw = fmt.cast_raw(np.array([212, -320]), 13)
    assert raw.tolist() == [2, -4]


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
    assert list(itertools.islice(csd_digits(7), 5)) == [(-1, 0), (1, 3)]
