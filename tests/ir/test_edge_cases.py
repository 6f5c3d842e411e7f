"""Hand-worked edge cases: accumulation order under SAT, WRAP, negative fractional bits, wide (object)
paths, the int64/object dtype rule, and the CMSIS-NN requantiser's corner cases."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import FixedFormat as F
from hwq.ir import (
    AvgPool,
    Conv2d,
    Dense,
    Graph,
    GraphError,
    MaxPool,
    Requantize,
    run,
)
from hwq.ir.ops.avgpool import reciprocal
from hwq.ir.ops.requantize import dyadic_requantize
from hwq.ir.random_graph import random_graph, random_inputs

from .oracle import o_cmsis_requantize
from .test_ops_oracle import check_graph_against_oracle


def dense_graph(x_fmt, w, b, w_fmt, b_fmt, acc_fmt, out_fmt) -> Graph:
    w = np.asarray(w, dtype=np.int64)
    g = Graph("d", ["x"], ["y"])
    g.add_tensor("x", (w.shape[1],), x_fmt)
    g.add_tensor("y", (w.shape[0],), out_fmt)
    g.add_op(Dense("fc", ["x"], "y", w, np.asarray(b, dtype=np.int64), w_fmt, b_fmt, acc_fmt))
    g.validate()
    return g


INT4 = F(4, 4)  # integers -8..7


@pytest.mark.parametrize(
    "overflow, x, expected",
    [
        # acc: 7, 7+7=14 -> saturates to 7, 7-7 = 0 (the exact sum would be 7)
        ("SAT", [7, 7, -7], 0),
        # acc: 7, 14 wraps to -2, -2-7 = -9 wraps to 7 (= exact sum mod 16)
        ("WRAP", [7, 7, -7], 7),
        # acc: -7, -14 -> SAT_SYM clamps to -7, -7+7 = 0
        ("SAT_SYM", [-7, -7, 7], 0),
        # acc: 7, 14 -> SAT_ZERO gives 0, 0-7 = -7
        ("SAT_ZERO", [7, 7, -7], -7),
        # order matters the other way round: -7, -7+7=0, 0+7=7
        ("SAT", [-7, 7, 7], 7),
    ],
)
def test_dense_accumulates_in_order(overflow, x, expected):
    acc = F(4, 4, True, "TRN", overflow)
    g = dense_graph(INT4, [[1, 1, 1]], [0], INT4, INT4, acc, F(8, 8))
    assert run(g, np.array([x], dtype=np.int64)).outputs()[0].tolist() == [[expected]]


def test_products_are_rounded_one_by_one_when_the_accumulator_has_fewer_fraction_bits():
    # x = 0.5 (fixed<4,1>: raw 4 at F=3), w = 0.5 (raw 4 at F=3): product 0.25 at F=6.
    # acc fixed<8,7,RND> has F=1: each 0.25 rounds to 0.5 (RND ties up): 3 terms -> 1.5 (raw 3).
    x_fmt, w_fmt = F(4, 1), F(4, 1)
    acc = F(8, 7, True, "RND")
    g = dense_graph(x_fmt, [[4, 4, 4]], [0], w_fmt, F(4, 1), acc, F(8, 7))
    assert run(g, np.array([[4, 4, 4]])).outputs()[0].tolist() == [[3]]
    # with TRN each 0.25 truncates to 0
    g = dense_graph(x_fmt, [[4, 4, 4]], [0], w_fmt, F(4, 1), acc.with_modes("TRN"), F(8, 7))
    assert run(g, np.array([[4, 4, 4]])).outputs()[0].tolist() == [[0]]


def test_negative_fraction_bits():
    # x fixed<4,6>: LSB = 4, raw 3 = 12; w fixed<4,2>: LSB 0.25, raw 2 = 0.5; bias fixed<4,8>: LSB 16
    # y = 16*1 + 12*0.5 = 22, output fixed<6,8> has LSB 4: 22/4 = 5.5 -> RND_CONV -> 6 (even), TRN -> 5
    for rounding, want in (("RND_CONV", 6), ("TRN", 5), ("RND_ZERO", 5), ("RND", 6)):
        g = dense_graph(F(4, 6), [[2]], [1], F(4, 2), F(4, 8), F(16, 10), F(6, 8, True, rounding))
        assert run(g, np.array([[3]])).outputs()[0].tolist() == [[want]], rounding


def test_wide_accumulators_use_python_ints_and_narrow_outputs_come_back_as_int64():
    big = (1 << 39) - 1
    g = dense_graph(F(40, 40), [[big, big]], [0], F(40, 40), F(8, 8), F(90, 90), F(90, 90))
    y = run(g, np.array([[big, big]], dtype=np.int64)).outputs()[0]
    assert y.dtype == object and int(y[0, 0]) == 2 * big * big
    g = dense_graph(F(40, 40), [[big, big]], [0], F(40, 40), F(8, 8), F(90, 90), F(62, 62, True, "TRN", "SAT"))
    y = run(g, np.array([[big, big]], dtype=np.int64)).outputs()[0]
    assert y.dtype == np.int64 and int(y[0, 0]) == (1 << 61) - 1


@pytest.mark.parametrize("seed", range(8))
def test_dtype_rule_on_random_graphs(seed):
    """int64 for every tensor of width <= 62, object arrays of Python ints only beyond."""
    g = random_graph(seed, n_ops=6, wide=True, max_width=40)
    res = run(g, random_inputs(g, 4, seed), trace=True)
    for name, arr in res.raw.items():
        w = g.tensor(name).fmt.width
        assert arr.dtype == (np.int64 if w <= 62 else object), (name, w, arr.dtype)


@pytest.mark.parametrize("seed", range(6))
def test_wide_random_graphs_match_the_oracle(seed):
    check_graph_against_oracle(random_graph(500 + seed, n_ops=4, wide=True, max_width=40), seed=seed)


def test_conv_padding_contributes_zero_and_depthwise_groups():
    # 2 channels, depthwise 3x3 all-ones kernel, padding 1: corners sum 4 inputs, edges 6, centre 9
    g = Graph("c", ["x"], ["y"])
    g.add_tensor("x", (2, 3, 3), F(8, 8))
    g.add_tensor("y", (2, 3, 3), F(16, 16))
    w = np.ones((2, 1, 3, 3), dtype=np.int64)
    w[1] *= -1
    b = np.zeros(2, np.int64)
    g.add_op(Conv2d("dw", ["x"], "y", w, b, F(2, 2), F(2, 2), F(16, 16), (1, 1), (1, 1, 1, 1), (1, 1), 2))
    y = run(g, np.ones((1, 2, 3, 3), dtype=np.int64)).outputs()[0][0]
    counts = [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    assert y[0].tolist() == counts
    assert (-y[1]).tolist() == counts


def test_maxpool_ignores_padding_even_for_negative_inputs():
    g = Graph("m", ["x"], ["y"])
    g.add_tensor("x", (1, 2, 2), F(8, 8))
    g.add_tensor("y", (1, 2, 2), F(8, 8))
    g.add_op(MaxPool("mp", ["x"], "y", (2, 2), (1, 1), (1, 0, 1, 0)))
    y = run(g, np.array([[[[-5, -6], [-7, -8]]]])).outputs()[0][0, 0]
    assert y.tolist() == [[-5, -5], [-5, -5]]


def test_reciprocal_is_a_shift_for_powers_of_two_and_18_bits_otherwise():
    assert reciprocal(1) == (1, 0) and reciprocal(4) == (1, 2) and reciprocal(64) == (1, 6)
    for n in (3, 5, 6, 7, 9, 25, 49):
        r, f = reciprocal(n)
        assert (1 << 17) <= r < (1 << 18)
        assert abs(r * n - (1 << f)) * 2 <= n  # nearest


def test_avgpool_power_of_two_window_is_exact_mean_then_output_rounding():
    # window of 4: sum 1+2+3+5 = 11, mean 2.75 -> output fixed<8,8,RND> = 3, TRN = 2
    for rounding, want in (("RND", 3), ("TRN", 2)):
        g = Graph("a", ["x"], ["y"])
        g.add_tensor("x", (1, 2, 2), F(8, 8))
        g.add_tensor("y", (1, 1, 1), F(8, 8, True, rounding))
        g.add_op(AvgPool("ap", ["x"], "y", (2, 2), (2, 2), (0, 0, 0, 0), F(12, 12), *reciprocal(4)))
        assert run(g, np.array([[[[1, 2], [3, 5]]]])).outputs()[0].ravel().tolist() == [want]


I32 = (-(1 << 31), (1 << 31) - 1)


@pytest.mark.parametrize("single", [False, True])
def test_dyadic_requantize_corners_against_python_ints(single):
    rng = np.random.default_rng(1)
    xs = [I32[0], I32[1], -1, 0, 1, 12345, -12345, 1 << 30, -(1 << 30)] + rng.integers(*I32, 200).tolist()
    ms = [0, 1, (1 << 30), (1 << 31) - 1] + rng.integers(1 << 30, 1 << 31, 30).tolist()
    ss = [-31, -20, -5, -1, 0, 1, 5, 30]
    x = np.array(xs, dtype=np.int64)[:, None, None]
    m = np.array(ms, dtype=np.int64)[None, :, None]
    s = np.array(ss, dtype=np.int64)[None, None, :]
    got = dyadic_requantize(x, m, s, single)
    for i, xv in enumerate(xs):
        for j, mv in enumerate(ms):
            for k, sv in enumerate(ss):
                assert int(got[i, j, k]) == o_cmsis_requantize(xv, mv, sv, single), (xv, mv, sv)


@pytest.mark.parametrize("single", [False, True])
def test_dyadic_requantize_agrees_with_the_formats_package(single):
    from hwq.formats import requantize as theirs

    rng = np.random.default_rng(2)
    x = rng.integers(*I32, 5000)
    m = rng.integers(1 << 30, 1 << 31, 5000)
    s = rng.integers(-31, 31, 5000)
    assert np.array_equal(dyadic_requantize(x, m, s, single), np.asarray(theirs(x, m, s, single_rounding=single)))


def test_requantize_rejects_wide_inputs_and_bad_shift():
    g = Graph("r", ["x"], ["y"])
    g.add_tensor("x", (2,), F(40, 40))
    g.add_tensor("y", (2,), F(8, 8))
    one = np.array([1 << 30], dtype=np.int64)
    g.add_op(Requantize("rq", ["x"], "y", "dyadic", one, np.array([0])))
    with pytest.raises(GraphError, match=r"op 'rq' \(requantize\): dyadic mode needs int32 input raws"):
        g.validate()
    g.tensors["x"] = type(g.tensors["x"])("x", (2,), F(16, 16))
    g.ops[0].shift = np.array([31])
    with pytest.raises(GraphError, match=r"shift must be in \[-31, 30\]"):
        g.validate()


@pytest.mark.parametrize("kind", __import__("hwq.ir.random_graph", fromlist=["KINDS"]).KINDS)
def test_dtype_rule_per_kind_with_wide_formats(kind):
    for seed in range(3):
        g = random_graph(seed, ops=[kind, kind], wide=True, max_width=70)
        res = run(g, random_inputs(g, 3, seed), trace=True)
        for name, arr in res.raw.items():
            w = g.tensor(name).fmt.width
            assert arr.dtype == (np.int64 if w <= 62 else object), (kind, name, w, arr.dtype)


def test_random_graphs_cover_every_rounding_and_overflow_mode():
    from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES
    from hwq.ir.random_graph import KINDS

    rounding, overflow, acc_modes = set(), set(), set()
    for kind in KINDS:
        for seed in range(6):
            g = random_graph(seed, ops=[kind])
            fmts = [t.fmt for t in g.tensors.values()] + [getattr(op, "acc_fmt", None) for op in g.ops]
            for f in fmts:
                if isinstance(f, F):
                    rounding.add(f.rounding)
                    overflow.add(f.overflow)
            acc_modes |= {op.acc_fmt.overflow for op in g.ops if getattr(op, "acc_fmt", None) is not None}
    assert rounding == set(ROUNDING_MODES) and overflow == set(OVERFLOW_MODES)
    assert acc_modes == set(OVERFLOW_MODES)


def test_random_graph_is_deterministic_and_restrictable():
    from hwq.ir.serialize import dumps

    assert dumps(random_graph(11, n_ops=5)) == dumps(random_graph(11, n_ops=5))
    g = random_graph(11, n_ops=6, rounding=["RND_CONV"], overflow=["SAT"])
    for t in g.tensors.values():
        assert (t.fmt.rounding, t.fmt.overflow) in (("RND_CONV", "SAT"), ("TRN", "WRAP"))
    with pytest.raises(GraphError, match=r"no builder for op kind\(s\) \['softmax'\]"):
        random_graph(0, ops=["softmax"])


def test_inputs_follow_the_dtype_rule_and_empty_batches_run():
    g = random_graph(3, ops=["flatten", "dense", "relu"])
    x = random_inputs(g, 4, 0)["input"]
    a = run(g, x.astype(object), trace=True)
    b = run(g, x, trace=True)
    for name in b.raw:
        assert a.raw[name].dtype == b.raw[name].dtype == np.int64
        assert np.array_equal(a.raw[name], b.raw[name])
    empty = run(g, x[:0]).outputs()[0]
    assert empty.shape == (0, *g.tensor(g.outputs[0]).shape)
    from hwq.ir.random_graph import KINDS

    for kind in KINDS:  # every op accepts an empty batch
        g0 = random_graph(1, ops=[kind])
        r = run(g0, {n: v[:0] for n, v in random_inputs(g0, 1, 0).items()}, trace=True)
        assert all(a.shape == (0, *g0.tensor(n).shape) for n, a in r.raw.items()), kind
    big = np.full(x.shape, 1 << 63, dtype=np.uint64)
    with pytest.raises(GraphError, match=r"raw input 'input' outside the range"):
        run(g, big)


def test_parameters_must_be_values_of_minifloat_and_csd_formats():
    from hwq.formats import parse

    # e4m3fn (F = 9): raws 8..15 are normal codes with exponent 1; above 16 only even raws exist, so 17 is
    # not a value. csd<8,8,2>: 5 = 4+1 and 12 = 16-4 have two signed digits; 11 = 16-4-1 needs three.
    cases = ((parse("e4m3fn"), [8, -16], -1, [17, 8]), (parse("csd<8,8,2>"), [5, -12], -7, [11, 5]))
    for wf, good, want, bad in cases:
        # y = floor(sum(w) * 2**-F_w) with x = [1, 1]
        g = dense_graph(F(8, 8), [good], [0], wf, F(8, 8), F(40, 20), F(16, 16))
        assert run(g, np.array([[1, 1]])).outputs()[0].tolist() == [[want]]
        with pytest.raises(GraphError, match=rf"op 'fc' \(dense\): weight holds raw {bad[0]} at \(0, 0\), not a value"):
            dense_graph(F(8, 8), [bad], [0], wf, F(8, 8), F(40, 20), F(16, 16))
