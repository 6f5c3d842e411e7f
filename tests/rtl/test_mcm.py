"""The shared adder graph computes W @ x exactly and never needs more adders than plain CSD sums."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from hwq.formats.csd import csd_digits
from hwq.rtl.mcm import _cost, _cse_graph, build_adder_graph, csd_weights, difference_plan, plain_depth, transpose_graph


def _evaluate(graph, x: list[int]) -> list[int]:
    """Integer value of every output, computed node by node from the graph's own description."""
    vals = list(x)
    for a, b, d, s in graph.nodes:
        vals.append(vals[a] + s * (vals[b] << d))
    return [sum(s * (vals[n] << k) for n, k, s in terms) for terms in graph.outputs]


def _matrix(graph, n_outputs: int) -> list[list[int]]:
    """The exact integer matrix the graph computes (from its nodes' coefficients)."""
    coefs = graph.coefficients()
    out = []
    for terms in graph.outputs:
        row = [0] * graph.n_inputs
        for n, k, s in terms:
            for i, v in coefs[n].items():
                row[i] += s * (v << k)
        out.append(row)
    assert len(out) == n_outputs
    return out


def _well_formed(graph) -> None:
    for idx, (a, b, d, s) in enumerate(graph.nodes):
        assert 0 <= a < graph.n_inputs + idx and 0 <= b < graph.n_inputs + idx
        assert d >= 0 and s in (1, -1)
    for terms in graph.outputs:
        for n, k, s in terms:
            assert 0 <= n < graph.n_inputs + len(graph.nodes) and k >= 0 and s in (1, -1)


@pytest.mark.parametrize(
    "shape,lo,hi", [((10, 7), -128, 128), ((16, 64), -32, 32), ((5, 3), -3, 4), ((4, 9), -1000, 1000)]
)
def test_adder_graph_exact(shape, lo, hi):
    rng = np.random.default_rng(1)
    w = rng.integers(lo, hi, size=shape)
    g = build_adder_graph(w)
    for _ in range(20):
        x = [int(v) for v in rng.integers(-300, 300, size=shape[1])]
        assert _evaluate(g, x) == [int(v) for v in w @ np.array(x, dtype=object)]


_OPTIONS = [
    {},
    {"decompose": False},
    {"transpose": True},
    {"transpose": False},
    {"decompose": False, "transpose": True},
    {"max_chain": 1},
    {"max_chain": 5, "transpose": False},
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 9).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(-(1 << 12), 1 << 12) | st.sampled_from([0, 0, 1, -1, 3, -3]), min_size=n, max_size=n),
            min_size=1,
            max_size=9,
        )
    ),
    st.sampled_from(range(len(_OPTIONS))),
)
def test_every_heuristic_is_exact(w, opt):
    """Random matrices (zeros, repeated and large entries), every option: the graph's matrix is W exactly."""
    g = build_adder_graph(w, **_OPTIONS[opt])
    _well_formed(g)
    assert _matrix(g, len(w)) == w
    plain = build_adder_graph(w, cse=False)
    assert _matrix(plain, len(w)) == w


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 12), st.integers(2, 12), st.integers(0, 2**31 - 1), st.sampled_from([1, 4, 40, 1000]))
def test_random_dense_matrices_exact_and_never_worse_than_csd(m, n, seed, amp):
    w = np.random.default_rng(seed).integers(-amp, amp + 1, size=(m, n)).tolist()
    g, plain = build_adder_graph(w), build_adder_graph(w, cse=False)
    assert _matrix(g, m) == w
    assert g.adders <= plain.adders


@settings(max_examples=200, deadline=None)
@given(st.integers(-(1 << 58), 1 << 58))
def test_csd_weights_matches_csd_digits(v):
    assert int(csd_weights(np.array([v], dtype=np.int64))[0]) == len(csd_digits(v))


def test_csd_weights_exhaustive_small():
    vals = np.arange(-4096, 4097, dtype=np.int64)
    assert csd_weights(vals).tolist() == [len(csd_digits(int(v))) for v in vals]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 8), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_transposed_graph_computes_the_transposed_matrix(m, n, seed):
    v = np.random.default_rng(seed).integers(-40, 41, size=(m, n))
    gv = build_adder_graph(v, transpose=False)  # y = v @ x: m outputs, n inputs
    gt = transpose_graph(gv, m)  # y = v.T @ x: n outputs, m inputs
    _well_formed(gt)
    assert _matrix(gt, n) == v.T.tolist()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 12), st.integers(1, 8), st.integers(0, 2**31 - 1), st.integers(1, 4))
def test_difference_plan_is_a_forest_with_short_chains(m, n, seed, max_chain):
    base = np.random.default_rng(seed).integers(-20, 21, size=(3, n))
    # rows close to each other (shifted/negated copies plus small noise), so that differences pay off
    rng = np.random.default_rng(seed + 1)
    w = [
        (rng.choice([1, -1, 2, -4]) * base[rng.integers(0, 3)] + rng.integers(-1, 2, size=n)).tolist() for _ in range(m)
    ]
    plan = difference_plan(w, max_chain)
    if plan is None:
        return
    order, parent, factor = plan
    assert sorted(order) == list(range(m))
    pos = {j: i for i, j in enumerate(order)}
    for j, p in enumerate(parent):
        if p >= 0:
            assert pos[p] < pos[j] and factor[j] in (1, -1, 2, -2, 4, -4)
            depth, q = 0, j
            while parent[q] >= 0:
                q, depth = parent[q], depth + 1
            assert depth <= max_chain
    g = build_adder_graph(w, max_chain=max_chain, transpose=False)
    assert _matrix(g, m) == w


def test_sharing_saves_adders_on_the_reference_matrix():
    # da4ml's reference matrix (REFERENCE.md): kernel (16 in, 64 out) -> rows = outputs
    w = np.random.default_rng(0).integers(-32, 32, size=(16, 64)).T
    shared, plain = build_adder_graph(w), build_adder_graph(w, cse=False)
    digits = sum(len(csd_digits(int(v))) for v in w.ravel())
    assert plain.adders == digits - sum(1 for row in w if any(row))  # one adder per digit beyond the first
    assert shared.adders < 0.5 * plain.adders
    assert shared.adders <= 1012  # da4ml 0.6.0 reports 1,012 on this matrix (its tracing API)


def test_at_or_below_da4ml_on_the_64x32_benchmark():
    # bench_rtl.py's second case; da4ml 0.6.0's tracing API needs 2,010 adders on it
    w = np.random.default_rng(0).integers(-32, 32, size=(64, 32)).T
    g = build_adder_graph(w)
    assert _matrix(g, 32) == w.tolist()
    assert g.adders <= 2010


def test_deterministic_and_zero_rows():
    w = np.array([[0, 0, 0], [3, -5, 7], [3, -5, 7], [0, 0, 0]])
    g1, g2 = build_adder_graph(w), build_adder_graph(w)
    assert g1.nodes == g2.nodes and g1.outputs == g2.outputs
    assert g1.outputs[0] == [] and g1.outputs[3] == []
    assert _evaluate(g1, [1, 2, 3]) == [0, 3 - 10 + 21, 3 - 10 + 21, 0]


def test_deterministic_on_a_large_matrix():
    w = np.random.default_rng(7).integers(-100, 100, size=(24, 40))
    g1, g2 = build_adder_graph(w), build_adder_graph(w)
    assert g1.nodes == g2.nodes and g1.outputs == g2.outputs


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 14), st.integers(2, 14), st.integers(0, 2**31 - 1))
@example(10, 9, 9)  # fewer adders (24) but two negated outputs: the graph with 25 adders and none wins
def test_sparse_matrices_never_worse_than_the_smallest_key_rule(m, n, seed):
    rng = np.random.default_rng(seed)
    w = (rng.integers(-16, 17, size=(m, n)) * (rng.random((m, n)) < 0.3)).tolist()
    # the promise holds for sparse matrices (under half the weights non-zero), where both tie rules are tried;
    # a denser draw (e.g. m=7, n=2, seed=6965: 9 of 14) is outside it
    assume(2 * sum(1 for row in w for v in row if v) < m * n)
    g = build_adder_graph(w)
    assert _matrix(g, m) == w
    # the objective since 3a6156e: adders plus all-negative outputs (each costs the emitter a negation)
    assert _cost(g) <= _cost(_cse_graph(w, n, newest=False))


# ------------------------------------------------------------------ depth-bounded ("balanced") graphs
def _level_depth(graph) -> int:
    """Levels of the deepest output, its remaining terms summed two shallowest first (as the emitter)."""
    lv = [0] * graph.n_inputs
    for a, b, _, _ in graph.nodes:
        lv.append(max(lv[a], lv[b]) + 1)
    worst = 0
    for terms in graph.outputs:
        levels = sorted(lv[n] for n, _, _ in terms)
        while len(levels) > 1:
            a, b = levels.pop(0), levels.pop(0)
            levels.append(max(a, b) + 1)
            levels.sort()
        worst = max(worst, levels[0] if levels else 0)
    return worst


@pytest.mark.parametrize("m,n,amp,seed", [(7, 5, 128, 0), (20, 9, 32, 1), (9, 30, 8, 2), (12, 12, 1000, 3)])
def test_balanced_graph_exact_and_no_deeper_than_the_plain_tree(m, n, amp, seed):
    w = np.random.default_rng(seed).integers(-amp, amp, size=(m, n))
    w[0] = 0
    g = build_adder_graph(w, decompose=False, transpose=False, depth_bound="plain")
    _well_formed(g)
    assert _matrix(g, m) == w.tolist()
    x = np.random.default_rng(seed + 1).integers(-99, 99, size=n).tolist()
    assert _evaluate(g, x) == (w @ np.array(x)).tolist()
    assert g.output_depth == _level_depth(g) <= plain_depth(w)
    assert g.adders <= build_adder_graph(w, cse=False).adders


@pytest.mark.parametrize("bound", [0, 3, 4, 6, 9])
def test_explicit_depth_bound_is_kept_and_never_below_the_plain_tree(bound):
    w = np.random.default_rng(5).integers(-64, 64, size=(10, 24))
    g = build_adder_graph(w, depth_bound=bound)
    assert _matrix(g, 10) == w.tolist()
    assert g.output_depth <= max(bound, plain_depth(w))


@pytest.mark.parametrize("case", ["16x64", "32x16"])
def test_balanced_within_five_percent_of_fewest_at_plain_depth(case):
    """bench_rtl.py's 16x64 (6-bit) and 32x16 (4-bit) matrices: the plain tree's levels, at most 5 % more
    adders than the fewest-adders graph (which is several levels deeper)."""
    n_in, n_out, amp = {"16x64": (16, 64, 32), "32x16": (32, 16, 8)}[case]
    w = np.random.default_rng(0).integers(-amp, amp, size=(n_in, n_out)).T
    fewest = build_adder_graph(w)
    bal = build_adder_graph(w, decompose=False, transpose=False, depth_bound="plain")
    assert _matrix(bal, n_out) == w.tolist()
    assert bal.output_depth <= plain_depth(w) < fewest.output_depth
    assert bal.adders <= 1.05 * fewest.adders


def test_plain_depth():
    assert plain_depth([[0, 0]]) == 0
    assert plain_depth([[1, 0]]) == 0
    assert plain_depth([[1, 1]]) == 1
    assert plain_depth([[3, 0, 0]]) == 1  # 3 = 4 - 1: two digits
    assert plain_depth([[1, 1, 1, 1, 1]]) == 3
