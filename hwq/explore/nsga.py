"""Multi-objective evolutionary search (NSGA-II, Deb et al. 2002, from ``pymoo``) over per-layer choices.

Genes: one integer per (layer, dimension) of the space (``Space.dims``). Objectives (all minimised):
the validation error in percent (100 - PTQ accuracy) and each objective cost; budgets are inequality
constraints ``cost - budget <= 0``. Evaluations go through the cached ``Evaluator`` (a whole generation at
a time, so they run in parallel); the initial population may be seeded (uniform configurations, ILP
solutions) and is filled up with seeded random genes.
"""

from __future__ import annotations

import numpy as np

from .space import Space


def run_nsga2(
    space: Space,
    score,
    objectives: list[str],
    budgets: dict[str, float],
    pop_size: int = 24,
    generations: int = 8,
    seed: int = 0,
    initial: list[list[int]] | None = None,
):
    """Run NSGA-II. ``score(list of gene lists) -> list of records`` (``val_accuracy``, ``costs``).
    Returns the list of every gene vector the algorithm asked for, in order."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.optimize import minimize

    dims = space.dims()
    xu = np.array([n - 1 for _, _, n in dims], dtype=float)
    asked: list[list[int]] = []
    bnames = sorted(budgets)

    class _P(Problem):
        def __init__(self):
            super().__init__(n_var=len(dims), n_obj=1 + len(objectives), n_ieq_constr=len(bnames), xl=0.0, xu=xu)

        def _evaluate(self, X, out, *args, **kwargs):
            genes = [[int(round(v)) for v in row] for row in X]
            asked.extend(genes)
            recs = score(genes)
            out["F"] = np.array(
                [[100.0 - r["val_accuracy"]] + [float(r["costs"][o]) for o in objectives] for r in recs]
            )
            if bnames:
                out["G"] = np.array([[float(r["costs"][b]) - budgets[b] for b in bnames] for r in recs])

    rng = np.random.default_rng(seed)
    init = [list(g) for g in (initial or [])][:pop_size]
    seen = {tuple(g) for g in init}
    tries = 0
    while len(init) < pop_size and tries < 100 * pop_size:
        g = [int(rng.integers(0, n)) for _, _, n in dims]
        tries += 1
        if tuple(g) not in seen:
            seen.add(tuple(g))
            init.append(g)
    algo = NSGA2(
        pop_size=pop_size,
        sampling=np.array(init, dtype=float),
        crossover=SBX(prob=0.9, eta=3.0, vtype=float, repair=RoundingRepair()),
        mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
        eliminate_duplicates=True,
    )
    minimize(_P(), algo, ("n_gen", generations), seed=seed, verbose=False)
    return asked
