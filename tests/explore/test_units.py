"""Unit tests of the explorer's parts: space, budgets, ILP, dominance, hypervolume, Hutchinson traces."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwq.explore import SpaceError, TargetError, build_space, parse_budgets, target_kind
from hwq.explore.ilp import InfeasibleBudget, solve, sweep
from hwq.explore.pareto import hypervolume, nondominated
from hwq.explore.sensitivity import hessian_traces, spearman
from hwq.explore.space import canonical_weight, weight_bits, weight_spec

LAYERS = ["fc1", "fc2", "fc3"]
ACT = {"fc1": "relu1", "fc2": "relu2", "fc3": None}


def test_weight_names():
    assert weight_spec("fixed4") == {"kind": "fixed", "width": 4, "int_bits": "calibrate"}
    assert weight_spec("csd<2>")["digits"] == 2
    assert weight_spec("e4m3fn")["name"] == "e4m3fn"
    assert canonical_weight("fixed8") == "fixed<8>"
    assert canonical_weight("E2M1fn") == "e2m1"
    assert [weight_bits(n) for n in ("fixed<5>", "e2m1", "e4m3", "csd<1>")] == [5, 4, 8, 8]
    with pytest.raises(SpaceError, match="unknown weight format 'fixd8'"):
        weight_spec("fixd8")


def test_space_default_and_restricted():
    sp = build_space(LAYERS, ACT, "fpga", {"space": {"weight": ["fixed4", "csd2"], "act": [4], "acc": [8, 12]}})
    assert sp.options["fc1"]["weight"] == ["fixed<4>", "csd<2>"]
    assert len(sp.choices("fc1")) == 2 * 1 * 2 and len(sp.choices("fc3")) == 2 * 2
    assert sp.size() == 4 * 4 * 4
    for genes in itertools.product(*[range(n) for _, _, n in sp.dims()]):
        cfg = sp.decode(genes)
        assert sp.encode(cfg) == list(genes) and sp.contains(cfg)
    assert cfg[2].act is None
    sp2 = build_space(LAYERS, ACT, "fpga", {"space": {"layers": {"fc3": {"weight": ["fixed8"]}}}})
    assert sp2.options["fc3"]["weight"] == ["fixed<8>"] and len(sp2.options["fc1"]["weight"]) > 5
    assert not sp2.contains(sp2.uniform("fixed<4>", 4, 8))


@pytest.mark.parametrize(
    "user, msg",
    [
        ({"space": {"wieght": ["fixed4"]}}, r"space\.wieght: unknown key"),
        ({"space": {"layers": {"fc9": {"weight": ["fixed4"]}}}}, r"space\.layers\.fc9: unknown layer"),
        ({"space": {"layers": {"fc1": {"bias": [8]}}}}, r"space\.layers\.fc1\.bias: unknown key"),
        ({"space": {"weight": ["fixed4", "e9m9"]}}, r"space\.weight\[1\]: unknown weight format"),
        ({"space": {"act": [1]}}, r"space\.act\[0\]: expected a width"),
        ({"space": {"acc": []}}, r"space\.acc: expected a non-empty list"),
        ({"spaces": {}}, r"spaces: unknown key"),
    ],
)
def test_space_errors_name_the_key(user, msg):
    with pytest.raises(SpaceError, match=msg):
        build_space(LAYERS, ACT, "fpga", user)


def test_budgets_and_targets():
    assert parse_budgets("LUT=20000,adders=3k", "xc7") == {"luts": 20000.0, "adders": 3000.0}
    assert parse_budgets(["SRAM=4096", "cycles=2e5"], "cortex-m4") == {"sram": 4096.0, "instructions": 2e5}
    assert target_kind("ice40") == "fpga" and target_kind("cortex-m55") == "mcu"
    with pytest.raises(TargetError, match="--target xc9: unknown target"):
        target_kind("xc9")
    with pytest.raises(TargetError, match="--budget SRAM: unknown cost for target xc7"):
        parse_budgets("SRAM=10", "xc7")
    with pytest.raises(TargetError, match="not a number"):
        parse_budgets("LUT=lots", "xc7")


def _brute(sens, costs, budgets):
    best = None
    for pick in itertools.product(*[range(len(s)) for s in sens]):
        if all(sum(costs[k][i][j] for i, j in enumerate(pick)) <= b for k, b in budgets.items()):
            v = sum(sens[i][j] for i, j in enumerate(pick))
            if best is None or v < best[0] - 1e-12:
                best = (v, pick)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_ilp_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 6, size=4)
    sens = [rng.random(n) for n in sizes]
    costs = {"luts": [rng.integers(10, 100, n).astype(float) for n in sizes], "ff": [rng.random(n) for n in sizes]}
    lo = sum(c.min() for c in costs["luts"])
    hi = sum(c.max() for c in costs["luts"])
    budgets = {"luts": float(lo + (hi - lo) * 0.4), "ff": float(sum(c.max() for c in costs["ff"]) * 0.8)}
    ref = _brute(sens, costs, budgets)
    if ref is None:
        with pytest.raises(InfeasibleBudget):
            solve(sens, costs, budgets)
        return
    pick, seconds = solve(sens, costs, budgets)
    assert sum(sens[i][j] for i, j in enumerate(pick)) == pytest.approx(ref[0])
    assert seconds >= 0


def test_ilp_max_aggregate_and_impossible_budget():
    sens = [np.array([0.0, 1.0]), np.array([0.0, 1.0])]
    costs = {"sram": [np.array([100.0, 10.0]), np.array([50.0, 20.0])]}
    pick, _ = solve(sens, costs, {"sram": 60}, {"sram": "max"})
    assert pick == [1, 0]  # layer 0 must take its small option; layer 1's 50 <= 60 fits
    with pytest.raises(InfeasibleBudget, match=r"sram=15 is impossible: the smallest achievable sram .* is 20"):
        solve(sens, costs, {"sram": 15}, {"sram": "max"})
    with pytest.raises(InfeasibleBudget, match=r"luts=5 is impossible: the smallest achievable luts .* is 30"):
        solve(sens, {"luts": costs["sram"]}, {"luts": 5})


def test_ilp_sweep_monotone():
    rng = np.random.default_rng(1)
    sens = [np.sort(rng.random(6))[::-1] for _ in range(5)]  # cheaper options are more sensitive
    cost = [np.sort(rng.integers(5, 80, 6)).astype(float) for _ in range(5)]
    sols, levels, times = sweep(sens, {"luts": cost}, "luts", {}, n=25)
    assert len(sols) == 25 and len(levels) == 25 and len(times) == 25
    obj = [sum(sens[i][j] for i, j in enumerate(p)) for p in sols]
    assert all(a >= b - 1e-12 for a, b in zip(obj, obj[1:]))  # a larger budget never does worse
    tot = [sum(cost[i][j] for i, j in enumerate(p)) for p in sols]
    assert all(t <= b + 1e-6 for t, b in zip(tot, levels))


def test_nondominated_and_hypervolume():
    pts = [(1, 5), (2, 2), (3, 1), (3, 3), (2, 2), (5, 5)]
    assert nondominated(pts) == [True, True, True, False, True, False]
    # staircase of (1,5),(2,2),(3,1) under ref (4,6): 3*1 + 2*3 ... computed as a union of boxes
    assert hypervolume([(1, 5), (2, 2), (3, 1)], (4, 6)) == pytest.approx(1 * 1 + 1 * 4 + 1 * 5 + 0)
    assert hypervolume([(5, 5)], (4, 6)) == 0.0


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_hutchinson_trace_matches_exact_hessian():
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(5, 4))
    model.add_module("relu1", nn.Tanh())
    model.add_module("fc2", nn.Linear(4, 3))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 3, 32).astype(np.int64)
    est = hessian_traces(model, x, y, ["fc1", "fc2"], probes=300, seed=0)
    for name in ("fc1", "fc2"):
        w = getattr(model, name).weight

        def loss_of(wv, name=name, w=w):
            params = {k: v for k, v in model.named_parameters()}
            params[f"{name}.weight"] = wv
            out = torch.func.functional_call(model, params, (torch.from_numpy(x),))
            return torch.nn.functional.cross_entropy(out, torch.from_numpy(y))

        h = torch.autograd.functional.hessian(loss_of, w.detach().clone())
        exact = float(h.reshape(w.numel(), w.numel()).diagonal().sum())
        assert abs(est[name]["trace"] - exact) <= 4 * est[name]["std"] + 1e-6
        assert est[name]["std"] < 0.2 * abs(exact)
        assert est[name]["average"] == pytest.approx(est[name]["trace"] / w.numel())
    assert hessian_traces(model, x, y, ["fc1"], probes=8, seed=3) == hessian_traces(model, x, y, ["fc1"], 8, 3)


def test_ilp_prune_keeps_the_layer_front():
    from hwq.explore.ilp import prune

    sens = [np.array([0.5, 0.2, 0.2, 0.9, 0.1])]
    cost = {"luts": [np.array([10.0, 20.0, 20.0, 5.0, 30.0])], "ff": [np.array([1.0, 1.0, 1.0, 1.0, 2.0])]}
    # option 2 equals option 1 (first kept); none dominates another among 0, 1, 3, 4 in (sens, luts)
    assert prune(sens, cost, ["luts"])[0].tolist() == [0, 1, 3, 4]
    cost["luts"][0][4] = 20.0  # now 4 (0.1, 20) dominates 1 (0.2, 20)
    assert prune(sens, cost, ["luts"])[0].tolist() == [0, 3, 4]
    assert prune(sens, cost, ["luts", "ff"])[0].tolist() == [0, 1, 3, 4]  # 4 costs more ff than 1


def test_nsga2_stops_at_max_evals_and_ranks_genes_by_cost():
    from hwq.explore.nsga import initial_population, run_nsga2
    from hwq.explore.space import Choice

    sp = build_space(LAYERS, ACT, "fpga", {"space": {"weight": ["fixed4", "csd2", "e2m1"], "act": [4, 8], "acc": [8]}})
    lut = {"fixed<4>": 3.0, "csd<2>": 5.0, "e2m1": 1.0}

    def rec(cfg):
        cost = sum(lut[c.weight] * (c.act or 4) for c in cfg)
        return {"val_accuracy": 100 - 1000 / cost, "costs": {"luts": cost}}

    asked = []

    def score(gs):
        asked.extend(tuple(g) for g in gs)
        return [rec(sp.decode(g)) for g in gs]

    order = [[2, 0, 1] if d == "weight" else [0, 1] for _, d, _ in sp.dims()]
    pre = {tuple(sp.encode(sp.uniform("e2m1", 4, 8)))}
    run_nsga2(sp, score, ["luts"], {}, pop_size=6, generations=50, seed=0, max_evals=9, order=order, seen=pre)
    assert len(set(asked) - pre) == 9  # the cap is distinct new configurations, the seen one is free
    assert all(sp.contains(sp.decode(g)) for g in asked)
    done = [(sp.uniform(w, 4, 8), rec(sp.uniform(w, 4, 8))) for w in ("csd<2>", "fixed<4>", "e2m1")]
    done.append(((Choice("fixed<9>", 4, 8),) * 3, done[0][1]))  # outside the space: ignored
    init = initial_population(sp, done, ["luts"], {}, 2)
    assert [sp.decode(g)[0].weight for g in init] == ["e2m1", "fixed<4>"]  # front first, cheapest first
    assert initial_population(sp, done, ["luts"], {"luts": 20.0}, 3)[0] == sp.encode(sp.uniform("e2m1", 4, 8))


def test_spearman_undefined_is_nan_and_json_gets_null():
    from hwq.explore.run import _r

    assert np.isnan(spearman([1, 2, 3], [0, 0, 0])) and np.isnan(spearman([1], [2]))
    assert _r(float("nan")) is None and _r(0.123456) == 0.1235


def test_refine_set_takes_the_next_layer_and_spreads_a_cut():
    from hwq.explore.run import _refine_set

    keys = ["a", "b", "c", "d", "e"]
    vecs = [(1, 5), (2, 2), (3, 3), (5, 1), (4, 4)]  # front a, b, d; then c; then e
    assert _refine_set(keys, vecs, 1, 10, lambda k: k) == ["a", "b", "d"]
    assert _refine_set(keys, vecs, 2, 10, lambda k: k) == ["a", "b", "d", "c"]
    assert _refine_set(keys, vecs, 3, 4, lambda k: k) == ["a", "b", "d", "c"]  # the limit stops the third layer
    assert _refine_set(keys, vecs, 2, 2, lambda k: k) == ["a", "d"]  # the front cut: its two ends


def test_cost_model_hash_follows_the_cost_files(tmp_path, monkeypatch):
    import hwq.cost
    from hwq.explore.run import cost_model_hash

    h = cost_model_hash()
    assert h == cost_model_hash() and len(h) == 16
    (tmp_path / "targets").mkdir()
    (tmp_path / "__init__.py").write_text("A = 1\n")
    (tmp_path / "targets" / "xc7.toml").write_text("x = 1\n")
    monkeypatch.setattr(hwq.cost, "__file__", str(tmp_path / "__init__.py"))
    h1 = cost_model_hash()
    (tmp_path / "targets" / "xc7.toml").write_text("x = 2\n")  # a recalibrated target
    assert h1 != h and cost_model_hash() != h1


def _front_vectors(sens, cost):
    """(sensitivity, cost) vectors of the exact Pareto front of an additive instance, by brute force."""
    vecs = {
        (round(sum(s[j] for s, j in zip(sens, p)), 9), round(sum(c[j] for c, j in zip(cost, p)), 9))
        for p in itertools.product(*[range(len(s)) for s in sens])
    }
    vecs = sorted(vecs)
    return {v for v, keep in zip(vecs, nondominated(vecs)) if keep}


@pytest.mark.parametrize("seed", range(3))
def test_ilp_sweep_gap_fill_finds_the_whole_front(seed):
    rng = np.random.default_rng(seed)
    sens = [np.sort(rng.random(4))[::-1] for _ in range(4)]
    cost = [np.sort(rng.integers(5, 200, 4)).astype(float) for _ in range(4)]
    front = _front_vectors(sens, cost)

    def found(sols):
        return {
            (round(sum(s[j] for s, j in zip(sens, p)), 9), round(sum(c[j] for c, j in zip(cost, p)), 9)) for p in sols
        }

    grid, levels, times = sweep(sens, {"luts": cost}, "luts", {}, n=4)
    assert found(grid) < front  # a 4-budget grid misses front points
    sols, levels, times = sweep(sens, {"luts": cost}, "luts", {}, n=4, fill=200)
    assert found(sols) == front and len(sols) == len(levels) == len(times)
    assert sols[:4] == grid  # the grid's solutions first, unchanged
    capped, _, t = sweep(sens, {"luts": cost}, "luts", {}, n=4, fill=2)
    assert len(t) <= 6


def test_nsga2_rank_operators_always_ask_new_configurations():
    from hwq.explore.nsga import _rank_step_mutation, run_nsga2

    sp = build_space(LAYERS, ACT, "fpga", {"space": {"weight": ["fixed4", "csd2", "e2m1"], "act": [4, 8], "acc": [8]}})

    def score(gs):
        asked.extend(tuple(g) for g in gs)
        return [{"val_accuracy": float(sum(g)), "costs": {"luts": float(10 - sum(g))}} for g in gs]

    asked: list = []
    run_nsga2(sp, score, ["luts"], {}, pop_size=6, generations=30, seed=1, max_evals=40, operators="rank")
    assert len(asked) == len(set(asked)) == 40  # no configuration asked twice, the cap reached
    asked = []
    run_nsga2(sp, score, ["luts"], {}, pop_size=6, generations=30, seed=1, max_evals=40)
    assert len(asked) > len(set(asked))  # pymoo's own elimination compares with the population only

    class Problem:  # genes: 3 options, 2 options, 1 option (never drawn)
        xl, xu = np.zeros(3), np.array([2.0, 1.0, 0.0])

    X = np.zeros((200, 3))
    Y = _rank_step_mutation()(0.5)._do(Problem(), X, random_state=np.random.default_rng(0))
    assert (Y != X).any(axis=1).all() and (Y[:, 2] == 0).all() and set(Y[:, 1]) == {0.0, 1.0}
    with pytest.raises(ValueError, match="operators 'sbx'"):
        run_nsga2(sp, score, ["luts"], {}, pop_size=6, generations=1, operators="sbx")
