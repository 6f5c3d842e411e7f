"""The single-sample path of ``hwq.ir.run`` (plan cached per graph, one raw vector per call).

``run(g, x[i:i+1])`` must give, row by row, the same integers (and dtype) as one batched call and as
the op-by-op reference; the cached plan must be reused while the graph is unchanged and rebuilt after
any edit of the graph, its tensors, its ops' attributes or the contents of their arrays.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import FixedFormat
from hwq.ir import Dense, Graph, GraphError, ReLU, run
from hwq.ir import compiled as C
from hwq.ir.random_graph import available_kinds, random_graph


def _inputs(g: Graph, rng, n: int) -> np.ndarray:
    t = g.tensor(g.inputs[0])
    x = t.fmt.random_raw(rng, (n, *t.shape))
    x.reshape(n, -1)[0] = t.fmt.raw_min  # the format's extremes: where float carriers could go wrong
    x.reshape(n, -1)[-1] = t.fmt.raw_max
    return x


def _rows_equal_batch(g: Graph, x: np.ndarray) -> None:
    """One call per vector == one batched call == the reference loop, integer for integer."""
    batched = run(g, x).outputs()
    ref = run(g, x, compiled=False).outputs()
    for b, r in zip(batched, ref, strict=True):
        assert b.dtype == r.dtype and b.shape == r.shape
        assert (b.astype(object) == r.astype(object)).all()
    for i in range(len(x)):
        one = run(g, x[i : i + 1]).outputs()
        for o, b in zip(one, batched, strict=True):
            assert o.dtype == b.dtype and o.shape == (1, *b.shape[1:])
            assert (o.astype(object) == b[i : i + 1].astype(object)).all(), (g.name, i)


ACT = FixedFormat(8, 3, True, "RND", "SAT")


def _mlp(rng, sizes=(16, 24, 12, 5), act=ACT) -> Graph:
    from hwq.ir.passes import infer_accumulators

    g = Graph("mlp", ["x"], [])
    g.add_tensor("x", (sizes[0],), act)
    x = "x"
    for i, (n, m) in enumerate(zip(sizes[:-1], sizes[1:])):
        g.add_tensor(f"fc{i}", (m,), act)
        w, b = rng.integers(-32, 32, (m, n)), rng.integers(-128, 128, (m,))
        g.add_op(Dense(f"fc{i}", [x], f"fc{i}", w, b, FixedFormat(6, 1), FixedFormat(8, 3), FixedFormat(40, 20)))
        x = f"fc{i}"
        if i < len(sizes) - 2:
            g.add_tensor(f"relu{i}", (m,), act)
            g.add_op(ReLU(f"relu{i}", [x], f"relu{i}"))
            x = f"relu{i}"
    g.outputs = [x]
    return infer_accumulators(g)


@pytest.mark.parametrize("kind", available_kinds())
def test_single_vectors_equal_the_batch_on_random_graphs(kind):
    rng = np.random.default_rng(7)
    for seed in range(6):
        for opts in ({}, {"offsets": True}, {"wide": True, "max_width": 40}):
            try:
                g = random_graph(seed, ops=[kind, "relu", "dense"] if kind != "dense" else [kind], **opts)
            except Exception:  # an option a kind does not take
                continue
            _rows_equal_batch(g, _inputs(g, rng, 5))


def test_single_vectors_equal_the_batch_with_minifloats_and_csd():
    rng = np.random.default_rng(11)
    for seed in range(10):
        for g in (random_graph(seed, n_ops=4, minifloats=("e4m3", "e2m1")), random_graph(seed, n_ops=3, csd=True)):
            _rows_equal_batch(g, _inputs(g, rng, 4))


def test_chains_take_the_chain_path_and_equal_the_batch():
    """Dense-only random graphs and MLPs plan as one chain; batches below the BLAS-thread size run it,
    larger ones the general path: every batch size gives the batched integers."""
    rng = np.random.default_rng(3)
    graphs = [_mlp(rng)] + [random_graph(s, ops=["dense", "relu", "dense"]) for s in range(20)]
    chained = 0
    for g in graphs:
        prog = C.cached_program(g)
        chained += prog.chain is not None
        x = _inputs(g, rng, C._THREAD_LIMIT_BATCH + 1)
        _rows_equal_batch(g, x[:9])
        full = run(g, x).outputs()[0]
        for n in (2, C._THREAD_LIMIT_BATCH - 1, C._THREAD_LIMIT_BATCH):
            assert (run(g, x[:n]).outputs()[0].astype(object) == full[:n].astype(object)).all()
    assert chained >= len(graphs) // 2


def test_chain_path_is_used_for_one_vector(monkeypatch):
    """A single raw vector on a chain graph does not go through ``execute`` (the dictionary path)."""
    g = _mlp(np.random.default_rng(4))
    x = _inputs(g, np.random.default_rng(5), 4)
    want = run(g, x, compiled=False).outputs()[0]
    prog = C.cached_program(g)
    assert prog.chain is not None and len(prog.chain[0]) == len(prog.steps)

    def no_execute(*a, **k):
        raise AssertionError("execute called")

    monkeypatch.setattr(C.Program, "execute", no_execute)
    for i in range(4):
        got = run(g, x[i : i + 1]).outputs()[0]
        assert got.dtype == np.int64 and (got == want[i : i + 1]).all()


def test_plan_is_built_once_per_graph(monkeypatch):
    """Many calls on an unchanged graph compile it once; an edit compiles it once more."""
    g = _mlp(np.random.default_rng(6))
    x = _inputs(g, np.random.default_rng(7), 50)
    calls = []
    real = C.compile_graph
    monkeypatch.setattr(C, "compile_graph", lambda graph, fuse=True: calls.append(1) or real(graph, fuse))
    for i in range(50):
        run(g, x[i : i + 1])
    assert len(calls) == 1
    g.ops[0].bias[0] += 1
    run(g, x[:1])
    run(g, x[1:2])
    assert len(calls) == 2


def test_input_dtype_range_check():
    """The range check is skipped only for integer dtypes that cannot leave the input format."""
    rng = np.random.default_rng(8)
    g8 = _mlp(rng)  # 8-bit signed input: int8 arrays need no check
    prog = C.cached_program(g8)
    assert np.dtype(np.int8) in prog.direct_input[5] and np.dtype(np.int16) not in prog.direct_input[5]
    x = _inputs(g8, rng, 3)
    want = run(g8, x, compiled=False).outputs()[0]
    for dt in (np.int8, np.int16, np.int32, np.int64):
        assert (run(g8, x[:1].astype(dt)).outputs()[0] == want[:1]).all()
    for bad in (128, -129):
        x16 = x[:1].astype(np.int16)
        x16[0, 3] = bad
        with pytest.raises(GraphError, match="raw input 'x' outside the range"):
            run(g8, x16)
    g4 = _mlp(rng, act=FixedFormat(4, 2, True, "TRN", "SAT"))  # 4-bit input: int8 arrays are checked
    assert not C.cached_program(g4).direct_input[5]
    with pytest.raises(GraphError, match="raw input 'x' outside the range"):
        run(g4, np.full((1, 16), 8, np.int8))
    assert run(g4, np.full((1, 16), 7, np.int8)).outputs()[0].shape == (1, 5)


# ------------------------------------------------------------------ the cached plan follows every edit


def _check_edit(g: Graph, edit, rng, expect_new: bool = True) -> None:
    """Run, edit, run again: the second run equals the reference on the edited graph (and the plan was
    rebuilt when ``expect_new``)."""
    x = _inputs(g, rng, 6)
    for i in range(3):
        run(g, x[i : i + 1])
    before = C.cached_program(g)
    old = run(g, x, compiled=False).outputs()[0]
    edit(g)
    after = C.cached_program(g)
    if expect_new:
        assert after is not before
    got = np.concatenate([run(g, x[i : i + 1]).outputs()[0] for i in range(len(x))])
    want = run(g, x, compiled=False).outputs()[0]
    assert (got.astype(object) == want.astype(object)).all()
    assert (run(g, x).outputs()[0].astype(object) == want.astype(object)).all()
    return old, want


def _set(obj, name, value):
    setattr(obj, name, value)


EDITS = {
    "weight element": lambda g: g.ops[0].weight.__setitem__((-1, -1), g.ops[0].weight[-1, -1] ^ 1),
    "bias element": lambda g: g.ops[-1].bias.__setitem__(-1, g.ops[-1].bias[-1] + 3),
    "weight scaled in place": lambda g: g.ops[2].weight.__imul__(-1),
    "weight replaced": lambda g: _set(g.ops[0], "weight", g.ops[0].weight[::-1].copy()),
    "weight as int32": lambda g: _set(g.ops[0], "weight", (g.ops[0].weight * 2).astype(np.int32)),
    "weight Fortran order": lambda g: _set(g.ops[0], "weight", np.asfortranarray(-g.ops[0].weight)),
    "weight object array": lambda g: _set(g.ops[0], "weight", (-g.ops[0].weight).astype(object)),
    "accumulator format": lambda g: _set(g.ops[0], "acc_fmt", FixedFormat(12, 6, True, "TRN", "WRAP")),
    "weight format": lambda g: _set(g.ops[0], "weight_fmt", FixedFormat(6, 3)),
    "input offset": lambda g: _set(g.ops[0], "input_offset", 5),
    "tensor format": lambda g: _set(g.tensors["relu0"], "fmt", FixedFormat(6, 1, False, "TRN", "SAT")),
    "tensor replaced": lambda g: g.tensors.__setitem__("fc1", type(g.tensors["fc1"])("fc1", (12,), FixedFormat(5, 2))),
    "output moved": lambda g: g.outputs.__setitem__(0, "relu1"),
    "last op removed": lambda g: (g.ops.pop(), g.outputs.__setitem__(0, g.ops[-1].output)),
    "relu replaced": lambda g: g.ops.__setitem__(1, ReLU("relu0", ["fc0"], "relu0")),
    "op input rewired": lambda g: g.ops[4].inputs.__setitem__(0, "fc1"),
}


@pytest.mark.parametrize("what", list(EDITS))
def test_edit_after_run_rebuilds_the_plan(what):
    rng = np.random.default_rng(list(EDITS).index(what))
    g = _mlp(np.random.default_rng(9))
    old, new = _check_edit(g, EDITS[what], rng)
    if what != "relu replaced":  # every other edit changes some output of these inputs
        assert old.shape != new.shape or (old.astype(object) != new.astype(object)).any()


def test_in_place_edit_of_a_replaced_array_is_seen():
    """After an array attribute is replaced, in-place edits of the NEW array are what the plan follows."""
    rng = np.random.default_rng(10)
    g = _mlp(np.random.default_rng(11))
    w = g.ops[0].weight.copy()
    _check_edit(g, lambda g: _set(g.ops[0], "weight", w), rng, expect_new=True)
    _check_edit(g, lambda g: w.__setitem__((0, 0), w[0, 0] + 1), rng)
    fw = np.asfortranarray(w)
    _check_edit(g, lambda g: _set(g.ops[0], "weight", fw), rng)
    _check_edit(g, lambda g: fw.__setitem__((1, 2), fw[1, 2] - 7), rng)


def test_edit_of_a_replaced_tensor_is_seen():
    """A tensor replaced by an equal copy is the one whose later edits the plan follows."""
    import copy

    rng = np.random.default_rng(14)
    g = _mlp(np.random.default_rng(15))
    t = copy.copy(g.tensors["relu0"])
    _check_edit(g, lambda g: g.tensors.__setitem__("relu0", t), rng, expect_new=True)
    _check_edit(g, lambda g: _set(t, "fmt", FixedFormat(5, 1, False, "TRN", "SAT")), rng)


def test_unchanged_graph_keeps_its_plan_and_a_copy_gets_its_own():
    import copy

    g = _mlp(np.random.default_rng(12))
    x = _inputs(g, np.random.default_rng(13), 3)
    p = C.cached_program(g)
    for i in range(3):
        run(g, x[i : i + 1])
    assert C.cached_program(g) is p
    g2 = copy.deepcopy(g)
    assert C.cached_program(g2) is not p
    g2.ops[0].weight[...] = 0
    assert (run(g, x).outputs()[0] == run(g, x, compiled=False).outputs()[0]).all()
    assert (run(g2, x[:1]).outputs()[0] == run(g2, x[:1], compiled=False).outputs()[0]).all()
    assert C.cached_program(g) is p
