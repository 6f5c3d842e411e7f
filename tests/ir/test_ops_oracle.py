"""Every op, on random graphs (random shapes, formats, modes, weights), equals the scalar oracle."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.ir import run
from hwq.ir.random_graph import KINDS, random_graph, random_inputs

from .oracle import ORACLES

SEEDS = range(12)


def check_graph_against_oracle(g, n_vectors: int = 3, seed: int = 0) -> int:
    """Trace the graph and compare every op's output, sample by sample, with the oracle; returns #ops."""
    inputs = random_inputs(g, n_vectors, seed)
    res = run(g, inputs, trace=True)
    for op in g.ops:
        oracle = ORACLES[op.kind]
        got = res.raw[op.output]
        for b in range(n_vectors):
            xs = [res.raw[i][b] for i in op.inputs]
            want = np.array(oracle(op, xs, g), dtype=object)
            assert got[b].shape == want.shape, f"{op.name}: shape {got[b].shape} vs {want.shape}"
            diff = np.argwhere(got[b].astype(object) != want)
            assert diff.size == 0, (
                f"{op.name} ({op.kind}) vector {b}: first mismatch at {tuple(diff[0])}: "
                f"interpreter {got[b][tuple(diff[0])]}, oracle {want[tuple(diff[0])]}"
            )
    return len(g.ops)


def test_oracles_cover_every_kind():
    assert set(KINDS) <= set(ORACLES), f"kinds without an oracle: {set(KINDS) - set(ORACLES)}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_op_matches_oracle(kind, seed):
    g = random_graph(seed, ops=[kind])
    assert any(op.kind == kind for op in g.ops)
    check_graph_against_oracle(g, seed=seed)


@pytest.mark.parametrize("seed", range(20))
def test_random_chains_match_oracle(seed):
    check_graph_against_oracle(random_graph(1000 + seed, n_ops=5), seed=seed)


MINIFLOATS = ("e4m3fn", "e5m2", "e4m3", "e3m2fn", "e2m1fn", "e2m3fn", "e4m3fnuz", "e5m2fnuz")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(4))
def test_op_on_minifloat_tensors_matches_oracle(kind, seed):
    g = random_graph(seed, ops=[kind], minifloats=MINIFLOATS)
    check_graph_against_oracle(g, seed=seed)


def test_minifloat_graphs_really_use_minifloats():
    kinds = set()
    for seed in range(30):
        g = random_graph(seed, n_ops=4, minifloats=MINIFLOATS)
        kinds |= {t.fmt.kind for t in g.tensors.values()}
    assert kinds == {"fixed", "float"}


@pytest.mark.parametrize("seed", range(12))
def test_random_minifloat_chains_match_oracle(seed):
    check_graph_against_oracle(random_graph(2000 + seed, n_ops=5, minifloats=MINIFLOATS), seed=seed)


@pytest.mark.parametrize("kind", ["dense", "conv1d", "conv2d"])
@pytest.mark.parametrize("seed", range(6))
def test_csd_weights_match_oracle(kind, seed):
    g = random_graph(seed, ops=[kind, "relu", kind], csd=True)
    check_graph_against_oracle(g, seed=seed)


def test_csd_option_really_uses_csd_weights():
    kinds = {op.weight_fmt.kind for s in range(10) for op in random_graph(s, ops=["dense"] * 3, csd=True).ops}
    assert kinds == {"fixed", "csd"}
