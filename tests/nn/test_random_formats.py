"""Property test: random formats (widths, binary points, rounding and overflow modes, signedness) for a
Dense + ReLU + Dense stack; the emulator equals the IR interpreter on random inputs."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES
from hwq.ir import run
from hwq.ir.lower import lower
from hwq.nn import FixedQuantizer, QInput, QLinear, QReLU, emulate_raw

fmt_st = st.tuples(
    st.integers(2, 14), st.integers(-4, 8), st.sampled_from(ROUNDING_MODES), st.sampled_from(OVERFLOW_MODES)
)


def _q(spec, signed=True):
    w, i, r, o = spec
    return FixedQuantizer(w, i, signed=signed, rounding=r, overflow=o)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    xin=fmt_st,
    w1=fmt_st,
    b1=fmt_st,
    h1=fmt_st,
    a1=fmt_st,
    w2=fmt_st,
    out=fmt_st,
    unsigned_in=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_formats_dense_relu_dense(xin, w1, b1, h1, a1, w2, out, unsigned_in, seed):
    torch.manual_seed(seed)
    m = nn.Sequential(
        QInput(_q(xin, signed=not unsigned_in)),
        QLinear(7, 5, _q(w1), _q(h1), _q(b1)),
        QReLU(_q(a1, signed=False)),
        QLinear(5, 3, _q(w2), _q(out), None),
    )
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0 ** (seed % 5 - 2))
    x = (torch.rand(64, 7, dtype=torch.float64) - 0.3) * 2.0 ** (xin[1] + 1)
    g = lower(m, x[:2].float())
    emu = emulate_raw(m, x)[0]
    ref = np.asarray(run(g, x.numpy()).outputs()[0])
    assert np.array_equal(emu, ref)
    x32 = x.float()  # the float32 training path chooses float64 where float32 could round: same integers
    assert np.array_equal(emulate_raw(m, x32)[0], np.asarray(run(g, x32.double().numpy()).outputs()[0]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    pad=st.integers(0, 2),
    dil=st.integers(1, 2),
    depthwise=st.booleans(),
    bn=st.booleans(),
    wf=fmt_st,
    of=fmt_st,
    seed=st.integers(0, 2**16),
)
def test_random_conv2d_geometry(k, stride, pad, dil, depthwise, bn, wf, of, seed):
    from hwq.nn import QConv2d

    torch.manual_seed(seed)
    cin = 3
    cout, groups = (6, 3) if depthwise else (4, 1)
    conv = QConv2d(
        cin,
        cout,
        k,
        _q(wf),
        _q(of),
        _q((12, 4, "RND_CONV", "SAT")),
        stride=stride,
        padding=pad,
        dilation=dil,
        groups=groups,
        bn=bn,
    )
    m = nn.Sequential(QInput(_q((8, 2, "RND_CONV", "SAT"))), conv)
    x = (torch.rand(16, cin, 7, 6, dtype=torch.float64) - 0.5) * 3
    if bn:
        m.train()
        m(x)  # batch statistics move the running stats
    g = lower(m, x[:2])
    assert np.array_equal(emulate_raw(m, x)[0], np.asarray(run(g, x.numpy()).outputs()[0]))
