"""The compiled interpreter (plan once, float-carried exact integers) against the reference op loop.

Every comparison is of integers: ``run(g, x)`` (compiled, the default) must equal
``run(g, x, compiled=False)`` (each op's ``evaluate`` in turn) element for element, with the same dtype.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from hwq.ir import Dense, Graph, ReLU, Requantize, run
from hwq.ir.compiled import cached_program, compile_graph
from hwq.ir.random_graph import available_kinds, random_graph


def _same(g: Graph, x, trace: bool = False) -> None:
    a = run(g, x, trace=trace, compiled=True).raw
    b = run(g, x, trace=trace, compiled=False).raw
    assert set(a) == set(b)
    for name in b:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        assert (a[name].astype(object) == b[name].astype(object)).all(), name


def _inputs(g: Graph, rng, n: int = 64) -> np.ndarray:
    t = g.tensor(g.inputs[0])
    x = t.fmt.random_raw(rng, (n, *t.shape))
    # the format's extremes first: ranges are where float carriers could go wrong
    x.reshape(n, -1)[0] = t.fmt.raw_min
    x.reshape(n, -1)[-1] = t.fmt.raw_max
    return x


@pytest.mark.parametrize("kind", available_kinds())
def test_random_graphs_compiled_equals_reference(kind):
    rng = np.random.default_rng(1)
    for seed in range(12):
        for opts in ({}, {"offsets": True}, {"csd": True}, {"wide": True, "max_width": 40}):
            try:
                g = random_graph(seed, ops=[kind, "relu", "dense"] if kind != "dense" else [kind], **opts)
            except Exception:  # an option a kind does not take
                continue
            x = _inputs(g, rng)
            _same(g, x)
            _same(g, x, trace=True)


def test_random_graphs_with_minifloats():
    rng = np.random.default_rng(2)
    for seed in range(30):
        g = random_graph(seed, n_ops=4, minifloats=("e4m3", "e2m1"))
        _same(g, _inputs(g, rng))


def _dense_graph(xf, yf, af, w, b, bf, relu_fmt=None, offset=0) -> Graph:
    m, n = w.shape
    g = Graph("d", ["x"], [])
    g.add_tensor("x", (n,), xf)
    g.add_tensor("y", (m,), yf)
    wf = FixedFormat(12, 4)
    g.add_op(Dense("fc", ["x"], "y", np.asarray(w, np.int64), np.asarray(b, np.int64), wf, bf, af, offset))
    g.outputs = ["y"]
    if relu_fmt is not None:
        g.add_tensor("r", (m,), relu_fmt)
        g.add_op(ReLU("relu", ["y"], "r"))
        g.outputs = ["r"]
    return g


@pytest.mark.parametrize("rounding", ROUNDING_MODES)
@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
def test_dense_output_cast_every_mode_exhaustive(rounding, overflow):
    """Every input raw of an 8-bit format, weights that make ties and overflows, every cast mode, with
    and without a fused ReLU, with and without an input offset."""
    xf = FixedFormat(8, 3)
    x = np.arange(xf.raw_min, xf.raw_max + 1).reshape(-1, 1)
    w = np.array([[1], [3], [-5], [7], [-1], [16]])
    bf = FixedFormat(10, 4)
    b = np.array([0, 1, -3, 5, 0, -7])
    af = FixedFormat(24, 10)  # lossless: frac bits 5 + 8
    for yw, yi in ((5, 2), (6, 6), (4, -1), (9, 9)):
        yf = FixedFormat(yw, yi, True, rounding, overflow)
        for relu in (None, FixedFormat(yw, yi, False), FixedFormat(yw + 1, yi + 1, False, rounding, overflow)):
            for off in (0, 17):
                g = _dense_graph(xf, yf, af, w, b, bf, relu, off)
                _same(g, x)


@pytest.mark.parametrize("rounding", ROUNDING_MODES)
@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
def test_requantize_cast_every_mode_exhaustive(rounding, overflow):
    xf = FixedFormat(12, 5)
    x = np.arange(xf.raw_min, xf.raw_max + 1).reshape(-1, 1)
    for yw, yi, signed in ((6, 3, True), (5, 5, False), (8, 1, True), (1, 1, True), (14, 8, True)):
        g = Graph("q", ["x"], ["z"])
        g.add_tensor("x", (1,), xf)
        g.add_tensor("r", (1,), FixedFormat(12, 5, True, rounding, overflow))
        g.add_tensor("z", (1,), FixedFormat(yw, yi, signed, rounding, overflow))
        g.add_op(ReLU("relu", ["x"], "r"))  # float-carried input for the requantize
        g.add_op(Requantize("q", ["r"], "z"))
        _same(g, x)


def _wide_dense(bits: int, n: int = 8):
    """A dense layer whose partial sums reach just below or above 2**bits."""
    xf = FixedFormat(10, 10)
    xmag = 512
    wmax = (1 << bits) // (xmag * n)
    w = np.full((2, n), wmax, dtype=np.int64)
    w[1] = -wmax
    wf_bits = max(int(wmax).bit_length() + 2, 2)
    g = Graph("wide", ["x"], ["y"])
    g.add_tensor("x", (n,), xf)
    g.add_tensor("y", (2,), FixedFormat(16, 16, True, "RND", "SAT"))
    af = FixedFormat(bits + 4, bits + 4)
    g.add_op(Dense("fc", ["x"], "y", w, np.zeros(2, np.int64), FixedFormat(wf_bits, wf_bits), xf, af))
    return g


@pytest.mark.parametrize("bits", [22, 23, 24, 25, 51, 52, 53, 54, 60])
def test_carrier_bounds_stay_exact(bits):
    g = _wide_dense(bits)
    x = np.array([[-512] * 8, [511] * 8, [511, -512] * 4, [1, -1, 0, 3, -7, 511, -512, 2]])
    _same(g, x)
    (step,) = compile_graph(g).steps
    assert step.fast == (bits <= 51)  # sums up to 2**bits: float64 carries below 2**52; beyond, int64


def test_digits_mlp_runs_on_the_float_path():
    """The benchmark MLP shape (dense + ReLU, lossless accumulators) is planned entirely as fused float
    steps: if a change makes it fall back to the op loop, this fails (the speed goal depends on it)."""
    from hwq.ir.passes import infer_accumulators

    rng = np.random.default_rng(0)
    act, wf, bf = FixedFormat(8, 3, True, "RND", "SAT"), FixedFormat(6, 1), FixedFormat(8, 3)
    g = Graph("mlp", ["x"], [])
    g.add_tensor("x", (64,), act)
    x = "x"
    for i, (n, m) in enumerate(((64, 64), (64, 32), (32, 10))):
        g.add_tensor(f"fc{i}", (m,), act)
        w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(m, n))
        b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(m,))
        g.add_op(Dense(f"fc{i}", [x], f"fc{i}", w, b, wf, bf, FixedFormat(40, 20)))
        x = f"fc{i}"
        if i < 2:
            g.add_tensor(f"relu{i}", (m,), act)
            g.add_op(ReLU(f"relu{i}", [x], f"relu{i}"))
            x = f"relu{i}"
    g.outputs = [x]
    g = infer_accumulators(g)
    prog = compile_graph(g)
    assert [s.fast for s in prog.steps] == [True, True, True]  # relus fused into the dense steps
    assert prog.carriers == {"x": np.float32}
    _same(g, _inputs(g, rng, 500))
    _same(g, _inputs(g, rng, 1))
    _same(g, _inputs(g, rng, 3), trace=True)


def test_in_place_weight_edit_is_seen():
    """The per-graph plan cache notices in-place edits of weights and attribute changes."""
    g = random_graph(3, ops=["dense"])
    x = _inputs(g, np.random.default_rng(0), 16)
    before = run(g, x).outputs()[0].copy()
    p1 = cached_program(g)
    assert cached_program(g) is p1  # unchanged graph: same plan
    op = g.ops[-1]
    op.weight[...] = 0
    op.bias[...] = 0
    assert cached_program(g) is not p1
    after = run(g, x).outputs()[0]
    assert (after == run(g, x, compiled=False).outputs()[0]).all()
    assert not (after == before).all() or not before.any()


def test_direct_input_path_checks_range_and_dtypes():
    """``Program.run`` takes one int raw array directly (range check + carrier): the same integers as the
    general path for int8/int32/int64 arrays, the general path for floats and unsigned arrays, and the
    same one-line error naming the input for an out-of-range raw."""
    from hwq.ir import GraphError

    xf, yf = FixedFormat(8, 3), FixedFormat(8, 3, True, "RND", "SAT")
    g = _dense_graph(xf, yf, FixedFormat(24, 10), np.array([[1, -3], [5, 7]]), np.array([1, -2]), FixedFormat(10, 4))
    prog = compile_graph(g)
    assert prog.direct_input is not None
    x = np.array([[-128, 127], [3, -4], [0, 1]])
    ref = run(g, x, compiled=False).outputs()[0]
    for arr in (x.astype(np.int8), x.astype(np.int32), x, x.astype(object)):
        got = prog.run(arr).outputs()[0]
        assert got.dtype == ref.dtype and (got == ref).all()
    assert (
        prog.run(np.array([[1, 2]], np.uint8)).outputs()[0] == run(g, np.array([[1, 2]]), compiled=False).outputs()[0]
    ).all()
    assert (prog.run(xf.from_raw(x)).outputs()[0] == ref).all()
    for bad in ([[128, 0]], [[0, -129]]):
        with pytest.raises(GraphError, match="raw input 'x' outside the range"):
            prog.run(np.array(bad))
        with pytest.raises(GraphError, match="raw input 'x' outside the range"):
            run(g, np.array(bad), compiled=False)
    with pytest.raises(GraphError, match="expects shape"):
        prog.run(np.zeros((2, 3), np.int64))


def test_in_place_list_edit_is_seen():
    """An op's input list edited in place (same length) is a changed graph: the cache recompiles."""
    xf = FixedFormat(8, 3)
    g = _dense_graph(xf, xf, FixedFormat(24, 10), np.array([[64, 128]]), np.array([0]), xf)
    g.add_tensor("x2", (2,), xf)
    g.inputs = ["x", "x2"]
    x = {"x": np.array([[16, 32]]), "x2": np.array([[80, 112]])}
    p1 = cached_program(g)
    before = run(g, x).outputs()[0].tolist()
    assert before == run(g, x, compiled=False).outputs()[0].tolist() == [[20]]
    g.ops[0].inputs[0] = "x2"
    assert cached_program(g) is not p1
    assert run(g, x).outputs()[0].tolist() == run(g, x, compiled=False).outputs()[0].tolist() == [[76]]
