"""``adders=fewest`` never needs more adders than ``adders=shallow`` (output negations included).

Before this check the 64x64 8-bit ``bench_rtl`` kernel emitted 4,911 adders with ``fewest`` (4,894 two-input
adders of its row-difference graph plus 17 output negations ``acc = -sum``) against 4,894 with ``shallow``.
``build_adder_graph`` now also builds the other orientation and plain sharing and keeps the cheapest, counting
an output whose terms are all negative as one more adder (``mcm._cost``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from hwq.rtl import mcm
from hwq.rtl.datapath import Datapath
from hwq.rtl.mcm import build_adder_graph


def _kernel(n_in: int, n_out: int, bits: int) -> np.ndarray:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from bench_rtl import case_matrix
    finally:
        sys.path.pop(0)
    return case_matrix(n_in, n_out, bits)


def _exact(graph, rows) -> bool:
    """The graph's outputs equal ``W @ x`` as integer coefficients."""
    coefs = graph.coefficients()
    for j, terms in enumerate(graph.outputs):
        got: dict[int, int] = {}
        for node, shift, sign in terms:
            for i, v in coefs[node].items():
                got[i] = got.get(i, 0) + sign * (v << shift)
        if {i: v for i, v in got.items() if v} != {i: int(v) for i, v in enumerate(rows[j]) if v}:
            return False
    return True


def test_fewest_64x64_not_above_shallow():
    """The benchmark case that had fewest > shallow: now 4,864 adders, no negated output, exact."""
    rows = _kernel(64, 64, 8).T
    fewest = build_adder_graph(rows, **Datapath.ADDER_STYLES["fewest"])
    shallow = build_adder_graph(rows, **Datapath.ADDER_STYLES["shallow"])
    assert mcm._cost(fewest) <= mcm._cost(shallow)
    assert (fewest.adders, mcm._cost(fewest)) == (4864, 4864)
    assert _exact(fewest, rows.tolist())


@pytest.mark.parametrize("seed", range(8))
def test_fewest_never_above_shallow_random(seed):
    rng = np.random.default_rng(100 + seed)
    m, n = int(rng.integers(2, 24)), int(rng.integers(2, 24))
    bits = int(rng.integers(3, 9))
    w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(m, n))
    fewest = build_adder_graph(w, **Datapath.ADDER_STYLES["fewest"])
    shallow = build_adder_graph(w, **Datapath.ADDER_STYLES["shallow"])
    assert mcm._cost(fewest) <= mcm._cost(shallow)
    assert _exact(fewest, w.tolist())


def test_cost_counts_negated_outputs():
    """``_cost`` is what makes the 64x64 choice: an all-negative output counts one more adder."""
    g = mcm.AdderGraph(2, [(0, 1, 1, -1)], [[(2, 0, -1)], [(0, 0, 1), (1, 2, -1)], []])
    assert g.adders == 2 and mcm._cost(g) == 3
