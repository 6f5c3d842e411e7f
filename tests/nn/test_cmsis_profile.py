"""The CMSIS-NN quantisation profile (hwq.nn.cmsis): emulator == IR bit for bit on the digits test split,
real-valued per-channel scales, zero points after ReLU, both rounding builds, int4 weights, int16
activations, depthwise-separable and residual CNNs, PTQ calibrators, QAT, config errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hwq.data import load_digits_split
from hwq.ir import run
from hwq.ir.serialize import dumps, loads
from hwq.nn import emulate_raw
from hwq.nn.cmsis import CmsisError, calibrate, cmsis_from_float
from hwq.train import resolve_config
from hwq.train.config import ConfigError
from hwq.train.loop import accuracy, fit, train_from_config
from hwq.train.models import digits_cnn, digits_dscnn, digits_mlp, digits_rescnn

BUILDERS = {"mlp": digits_mlp, "cnn": digits_cnn, "dscnn": digits_dscnn, "rescnn": digits_rescnn}


@pytest.fixture(scope="module")
def trained():
    """Float models trained for a few epochs (enough for meaningful ranges), with their data splits."""
    out = {}
    for arch, build in BUILDERS.items():
        torch.manual_seed(0)
        data = load_digits_split(image=arch != "mlp")
        m = build()
        fit(m, data.x_train, data.y_train, epochs=4, batch_size=64, lr=0.01, seed=0)
        out[arch] = (m.eval(), data)
    return out


def _quantised(trained, arch, calibrator="minmax", **opts):
    fm, data = trained[arch]
    qm = cmsis_from_float(fm, {"profile": "cmsis-nn", **opts})
    calibrate(qm, torch.from_numpy(data.x_train[:256]), calibrator)
    return qm.eval(), data


def _exact(qm, data):
    g = qm.lower_to_ir(torch.from_numpy(data.x_test[:4]), "m")
    emu = emulate_raw(qm, data.x_test)[0]
    ref = run(g, data.x_test.astype(np.float64)).raw[g.outputs[0]]
    assert emu.shape == ref.shape
    bad = int((emu != ref).any(axis=1).sum())
    assert bad == 0, f"{bad} of {len(emu)} test vectors differ between emulator and IR"
    return g


@pytest.mark.parametrize("single", [False, True])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_int8_emulator_equals_ir_on_the_test_split(trained, arch, single):
    qm, data = _quantised(trained, arch, "mse", single_rounding=single)
    g = _exact(qm, data)
    rq = [op for op in g.ops if op.kind == "requantize"]
    assert rq and all(op.mode == "dyadic" and op.single_rounding is single for op in rq)
    assert g.meta["cmsis_nn"]["single_rounding"] is single
    assert accuracy(qm, data.x_test, data.y_test) > 80


def test_rounding_build_changes_some_results(trained):
    """The flag is really used: the other build gives different raws somewhere in the network."""
    qm, data = _quantised(trained, "cnn")
    g = qm.lower_to_ir(torch.from_numpy(data.x_test[:4]), "m")
    x = data.x_test.astype(np.float64)
    a = run(g, x, trace=True).raw
    for op in g.ops:
        if op.kind == "requantize":
            op.single_rounding = True
    b = run(g, x, trace=True).raw
    assert sum(int((a[k] != b[k]).sum()) for k in a) > 0


def test_per_channel_scales_are_real_valued_and_zero_points_nonzero_after_relu(trained):
    qm, data = _quantised(trained, "mlp")
    g = qm.lower_to_ir(torch.from_numpy(data.x_test[:4]), "m")
    dense = [op for op in g.ops if op.kind == "dense"]
    for op in dense:
        s = op.weight_fmt.scale
        assert op.weight_fmt.axis == 0 and op.weight_fmt.narrow and len(s) == op.weight.shape[0]
        assert len(set(s)) > 1
        assert not all(math.frexp(v)[0] == 0.5 for v in s)  # not (only) powers of two
        assert str(op.bias_fmt) == "int<32>" and op.acc_fmt.width == 32
    # hidden activations follow a ReLU: their range starts at 0, so the zero point is -128, not 0
    hidden = [g.tensor(op.output).fmt for op in g.ops if op.kind == "requantize"][:-1]
    assert hidden and all(f.zero_point[0] == -128 for f in hidden)
    relu_rq = [op for op in g.ops if op.kind == "requantize"][:-1]
    assert all(op.act_min == -128 and op.out_offset == -128 for op in relu_rq)
    assert [op.input_offset for op in dense][1:] == [128, 128]
    xin = g.tensor("input").fmt
    assert (xin.width, xin.zero_point[0]) == (8, -128) and dense[0].input_offset == 128


def test_int4_weights(trained):
    qm, data = _quantised(trained, "cnn", "mse", weights="int4")
    g = _exact(qm, data)
    for op in g.ops:
        if op.kind in ("conv2d", "dense"):
            assert op.weight_fmt.width == 4 and int(np.abs(op.weight).max()) <= 7
    assert accuracy(qm, data.x_test, data.y_test) > 60


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_int16_activations(trained, arch):
    qm, data = _quantised(trained, arch, activations="int16")
    g = _exact(qm, data)
    rq = [op for op in g.ops if op.kind == "requantize"]
    assert all(op.mode == "dyadic_s64" and op.out_offset == 0 for op in rq)
    assert all(g.tensor(op.output).fmt.width == 16 and g.tensor(op.output).fmt.zero_point == (0,) for op in rq)
    assert all(op.input_offset == 0 for op in g.ops if op.kind in ("dense", "conv2d"))


@pytest.mark.parametrize("acts", ["int8", "int16"])
def test_depthwise_separable_and_residual_cnns_lower_exactly(trained, acts):
    qm, data = _quantised(trained, "dscnn", activations=acts)
    g = _exact(qm, data)
    dw = [op for op in g.ops if op.kind == "conv2d" and op.groups > 1]
    assert dw and all(op.groups == op.weight.shape[0] and op.weight.shape[1] == 1 for op in dw)
    qm, data = _quantised(trained, "rescnn", single_rounding=True, activations=acts)
    g = _exact(qm, data)
    kinds = [op.kind for op in g.ops]
    assert "add_dyadic" in kinds and "maxpool" in kinds
    assert any(op.kind == "avgpool" and op.mode == "cmsis" for op in g.ops)
    add = next(op for op in g.ops if op.kind == "add_dyadic")
    assert add.left_shift == (20 if acts == "int8" else 15) and add.single_rounding


def test_graph_round_trips_through_json(trained):
    qm, data = _quantised(trained, "rescnn")
    g = qm.lower_to_ir(torch.from_numpy(data.x_test[:4]), "m")
    g2 = loads(dumps(g))
    x = data.x_test[:50].astype(np.float64)
    assert np.array_equal(run(g, x).raw[g.outputs[0]], run(g2, x).raw[g2.outputs[0]])
    assert dumps(g2) == dumps(g)


@pytest.mark.parametrize("calibrator", ["minmax", "percentile", "mse"])
def test_calibrators_give_working_models(trained, calibrator):
    qm, data = _quantised(trained, "mlp", calibrator)
    assert accuracy(qm, data.x_test, data.y_test) > 80


def test_calibrators_differ(trained):
    # with int4 weights the MSE-best clipping is below the maximum (at 8 bits it is often exactly 1.0)
    fmts = set()
    for c in ("minmax", "percentile", "mse"):
        qm, _ = _quantised(trained, "mlp", c, weights="int4")
        fmts.add(tuple(str(n.act.fmt()) for n in qm.nodes) + tuple(str(n.wq.fmt()) for n in qm.nodes))
    assert len(fmts) == 3


def test_qat_learns_scales_and_stays_exact(trained):
    qm, data = _quantised(trained, "mlp")
    before = qm.nodes[0].act.scale_value(), qm.nodes[0].wq.scales()
    fit(qm, data.x_train, data.y_train, epochs=2, batch_size=64, lr=0.002, seed=1)
    qm.eval()
    after = qm.nodes[0].act.scale_value(), qm.nodes[0].wq.scales()
    assert after[0] != before[0] and after[1] != before[1]
    _exact(qm, data)


def test_train_from_config_ptq_and_qat(tmp_path):
    base = {"model": {"arch": "mlp", "hidden": [32]}, "train": {"epochs": 3, "qat_epochs": 2}}
    quant = {"profile": "cmsis-nn", "weights": "int4", "single_rounding": True}
    for mode in ("ptq", "qat"):
        s = train_from_config({**base, "mode": mode, "quant": quant}, tmp_path / mode, progress=False)
        assert s["emulator_vs_ir"] == {"vectors": 360, "mismatches": 0}
        assert s["formats"]["fc1.weight"].startswith("int<4,axis=0,scale=[")
        g = loads((tmp_path / mode / "graph.json").read_text())
        assert g.meta["cmsis_nn"] == {"profile": "cmsis-nn", "single_rounding": True, "weights": "int4",
                                      "activations": "int8"}  # fmt: skip


@pytest.mark.parametrize(
    "quant, ptq, match",
    [
        ({"weights": "int2"}, {}, r"quant.weights: expected one of int8, int4"),
        ({"activations": "fp8"}, {}, r"quant.activations"),
        ({"weight": "fixed<8,1>"}, {}, r"quant.weight: unknown key for profile 'cmsis-nn'"),
        ({"single_rounding": "yes"}, {}, r"quant.single_rounding: must be true or false"),
        ({}, {"calibrator": "output"}, r"ptq.calibrator: 'output' is not available in the cmsis-nn profile"),
        ({"profile": "tflite"}, {}, r"quant.profile: unknown profile 'tflite'"),
    ],
)
def test_config_errors_name_the_key(quant, ptq, match):
    cfg = {"mode": "ptq", "quant": {"profile": "cmsis-nn", **quant}, "ptq": ptq}
    with pytest.raises(ConfigError, match=match):
        resolve_config(cfg)


def test_unsupported_module_is_refused_naming_it():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh())
    with pytest.raises(CmsisError, match=r"module '1' \(Tanh\): not supported by the cmsis-nn profile"):
        cmsis_from_float(model, {"profile": "cmsis-nn"})


@pytest.mark.parametrize(("arch", "opts"), [("rescnn", {}), ("mlp", {"activations": "int16", "single_rounding": True})])
def test_emulator_equals_ir_on_2000_random_digit_images(trained, arch, opts):
    qm, data = _quantised(trained, arch, **opts)
    rng = np.random.default_rng(7)
    x = (rng.integers(0, 17, size=(2000, *data.x_test.shape[1:])) / 16).astype(np.float32)
    g = qm.lower_to_ir(torch.from_numpy(x[:4]), "m")
    emu = emulate_raw(qm, x)[0]
    ref = run(g, x.astype(np.float64)).raw[g.outputs[0]]
    assert np.array_equal(emu, ref)
