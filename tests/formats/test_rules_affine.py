"""Result-type rules (lossless, exhaustive on small formats), accumulator sizing, affine int formats."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from hwq.formats import FixedFormat, IntFormat, accumulator_format, add_format, mul_format, parse, sub_format
from hwq.formats.rules import as_fixed

SMALL = [FixedFormat(w, i, s) for w in (1, 2, 3, 4) for i in (-1, 1, w, w + 2) for s in (True, False)]


def _values(f: FixedFormat) -> list[Fraction]:
    return [Fraction(r) * Fraction(2) ** -f.frac_bits for r in range(f.raw_min, f.raw_max + 1)]


def _holds(f: FixedFormat, v: Fraction) -> bool:
    r = v * Fraction(2) ** f.frac_bits
    return r.denominator == 1 and f.raw_min <= r <= f.raw_max


@pytest.mark.parametrize("op,rule", [("mul", mul_format), ("add", add_format), ("sub", sub_format)])
def test_every_operand_pair_fits_the_result_format(op, rule):
    """Exhaustive over all operand pairs of small formats: the exact result is representable."""
    fn = {"mul": lambda a, b: a * b, "add": lambda a, b: a + b, "sub": lambda a, b: a - b}[op]
    for fa, fb in itertools.product(SMALL, SMALL):
        r = rule(fa, fb)
        for a, b in itertools.product(_values(fa), _values(fb)):
            assert _holds(r, fn(a, b)), f"{fa} {op} {fb} -> {r} cannot hold {fn(a, b)}"


def test_minifloat_and_csd_operands_widen_exactly():
    f8 = parse("e4m3fn")
    wide = as_fixed(f8)
    for v in f8.from_raw(f8.all_raw()):
        assert _holds(wide, Fraction(float(v)))
    p = mul_format(f8, parse("csd<8,3,2>"))
    assert p.frac_bits == f8.frac_bits + 5


@pytest.mark.parametrize("bias", [None, "fixed<10,4>", "fixed<6,6>"])
def test_accumulator_is_lossless_for_extreme_inputs(bias):
    xf, wf = parse("fixed<6,2>"), parse("fixed<5,1>")
    bf = parse(bias) if bias else None
    rng = np.random.default_rng(0)
    n = 9
    w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(5, n))
    for weights in (None, w):
        acc = accumulator_format(xf, wf, n, bias_fmt=bf, weight_raw=weights)
        f = acc.frac_bits
        for row in w:
            for xs in itertools.product([xf.raw_min, xf.raw_max], repeat=3):
                x = np.array(list(xs) * 3)
                total = Fraction(0)
                if bf is not None:
                    total += Fraction(bf.raw_min if xs[0] < 0 else bf.raw_max) * Fraction(2) ** -bf.frac_bits
                assert _holds(acc, total)
                for i in range(n):  # every partial sum, in order
                    total += Fraction(int(x[i]) * int(row[i])) * Fraction(2) ** -(xf.frac_bits + wf.frac_bits)
                    assert _holds(acc, total), (acc, total)
        assert f >= xf.frac_bits + wf.frac_bits
    # the tight bound for the actual weights is never wider than the generic one
    assert accumulator_format(xf, wf, n, weight_raw=w).width <= accumulator_format(xf, wf, n).width


def test_accumulator_matches_known_width():
    a = parse("fixed<16,6>")
    acc = accumulator_format(a, a, 16)
    # 16 products of at most 2**30 LSB**2 (the (-2**15)**2 corner): 2**34 needs 35 bits plus sign
    assert (acc.width, acc.frac_bits) == (36, 20)


def test_affine_int_quantisation_is_exact_with_ties():
    fmt = parse("int<8,scale=0.1,zp=-3>")
    # the oracle is the exact rational quotient of the two binary floats (0.1 is not 1/10), rounded half away
    xs = np.array([0.25, 0.35, -0.05, 12.75, -12.8, 100.0, -100.0, np.inf, -np.inf, 0.0])
    for x, q in zip(xs.tolist(), fmt.to_raw(xs).tolist()):
        if np.isinf(x):
            assert q == (127 if x > 0 else -128)
            continue
        r = Fraction(x) / Fraction(0.1)
        fl = r.numerator // r.denominator
        frac = r - fl
        want = fl + 1 if (frac > Fraction(1, 2) or (frac == Fraction(1, 2) and r > 0)) else fl
        assert q == max(-128, min(127, want - 3)), x


def test_affine_rounding_modes_and_ties():
    away, even = parse("int<8,scale=0.5>"), parse("int<8,scale=0.5,RND_CONV>")
    xs = np.array([0.25, 0.75, -0.25, -0.75, 1.25])  # exact ties at half a step
    assert away.to_raw(xs).tolist() == [1, 2, -1, -2, 3]
    assert even.to_raw(xs).tolist() == [0, 2, 0, -2, 2]


def test_affine_per_channel_and_narrow():
    fmt = parse("int<8,axis=0,scale=[0.5,0.25],zp=[0,1],narrow>")
    x = np.array([[1.0, -200.0], [1.0, 0.25]])
    assert fmt.to_raw(x).tolist() == [[2, -127], [5, 2]]
    assert np.array_equal(fmt.from_raw(fmt.to_raw(x))[1], [1.0, 0.25])
    assert fmt.raw_min == -127
    with pytest.raises(ValueError, match="channels"):
        fmt.to_raw(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        parse("int<8>").to_raw(np.array([np.nan]))
    assert parse("int<8,zp=5>").to_raw(np.array([np.nan]), nan="zero").tolist() == [5]


def test_affine_strings_roundtrip_and_bits():
    for text in ["int<8>", "uint<4,scale=0.0625,zp=8>", "int<16,axis=1,scale=[0.1,0.2,0.3],zp=[0,0,0]>"]:
        f = parse(text)
        assert parse(str(f)) == f and str(f) == text
    f = IntFormat(4)
    codes = np.arange(16)
    assert np.array_equal(f.to_bits(f.from_bits(codes)), codes)
    assert parse("int<8,scale=0.25>").frac_bits == 2
    with pytest.raises(ValueError, match="frac_bits"):
        _ = parse("int<8,scale=0.1>").frac_bits
    with pytest.raises(ValueError, match="zero point"):
        parse("int<8,zp=300>")
