"""torch quantisers equal the numpy path bit for bit, for every format kind, mode and float dtype."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, FloatFormat, parse
from hwq.formats.torch_quant import CHUNK, quantize_tensor, quantize_tensor_raw, ste_quantize


def _inputs(fmt, n: int = 20000, seed: int = 0) -> np.ndarray:
    """Values stressing fmt: on-grid ties, random, near and far beyond max, tiny, +-inf, signed zeros."""
    rng = np.random.default_rng(seed)
    step, top = fmt.step, max(abs(fmt.min), abs(fmt.max))
    span = min(int(top / step) * 2 + 4, 2**50)
    k = rng.integers(-span, span, size=n)
    ties = (k + 0.5) * step
    quarters = (k + rng.integers(0, 4, size=n) / 4) * step
    rand = rng.standard_normal(n) * top
    special = np.array([np.inf, -np.inf, 1e30, -1e30, 1e-40, -1e-40, 0.0, -0.0, top * 1.5, -top * 1.5, 0.5 - 2**-25])
    return np.concatenate([ties, quarters, rand, special])


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


FIXED = [FixedFormat(8, 3, True, q, o) for q, o in itertools.product(ROUNDING_MODES, OVERFLOW_MODES)]
FIXED += [parse(t) for t in ("ufixed<6,2,RND,SAT>", "fixed<12,-2,RND_CONV,SAT_SYM>", "fixed<5,9,RND_INF,SAT>")]
FIXED += [parse(t) for t in ("fixed<40,8,RND,SAT>", "fixed<1,1,RND,SAT_SYM>", "fixed<16,6,RND_ZERO,SAT>")]


@pytest.mark.parametrize("fmt", FIXED, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_fixed_equals_numpy(fmt, dtype):
    x = torch.from_numpy(_inputs(fmt)).to(dtype)
    got = quantize_tensor(x, fmt)
    want = fmt.quantize(x.to(torch.float64).numpy())
    assert _same(got.to(torch.float64).numpy(), want), f"{fmt} {dtype}"
    exact_dtype = fmt.width + 1 <= {torch.float32: 23, torch.float64: 52, torch.float16: 10, torch.bfloat16: 7}[dtype]
    if exact_dtype and fmt.frac_bits >= 0:
        assert got.dtype == dtype
    raw = quantize_tensor_raw(x, fmt)
    assert np.array_equal(raw.numpy(), fmt.to_raw(x.to(torch.float64).numpy()))


@pytest.mark.parametrize("text", ["csd<8,3,3>", "csd<8,3,1>", "ucsd<10,4,2>", "csd<12,-2,2>", "csd<20,4,2>"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_csd_equals_numpy(text, dtype):
    fmt = parse(text)
    x = torch.from_numpy(_inputs(fmt.base, n=3000)).to(dtype)
    x = torch.cat([x, torch.tensor([6.1, 5.9, 6.0, -6.0, 12.0]).to(dtype) * fmt.step])
    got = quantize_tensor(x, fmt)
    assert _same(got.to(torch.float64).numpy(), fmt.quantize(x.to(torch.float64).numpy())), text
    out = torch.empty_like(x)
    assert torch.equal(quantize_tensor(x, fmt, out=out), got)


MINI = ["e4m3", "e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e4m3b11fnuz", "e2m1fn", "e3m2fn", "e2m3fn", "e3m4"]
MINI += ["float<4,3,nosub>", "float<4,3,fn,satfinite>", "float<5,2,fnuz,nosub>", "float<6,9>", "float<4,3,SR>"]


@pytest.mark.parametrize("text", MINI)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_minifloat_equals_numpy(text, dtype):
    fmt = parse(text)
    xs = _inputs(fmt, n=5000)
    xs = np.concatenate([xs, xs * fmt.smallest_subnormal / fmt.step])
    if fmt.policy == "finite":
        xs = xs[~np.isnan(xs)]
    x = torch.from_numpy(xs).to(dtype)
    got = quantize_tensor(x, fmt, seed=3)
    want = fmt.quantize(x.to(torch.float64).numpy(), seed=3)
    assert _same(got.to(torch.float64).numpy(), want), text


def test_out_buffer_and_in_place():
    fmt = parse("fixed<8,3,RND,SAT>")
    x = torch.randn(1000) * 3
    want = quantize_tensor(x, fmt)
    out = torch.empty_like(x)
    res = quantize_tensor(x, fmt, out=out)
    assert res.data_ptr() == out.data_ptr() and torch.equal(out, want)
    y = x.clone()
    quantize_tensor(y, fmt, out=y)
    assert torch.equal(y, want)
    f8 = parse("e4m3")
    out8 = torch.empty_like(x)
    assert quantize_tensor(x, f8, out=out8).data_ptr() == out8.data_ptr()
    assert torch.equal(out8, torch.from_numpy(f8.quantize(x.double().numpy())).float())
    xt = (torch.randn(64, 32) * 3).t()  # non-contiguous input and output
    for f in (fmt, f8, parse("csd<8,3,2>")):
        o = torch.empty(64, 32).t()
        assert torch.equal(quantize_tensor(xt, f, out=o), quantize_tensor(xt.contiguous(), f))
        assert torch.equal(o, quantize_tensor(xt.contiguous(), f))
    with pytest.raises(ValueError, match="out must have"):
        quantize_tensor(x, fmt, out=torch.empty(3))


@pytest.mark.parametrize("text", ["fixed<8,3,RND,SAT>", "e4m3fn", "csd<8,3,2>"])
def test_several_chunks(text):
    """Tensors longer than one chunk (the fast paths work chunk by chunk): equal to numpy, NaN found late."""
    fmt = parse(text)
    n = int(2.5 * CHUNK)
    x = torch.randn(n, generator=torch.Generator().manual_seed(1)) * 4
    got = quantize_tensor(x, fmt)
    assert _same(got.double().numpy(), fmt.quantize(x.double().numpy()))
    if not isinstance(fmt, FloatFormat):
        x[n - 3] = float("nan")
        with pytest.raises(ValueError, match="NaN"):
            quantize_tensor(x, fmt)


def test_nan_options():
    fmt = parse("fixed<8,3,RND,SAT>")
    x = torch.tensor([1.0, float("nan"), 2.0])
    with pytest.raises(ValueError, match="NaN"):
        quantize_tensor(x, fmt)
    assert quantize_tensor(x, fmt, nan="zero").tolist() == [1.0, 0.0, 2.0]
    assert torch.isnan(quantize_tensor(x, fmt, nan="propagate"))[1]
    assert torch.isnan(quantize_tensor(x, "e4m3fn"))[1]
    with pytest.raises(ValueError, match="no NaN"):
        quantize_tensor(x, "e2m1fn")


def test_ste_forward_is_exact_and_gradient_is_straight_through():
    fmt = parse("fixed<6,2,RND_CONV,SAT>")
    x = (torch.randn(500, dtype=torch.float32) * 3).requires_grad_()
    q = ste_quantize(x, fmt)
    assert torch.equal(q.detach(), quantize_tensor(x.detach(), fmt))
    q.sum().backward()
    inside = (x.detach() >= fmt.min) & (x.detach() <= fmt.max)
    assert torch.equal(x.grad, inside.float())
    x.grad = None
    ste_quantize(x, fmt, clip_grad=False).mul(2).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 2.0))
    y = torch.randn(100, requires_grad=True)
    (ste_quantize(y, "e4m3") * y).sum().backward()  # minifloat STE composes with autograd
    assert y.grad is not None
