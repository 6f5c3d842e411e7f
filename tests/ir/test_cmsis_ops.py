"""CMSIS-NN arithmetic in the IR: input offsets, add_dyadic / mul_dyadic, avgpool mode="cmsis",
requantize mode="dyadic_s64" and affine int<W,...> tensors, against the scalar oracle and by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwq.formats import FixedFormat, parse
from hwq.ir import Graph, run
from hwq.ir import ops as O
from hwq.ir.graph import GraphError
from hwq.ir.passes import validate
from hwq.ir.random_graph import CMSIS_KINDS, KINDS, random_graph
from hwq.ir.serialize import dumps, loads

from .test_ops_oracle import check_graph_against_oracle


@pytest.mark.parametrize("kind", CMSIS_KINDS)
@pytest.mark.parametrize("seed", range(10))
def test_cmsis_kinds_match_oracle(kind, seed):
    g = random_graph(seed, ops=[kind])
    check_graph_against_oracle(g, n_vectors=3, seed=seed)


@pytest.mark.parametrize("kind", ["dense", "conv1d", "conv2d"])
@pytest.mark.parametrize("seed", range(10))
def test_input_offsets_match_oracle(kind, seed):
    g = random_graph(seed, ops=[kind, "relu", kind], offsets=True)
    assert any(getattr(op, "input_offset", 0) for op in g.ops) or seed % 7 == 0
    check_graph_against_oracle(g, n_vectors=3, seed=seed)


def test_offsets_are_really_drawn_and_off_by_default():
    offs = {op.input_offset for s in range(10) for op in random_graph(s, ops=["dense"] * 2, offsets=True).ops}
    assert len(offs - {0}) >= 5
    assert all(getattr(op, "input_offset", 0) == 0 for s in range(20) for op in random_graph(s, n_ops=5).ops)
    assert not set(CMSIS_KINDS) & set(KINDS)


def test_input_offset_moves_the_result_and_padding_adds_zero():
    # 1x3x3 input of ones, 3x3 kernel of ones, padding 1: the corner sees 4 real taps
    g = Graph("pad", ["x"], ["y"])
    g.add_tensor("x", (1, 3, 3), FixedFormat(8, 8))
    g.add_tensor("y", (1, 3, 3), FixedFormat(32, 32))
    w = np.ones((1, 1, 3, 3), dtype=np.int64)
    acc = FixedFormat(32, 32, True, "TRN", "WRAP")
    g.add_op(O.Conv2d("c", ["x"], "y", w, np.zeros(1, np.int64), FixedFormat(8, 8), FixedFormat(32, 32), acc,
                      (1, 1), (1, 1, 1, 1), (1, 1), 1, 5))  # fmt: skip
    validate(g)
    y = run(g, {"x": np.ones((1, 1, 3, 3), dtype=np.int64)}).raw["y"][0, 0]
    assert y[0, 0] == 4 * 6 and y[1, 1] == 9 * 6 and y[0, 1] == 6 * 6


def _dense_graph(offset: int) -> Graph:
    g = Graph("d", ["x"], ["y"])
    g.add_tensor("x", (3,), parse("int<8,scale=0.05,zp=-7>"))
    g.add_tensor("y", (2,), FixedFormat(32, 32))
    wf = parse("int<8,narrow,axis=0,scale=[0.01,0.02]>")
    w = np.array([[1, -2, 3], [-127, 127, 0]], dtype=np.int64)
    acc = FixedFormat(32, 32, True, "TRN", "WRAP")
    g.add_op(O.Dense("fc", ["x"], "y", w, np.array([10, -10]), wf, parse("int<32>"), acc, offset))
    return g


def test_dense_on_affine_formats_uses_plain_raws_and_the_offset():
    g = validate(_dense_graph(7))
    x = np.array([[-7, 13, 100]], dtype=np.int64)
    y = run(g, {"x": x}).raw["y"][0]
    xo = x[0] + 7
    assert y.tolist() == [10 + xo[0] - 2 * xo[1] + 3 * xo[2], -10 - 127 * xo[0] + 127 * xo[1]]


def test_input_offset_serialisation_is_backward_compatible():
    g0 = _dense_graph(0)
    text = dumps(g0)
    assert "input_offset" not in text  # default: files unchanged
    d = json.loads(dumps(_dense_graph(7)))
    assert d["ops"][0]["input_offset"] == 7
    assert loads(json.dumps(d)).ops[0].input_offset == 7
    del d["ops"][0]["input_offset"]  # an old file without the key
    assert loads(json.dumps(d)).ops[0].input_offset == 0


def test_bad_input_offset_is_refused_naming_the_op():
    g = _dense_graph(0)
    g.ops[0].input_offset = 1.5
    with pytest.raises(GraphError, match=r"op 'fc' \(dense\): input_offset must be an (int32 )?integer"):
        validate(g)


def _pool_graph(values, kernel, padding, act=(None, None)) -> Graph:
    h, w = values.shape
    ho = (h + padding[0] + padding[1] - kernel[0]) // kernel[0] + 1
    wo = (w + padding[2] + padding[3] - kernel[1]) // kernel[1] + 1
    f = parse("int<8,scale=0.1,zp=3>")
    g = Graph("p", ["x"], ["y"])
    g.add_tensor("x", (1, h, w), f)
    g.add_tensor("y", (1, ho, wo), f)
    g.add_op(O.AvgPool("ap", ["x"], "y", kernel, kernel, padding, None, 1, 0, "cmsis", *act))
    return validate(g)


def test_cmsis_avgpool_rounds_half_away_from_zero_over_valid_elements():
    cases = [([[1, 2]], 2), ([[-1, -2]], -2), ([[1, 1, 1, 2]], 1), ([[-3, 0, 0, 0]], -1), ([[2, 2, 2, 1]], 2)]
    for vals, want in cases:
        v = np.array(vals)
        g = _pool_graph(v, (1, v.shape[1]), (0, 0, 0, 0))
        assert run(g, {"x": v[None, None]}).raw["y"].ravel().tolist() == [want], vals
    # padding: a 2x2 window at the corner of a padded 3x3 input holds 1 valid element, not 4
    v = np.full((3, 3), 9)
    g = _pool_graph(v, (2, 2), (1, 0, 1, 0))
    assert run(g, {"x": v[None, None]}).raw["y"].ravel().tolist() == [9, 9, 9, 9]
    g = _pool_graph(v, (2, 2), (1, 0, 1, 0), act=(-5, 4))
    assert run(g, {"x": v[None, None]}).raw["y"].ravel().tolist() == [4, 4, 4, 4]


def test_requantize_s64_by_hand():
    g = Graph("r", ["x"], ["y"])
    g.add_tensor("x", (3,), FixedFormat(64, 64))
    g.add_tensor("y", (3,), parse("int<16>"))
    m = np.array([1 << 30, 0x7FFFFFFF, 1518500250])  # 0.5, ~1 (saturating reduction), ~0.7071
    g.add_op(O.Requantize("rq", ["x"], "y", "dyadic_s64", m, np.array([0, -1, 2])))
    validate(g)
    x = np.array([[3, 1000, -(1 << 40)]], dtype=np.int64)
    y = run(g, {"x": x}).raw["y"][0].tolist()
    # 3 * 0.5 = 1.5 -> 2 (ties up); 1000 * 0x7FFF/2**15 / 2 = 499.98 -> 500; huge -> clamped to int16
    assert y == [2, 500, -32768]
    assert O.reduce_multiplier(np.array([0x7FFF0000, 0x7FFEFFFF, 1 << 30])).tolist() == [0x7FFF, 0x7FFF, 1 << 14]


def test_add_dyadic_by_hand():
    g = Graph("a", ["p", "q"], ["y"])
    f = parse("int<8,scale=0.1,zp=-3>")
    for n in ("p", "q", "y"):
        g.add_tensor(n, (4,), f)
    # a' = ((p + 3) << 4) * 2**-4 = p + 3 exactly; likewise q; y = round((a' + b') / 2) - 3
    g.add_op(O.AddDyadic("add", ["p", "q"], "y", 3, 1 << 30, -3, 3, 1 << 30, -3, 4, 1 << 30, 0, -3))
    validate(g)
    p = np.array([[-3, 0, 10, 127]])
    q = np.array([[-3, 1, -10, 127]])
    y = run(g, {"p": p, "q": q}).raw["y"][0].tolist()
    assert y == [-3, 4 - 3, 3 - 3, 127]  # 0/2; 7/2 = 3.5 -> 4 (ties up); 6/2; 260/2 - 3 clamped to 127


def test_mul_dyadic_by_hand():
    g = Graph("m", ["p", "q"], ["y"])
    f = parse("int<8,scale=0.1,zp=-3>")
    for n in ("p", "q", "y"):
        g.add_tensor(n, (2,), f)
    g.add_op(O.MulDyadic("mul", ["p", "q"], "y", 3, 3, 1 << 30, -2, -3, None, 50))  # *1/8, clamp 50
    validate(g)
    y = run(g, {"p": np.array([[5, 100]]), "q": np.array([[6, 100]])}).raw["y"][0].tolist()
    assert y == [-3 + 9, 50]  # (8*9)/8 = 9; (103*103)/8 far above the clamp


def test_single_and_double_rounding_differ_on_random_add_graphs():
    diffs = 0
    for seed in range(6):
        g = random_graph(seed, ops=["add_dyadic"])
        x = {"input": g.tensor("input").fmt.random_raw(np.random.default_rng(seed), (200, *g.tensor("input").shape))}
        op = next(o for o in g.ops if o.kind == "add_dyadic")
        outs = []
        for single in (False, True):
            op.single_rounding = single
            outs.append(run(g, x).raw[g.outputs[0]])
        diffs += int((outs[0] != outs[1]).sum())
    assert diffs > 0


def test_affine_tensors_are_refused_where_the_arithmetic_needs_a_power_of_two_lsb():
    g = Graph("bad", ["x"], ["y"])
    g.add_tensor("x", (2,), parse("int<8,scale=0.1,zp=3>"))
    g.add_tensor("y", (2,), parse("int<8,scale=0.1,zp=3>"))
    g.add_op(O.ReLU("relu", ["x"], "y"))
    with pytest.raises(GraphError, match=r"op 'relu' \(relu\): tensor 'x' has format int<8"):
        validate(g)


def test_maxpool_on_affine_formats_copies_raws_and_needs_one_format():
    g = Graph("mp", ["x"], ["y"])
    f = parse("int<8,scale=0.1,zp=3>")
    g.add_tensor("x", (1, 2, 2), f)
    g.add_tensor("y", (1, 1, 1), f)
    g.add_op(O.MaxPool("mp", ["x"], "y", (2, 2), (2, 2), (0, 0, 0, 0)))
    validate(g)
    assert run(g, {"x": np.array([[[[-5, 7], [3, -128]]]])}).raw["y"].ravel().tolist() == [7]
    g.tensors["y"] = type(g.tensor("y"))("y", (1, 1, 1), parse("int<8,scale=0.2,zp=3>"))
    with pytest.raises(GraphError, match=r"op 'mp' \(maxpool\): affine formats need the same"):
        validate(g)
