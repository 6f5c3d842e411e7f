"""Passes: small cases with hand-derived expectations and interpreter equivalence checks; no pass
mutates its input graph."""

from __future__ import annotations

import numpy as np
import pytest
from hwq.sim.verify import random_inputs

from hwq.formats import FixedFormat as F
from hwq.ir import BatchNorm, Conv2d, Dense, Graph, GraphError, Op, ReLU, Requantize, run
from hwq.ir.passes import (
    PassError,
    fold_batchnorm,
    fold_constants,
    infer_accumulators,
    remove_dead_ops,
    validate,
)
from hwq.ir.random_graph import random_graph
from hwq.ir.serialize import dumps


def extreme_inputs(g: Graph, n: int, seed: int) -> dict:
    """Random raws plus the corners of each input range (all-min, all-max, alternating)."""
    x = random_inputs(g, n, seed)
    for name, arr in x.items():
        f = g.tensor(name).fmt
        arr[0] = f.raw_min
        arr[1] = f.raw_max
        flat = arr[2].reshape(-1)
        flat[::2], flat[1::2] = f.raw_min, f.raw_max
        rng = np.random.default_rng(seed)
        for i in range(3, min(n, 12)):
            arr[i] = np.where(rng.random(arr[i].shape) < 0.5, f.raw_min, f.raw_max)
    return x


def same_results(g1: Graph, g2: Graph, x) -> None:
    a, b = run(g1, x).outputs(), run(g2, x).outputs()
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(u, v)


# ----------------------------------------------------------------------------------- infer_accumulators


def test_infer_accumulators_hand_example_and_minimality():
    # x fixed<4,4> in [-8, 7], w = [3, 5, 7] (fixed<4,4>), bias 2 (fixed<4,4>):
    # sums lie in [2 + 15*(-8), 2 + 15*7] = [-118, 107]; single terms in [-120, 105] -> 8 signed bits, F = 0
    g = Graph("d", ["x"], ["y"])
    g.add_tensor("x", (3,), F(4, 4))
    g.add_tensor("y", (1,), F(16, 16))
    acc = F(32, 32, True, "TRN", "SAT")
    g.add_op(Dense("fc", ["x"], "y", np.array([[3, 5, 7]]), np.array([2]), F(4, 4), F(4, 4), acc))
    before = dumps(g)
    g2 = infer_accumulators(g)
    assert dumps(g) == before  # input untouched
    assert g2.ops[0].acc_fmt == F(8, 8, True, "TRN", "SAT")
    x = np.array([[-8, -8, -8], [7, 7, 7]])
    assert run(g2, x).outputs()[0].ravel().tolist() == [-118, 107]
    # one bit fewer saturates at the corner: the inferred width is the narrowest lossless one
    g3 = infer_accumulators(g, force=F(7, 7, True, "TRN", "SAT"))
    assert run(g3, x).outputs()[0].ravel().tolist() != [-118, 107]


def test_infer_accumulators_keeps_fraction_bits_of_products_and_bias():
    g = Graph("d", ["x"], ["y"])
    g.add_tensor("x", (2,), F(6, 2))  # F_x = 4
    g.add_tensor("y", (1,), F(16, 8))
    g.add_op(Dense("fc", ["x"], "y", np.array([[1, -1]]), np.array([1]), F(4, 1), F(9, 0), F(40, 20)))
    # F_w = 3, F_b = 9 -> F_acc = max(7, 9) = 9
    assert infer_accumulators(g).ops[0].acc_fmt.frac_bits == 9


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("kind", ["dense", "conv1d", "conv2d", "avgpool", "global_avgpool"])
def test_inferred_accumulators_equal_a_very_wide_one(kind, seed):
    g = random_graph(seed, ops=[kind, "relu"])
    inferred = infer_accumulators(g)
    wide = {}
    for op in inferred.ops:
        if hasattr(op, "acc_fmt"):
            f = op.acc_fmt.frac_bits
            wide[op.name] = F(200, 200 - f)
    wide_g = infer_accumulators(g, force=wide)
    same_results(inferred, wide_g, extreme_inputs(g, 40, seed))


def test_infer_accumulators_from_measured_ranges_and_errors():
    g = random_graph(3, ops=["dense"])
    x_name = g.ops[0].inputs[0]
    narrow = infer_accumulators(g, input_ranges={x_name: (0, 1)})
    full = infer_accumulators(g)
    assert narrow.ops[0].acc_fmt.width <= full.ops[0].acc_fmt.width
    with pytest.raises(PassError, match=r"force names unknown op\(s\) \['nope'\]"):
        infer_accumulators(g, force={"nope": F(8, 8)})


# ----------------------------------------------------------------------------------- fold_batchnorm


def dense_bn(out_fmt, acc) -> Graph:
    g = Graph("fb", ["x"], ["y"])
    g.add_tensor("x", (3,), F(6, 2))
    g.add_tensor("h", (2,), out_fmt)
    g.add_tensor("y", (2,), F(10, 4, True, "RND_CONV", "SAT"))
    w = np.array([[5, -3, 7], [-8, 2, 1]])
    g.add_op(Dense("fc", ["x"], "h", w, np.array([3, -2]), F(5, 1), F(6, 2), acc))
    g.add_op(BatchNorm("bn", ["h"], "y", np.array([11, -6]), np.array([9, -20]), F(6, 2), F(8, 3)))
    g.validate()
    return g


def test_fold_batchnorm_exact_case_is_bit_identical():
    g = dense_bn(F(24, 12), F(24, 12))  # lossless accumulator and output
    before = dumps(g)
    f = fold_batchnorm(g)
    assert dumps(g) == before
    assert [op.kind for op in f.ops] == ["dense"] and f.ops[0].output == "y" and "h" not in f.tensors
    # folded weight raw = w * s, at F_w + F_s = 4 + 4 fractional bits
    assert f.ops[0].weight.tolist() == [[55, -33, 77], [48, -12, -6]]
    assert f.ops[0].weight_fmt.frac_bits == 8
    same_results(g, f, extreme_inputs(g, 200, 0))


def test_fold_batchnorm_refuses_a_fold_that_changes_results():
    g = dense_bn(F(8, 4, True, "RND", "SAT"), F(24, 12))  # output rounds 7 fractional bits to 4
    with pytest.raises(PassError, match=r"folding 'bn' into 'fc' \(dense\) would change results: its output format"):
        fold_batchnorm(g)
    g = dense_bn(F(24, 12), F(10, 2, True, "TRN", "SAT"))  # accumulator saturates
    with pytest.raises(PassError, match=r"its accumulator fixed<10,2,TRN,SAT> can overflow"):
        fold_batchnorm(g)
    folded = fold_batchnorm(g, require_exact=False)
    assert [op.kind for op in folded.ops] == ["dense"]
    run(folded, extreme_inputs(g, 10, 1))


@pytest.mark.parametrize("seed", range(6))
def test_fold_batchnorm_conv2d_random(seed):
    g = random_graph(seed, ops=["conv2d", "batchnorm"])
    conv = g.ops[0]
    # make the conv path lossless so that the fold must be exact
    g = infer_accumulators(g)
    lo_hi = g.ops[0].acc_fmt
    g.tensors[conv.output].fmt = F(lo_hi.width + 2, lo_hi.int_bits + 2)
    g.validate()
    f = fold_batchnorm(g)
    assert [op.kind for op in f.ops] == ["conv2d"]
    same_results(g, f, extreme_inputs(g, 30, seed))


def test_fold_batchnorm_skips_shared_intermediates():
    g = dense_bn(F(24, 12), F(24, 12))
    g.outputs = ["y", "h"]  # h is also a graph output: nothing to fold
    assert [op.kind for op in fold_batchnorm(g).ops] == ["dense", "batchnorm"]


# ----------------------------------------------------------------------------------- remove_dead_ops


def test_remove_dead_ops():
    g = dense_bn(F(24, 12), F(24, 12))
    g.add_tensor("dead", (2,), F(8, 4))
    g.add_tensor("unused", (5,), F(8, 4))
    g.ops.insert(1, ReLU("side", ["h"], "dead"))
    g.validate()
    before = dumps(g)
    r = remove_dead_ops(g)
    assert dumps(g) == before
    assert [op.name for op in r.ops] == ["fc", "bn"]
    assert set(r.tensors) == {"x", "h", "y"}
    same_results(g, r, extreme_inputs(g, 20, 0))


# ----------------------------------------------------------------------------------- fold_constants


def test_fold_constants_quantises_with_the_declared_format():
    g = Graph("fc", ["x"], ["y"])
    g.add_tensor("x", (3,), F(8, 4))
    g.add_tensor("y", (1,), F(16, 8))
    # fixed<4,1,RND>: LSB 1/8. 0.3 -> 2.4 -> 2; -0.5625 -> -4.5 -> -4 (RND: ties up); 0.9 -> 7.2 -> 7
    w = np.array([[0.3, -0.5625, 0.9]])
    g.add_op(Dense("d", ["x"], "y", w, np.array([0.25]), F(4, 1, True, "RND"), F(4, 2), F(24, 12)))
    with pytest.raises(GraphError, match=r"op 'd' \(dense\): weight holds floats; quantise it"):
        g.validate()
    with pytest.raises(GraphError, match=r"op 'd' \(dense\): parameter 'weight' holds float64 values"):
        run(g, np.zeros((1, 3), np.int64))
    before = dumps(g)
    q = fold_constants(g)
    assert dumps(g) == before
    assert q.ops[0].weight.tolist() == [[2, -4, 7]] and q.ops[0].weight.dtype == np.int64
    assert q.ops[0].bias.tolist() == [1]  # 0.25 in fixed<4,2> (LSB 1/4)
    validate(q)


def test_fold_constants_strict_range_and_dyadic_scales():
    g = Graph("fc", ["x"], ["y"])
    g.add_tensor("x", (1,), F(8, 4))
    g.add_tensor("y", (1,), F(16, 8))
    g.add_op(Dense("d", ["x"], "y", np.array([[3.0]]), np.array([0.0]), F(4, 1), F(4, 2), F(24, 12)))
    msg = r"op 'd' \(dense\) weight: values in \[3.0, 3.0\] exceed the range of fixed<4,1>"
    with pytest.raises(PassError, match=msg):
        fold_constants(g)
    assert fold_constants(g, strict=False).ops[0].weight.tolist() == [[-8]]  # WRAP: 24 mod 16 -> -8

    g = Graph("rq", ["x"], ["y"])
    g.add_tensor("x", (2,), F(16, 16))
    g.add_tensor("y", (2,), F(8, 8))
    g.add_op(Requantize("r", ["x"], "y", "dyadic", np.array([0.75, 0.375]), None))
    q = fold_constants(g)
    # 0.75 = 0.75 * 2**0 -> m = 0.75 * 2**31, s = 0; 0.375 = 0.75 * 2**-1 -> s = -1
    assert q.ops[0].multiplier.tolist() == [3 << 29, 3 << 29] and q.ops[0].shift.tolist() == [0, -1]
    assert run(q, np.array([[100, 100]])).outputs()[0].tolist() == [[75, 38]]  # 37.5 rounds away from 0


# ----------------------------------------------------------------------------------- validate


def test_validate_names_the_problem():
    g = dense_bn(F(24, 12), F(24, 12))
    assert validate(g) is g

    class Mystery(Op):
        kind = "mystery"

    bad = dense_bn(F(24, 12), F(24, 12))
    bad.ops.append(Mystery("m", ["y"], "z"))
    bad.add_tensor("z", (2,), F(8, 8))
    with pytest.raises(GraphError, match=r"op 'm': kind 'mystery' has no interpreter implementation"):
        validate(bad)
    bad = dense_bn(F(24, 12), F(24, 12))
    bad.inputs = ["x", "x"]
    with pytest.raises(GraphError, match=r"an input is listed twice"):
        validate(bad)
    bad = dense_bn(F(24, 12), F(24, 12))
    bad.ops[1].scale = np.array([11, -6, 1])
    with pytest.raises(GraphError, match=r"op 'bn' \(batchnorm\): scale has shape \(3,\), expected \(2,\)"):
        validate(bad)
    bad = dense_bn(F(24, 12), F(24, 12))
    w, b = np.zeros((2, 3, 1, 1), np.int64), np.zeros(2, np.int64)
    bad.ops[0] = Conv2d("fc", ["x"], "h", w, b, F(4, 4), F(4, 4), F(8, 8))
    with pytest.raises(GraphError, match=r"op 'fc' \(conv2d\): input 'x' must be \(C, H, W\)"):
        validate(bad)


def test_validate_affine_int_tensors_only_around_dyadic_requantize():
    from hwq.formats import parse

    g = Graph("aff", ["x"], ["q"])
    g.add_tensor("x", (2,), F(16, 16))
    g.add_tensor("q", (2,), parse("int<8,scale=0.1,zp=3>"))
    g.add_op(Requantize("rq", ["x"], "q", "dyadic", np.array([1 << 30]), np.array([0]), out_offset=3))
    validate(g)
    y = run(g, np.array([[10, -10]])).outputs()[0]
    assert y.tolist() == [[5 + 3, -5 + 3]]  # 10 * 0.5 = 5 (+ offset 3)
    g.add_tensor("r", (2,), F(8, 8))
    g.add_op(ReLU("relu", ["q"], "r"))
    g.outputs = ["r"]
    with pytest.raises(GraphError, match=r"op 'relu' \(relu\): tensor 'q' has format int<8,.*no power-of-two LSB"):
        validate(g)
