"""Quantisers: exact against independent oracles; learned binary point gradients."""

from __future__ import annotations

import itertools

import ml_dtypes
import numpy as np
import pytest
import torch

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from hwq.formats.torch_quant import overflow_lsb, round_lsb
from hwq.nn.quantizers import (
    CSDQuantizer,
    FixedQuantizer,
    MinifloatQuantizer,
    csd_digit_count,
    csd_grid,
    minifloat_values,
)


def _grid_and_ties(frac_bits: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * 6
    ties = (np.round(x * 2 ** (frac_bits + 1)) + 0.0) / 2 ** (frac_bits + 1)  # many exact half-LSB ties
    return np.concatenate([x, ties, [0.0, -0.0, 1e9, -1e9]])


def quantize_fixed_raw(x: torch.Tensor, fmt: FixedFormat) -> torch.Tensor:
    """The emulator's quantisation steps: overflow(round(x * 2**F)) on floats in LSB units."""
    return overflow_lsb(round_lsb(x * (2.0**fmt.frac_bits), fmt.rounding), fmt)


@pytest.mark.parametrize("rounding,overflow", list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES)))
@pytest.mark.parametrize("signed", [True, False])
def test_fixed_quantisation_equals_formats_core(rounding, overflow, signed):
    """torch float64 and float32 quantisation == hwq.formats FixedFormat.to_raw (exact numpy core)."""
    fmt = FixedFormat(6, 2, signed, rounding, overflow)
    x = _grid_and_ties(fmt.frac_bits, 4000, 1)
    got64 = quantize_fixed_raw(torch.tensor(x), fmt).numpy()
    assert np.array_equal(got64.astype(np.int64), fmt.to_raw(x))
    x32 = x.astype(np.float32)
    got32 = quantize_fixed_raw(torch.tensor(x32), fmt).numpy()
    assert np.array_equal(got32.astype(np.int64), fmt.to_raw(x32.astype(np.float64)))


def test_fixed_quantizer_forward_is_on_grid_and_to_raw_roundtrips():
    q = FixedQuantizer(5, 1, rounding="RND", overflow="SAT")
    x = torch.linspace(-3, 3, 1001, dtype=torch.float64)
    raw = q.to_raw(x)
    assert raw.min() == -16 and raw.max() == 15
    assert np.array_equal(raw, q.fmt().to_raw(x.numpy()))


@pytest.mark.parametrize(
    "exp,man,dtype",
    [(4, 3, ml_dtypes.float8_e4m3fn), (2, 1, ml_dtypes.float4_e2m1fn), (3, 2, ml_dtypes.float6_e3m2fn)],
)
def test_minifloat_matches_ml_dtypes(exp, man, dtype):
    """Round to nearest even, saturating: equals ml_dtypes' cast of the clipped value."""
    q = MinifloatQuantizer(exp, man, bias=(1 << (exp - 1)) - 1)
    top = float(q.values().max())
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=20000) * top / 3, rng.normal(size=2000) * 1e-2 * top])
    # every midpoint between neighbouring values: exercises ties-to-even
    v = q.values()
    x = np.concatenate([x, (v[1:] + v[:-1]) / 2, -(v[1:] + v[:-1]) / 2])
    got = q(torch.tensor(x)).numpy()
    want = np.clip(x, -top, top).astype(dtype).astype(np.float64)
    assert np.array_equal(got, want)


def test_minifloat_raw_is_exact_in_its_format():
    q = MinifloatQuantizer(2, 1, bias=1)
    assert str(q.fmt()) == "e2m1fn"
    x = torch.linspace(-8, 8, 97, dtype=torch.float64)
    raw = q.to_raw(x)
    assert set(np.abs(raw).tolist()) == {0, 1, 2, 3, 4, 6, 8, 12}  # e2m1 values in units of 0.5
    assert np.array_equal(raw, q.fmt().to_raw(x.numpy()))  # the formats core's saturating RNE cast


@pytest.mark.parametrize(
    "exp,man,policy", [(4, 3, "fn"), (5, 2, "ieee"), (2, 1, "finite"), (3, 2, "finite"), (4, 3, "ieee"), (5, 2, "fnuz")]
)
def test_minifloat_value_sets_match_formats_core(exp, man, policy):
    from hwq.formats import FloatFormat

    f = FloatFormat(exp, man, policy)
    v = minifloat_values(exp, man, f.bias, policy)
    r = np.unique(np.abs(f.all_raw()))
    assert np.array_equal(v, np.ldexp(r.astype(np.float64), -f.frac_bits))
    q = MinifloatQuantizer(exp, man, bias=f.bias + 2, policy=policy)  # a shifted bias: raws still agree
    x = torch.randn(3000, dtype=torch.float64) * float(v.max()) / 8
    assert np.array_equal(q.to_raw(x), q.fmt().to_raw(x.numpy()))


def _min_signed_digits(n: int, width: int) -> int:
    """Oracle: fewest non-zero digits d_i in {-1,0,1} with sum d_i 2**i == n (breadth-first search)."""
    if n == 0:
        return 0
    reach = {0: 0}
    for k in range(1, width + 2):
        new = {}
        for v in list(reach):
            for p in range(width + 1):
                for s in (1, -1):
                    new.setdefault(v + s * (1 << p), k)
        for v, c in new.items():
            reach.setdefault(v, c)
        if n in reach:
            return reach[n]
    raise AssertionError


def test_csd_digit_count_is_minimal_signed_digit_count():
    vals = np.arange(-128, 128)
    counts = csd_digit_count(vals)
    for v, c in zip(vals.tolist(), counts.tolist()):
        assert c == _min_signed_digits(v, 8), v


@pytest.mark.parametrize("digits", [1, 2])
def test_csd_quantizer_outputs_have_at_most_k_digits_and_are_nearest(digits):
    q = CSDQuantizer(8, digits, int_bits=1)
    x = torch.randn(5000, dtype=torch.float64)
    raw = q.to_raw(x)
    assert csd_digit_count(raw).max() <= digits
    grid = csd_grid(8, True, digits)
    y = x.numpy() * 2 ** q.fmt().frac_bits
    dist = np.abs(y[:, None] - grid[None, :]).min(1)
    assert np.allclose(np.abs(y - raw), dist)  # nearest grid value (distance equal to the minimum)
    if digits == 1:
        nz = np.abs(raw[raw != 0])
        assert np.all(nz & (nz - 1) == 0)  # powers of two


def test_learned_binary_point_gradient_direction():
    """Too few integer bits (clipping) -> gradient descent on the MSE raises I; too many (coarse
    rounding) -> lowers it. The gradient is non-zero in both cases."""
    torch.manual_seed(0)
    big = torch.randn(4096, dtype=torch.float64) * 20.0
    q = FixedQuantizer(6, 1, learn_int_bits=True)
    q.train()
    loss = ((q(big) - big) ** 2).mean()
    loss.backward()
    assert q.int_bits.grad.item() < 0  # descent increases I
    small = torch.randn(4096, dtype=torch.float64) * 0.01
    q2 = FixedQuantizer(6, 6, learn_int_bits=True)
    q2.train()
    ((q2(small) - small) ** 2).mean().backward()
    assert q2.int_bits.grad.item() > 0  # descent decreases I


def test_learned_binary_point_converges_on_toy_problem():
    torch.manual_seed(0)
    x = torch.randn(4096, dtype=torch.float64) * 3.0
    mse = {i: float(((FixedQuantizer(8, i)(x) - x) ** 2).mean()) for i in range(-2, 10)}
    best = min(mse, key=mse.get)  # brute-force oracle of the MSE-optimal binary point
    q = FixedQuantizer(8, -2, learn_int_bits=True)
    q.train()
    opt = torch.optim.Adam(q.parameters(), lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        ((q(x) - x) ** 2).mean().backward()
        opt.step()
    assert q.fmt().int_bits == best


def test_learned_width_penalty_shrinks_width():
    torch.manual_seed(0)
    x = torch.randn(1024, dtype=torch.float64)
    q = FixedQuantizer(12, 3, learn_width=True, min_width=2, max_width=16)
    q.train()
    opt = torch.optim.Adam(q.parameters(), lr=0.1)
    w0 = q.fmt().width
    for _ in range(100):
        opt.zero_grad()
        (((q(x) - x) ** 2).mean() + 0.01 * q.bit_cost()).backward()
        opt.step()
    assert q.fmt().width < w0


@pytest.mark.parametrize("int_bits", [-100, 90])
def test_extreme_binary_points_stay_exact_from_float32(int_bits):
    q = FixedQuantizer(8, int_bits)
    x = (torch.randn(1000, dtype=torch.float64) * 2.0 ** (int_bits - 2)).float()
    assert np.array_equal(q.to_raw(x), q.fmt().to_raw(x.double().numpy()))
    y = q(x)
    assert torch.isfinite(y).all() and (y != 0).any()
    assert np.array_equal(np.ldexp(y.double().numpy(), q.fmt().frac_bits), q.fmt().to_raw(x.double().numpy()))
