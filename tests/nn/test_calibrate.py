"""PTQ calibrators and bias correction on a small float model (no training needed)."""

from __future__ import annotations

import copy
from collections import OrderedDict

import pytest
import torch
from torch import nn

from hwq.nn import FixedQuantizer, quantizers_of
from hwq.nn.calibrate import bias_correction, calibrate
from hwq.nn.convert import quantize_model

Q4 = {
    "input": {"kind": "fixed", "width": 8, "int_bits": "calibrate"},
    "weight": {"kind": "fixed", "width": 4, "int_bits": "calibrate"},
    "bias": {"kind": "fixed", "width": 12, "int_bits": "calibrate"},
    "preact": {"kind": "fixed", "width": 6, "int_bits": "calibrate"},
    "act": {"kind": "fixed", "width": 4, "int_bits": "calibrate", "signed": False},
    "output": {"kind": "fixed", "width": 8, "int_bits": "calibrate"},
}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    fm = nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(16, 32), relu1=nn.ReLU(), fc2=nn.Linear(32, 16), relu2=nn.ReLU(), fc3=nn.Linear(16, 4)
        )
    )
    x = torch.randn(512, 16)
    x[0, 0] = 7.0  # one outlier: min/max wastes range on it
    return fm, x


def _out_mse(qm, fm, x) -> float:
    with torch.no_grad():
        return float(((qm(x).double() - fm(x).double()) ** 2).mean())


def test_output_calibrator_never_worse_than_minmax(setup):
    fm, x = setup
    mm = quantize_model(fm, Q4, x)
    calibrate(mm, x, "minmax")
    out = quantize_model(fm, Q4, x)
    calibrate(out, x, "output", reference=fm)
    assert _out_mse(out, fm, x) <= _out_mse(mm, fm, x)
    assert _out_mse(out, fm, x) < 0.9 * _out_mse(mm, fm, x)  # and here it is clearly better


def test_mse_calibrator_minimises_each_tensor_error(setup):
    fm, x = setup
    qm = quantize_model(fm, Q4, x)
    calibrate(qm, x, "mse")
    w = qm.fc1.weight.detach().double()
    q: FixedQuantizer = qm.fc1.weight_q
    chosen = q.point()
    errs = {}
    for p in range(chosen - 3, chosen + 4):
        q.set_point(p)
        errs[p] = float(((q(w) - w) ** 2).mean())
    assert errs[chosen] == min(errs.values())


def test_percentile_calibrator_clips_the_outlier(setup):
    fm, x = setup
    mm = quantize_model(fm, Q4, x)
    calibrate(mm, x, "minmax")
    pc = quantize_model(fm, Q4, x)
    calibrate(pc, x, "percentile", percentile=99.0)
    assert pc.input.q.fmt().int_bits < mm.input.q.fmt().int_bits


def test_bias_correction_removes_mean_output_shift(setup):
    fm, x = setup
    qm = quantize_model(
        fm,
        {
            **Q4,
            "preact": "fixed<16,6,RND_CONV,SAT>",
            "output": "fixed<16,6,RND_CONV,SAT>",
            "act": "ufixed<16,6,RND_CONV,SAT>",
        },
        x,
    )
    calibrate(qm, x, "minmax")
    before = copy.deepcopy(qm)
    assert bias_correction(qm, x) == 3
    with torch.no_grad():
        ref = fm(x).double().mean(0)
        shift_before = (before(x).double().mean(0) - ref).abs().mean()
        shift_after = (qm(x).double().mean(0) - ref).abs().mean()
    assert shift_after < shift_before


def test_unknown_calibrator_is_named(setup):
    fm, x = setup
    qm = quantize_model(fm, Q4, x)
    with pytest.raises(ValueError, match="ptq.calibrator"):
        calibrate(qm, x, "magic")
    assert len(quantizers_of(qm)) == 1 + 3 * 3 + 2


def test_gptq_beats_round_to_nearest_and_stays_exact(setup):
    import numpy as np

    from hwq.ir import run
    from hwq.ir.lower import lower
    from hwq.nn import emulate_raw
    from hwq.nn.calibrate import gptq

    fm, x = setup
    cfg = {**Q4, "weight": {"kind": "fixed", "width": 3, "int_bits": "calibrate"}}
    cfg.update(preact="fixed<16,6,RND_CONV,SAT>", output="fixed<16,6,RND_CONV,SAT>", act="ufixed<16,6,RND_CONV,SAT>")
    rtn = quantize_model(fm, cfg, x)
    calibrate(rtn, x, "minmax")
    g = copy.deepcopy(rtn)
    fmts = {n: str(q.fmt()) for n, q in quantizers_of(g).items() if n.endswith("weight_q")}
    assert gptq(g, x) == 3
    assert {n: str(q.fmt()) for n, q in quantizers_of(g).items() if n.endswith("weight_q")} == fmts
    assert _out_mse(g, fm, x) < 0.8 * _out_mse(rtn, fm, x)
    graph = lower(g, x[:2])
    assert np.array_equal(emulate_raw(g, x)[0], run(graph, x.double().numpy()).outputs()[0])


def test_fixed_formats_are_not_recalibrated(setup):
    fm, x = setup
    qm = quantize_model(fm, {**Q4, "input": "fixed<8,1,RND_CONV,SAT>", "weight": "fixed<4,-3,RND_CONV,SAT>"}, x)
    for method in ("minmax", "mse", "percentile"):
        calibrate(qm, x, method)
        assert str(qm.input.q.fmt()) == "fixed<8,1,RND_CONV,SAT>"
        assert str(qm.fc2.weight_q.fmt()) == "fixed<4,-3,RND_CONV,SAT>"
