"""Bit-exact Icarus co-simulation of BatchNorm, Add, Mul, Concat, LUT, dyadic Requantize, non-power-of-two
average pooling and saturating accumulators against ``hwq.ir.run`` (random gaps on s_axis_tvalid and
back-pressure on m_axis_tready), plus random graphs made of every supported op, lint, yosys and refusals.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hwq.formats import parse
from hwq.ir import run
from hwq.ir.random_graph import OPT_IN_KINDS, random_graph
from hwq.rtl import REGISTRY, RtlError, emit, lint, synth_report
from hwq.rtl.build import build_op
from hwq.rtl.datapath import Datapath, Value
from hwq.sim.verify import random_inputs, verify

from .conftest import cosim, need_icarus, need_verilator, need_yosys
from .graphs import conv1d_chain
from .graphs_ops import (
    avgpool_graph,
    batchnorm_graph,
    concat_2d,
    concat_branches,
    count_saturations,
    dyadic_graph,
    global_avgpool_graph,
    lut_graph,
    mul_branches,
    residual_block,
    sat_dense,
)

_cosim = cosim  # Icarus co-simulation with 0 mismatches (conftest)


def _distinct_outputs(graph, vectors: int, seed: int) -> int:
    """Distinct output integers the interpreter gives on the co-simulated inputs (a non-trivial test)."""
    return len(np.unique(run(graph, random_inputs(graph, vectors, seed)).outputs()[0]))


@pytest.mark.parametrize("variant", range(3))
def test_residual_block_add_icarus(tmp_path, variant):
    """x -> dense -> ReLU -> dense, + x (Add in the same layer), -> dense; three input formats/modes."""
    need_icarus()
    g = residual_block(variant, seed=variant)
    assert _distinct_outputs(g, 600, variant) > 50
    _cosim(g, tmp_path, 600, pipeline=variant, seed=variant)


@pytest.mark.parametrize("variant", range(2))
def test_concat_of_two_branches_icarus(tmp_path, variant):
    need_icarus()
    _cosim(concat_branches(variant, seed=variant), tmp_path, 500, pipeline=1, seed=variant)


@pytest.mark.parametrize("axis", [0, 1])
def test_concat_along_each_axis_icarus(tmp_path, axis):
    need_icarus()
    _cosim(concat_2d(axis, seed=axis), tmp_path, 400, pipeline=2, seed=axis)


@pytest.mark.parametrize("variant", range(3))
def test_mul_of_two_branches_icarus(tmp_path, variant):
    """Signed x signed, signed x unsigned (ReLU branch), narrow WRAP operand; output modes vary."""
    need_icarus()
    g = mul_branches(variant, seed=variant)
    assert _distinct_outputs(g, 600, variant) > 50
    _cosim(g, tmp_path, 600, pipeline=[1, 0, 3][variant], seed=variant)


@pytest.mark.parametrize("variant", range(2))
def test_batchnorm_icarus(tmp_path, variant):
    """Per-channel BatchNorm on a (2, 4) tensor (variant 0) and on a 1-D tensor (variant 1)."""
    need_icarus()
    _cosim(batchnorm_graph(variant, seed=variant), tmp_path, 600, pipeline=1 + variant, seed=variant)


@pytest.mark.parametrize("fn, w_in", [("sigmoid", 4), ("tanh", 6), ("sigmoid", 8), ("random", 10), ("square", 7)])
def test_lut_icarus(tmp_path, fn, w_in):
    need_icarus()
    g = lut_graph(fn, w_in, seed=w_in)
    table = next(op for op in g.ops if op.kind == "lut").table
    assert len(np.unique(table)) > 3
    _cosim(g, tmp_path, 500, pipeline=1, seed=w_in)


@pytest.mark.parametrize("single", [False, True], ids=["double_rounding", "single_rounding"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("source", ["int32", "dense"])
def test_dyadic_requantize_icarus(tmp_path, single, per_channel, source):
    """CMSIS-NN requantisation, both builds, per tensor and per channel; the int32 source drives the full
    int32 range through the extreme multipliers/shifts (wrap32 of x << 30, shift -31, m = 2**31 - 1, 0)."""
    need_icarus()
    g = dyadic_graph(single, per_channel, source, seed=3)
    n = 1000 if source == "int32" else 400
    out = run(g, random_inputs(g, n, 7)).outputs()[0]
    assert len(np.unique(out)) > (100 if source == "int32" else 20)
    _cosim(g, tmp_path, n, pipeline=2, seed=7)


def test_dyadic_extremes_hit_wrap_and_clamp():
    """The co-simulated inputs reach the edge cases: wrap32 of x << 30 (int32 source) and both activation
    clamp limits (dense source)."""
    from hwq.formats.requant import wrap32

    g = dyadic_graph(False, True, "int32", seed=3)
    x = random_inputs(g, 1000, 7)["x"].astype(np.int64)
    assert np.any(wrap32(x[:, 0] << 30) != x[:, 0] << 30)  # channel 0: shift 30 wraps
    out = run(g, {"x": x}).outputs()[0]
    assert out[:, 0].min() < -(1 << 30) and out[:, 0].max() > 1 << 29  # both signs after the wrap
    gd = dyadic_graph(False, True, "dense", seed=3)
    dense = run(gd, random_inputs(gd, 400, 7)).outputs()[0]
    assert np.any(dense == -30) and np.any(dense == 35)  # the activation clamp [-30, 35] acts


def test_dyadic_output_is_the_raw_even_for_a_sat_sym_format(tmp_path):
    """The dyadic result is clamped to [act_min, act_max] only (default: the output's raw range, -128
    included), never cast again: an output format with SAT_SYM must not move -128 to -127."""
    need_icarus()
    from hwq.ir import Graph
    from hwq.ir.ops import Requantize

    g = Graph("dyadic_satsym", ["x"], ["y"])
    g.add_tensor("x", (3,), "fixed<16,16>")
    g.add_tensor("y", (3,), "fixed<8,8,TRN,SAT_SYM>")
    m, sh = np.array([1 << 30, 1431655765, (1 << 31) - 1]), np.array([-4, -6, -8])
    g.add_op(Requantize("rq", ["x"], "y", "dyadic", m, sh, False, -3))
    g.validate()
    assert np.any(run(g, random_inputs(g, 300, 2)).outputs()[0] == -128)
    _cosim(g, tmp_path, 300, pipeline=1, seed=2)


@pytest.mark.parametrize("io", ["stream", "parallel"])
@pytest.mark.parametrize("acc_overflow", ["WRAP", "SAT"])
def test_avgpool_3x3_icarus(tmp_path, io, acc_overflow):
    """AvgPool 3x3 (window 9: reciprocal 18-bit CSD constant), WRAP and saturating accumulators."""
    need_icarus()
    _cosim(avgpool_graph(acc_overflow), tmp_path, 300, pipeline=2, seed=1, io=io)


def test_global_avgpool_3x5_icarus(tmp_path):
    """GlobalAvgPool over 3x5 = 15 positions (reciprocal(15)) with a SAT accumulator that saturates."""
    need_icarus()
    _cosim(global_avgpool_graph(seed=2), tmp_path, 600, pipeline=1, seed=2)


@pytest.mark.parametrize(
    "overflow, rounded", [("SAT", False), ("SAT_SYM", False), ("SAT_ZERO", False), ("SAT", True), ("WRAP", True)]
)
def test_saturating_accumulator_chain_icarus(tmp_path, overflow, rounded):
    """Dense accumulators that saturate (or round every product): the IR's ordered chain in hardware."""
    need_icarus()
    g = sat_dense(overflow, seed=4, rounded_products=rounded)
    x = random_inputs(g, 1000, 4)["x"]
    if overflow != "WRAP":
        hits = count_saturations(g, x[:100])
        assert hits > 30, f"only {hits} saturating steps in 100 vectors"
    _cosim(g, tmp_path, 1000, pipeline=2, seed=4)


def test_saturating_conv_accumulator_icarus(tmp_path):
    """A Conv1d with a SAT accumulator 3 bits too narrow, streamed and parallel."""
    need_icarus()
    g = conv1d_chain(seed=4)
    op = g.ops[0]
    op.acc_fmt = type(op.acc_fmt)(op.acc_fmt.width - 3, op.acc_fmt.int_bits - 3, True, "TRN", "SAT")
    g.validate()
    wide = conv1d_chain(seed=4)
    x = random_inputs(g, 500, 4)
    assert np.any(run(g, x).outputs()[0] != run(wide, x).outputs()[0])  # saturation changes results
    _cosim(g, tmp_path / "s", 500, pipeline=1, seed=4)
    _cosim(g, tmp_path / "p", 300, pipeline=2, seed=5, io="parallel")


#: random graphs: every RTL-supported op kind appears in at least one of them.
RANDOM_OPS = [
    ["conv2d", "batchnorm", "maxpool", "add", "flatten", "dense", "lut"],
    ["conv1d", "avgpool", "mul", "requantize", "concat", "clip"],
    ["dense", "relu", "mul", "batchnorm", "requantize", "dense"],
    ["conv2d", "relu", "global_avgpool", "lut", "add", "dense"],
    ["reshape", "concat", "avgpool", "clip", "flatten", "requantize", "dense"],
    ["dense", "add", "lut", "concat", "mul", "dense"],
]


def test_random_graphs_cover_every_supported_op():
    kinds = {k for ops in RANDOM_OPS for k in ops}
    assert kinds == set(REGISTRY.kinds()) - set(OPT_IN_KINDS)  # opt-in kinds: their own co-sim tests


@pytest.mark.parametrize("seed", range(len(RANDOM_OPS)))
def test_random_graph_every_op_icarus(tmp_path, seed):
    """Random fixed-point IR graphs (random formats, every rounding/overflow mode, narrow accumulators),
    1,000 vectors each; even seeds with pixel-streamed conv/pool layers, odd seeds fully parallel."""
    need_icarus()
    g = random_graph(100 + seed, ops=RANDOM_OPS[seed], max_width=10)
    _cosim(g, tmp_path, 1000, pipeline=seed % 3, seed=seed, io="stream" if seed % 2 == 0 else "parallel")


#: random_graph(seed, n_ops=5, max_width=12) seeds that once found emitter bugs (a cast of a range wholly
#: beyond a saturation limit, WRAP of a value narrower than the format, a constant offset wider than its sum)
REGRESSION_SEEDS = [7, 43, 64, 88]


@pytest.mark.parametrize("seed", REGRESSION_SEEDS)
def test_random_graph_regressions_icarus(tmp_path, seed):
    need_icarus()
    g = random_graph(seed, n_ops=5, max_width=12)
    _cosim(g, tmp_path, 300, pipeline=1, seed=seed, io="parallel")


def test_new_ops_emit_deterministically(tmp_path):
    """Byte-identical Verilog for a graph with Add, Mul, Concat, BatchNorm, LUT and dyadic Requantize in
    fresh interpreters with different string-hash seeds."""
    import hashlib
    import os
    import subprocess
    import sys

    from hwq.ir.serialize import save

    save(random_graph(105, ops=RANDOM_OPS[5] + ["batchnorm", "requantize"], max_width=10), tmp_path / "g.json")
    digests = []
    for hs in ("1", "2"):
        out = tmp_path / f"o{hs}"
        code = (
            "import hashlib; from pathlib import Path; from hwq.ir.serialize import load; from hwq.rtl import emit;"
            f"out = Path(r'{out}'); out.mkdir(); files = emit(load(r'{tmp_path / 'g.json'}'), out);"
            "print(hashlib.sha256(b''.join(f.read_bytes() for f in files)).hexdigest())"
        )
        env = dict(os.environ, PYTHONHASHSEED=hs)
        run_ = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.append(run_.stdout)
    assert digests[0] == digests[1] and len(digests[0]) > 60
    assert hashlib.sha256(b"").hexdigest() not in digests[0]
    g = random_graph(105, ops=RANDOM_OPS[5] + ["batchnorm", "requantize"], max_width=10)
    assert g.ops[-1].mode == "dyadic"


LINT_GRAPHS = {
    "residual": lambda: residual_block(0),
    "concat": lambda: concat_2d(1),
    "mul": lambda: mul_branches(1),
    "batchnorm": lambda: batchnorm_graph(0),
    "lut": lambda: lut_graph("tanh", 6),
    "dyadic": lambda: dyadic_graph(True, True, "dense"),
    "avgpool": lambda: avgpool_graph("SAT"),
    "gap": lambda: global_avgpool_graph(),
    "sat": lambda: sat_dense("SAT_SYM", rounded_products=True),
}


@pytest.mark.parametrize("name", sorted(LINT_GRAPHS))
def test_lint_clean(tmp_path, name):
    need_verilator()
    emit(LINT_GRAPHS[name](), tmp_path, pipeline=2)
    assert lint(tmp_path) == []


def test_mul_batchnorm_dyadic_design_uses_no_dsp(tmp_path):
    """yosys finds no multiplier (no DSP, no $mul) in a design with Mul, BatchNorm and dyadic Requantize."""
    need_yosys()
    from hwq.ir import Graph
    from hwq.ir.ops import BatchNorm, Multiply, Requantize

    from .graphs_ops import _dense

    rng = np.random.default_rng(0)
    g = Graph("nodsp", ["x"], [])
    g.add_tensor("x", (4,), "fixed<8,8>")
    _dense(g, rng, "a", "x", 2, "fixed<10,10,TRN,SAT>", "fixed<6,6>", "fixed<8,8>")
    _dense(g, rng, "b", "x", 2, "fixed<9,9,TRN,SAT>", "fixed<6,6>", "fixed<8,8>")
    g.add_tensor("p", (2,), "fixed<16,16,TRN,SAT>")
    g.add_op(Multiply("mul", ["a", "b"], "p"))
    g.add_tensor("bn", (2,), "fixed<20,20,TRN,SAT>")
    sf = parse("fixed<8,8>")
    g.add_op(BatchNorm("bnorm", ["p"], "bn", np.array([93, -71]), np.array([7, -3]), sf, sf))
    g.add_tensor("out", (2,), "fixed<8,8>")
    m = np.array([1518500250, 1431655765], dtype=np.int64)
    g.add_op(Requantize("rq", ["bn"], "out", "dyadic", m, np.array([-9, -8]), False, 0))
    g.outputs = ["out"]
    g.validate()
    emit(g, tmp_path, pipeline=2)
    rep = synth_report(tmp_path)
    assert rep["DSP"] == 0
    assert not any(c.startswith("DSP") or "MUL" in c.upper() for c in rep["cells"])
    assert rep["LUT"] > 100
    import re

    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", "".join(p.read_text() for p in tmp_path.glob("*.v")), flags=re.S)
    assert "*" not in code.replace("@*", "")  # no Verilog multiply operator anywhere


def test_refusals_name_the_op():
    """What the emitter still refuses: unknown op kinds or requantize modes, a Concat over a partial
    (streamed, one-pixel) element list, a LUT whose table does not match its input width, a non-fixed
    format; each message names the op."""
    with pytest.raises(RtlError, match=r"op 'sm' \(softmax\): not supported by the Verilog emitter"):
        REGISTRY.check(SimpleNamespace(name="sm", kind="softmax"), None)
    with pytest.raises(RtlError, match=r"op 'rq' \(requantize\): mode 'float' is not supported"):
        REGISTRY.check(SimpleNamespace(name="rq", kind="requantize", mode="float"), None)
    g = concat_2d(0)
    op = next(o for o in g.ops if o.kind == "concat")
    dp = Datapath()
    n = dp.const("z", 0)
    part = [Value(n.name, 0)] * 2  # one pixel's 2 channels instead of the whole (2, 3) tensor
    with pytest.raises(RtlError, match=r"op 'cat' \(concat\): input 'd2' arrives as 2 of its 6 elements"):
        build_op(dp, g, op, [part, part], 0, channel_of=lambda j: j)
    lg = lut_graph("tanh", 4)
    lop = next(o for o in lg.ops if o.kind == "lut")
    lop.table = lop.table[:8]  # bypassing validation: half a table
    xs = [Value(dp.const(f"l{i}", i).name, 0) for i in range(4)]
    with pytest.raises(RtlError, match=r"op 'act_lut' \(lut\): table has 8 entries, expected 2\*\*4"):
        build_op(dp, lg, lop, [xs], 1)
    with pytest.raises(RtlError, match=r"op 'x' \(relu\) element 0: format float<4,3,SR>: SR rounding"):
        dp.cast("c", Value(n.name, 0), parse("float<4,3,SR>"), "op 'x' (relu) element 0")


def test_a_broken_partial_product_is_caught(tmp_path):
    """The harness can fail: drop one partial product of every Mul element and expect mismatches."""
    need_icarus()
    g = mul_branches(0, seed=0)
    emit(g, tmp_path, pipeline=1)
    victims = [p for p in tmp_path.glob("*.v") if "_pp1 = " in p.read_text()]
    assert victims
    for p in victims:
        lines = p.read_text().splitlines()
        p.write_text("\n".join(ln.replace("_pp1 = ", "_pp1 = 1'b1 ? 0 : ") if "_pp1 = " in ln else ln for ln in lines))
    rep = verify("rtl", tmp_path, vectors=200, simulator="icarus")
    assert rep.mismatches > 0
