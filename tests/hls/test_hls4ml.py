"""hls4ml interop: the digits-style MLPs converted with hls4ml (same per-layer precisions from the IR),
compiled with hls4ml's own C++ emulation, agree with the interpreter on every layer, bit for bit."""

from __future__ import annotations

import pytest

from hwq.hls import HLSEmitError
from hwq.sim.verify import random_inputs

from ..tools import require_module, require_tool
from .graphs import mlp


def _need_hls4ml():
    require_module("hls4ml", "hls4ml interop")
    require_tool("g++", "hls4ml's compile()")


@pytest.mark.slow
@pytest.mark.parametrize("bits", [8])  # the 4-bit MLP is covered by the C-simulation tests; one hls4ml build here
def test_hls4ml_matches_interpreter_layer_by_layer(tmp_path, bits):
    _need_hls4ml()
    from hwq.hls import to_hls4ml
    from hwq.hls.interop import compare_with_interpreter

    g = mlp(bits, seed=bits, name=f"digits_mlp{bits}")
    model = to_hls4ml(g, tmp_path / "hls4ml", trace=True, compile=False)  # trace() compiles once
    per_layer = compare_with_interpreter(g, model, random_inputs(g, 2000, seed=11))
    assert set(per_layer) == {"fc0 (dense)", "relu0 (relu)", "fc1 (dense)", "relu1 (relu)", "fc2 (dense)", "output"}
    assert per_layer == dict.fromkeys(per_layer, 0)


def cnn_for_hls4ml(conv_acc: str, fc_acc: str, seed: int = 0):
    """conv3x3 (pad 1) -> relu -> maxpool 2 -> flatten -> dense, with the given accumulators."""
    import numpy as np

    from hwq.formats import parse
    from hwq.ir import Graph
    from hwq.ir.ops import Conv2d, Dense, Flatten, MaxPool, ReLU

    rng = np.random.default_rng(seed)
    g = Graph("cnn_h4", ["img"], ["logits"])
    wf, bf = parse("fixed<6,1>"), parse("fixed<12,4>")
    g.add_tensor("img", (2, 6, 6), parse("ufixed<6,1>"))
    g.add_tensor("c1", (4, 6, 6), parse("fixed<10,4,RND,SAT>"))
    g.add_tensor("r1", (4, 6, 6), parse("ufixed<8,3,RND_CONV,SAT>"))
    g.add_tensor("p1", (4, 3, 3), parse("ufixed<8,3,RND_CONV,SAT>"))
    g.add_tensor("f", (36,), parse("ufixed<8,3,RND_CONV,SAT>"))
    g.add_tensor("logits", (5,), parse("fixed<16,8>"))
    g.add_op(Conv2d("conv1", ["img"], "c1", weight=rng.integers(-32, 32, (4, 2, 3, 3)), bias=rng.integers(-99, 99, 4),
                    weight_fmt=wf, bias_fmt=bf, acc_fmt=parse(conv_acc), padding=(1, 1, 1, 1)))  # fmt: skip
    g.add_op(ReLU("relu1", ["c1"], "r1"))
    g.add_op(MaxPool("pool1", ["r1"], "p1", kernel=(2, 2), stride=(2, 2), padding=(0, 0, 0, 0)))
    g.add_op(Flatten("flat", ["p1"], "f"))
    g.add_op(Dense("fc", ["f"], "logits", weight=rng.integers(-32, 32, (5, 36)), bias=rng.integers(-99, 99, 5),
                   weight_fmt=wf, bias_fmt=bf, acc_fmt=parse(fc_acc)))  # fmt: skip
    g.validate()
    return g


@pytest.mark.slow
def test_hls4ml_cnn_matches_interpreter_with_wrapping_accumulators(tmp_path):
    """Conv2d, ReLU, MaxPool, Flatten, Dense: equal layer by layer (narrow WRAP accumulators, so every
    partial sum wraps, as in the IR)."""
    _need_hls4ml()
    from hwq.hls import to_hls4ml
    from hwq.hls.interop import compare_with_interpreter

    g = cnn_for_hls4ml("fixed<10,3,TRN,WRAP>", "fixed<12,4,TRN,WRAP>")
    model = to_hls4ml(g, tmp_path / "hls4ml", trace=True, compile=False)
    per_layer = compare_with_interpreter(g, model, random_inputs(g, 2000, seed=12))
    assert {"conv1 (conv2d)", "relu1 (relu)", "pool1 (maxpool)", "fc (dense)", "output"} <= set(per_layer)
    assert per_layer == dict.fromkeys(per_layer, 0)


@pytest.mark.slow
def test_hls4ml_accumulation_order_differs_when_accumulators_saturate(tmp_path):
    """The documented difference: hls4ml holds spatial tensors channels-last, so a Conv2D sums its products
    in (kh, kw, c) order and a Dense after Flatten in (h, w, c) feature order; the IR (and hwq's HLS C++)
    sum in (c, kh, kw) and C order, as PyTorch lays the tensors out. The sums agree unless a saturating
    accumulator clips a partial sum: here the conv accumulator does, and the trace shows the first
    difference at that layer."""
    _need_hls4ml()
    from hwq.hls import to_hls4ml
    from hwq.hls.interop import compare_with_interpreter

    g = cnn_for_hls4ml("fixed<10,3,TRN,SAT>", "fixed<12,4,TRN,WRAP>")
    model = to_hls4ml(g, tmp_path / "hls4ml", trace=True, compile=False)
    per_layer = compare_with_interpreter(g, model, random_inputs(g, 500, seed=13))
    assert per_layer["conv1 (conv2d)"] > 0


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

    g = random_graph(0, ops=["avgpool"])
    with pytest.raises(HLSEmitError, match=r"op 'avgpool_\d+' \(kind 'avgpool'\)"):
        torch_model(g)
