"""Random IR graphs (hwq.ir.random_graph) through the HLS emitter and g++: every op kind, every rounding
and overflow mode, bit-exact with the interpreter over 2,000 vectors. Graphs are merged side by side so
that one g++ build checks many of them."""

from __future__ import annotations

import pytest

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES
from hwq.ir.random_graph import KINDS, random_graph

from .graphs import merge


def _formats(graph):
    for t in graph.tensors.values():
        yield t.fmt
    for op in graph.ops:
        for v in vars(op).values():
            if hasattr(v, "kind") and hasattr(v, "cast_raw"):
                yield v


@pytest.mark.slow
def test_every_op_kind_bit_exact(bit_exact):
    graphs = [random_graph(seed, ops=[kind]) for kind in KINDS for seed in range(2)]
    g = merge(graphs, "random_kinds")
    assert {op.kind for op in g.ops} >= set(KINDS)
    bad, first, extra = bit_exact(g, vectors=2000, seed=5)
    assert extra["vectors"] == 2000
    assert bad == 0, first


@pytest.mark.slow
def test_every_rounding_and_overflow_mode_bit_exact(bit_exact):
    graphs = [random_graph(100 + s, n_ops=4, rounding=[q]) for q in ROUNDING_MODES for s in range(2)]
    graphs += [random_graph(200 + s, n_ops=4, overflow=[o]) for o in OVERFLOW_MODES for s in range(2)]
    g = merge(graphs, "random_modes")
    fixed = [f for f in _formats(g) if getattr(f, "kind", None) == "fixed"]
    assert {f.rounding for f in fixed} == set(ROUNDING_MODES)
    assert {f.overflow for f in fixed} == set(OVERFLOW_MODES)
    bad, first, _ = bit_exact(g, vectors=2000, seed=6)
    assert bad == 0, first


MINIFLOATS = ["e4m3fn", "e5m2", "e2m1fn", "e3m2fn", "float<3,2,nosub>", "e4m3fnuz"]
#: op kinds the HLS emitter prints with minifloat tensors or parameters (others are rejected by name)
MINIFLOAT_KINDS = ["dense", "conv1d", "conv2d", "relu", "add", "mul", "concat", "requantize", "batchnorm", "flatten"]


def _minifloat_graphs():
    out = []
    for k in MINIFLOAT_KINDS:
        for s in range(8):
            g = random_graph(500 + s, ops=[k], minifloats=MINIFLOATS)
            fmts = list(_formats(g))
            if any(getattr(f, "kind", None) == "float" for f in fmts):
                out.append(g)
    assert len(out) >= 15 and {op.kind for g in out for op in g.ops} >= {"dense", "conv2d", "add"}
    return out


def test_minifloat_op_without_hls_support_is_rejected_by_name(tmp_path):
    from hwq.formats import parse
    from hwq.hls import HLSEmitError, emit
    from hwq.ir import Graph
    from hwq.ir.ops import MaxPool

    g = Graph("mp", ["x"], ["y"])
    g.add_tensor("x", (2, 4, 4), parse("e4m3fn"))
    g.add_tensor("y", (2, 2, 2), parse("e4m3fn"))
    g.add_op(MaxPool("pool_a", ["x"], "y", kernel=(2, 2), stride=(2, 2), padding=(0, 0, 0, 0)))
    g.validate()
    with pytest.raises(HLSEmitError, match=r"op 'pool_a' \(maxpool\).*e4m3fn"):
        emit(g, tmp_path)


@pytest.mark.slow
def test_wide_accumulators_csd_and_minifloat_bit_exact(bit_exact):
    """Accumulators beyond 62 bits (the interpreter's Python-int path against ap_fixed<W>, W > 64),
    multiplier-free csd<W,I,k> weights (k = 1..3) in dense and conv layers, and minifloat tensors and
    weights (six formats: ieee, fn, fnuz, finite policies, no-subnormal) through every supporting op."""
    graphs = [random_graph(300 + s, ops=[k], wide=True, max_width=24) for k in ("dense", "conv1d") for s in range(3)]
    graphs += [random_graph(400 + s, ops=[k], csd=True) for k in ("dense", "conv1d", "conv2d") for s in range(4)]
    graphs += _minifloat_graphs()
    g = merge(graphs, "random_wide")
    assert any(getattr(getattr(op, "weight_fmt", None), "kind", None) == "csd" for op in g.ops)
    bad, first, _ = bit_exact(g, vectors=2000, seed=7)
    assert bad == 0, first
