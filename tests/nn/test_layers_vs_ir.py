"""Each hwq.nn layer against the IR op it lowers to: random inputs, integers compared bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hwq.ir import run
from hwq.ir.lower import LoweringError, lower
from hwq.nn import (
    CSDQuantizer,
    FixedQuantizer,
    MinifloatQuantizer,
    QAdd,
    QAvgPool2d,
    QBatchNorm,
    QConv1d,
    QConv2d,
    QFlatten,
    QInput,
    QLinear,
    QMaxPool1d,
    QMaxPool2d,
    QReLU,
    QReLU6,
    emulate_raw,
)


def fx(w, i=None, signed=True, rnd="RND_CONV", ovf="SAT"):
    return FixedQuantizer(w, i, signed=signed, rounding=rnd, overflow=ovf, learn_int_bits=i is None)


def _check(model: nn.Module, x: torch.Tensor, steps: int = 2) -> np.ndarray:
    """Run a few training steps (batch statistics, learned points), then compare emulator and IR."""
    torch.manual_seed(0)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        out.float().pow(2).mean().backward()
        opt.step()
    g = lower(model, x[:2])
    emu = emulate_raw(model, x)[0]
    ref = run(g, x.double().numpy()).outputs()[0]
    assert emu.shape == ref.shape
    assert np.array_equal(emu, np.asarray(ref)), f"{np.sum(emu != ref)} integers differ"
    return emu


@pytest.mark.parametrize(
    "rnd,ovf,wbits,abits",
    [("RND_CONV", "SAT", 8, 8), ("TRN", "WRAP", 4, 6), ("RND", "SAT_SYM", 3, 5), ("RND_INF", "SAT_ZERO", 6, 4)],
)
def test_linear_relu_vs_ir(rnd, ovf, wbits, abits):
    torch.manual_seed(1)
    m = nn.Sequential(
        QInput(fx(8, 1, signed=False)),
        QLinear(20, 16, fx(wbits), fx(abits + 2, rnd=rnd, ovf=ovf), fx(10)),
        QReLU(fx(abits, signed=False, rnd=rnd, ovf=ovf)),
        QLinear(16, 5, fx(wbits), fx(10, rnd=rnd, ovf=ovf), fx(10)),
    )
    x = torch.rand(300, 20)
    out = _check(m, x)
    assert len(np.unique(out)) > 10  # not a degenerate all-zero / saturated network


def test_linear_without_bias_and_negative_frac_bits():
    torch.manual_seed(2)
    m = nn.Sequential(QInput(fx(6, 8)), QLinear(12, 7, fx(5, 0), fx(6, 10), None))
    x = (torch.rand(200, 12) - 0.5) * 400
    _check(m, x)


@pytest.mark.parametrize(
    "kw",
    [
        dict(padding=1),
        dict(stride=2, padding=1, bn=True),
        dict(groups=4, padding=1, bn=True),  # depthwise
        dict(dilation=2, padding=2),
        dict(stride=(1, 2), padding=(0, 1)),
    ],
)
def test_conv2d_vs_ir(kw):
    torch.manual_seed(3)
    bn = kw.pop("bn", False)
    cin = 4
    cout = 4 if kw.get("groups") else 6
    m = nn.Sequential(
        QInput(fx(8, 1, signed=False)),
        QConv2d(cin, cout, 3, fx(6), fx(10), fx(12), bn=bn, **kw),
        QReLU(fx(6, signed=False)),
    )
    _check(m, torch.rand(64, cin, 9, 8))


def test_conv1d_vs_ir():
    torch.manual_seed(4)
    m = nn.Sequential(
        QInput(fx(8, 2)),
        QConv1d(3, 5, 3, fx(5), fx(9), fx(12), stride=2, padding=1, bn=True),
        QReLU(fx(5, signed=False)),
        QMaxPool1d(2),
        QFlatten(),
        QLinear(5 * 4, 4, fx(6), fx(10), fx(10)),
    )
    _check(m, (torch.rand(100, 3, 16) - 0.5) * 3)


def test_csd_and_minifloat_weights_vs_ir():
    torch.manual_seed(5)
    m = nn.Sequential(
        QInput(fx(8, 1, signed=False)),
        QLinear(16, 12, CSDQuantizer(8, 2), fx(10), fx(12)),
        QReLU(fx(6, signed=False)),
        QLinear(12, 4, MinifloatQuantizer(2, 1), fx(10), fx(12)),
    )
    _check(m, torch.rand(200, 16))


def test_relu6_lowers_to_clip():
    torch.manual_seed(6)
    m = nn.Sequential(QInput(fx(8, 4)), QLinear(8, 8, fx(6), fx(10, 6), fx(10)), QReLU6(fx(6, 3, signed=False)))
    out = _check(m, (torch.rand(200, 8) - 0.3) * 20)
    assert out.max() == 6 * 8  # clamped at 6.0 although the format reaches 7.875
    bad = nn.Sequential(QInput(fx(8, 4)), QLinear(8, 8, fx(6), fx(4, 8), fx(10)), QReLU6(fx(5, 3, signed=False)))
    bad(torch.rand(4, 8))
    with pytest.raises(LoweringError, match="ReLU6"):
        lower(bad, torch.rand(2, 8))


@pytest.mark.parametrize("pool", ["max", "avg2", "avg3"])
def test_pooling_vs_ir(pool):
    torch.manual_seed(9)
    if pool == "max":
        p = QMaxPool2d(2)
    else:
        p = QAvgPool2d(int(pool[-1]), fx(7, signed=False, rnd="RND"))
    m = nn.Sequential(
        QInput(fx(8, 1, signed=False)),
        QConv2d(2, 3, 3, fx(6), fx(10), fx(12), padding=1, bn=True),
        QReLU(fx(6, signed=False)),
        p,
        QFlatten(),
    )
    _check(m, torch.rand(64, 2, 6, 6))


def test_standalone_batchnorm_vs_ir():
    torch.manual_seed(10)
    m = nn.Sequential(
        QInput(fx(8, 2)),
        QLinear(6, 5, fx(6), fx(10), fx(12)),
        QBatchNorm(5, fx(8), fx(8), fx(9, rnd="RND_ZERO")),
        QReLU(fx(6, signed=False)),
    )
    _check(m, (torch.rand(200, 6) - 0.5) * 3, steps=3)


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = QInput(fx(8, 2))
        self.fc1 = QLinear(10, 10, fx(6), fx(8), fx(10))
        self.relu = QReLU(fx(6, signed=False))
        self.add = QAdd(fx(7, rnd="RND", ovf="SAT"))
        self.fc2 = QLinear(10, 3, fx(6), fx(10), fx(10))

    def forward(self, x):
        x = self.inp(x)
        return self.fc2(self.add(self.relu(self.fc1(x)), x))


def test_residual_add_vs_ir():
    torch.manual_seed(7)
    _check(_Residual(), (torch.rand(300, 10) - 0.5) * 4)


def test_float32_and_float64_forward_agree_exactly_in_training():
    """The layers pick float32 only when every partial sum fits its mantissa: same values either way."""
    torch.manual_seed(8)
    m = nn.Sequential(
        QInput(fx(8, 1, signed=False)),
        QConv2d(1, 4, 3, fx(8), fx(12), fx(16), padding=1, bn=True),
        QReLU(fx(8, signed=False)),
        QFlatten(),
        QLinear(4 * 36, 10, fx(8), fx(16), fx(16)),
    )
    x = torch.rand(50, 1, 6, 6)
    m.train()
    m(x)
    m.eval()
    a = m(x.float())
    b = m(x.double())
    assert torch.equal(a.double(), b.double())


class _Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = QInput(fx(8, 2))
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sigmoid(self.fc(self.inp(x)))


def test_unsupported_module_is_named():
    m = _Unsupported()
    with pytest.raises(LoweringError, match=r"module 'fc' \(Linear\).*quantize_model"):
        lower(m, torch.rand(2, 4))


def test_unsupported_function_is_named():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = QInput(fx(8, 2))

        def forward(self, x):
            return torch.sigmoid(self.inp(x))

    with pytest.raises(LoweringError, match="sigmoid"):
        lower(M(), torch.rand(2, 4))


def test_lower_plain_torch_model_with_config():
    """A plain float nn.Sequential plus a format config lowers directly (converted, min/max calibrated)."""
    from collections import OrderedDict

    torch.manual_seed(11)
    float_model = nn.Sequential(OrderedDict(fc1=nn.Linear(8, 6), relu1=nn.ReLU(), fc2=nn.Linear(6, 3)))
    cfg = {"input": "fixed<8,3,RND_CONV,SAT>", "weight": {"kind": "fixed", "width": 6, "int_bits": "calibrate"}}
    x = torch.randn(100, 8)
    g = lower(float_model, x, config=cfg)
    assert [o.kind for o in g.ops] == ["dense", "relu", "dense"]
    assert str(g.tensor(g.inputs[0]).fmt) == "fixed<8,3,RND_CONV,SAT>"
    assert str(g.ops[0].weight_fmt).startswith("fixed<6,")


@pytest.mark.parametrize("how", ["torch.flatten", "view", "bare_add"])
def test_functional_flatten_and_bare_add(how):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = QInput(fx(8, 1, signed=False))
            self.conv = QConv2d(1, 2, 3, fx(6), fx(10), fx(12), padding=1)
            self.fc = QLinear(2 * 16, 3, fx(6), fx(10), fx(12))

        def forward(self, x):
            x = self.conv(self.inp(x))
            if how == "torch.flatten":
                x = torch.flatten(x, 1)
            elif how == "view":
                x = x.view(x.size(0), -1)
            else:
                x = torch.flatten(x + x, 1)
            return self.fc(x)

    torch.manual_seed(12)
    x = torch.rand(50, 1, 4, 4)
    m = M()
    m(x)
    if how == "bare_add":
        with pytest.raises(LoweringError, match="QAdd"):
            lower(m, x[:2])
        return
    _check(m, x)
