"""Shared helpers of the pass tests: corner-case inputs, equivalence check, a dense+batchnorm graph."""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat as F
from hwq.ir import BatchNorm, Dense, Graph, run
from hwq.ir.random_graph import random_inputs


def extreme_inputs(g: Graph, n: int, seed: int) -> dict:
    """Random raws plus the corners of each input range (all-min, all-max, alternating)."""
    x = random_inputs(g, n, seed)
    for name, arr in x.items():
        f = g.tensor(name).fmt
        arr[0] = f.raw_min
        arr[1] = f.raw_max
        flat = arr[2].reshape(-1)
        flat[::2], flat[1::2] = f.raw_min, f.raw_max
        rng = np.random.default_rng(seed)
        for i in range(3, min(n, 12)):
            arr[i] = np.where(rng.random(arr[i].shape) < 0.5, f.raw_min, f.raw_max)
    return x


def same_results(g1: Graph, g2: Graph, x) -> None:
    a, b = run(g1, x).outputs(), run(g2, x).outputs()
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(u, v)


def dense_bn(out_fmt, acc) -> Graph:
    g = Graph("fb", ["x"], ["y"])
    g.add_tensor("x", (3,), F(6, 2))
    g.add_tensor("h", (2,), out_fmt)
    g.add_tensor("y", (2,), F(10, 4, True, "RND_CONV", "SAT"))
    w = np.array([[5, -3, 7], [-8, 2, 1]])
    g.add_op(Dense("fc", ["x"], "h", w, np.array([3, -2]), F(5, 1), F(6, 2), acc))
    g.add_op(BatchNorm("bn", ["h"], "y", np.array([11, -6]), np.array([9, -20]), F(6, 2), F(8, 3)))
    g.validate()
    return g
