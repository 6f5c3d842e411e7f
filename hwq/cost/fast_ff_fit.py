"""Fit of the fast FPGA estimate's flip-flop constants (``fast.K_FF``) against the exact model.

Kept apart from ``fast`` because it runs both planners (``fast_plan.plan_fast``, ``rtl_plan.plan_rtl``),
which import ``fast`` themselves.
"""

from __future__ import annotations

import numpy as np

from .fast import K_FF
from .fast_plan import plan_fast
from .rtl_plan import plan_rtl


def fit_fast_ff(graphs: list, pipelines: tuple = (1, 2, 3)) -> dict:
    """``K_FF`` fitted on ``graphs`` (IR graphs; each at every pipeline depth of ``pipelines``): per layer
    module, the exact model's flip-flops (``rtl_plan.plan_rtl``, bit-level liveness) minus the output
    register and valid flags, against the fast model's ``_stage_register_terms``; non-negative least
    squares on the relative error. Returns {term: flip-flops per bit}."""
    from scipy.optimize import nnls

    keys = tuple(K_FF)
    rows, target, weight = [], [], []
    for g in graphs:
        for p in pipelines:
            for fe, ff in zip(plan_rtl(g, pipeline=p), plan_fast(g, pipeline=p)):
                if fe.style == "pixel":
                    continue
                rows.append([ff.extra["ff_terms"][k] for k in keys])
                target.append(fe.ff - ff.extra["ff_fixed"])
                weight.append(1.0 / max(fe.ff, 1))
    x, w = np.asarray(rows) * np.asarray(weight)[:, None], np.asarray(target) * np.asarray(weight)
    coef, _ = nnls(x, w)
    return {k: round(float(v), 4) for k, v in zip(keys, coef)}
