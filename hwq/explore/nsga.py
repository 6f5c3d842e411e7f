"""Multi-objective evolutionary search (NSGA-II, Deb et al. 2002, from ``pymoo``) over per-layer choices.

Genes: one integer per (layer, dimension) of the space (``Space.dims``). Objectives (all minimised):
the validation error in percent (100 - PTQ accuracy) and each objective cost; budgets are inequality
constraints ``cost - budget <= 0``. Evaluations go through the cached ``Evaluator`` (a whole generation at
a time, so they run in parallel); the initial population may be seeded (uniform configurations, ILP
solutions) and is filled up with seeded random genes.

Three things make the integer search efficient on a small evaluation budget:

- ``order``: per gene, its options ranked by cost (cheapest first), so that the simulated-binary crossover
  and polynomial mutation, which treat a gene as a number, move between neighbouring costs (the options of
  a weight-format gene such as ``fixed<2>, csd<1>, e2m1`` have no order of their own);
- ``max_evals``: the search stops once that many distinct configurations were asked for; the ones beyond it
  in the last generation get the worst objective values and are not scored;
- genes already asked for are not counted again (the evaluator caches them).

``operators="rank"`` replaces polynomial mutation by a rank-step mutation that always changes a gene and
pymoo's duplicate elimination by one against every configuration evaluated in the run (see
``_rank_step_mutation``); on the hypervolume benchmark (``benchmarks/bench_explore.py``) it does no better
than the default, so the default stays ``"pm"``.
"""

from __future__ import annotations

import numpy as np

from .space import Space

#: objective value given to candidates beyond ``max_evals`` (worse than any real one)
_UNSCORED = 1e15


def run_nsga2(
    space: Space,
    score,
    objectives: list[str],
    budgets: dict[str, float],
    pop_size: int = 24,
    generations: int = 8,
    seed: int = 0,
    initial: list[list[int]] | None = None,
    max_evals: int | None = None,
    order: list[list[int]] | None = None,
    mutation_eta: float = 3.0,
    seen: set | None = None,
    operators: str = "pm",
):
    """Run NSGA-II. ``score(list of gene lists) -> list of records`` (``val_accuracy``, ``costs``).

    ``initial``: gene lists placed first in the initial population; ``order``: per gene, the option indices
    from cheapest to dearest (the search works on ranks; default: the space's order); ``max_evals``: stop
    after that many distinct configurations (``seen``: genes already scored by the caller, not counted).
    Returns the list of every gene vector scored, in order."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.termination import get_termination

    dims = space.dims()
    order = [list(o) for o in order] if order else [list(range(n)) for _, _, n in dims]
    rank_of = [{g: r for r, g in enumerate(o)} for o in order]
    xu = np.array([n - 1 for _, _, n in dims], dtype=float)
    asked: list[list[int]] = []
    archive: set = set()  # rank vectors already evaluated (or refused beyond max_evals)
    known = set(seen or ())
    counted: set = set()
    bnames = sorted(budgets)
    stop = [False]

    def genes_of(row) -> list[int]:
        return [order[d][int(round(v))] for d, v in enumerate(row)]

    class _P(Problem):
        def __init__(self):
            super().__init__(n_var=len(dims), n_obj=1 + len(objectives), n_ieq_constr=len(bnames), xl=0.0, xu=xu)

        def _evaluate(self, X, out, *args, **kwargs):
            if not archive:  # after the initial population was formed (its duplicate check must not see these)
                archive.update(tuple(rank_of[d][g] for d, g in enumerate(gs)) for gs in known)
            archive.update(tuple(int(round(v)) for v in row) for row in X)
            genes = [genes_of(row) for row in X]
            ok = []
            for g in genes:
                t = tuple(g)
                if t in known or t in counted:
                    ok.append(True)
                elif max_evals is None or len(counted) < max_evals:
                    counted.add(t)
                    ok.append(True)
                else:
                    ok.append(False)
                    stop[0] = True
            todo = [g for g, k in zip(genes, ok) if k]
            asked.extend(todo)
            recs = iter(score(todo) if todo else [])
            f, gc = [], []
            for k in ok:
                if not k:
                    f.append([_UNSCORED] * (1 + len(objectives)))
                    gc.append([_UNSCORED] * len(bnames))
                    continue
                r = next(recs)
                f.append([100.0 - r["val_accuracy"]] + [float(r["costs"][o]) for o in objectives])
                gc.append([float(r["costs"][b]) - budgets[b] for b in bnames])
            out["F"] = np.array(f)
            if bnames:
                out["G"] = np.array(gc)
            if max_evals is not None and len(counted) >= max_evals:
                stop[0] = True

    rng = np.random.default_rng(seed)
    init = []
    for g in initial or []:
        r = [rank_of[d][int(x)] for d, x in enumerate(g)]
        if r not in init:
            init.append(r)
    init = init[:pop_size]
    have = {tuple(g) for g in init}
    tries = 0
    while len(init) < pop_size and tries < 100 * pop_size:
        g = [int(rng.integers(0, n)) for _, _, n in dims]
        tries += 1
        if tuple(g) not in have:
            have.add(tuple(g))
            init.append(g)
    if operators not in ("pm", "rank"):
        raise ValueError(f"NSGA-II operators {operators!r}: expected pm or rank")
    crossover = SBX(prob=0.9, eta=3.0, vtype=float, repair=RoundingRepair())
    if operators == "rank":
        mutation, dup = _rank_step_mutation()(0.5), _novel_elimination()(archive)
    else:
        mutation, dup = PM(prob=1.0, eta=mutation_eta, vtype=float, repair=RoundingRepair()), True
    algo = NSGA2(
        pop_size=pop_size,
        sampling=np.array(init, dtype=float),
        crossover=crossover,
        mutation=mutation,
        eliminate_duplicates=dup,
    )
    algo.setup(_P(), termination=get_termination("n_gen", generations), seed=seed, verbose=False)
    while algo.has_next() and not stop[0]:
        algo.next()
    return asked


def initial_population(space: Space, evaluated: list[tuple], objectives: list[str], budgets: dict, size: int):
    """Genes of up to ``size`` already evaluated configurations of the space (``(config, record)`` pairs,
    records with ``val_accuracy`` and ``costs``), best first: by non-dominated rank of (validation error,
    objective costs) with budget-breaking ones last, then by the first objective cost."""
    from .pareto import nondominated

    rows = []
    for cfg, r in evaluated:
        if space.contains(cfg):
            ok = all(r["costs"][b] <= lim for b, lim in budgets.items())
            rows.append(
                (tuple(space.encode(cfg)), ok, [100.0 - r["val_accuracy"]] + [r["costs"][o] for o in objectives])
            )
    rows = list({g: (g, ok, f) for g, ok, f in rows}.values())
    rank = {}
    left = [r for r in rows if r[1]]
    level = 0
    while left:
        nd = nondominated([tuple(r[2]) for r in left])
        for r, k in zip(left, nd):
            if k:
                rank[r[0]] = level
        left = [r for r, k in zip(left, nd) if not k]
        level += 1
    rows.sort(key=lambda r: (0 if r[1] else 1, rank.get(r[0], level), r[2][1] if len(r[2]) > 1 else 0, r[0]))
    return [list(r[0]) for r in rows[:size]]


def _rank_step_mutation():
    from pymoo.core.mutation import Mutation

    class RankStep(Mutation):
        """Integer mutation on cost-ranked genes: every candidate changes at least one gene; each gene (of
        those with more than one option) changes with probability 1 / their number, to a neighbouring rank
        with probability ``step``, else to any other rank uniformly. Unlike polynomial mutation followed by
        rounding, a chosen gene always moves (PM with eta 3 changes a two-option gene about 3 times in 100
        after rounding, a five-option gene 30-56 times in 100), and genes with one option are not drawn."""

        def __init__(self, step: float = 0.5):
            super().__init__(prob=1.0)
            self.step = step

        def _do(self, problem, X, *args, random_state=None, **kwargs):
            X = np.rint(np.asarray(X, dtype=float))
            n = np.rint(problem.xu - problem.xl).astype(int) + 1
            free = np.flatnonzero(n > 1)
            if not len(free):
                return X
            for row in X:
                pick = free[random_state.random(len(free)) < 1.0 / len(free)]
                if not len(pick):
                    pick = [int(random_state.choice(free))]
                for d in pick:
                    r, k = int(row[d]), int(n[d])
                    if random_state.random() < self.step:
                        to = [x for x in (r - 1, r + 1) if 0 <= x < k]
                    else:
                        to = [x for x in range(k) if x != r]
                    row[d] = float(to[int(random_state.integers(len(to)))])
            return X

    return RankStep


def _novel_elimination():
    from pymoo.core.duplicate import DefaultDuplicateElimination

    class Novel(DefaultDuplicateElimination):
        """pymoo's duplicate elimination, plus: an offspring equal to any configuration evaluated earlier in
        the run (``archive`` of rank vectors; not only the current population) is a duplicate, so that every
        offspring slot asks for a new configuration."""

        def __init__(self, archive: set):
            super().__init__()
            self.archive = archive

        def _do(self, pop, other, is_duplicate):
            is_duplicate = super()._do(pop, other, is_duplicate)
            if other is None:
                for i, x in enumerate(pop.get("X")):
                    if tuple(int(round(v)) for v in x) in self.archive:
                        is_duplicate[i] = True
            return is_duplicate

    return Novel
