"""Pooling geometry at realistic sizes against torch (an independent implementation): max pooling with
padding (padded positions never win) and average pooling with count_include_pad, exact in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # noqa: E402  (a core dependency)

from hwq.formats import FixedFormat as F
from hwq.ir import AvgPool, GlobalAvgPool, Graph, MaxPool, run
from hwq.ir.ops import reciprocal as reciprocal_of


def _geometry(rng, nd):
    k = tuple(int(v) for v in rng.integers(1, 5, nd))
    s = tuple(int(v) for v in rng.integers(1, 4, nd))
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)  # torch: padding <= kernel / 2
    size = tuple(int(v) for v in rng.integers(max(k), 14, nd))
    return k, s, p, size


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize("nd", [1, 2])
def test_maxpool_matches_torch(seed, nd):
    rng = np.random.default_rng(seed)
    k, s, p, size = _geometry(rng, nd)
    x = rng.integers(-128, 128, size=(4, 3, *size))
    fn = torch.nn.functional.max_pool2d if nd == 2 else torch.nn.functional.max_pool1d
    want = fn(torch.from_numpy(x.astype(np.float64)), k, s, p).numpy().astype(np.int64)
    g = Graph("m", ["x"], ["y"])
    g.add_tensor("x", (3, *size), F(8, 8))
    g.add_tensor("y", want.shape[1:], F(8, 8))
    g.add_op(MaxPool("mp", ["x"], "y", k, s, tuple(v for pp in p for v in (pp, pp))))
    assert np.array_equal(run(g, x).outputs()[0], want)


@pytest.mark.parametrize("seed", range(15))
def test_avgpool_power_of_two_windows_match_torch(seed):
    rng = np.random.default_rng(seed)
    k = tuple(int(v) for v in rng.choice([1, 2, 4], 2))
    s = tuple(int(v) for v in rng.integers(1, 4, 2))
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    size = tuple(int(v) for v in rng.integers(max(k), 14, 2))
    x = rng.integers(-128, 128, size=(4, 3, *size))
    want = torch.nn.functional.avg_pool2d(torch.from_numpy(x.astype(np.float64)), k, s, p, count_include_pad=True)
    n = k[0] * k[1]
    recip, rf = reciprocal_of(n)
    # output with log2(n) more fractional bits than the input: the mean is exact, no rounding
    g = Graph("a", ["x"], ["y"])
    g.add_tensor("x", (3, *size), F(8, 8))
    g.add_tensor("y", tuple(want.shape[1:]), F(8 + rf, 8))
    g.add_op(AvgPool("ap", ["x"], "y", k, s, (p[0], p[0], p[1], p[1]), F(16, 16), recip, rf))
    got = run(g, x).outputs()[0]
    assert np.array_equal(got, (want.numpy() * n).astype(np.int64))


def test_global_avgpool_matches_torch_mean():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(6, 5, 4, 8))  # 32 positions: a shift by 5
    g = Graph("ga", ["x"], ["y"])
    g.add_tensor("x", (5, 4, 8), F(8, 8))
    g.add_tensor("y", (5,), F(13, 8))
    g.add_op(GlobalAvgPool("gap", ["x"], "y", F(16, 16), *reciprocal_of(32)))
    want = torch.from_numpy(x.astype(np.float64)).mean(dim=(2, 3)).numpy() * 32
    assert np.array_equal(run(g, x).outputs()[0], want.astype(np.int64))
