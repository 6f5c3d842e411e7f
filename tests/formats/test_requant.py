"""CMSIS-NN requantisation against an independent scalar Python-int model of the documented formula."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq.formats import quantize_multiplier, requantize
from hwq.formats.requant import quantize_multipliers

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def to_int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 2**32 if v >= 2**31 else v


def ref_double_rounding(acc: int, mult: int, shift: int) -> int:
    """The documented default build, one value at a time, with C int32 semantics made explicit."""
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    v = to_int32(acc * (2**left))  # val * (1 << LEFT_SHIFT(shift)), int32
    prod = v * mult + 2**30  # int64, rounding constant
    high = to_int32(prod // 2**31)  # arithmetic >> 31, truncated to int32
    if right == 0:
        return high
    q = Fraction(high, 2**right)  # divide by 2**right, round half away from zero
    fl = math.floor(q)
    if q - fl > Fraction(1, 2) or (q - fl == Fraction(1, 2) and q > 0):
        return fl + 1
    return fl


def ref_single_rounding(acc: int, mult: int, shift: int) -> int:
    """CMSIS_NN_USE_SINGLE_ROUNDING: ((acc * m) >> (30 - shift)) + 1) >> 1 with int32 truncation."""
    prod = acc * mult
    r = to_int32(prod // 2 ** (30 - shift))
    return to_int32(r + 1) // 2


int32s = st.integers(INT32_MIN, INT32_MAX)
mults = st.integers(2**30, 2**31 - 1)
shifts = st.integers(-31, 30)


@settings(max_examples=1000, deadline=None)
@given(acc=int32s, m=mults, s=shifts)
def test_requantize_matches_reference(acc, m, s):
    assert int(requantize(np.array([acc]), m, s)[0]) == ref_double_rounding(acc, m, s)
    assert int(requantize(np.array([acc]), m, s, single_rounding=True)[0]) == ref_single_rounding(acc, m, s)


def test_requantize_ties_and_edges_vectorised():
    rng = np.random.default_rng(0)
    accs = np.concatenate(
        [
            rng.integers(-(2**20), 2**20, size=4000),
            np.array([0, 1, -1, 2**31 - 1, -(2**31), 2**15, -(2**15) - 1]),
            (rng.integers(-(2**10), 2**10, size=500) * 2 + 1) << 5,  # many exact ties for right shifts
        ]
    )
    for m, s in [(2**30, -6), (2**30, 0), (1518500250, -9), (2**31 - 1, 3), (1288490189, -1), (2**30 + 1, -31)]:
        got = requantize(accs, m, s)
        want = [ref_double_rounding(int(a), m, s) for a in accs]
        assert got.tolist() == want, (m, s)
        got1 = requantize(accs, m, s, single_rounding=True)
        assert got1.tolist() == [ref_single_rounding(int(a), m, s) for a in accs], (m, s)


def test_per_channel_broadcast():
    acc = np.arange(-50, 50).reshape(4, 25) * 997
    m, s = quantize_multipliers(np.array([0.01, 0.5, 0.0003, 1.7]))
    got = requantize(acc, m[:, None], s[:, None])
    for c in range(4):
        assert got[c].tolist() == [ref_double_rounding(int(a), int(m[c]), int(s[c])) for a in acc[c]]


def test_builds_differ_rarely_and_by_one():
    rng = np.random.default_rng(1)
    acc = rng.integers(-(2**20), 2**20, size=200000)
    m, s = quantize_multiplier(0.0072)
    a, b = requantize(acc, m, s), requantize(acc, m, s, single_rounding=True)
    diff = np.abs(a - b)
    assert diff.max() <= 1
    assert 0 < np.count_nonzero(diff) < len(acc) // 100


@settings(max_examples=600, deadline=None)
@given(scale=st.floats(min_value=2.0**-40, max_value=2.0**29, allow_nan=False))
def test_quantize_multiplier_is_nearest_q31(scale):
    m, s = quantize_multiplier(scale)
    if scale < 2.0**-32:
        assert (m, s) == (0, 0) or 2**30 <= m < 2**31
        return
    assert 2**30 <= m < 2**31 and -31 <= s <= 30
    exact = Fraction(scale)
    approx = Fraction(m) * Fraction(2) ** (s - 31)
    # m is the nearest integer to scale * 2**(31 - s): error at most half a unit of the Q31 mantissa
    assert abs(exact - approx) <= Fraction(1, 2) * Fraction(2) ** (s - 31)


def test_quantize_multiplier_examples_and_errors():
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(1.0) == (2**30, 1)
    assert quantize_multiplier(0.25) == (2**30, -1)
    assert quantize_multiplier(1 - 2**-40) == (2**30, 1)  # rounds up to 2**31 -> renormalised
    assert quantize_multiplier(0.0) == (0, 0)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale"):
            quantize_multiplier(bad)
    with pytest.raises(ValueError, match="shift"):
        requantize(np.array([1]), 2**30, 31)
