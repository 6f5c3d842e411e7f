"""Pass infer_accumulators: hand-derived widths, minimality, equivalence with a very wide accumulator."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import FixedFormat as F
from hwq.ir import Dense, Graph, run
from hwq.ir.passes import (
    PassError,
    infer_accumulators,
)
from hwq.ir.random_graph import random_graph
from hwq.ir.serialize import dumps

from .pass_helpers import extreme_inputs, same_results


def test_infer_accumulators_hand_example_and_minimality():
    # x fixed<4,4> in [-8, 7], w = [3, 5, 7] (fixed<4,4>), bias 2 (fixed<4,4>):
    # sums lie in [2 + 15*(-8), 2 + 15*7] = [-118, 107]; single terms in [-120, 105] -> 8 signed bits, F = 0
    g = Graph("d", ["x"], ["y"])
    g.add_tensor("x", (3,), F(4, 4))
    g.add_tensor("y", (1,), F(16, 16))
    acc = F(32, 32, True, "TRN", "SAT")
    g.add_op(Dense("fc", ["x"], "y", np.array([[3, 5, 7]]), np.array([2]), F(4, 4), F(4, 4), acc))
    before = dumps(g)
    g2 = infer_accumulators(g)
    assert dumps(g) == before  # input untouched
    assert g2.ops[0].acc_fmt == F(8, 8, True, "TRN", "SAT")
    x = np.array([[-8, -8, -8], [7, 7, 7]])
    assert run(g2, x).outputs()[0].ravel().tolist() == [-118, 107]
    # one bit fewer saturates at the corner: the inferred width is the narrowest lossless one
    g3 = infer_accumulators(g, force=F(7, 7, True, "TRN", "SAT"))
    assert run(g3, x).outputs()[0].ravel().tolist() != [-118, 107]


def test_infer_accumulators_keeps_fraction_bits_of_products_and_bias():
    g = Graph("d", ["x"], ["y"])
    g.add_tensor("x", (2,), F(6, 2))  # F_x = 4
    g.add_tensor("y", (1,), F(16, 8))
    g.add_op(Dense("fc", ["x"], "y", np.array([[1, -1]]), np.array([1]), F(4, 1), F(9, 0), F(40, 20)))
    # F_w = 3, F_b = 9 -> F_acc = max(7, 9) = 9
    assert infer_accumulators(g).ops[0].acc_fmt.frac_bits == 9


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("kind", ["dense", "conv1d", "conv2d", "avgpool", "global_avgpool"])
def test_inferred_accumulators_equal_a_very_wide_one(kind, seed):
    g = random_graph(seed, ops=[kind, "relu"])
    inferred = infer_accumulators(g)
    wide = {}
    for op in inferred.ops:
        if hasattr(op, "acc_fmt"):
            f = op.acc_fmt.frac_bits
            wide[op.name] = F(200, 200 - f)
    wide_g = infer_accumulators(g, force=wide)
    same_results(inferred, wide_g, extreme_inputs(g, 40, seed))


def test_infer_accumulators_from_measured_ranges_and_errors():
    g = random_graph(3, ops=["dense"])
    x_name = g.ops[0].inputs[0]
    narrow = infer_accumulators(g, input_ranges={x_name: (0, 1)})
    full = infer_accumulators(g)
    assert narrow.ops[0].acc_fmt.width <= full.ops[0].acc_fmt.width
    with pytest.raises(PassError, match=r"force names unknown op\(s\) \['nope'\]"):
        infer_accumulators(g, force={"nope": F(8, 8)})
