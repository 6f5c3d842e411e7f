"""Bit allocation by integer linear programming (HAWQ-V3 style, ``scipy.optimize.milp``).

Variables ``x[l, j]`` in {0, 1}: layer l takes its j-th choice. Minimise ``sum s[l, j] x[l, j]`` (the
sensitivity of the choice) subject to one choice per layer and, for every budget, ``sum c[l, j] x[l, j]
<= B`` (costs that add up over layers) or ``c[l, j] <= B`` for every chosen (l, j) (costs that are a
maximum over layers, such as peak SRAM). ``sweep`` solves it for budgets spread between the cheapest and
the dearest configuration of the primary cost, to trace a front.
"""

from __future__ import annotations

import time

import numpy as np


class InfeasibleBudget(ValueError):
    """No configuration meets the budgets; the message gives the smallest achievable cost of each."""


def solve(
    sens: list[np.ndarray],
    costs: dict[str, list[np.ndarray]],
    budgets: dict[str, float],
    aggregate: dict[str, str] | None = None,
    keep: list[np.ndarray] | None = None,
) -> tuple[list[int], float]:
    """One ILP: per layer l, ``sens[l][j]`` and ``costs[name][l][j]`` for its choices j; returns (the chosen
    index per layer, seconds). ``keep``: per layer, the option indices worth offering the solver (default:
    those not dominated within their layer, ``prune``). Raises InfeasibleBudget naming each budget's smallest
    achievable cost."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    aggregate = aggregate or {}
    t0 = time.perf_counter()
    _check_feasible(costs, budgets, aggregate)
    # options dominated within their layer (no lower sensitivity, no lower budgeted cost) are never needed by
    # an optimum, and the solver's problem shrinks (3 x 96 options of the digits MLP -> about 3 x 10)
    if keep is None:
        keep = prune(sens, costs, list(budgets))
    keep = [_fit_max(k, li, costs, budgets, aggregate) for li, k in enumerate(keep)]
    sens = [np.asarray(s, dtype=float)[k] for s, k in zip(sens, keep)]
    costs = {name: [np.asarray(v, dtype=float)[k] for v, k in zip(costs[name], keep)] for name in budgets}
    sizes = [len(s) for s in sens]
    n = sum(sizes)
    offs = np.cumsum([0] + sizes)
    c = np.concatenate(sens)
    upper = np.ones(n)
    rows = [np.zeros(n) for _ in sizes]
    lo, hi = [1.0] * len(sizes), [1.0] * len(sizes)
    for li, r in enumerate(rows):
        r[offs[li] : offs[li + 1]] = 1
    for name, b in budgets.items():
        vals = np.concatenate(costs[name])
        if aggregate.get(name) == "max":
            upper[vals > b] = 0
        else:
            rows.append(vals)
            lo.append(-np.inf)
            hi.append(b)
    if all(sz == 1 for sz in sizes):  # nothing left to choose
        return [int(k[0]) for k in keep], time.perf_counter() - t0
    res = milp(
        c,
        constraints=LinearConstraint(np.array(rows), lo, hi),
        integrality=np.ones(n),
        bounds=Bounds(np.zeros(n), upper),
    )
    if res.x is None:
        raise InfeasibleBudget(f"budgets {budgets}: no configuration meets all of them together")
    x = np.round(res.x).astype(int)
    pick = [int(keep[i][np.argmax(x[offs[i] : offs[i + 1]])]) for i in range(len(sizes))]
    return pick, time.perf_counter() - t0


def prune(sens: list[np.ndarray], costs: dict[str, list[np.ndarray]], names: list[str]) -> list[np.ndarray]:
    """Per layer, the indices of the options not dominated by another option of that layer in (sensitivity,
    each cost in ``names``); of equal options the first is kept. Vectorised (one comparison cube per layer)."""
    out = []
    for li in range(len(sens)):
        m = np.stack([np.asarray(sens[li], dtype=float)] + [np.asarray(costs[n][li], dtype=float) for n in names], 1)
        le = np.all(m[:, None, :] <= m[None, :, :], axis=2)  # le[a, b]: a <= b everywhere
        lt = np.any(m[:, None, :] < m[None, :, :], axis=2)
        eq = le & le.T
        idx = np.arange(len(m))
        dominated = np.any(le & lt, axis=0) | np.any(eq & (idx[:, None] < idx[None, :]), axis=0)
        out.append(np.flatnonzero(~dominated))
    return out


def _fit_max(keep: np.ndarray, li: int, costs, budgets, aggregate) -> np.ndarray:
    """``keep`` without the options that break a max-aggregated budget on their own (the feasibility check
    guarantees one remains; if pruning removed them all, the cheapest such option is offered)."""
    ok = np.ones(len(keep), dtype=bool)
    for n, b in budgets.items():
        if aggregate.get(n) == "max":
            ok &= np.asarray(costs[n][li], dtype=float)[keep] <= b
    if ok.any():
        return keep[ok]
    full = np.ones(len(costs[next(iter(budgets))][li]), dtype=bool)
    for n, b in budgets.items():
        if aggregate.get(n) == "max":
            full &= np.asarray(costs[n][li], dtype=float) <= b
    return np.flatnonzero(full)[:1]


def smallest(costs: list[np.ndarray], agg: str = "sum") -> float:
    """The smallest achievable total of one cost (per-layer minimum, summed or maxed)."""
    mins = [float(np.min(v)) for v in costs]
    return max(mins) if agg == "max" else sum(mins)


def _check_feasible(costs, budgets, aggregate) -> None:
    for name, b in budgets.items():
        lo = smallest(costs[name], aggregate.get(name, "sum"))
        if lo > b:
            raise InfeasibleBudget(
                f"--budget {name}={b:g} is impossible: the smallest achievable {name} in this space is {lo:.0f}"
            )


def sweep(
    sens: list[np.ndarray],
    costs: dict[str, list[np.ndarray]],
    primary: str,
    budgets: dict[str, float],
    n: int = 25,
    aggregate: dict[str, str] | None = None,
    fill: int = 0,
) -> tuple[list[list[int]], list[float], list[float]]:
    """Solve the ILP for ``n`` budgets of ``primary`` spread geometrically between its smallest and largest
    achievable total (capped by ``budgets[primary]`` when given); other budgets stay fixed. ``fill``: at most
    that many more solves that fill the gaps of the grid (epsilon-constraint steps, widest gap first): just
    below a solution's own primary cost the ILP answers the next cheaper point of the (sensitivity, cost)
    front, which a grid misses when front points lie closer together than its step. Returns (solutions, the
    primary budgets, the solve times in seconds), aligned; the fill's solves come after the grid's."""
    aggregate = aggregate or {}
    agg = aggregate.get(primary, "sum")
    lo = smallest(costs[primary], agg)
    hi = (
        max(float(np.max(v)) for v in costs[primary]) if agg == "max" else sum(float(np.max(v)) for v in costs[primary])
    )
    _check_feasible(costs, budgets, aggregate)
    if primary in budgets:
        hi = min(hi, budgets[primary])
    _check_feasible(costs, {**budgets, primary: max(hi, lo)}, aggregate)
    levels = np.geomspace(max(lo, 1e-9), max(hi, lo * (1 + 1e-9), 1e-9), n) if n > 1 else np.array([hi])
    keep = prune(sens, costs, sorted({*budgets, primary}))  # the same for every level of the sweep
    sols, times = [], []
    for b in levels:
        try:
            pick, dt = solve(sens, costs, {**budgets, primary: float(b) * (1 + 1e-12)}, aggregate, keep)
        except InfeasibleBudget:
            continue
        sols.append(pick)
        times.append(dt)
    levels = [float(b) for b in levels]
    if fill > 0 and agg == "sum" and sols:
        _fill_gaps(sens, costs, primary, budgets, aggregate, keep, lo, fill, sols, levels, times)
    return sols, levels, times


def _fill_gaps(sens, costs, primary, budgets, aggregate, keep, lo, fill, sols, levels, times) -> None:
    """Epsilon-constraint steps for ``sweep`` (appends to ``sols``, ``levels``, ``times``): repeatedly take the
    distinct solution with the widest primary-cost gap to the next cheaper known solution and solve just
    below its cost; a new answer splits the gap, a known one closes it. At most ``fill`` solves."""

    def total(p) -> float:
        return float(sum(costs[primary][li][j] for li, j in enumerate(p)))

    known = {tuple(p): total(p) for p in sols}
    closed: set = set()
    for _ in range(fill):
        pts = sorted(known.items(), key=lambda kv: (kv[1], kv[0]))
        gaps = [(pts[i][1] - (pts[i - 1][1] if i else lo), pts[i][0]) for i in range(len(pts))]
        gaps = [(g, p) for g, p in gaps if p not in closed and g > 0]
        if not gaps:
            return
        _, p = max(gaps, key=lambda gp: (gp[0], gp[1]))
        closed.add(p)
        # just below p's cost; the solver's feasibility tolerance (about 1e-6 of the row) needs a clear step
        b = known[p] - max(1e-3, 1e-6 * abs(known[p]))
        if b < lo:
            continue
        try:
            pick, dt = solve(sens, costs, {**budgets, primary: b}, aggregate, keep)
        except InfeasibleBudget:
            continue
        if total(pick) > b:  # within the solver's tolerance only: no cheaper point found
            continue
        sols.append(pick)
        levels.append(float(b))
        times.append(dt)
        known.setdefault(tuple(pick), total(pick))
