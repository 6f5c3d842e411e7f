"""Convolution geometry at realistic sizes against an independent implementation: torch's conv on
float64 holding small integers (exact), with lossless accumulators and outputs (no rounding at all)."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # noqa: E402  (a core dependency)

from hwq.formats import FixedFormat as F
from hwq.ir import Conv1d, Conv2d, Graph, run
from hwq.ir.passes import infer_accumulators


def _geometry(rng, nd: int):
    groups = int(rng.choice([1, 2, 4]))
    cin = groups * int(rng.integers(1, 4))
    cout = groups * int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 6, nd))
    stride = tuple(int(v) for v in rng.integers(1, 4, nd))
    dil = tuple(int(v) for v in rng.integers(1, 3, nd))
    pad = tuple(int(v) for v in rng.integers(0, 3, nd))
    size = tuple(int(v) for v in rng.integers(max(k) * max(dil), 17, nd))
    return groups, cin, cout, k, stride, dil, pad, size


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("nd", [1, 2])
def test_conv_matches_torch(seed, nd):
    rng = np.random.default_rng(seed)
    groups, cin, cout, k, stride, dil, pad, size = _geometry(rng, nd)
    xf, wf, bf = F(8, 8), F(6, 6), F(10, 10)
    w = rng.integers(-32, 32, size=(cout, cin // groups, *k))
    b = rng.integers(-512, 512, size=(cout,))
    x = rng.integers(-128, 128, size=(5, cin, *size))
    tx = torch.from_numpy(x.astype(np.float64))
    tw = torch.from_numpy(w.astype(np.float64))
    tb = torch.from_numpy(b.astype(np.float64))
    conv = torch.nn.functional.conv2d if nd == 2 else torch.nn.functional.conv1d
    want = conv(tx, tw, tb, stride=stride, padding=pad, dilation=dil, groups=groups).numpy()
    g = Graph("c", ["x"], ["y"])
    g.add_tensor("x", (cin, *size), xf)
    g.add_tensor("y", want.shape[1:], F(40, 40))
    if nd == 2:
        op = Conv2d("c", ["x"], "y", w, b, wf, bf, F(40, 40), stride, (pad[0], pad[0], pad[1], pad[1]), dil, groups)
    else:
        op = Conv1d("c", ["x"], "y", w, b, wf, bf, F(40, 40), stride[0], (pad[0], pad[0]), dil[0], groups)
    g.add_op(op)
    g = infer_accumulators(g)  # narrowest lossless accumulator: must still give the exact sums
    got = run(g, x).outputs()[0]
    assert got.dtype == np.int64
    assert np.array_equal(got, want.astype(np.int64))
