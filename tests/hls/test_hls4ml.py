"""hls4ml interop: the digits-style MLPs converted with hls4ml (same per-layer precisions from the IR),
compiled with hls4ml's own C++ emulation, agree with the interpreter on every layer, bit for bit."""

from __future__ import annotations

import shutil

import pytest
from hwq.hls import HLSEmitError
from hwq.sim.verify import random_inputs

from .graphs import mlp


def _need_hls4ml():
    pytest.importorskip("hls4ml", reason="hls4ml is not installed")
    pytest.importorskip("torch", reason="torch is not installed")
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: hls4ml's compile() needs it")


@pytest.mark.slow
@pytest.mark.parametrize("bits", [8, 4])
def test_hls4ml_matches_interpreter_layer_by_layer(tmp_path, bits):
    _need_hls4ml()
    from hwq.hls import to_hls4ml
    from hwq.hls.interop import compare_with_interpreter

    g = mlp(bits, seed=bits, name=f"digits_mlp{bits}")
    model = to_hls4ml(g, tmp_path / "hls4ml", trace=True, compile=False)  # trace() compiles once
    per_layer = compare_with_interpreter(g, model, random_inputs(g, 2000, seed=11))
    assert set(per_layer) == {"fc0 (dense)", "relu0 (relu)", "fc1 (dense)", "relu1 (relu)", "fc2 (dense)", "output"}
    assert per_layer == dict.fromkeys(per_layer, 0)


def test_hls4ml_config_carries_the_ir_precisions():
    _need_hls4ml()
    from hwq.hls.interop import hls4ml_config, torch_model

    g = mlp(8, seed=1)
    model, op_of = torch_model(g)
    cfg = hls4ml_config(g, model, op_of)
    fc0 = cfg["LayerName"]["fc0"]["Precision"]
    op = g.op("fc0")
    assert fc0["weight"] == "ap_fixed<8,1>"
    assert fc0["accum"] == f"ap_fixed<{op.acc_fmt.width},{op.acc_fmt.int_bits}>"
    assert fc0["result"] == "ap_fixed<12,7,AP_RND,AP_SAT>"
    assert cfg["LayerName"]["relu0"]["Precision"] == {"result": "ap_ufixed<8,4>"}
    assert cfg["LayerName"]["input_1"]["Precision"] == {"result": "ap_ufixed<8,4>"}
    w = model.fc0.weight.detach().numpy()
    assert (op.weight_fmt.to_raw(w) == op.weight).all()


def test_hls4ml_bridge_rejects_unsupported_ops_by_name():
    _need_hls4ml()
    from hwq.hls.interop import torch_model

    from hwq.ir.random_graph import random_graph

    g = random_graph(0, ops=["conv2d"])
    with pytest.raises(HLSEmitError, match=r"op 'conv2d_1' \(kind 'conv2d'\)"):
        torch_model(g)
