"""Pass fold_constants: float parameters quantised with their declared formats."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import FixedFormat as F
from hwq.ir import Dense, Graph, GraphError, Requantize, run
from hwq.ir.passes import (
    PassError,
    fold_constants,
    validate,
)
from hwq.ir.serialize import dumps


def test_fold_constants_quantises_with_the_declared_format():
    g = Graph("fc", ["x"], ["y"])
    g.add_tensor("x", (3,), F(8, 4))
    g.add_tensor("y", (1,), F(16, 8))
    # fixed<4,1,RND>: LSB 1/8. 0.3 -> 2.4 -> 2; -0.5625 -> -4.5 -> -4 (RND: ties up); 0.9 -> 7.2 -> 7
    w = np.array([[0.3, -0.5625, 0.9]])
    g.add_op(Dense("d", ["x"], "y", w, np.array([0.25]), F(4, 1, True, "RND"), F(4, 2), F(24, 12)))
    with pytest.raises(GraphError, match=r"op 'd' \(dense\): weight holds floats; quantise it"):
        g.validate()
    with pytest.raises(GraphError, match=r"op 'd' \(dense\): parameter 'weight' holds float64 values"):
        run(g, np.zeros((1, 3), np.int64))
    before = dumps(g)
    q = fold_constants(g)
    assert dumps(g) == before
    assert q.ops[0].weight.tolist() == [[2, -4, 7]] and q.ops[0].weight.dtype == np.int64
    assert q.ops[0].bias.tolist() == [1]  # 0.25 in fixed<4,2> (LSB 1/4)
    validate(q)


def test_fold_constants_strict_range_and_dyadic_scales():
    g = Graph("fc", ["x"], ["y"])
    g.add_tensor("x", (1,), F(8, 4))
    g.add_tensor("y", (1,), F(16, 8))
    g.add_op(Dense("d", ["x"], "y", np.array([[3.0]]), np.array([0.0]), F(4, 1), F(4, 2), F(24, 12)))
    msg = r"op 'd' \(dense\) weight: values in \[3.0, 3.0\] exceed the range of fixed<4,1>"
    with pytest.raises(PassError, match=msg):
        fold_constants(g)
    assert fold_constants(g, strict=False).ops[0].weight.tolist() == [[-8]]  # WRAP: 24 mod 16 -> -8

    g = Graph("rq", ["x"], ["y"])
    g.add_tensor("x", (2,), F(16, 16))
    g.add_tensor("y", (2,), F(8, 8))
    g.add_op(Requantize("r", ["x"], "y", "dyadic", np.array([0.75, 0.375]), None))
    q = fold_constants(g)
    # 0.75 = 0.75 * 2**0 -> m = 0.75 * 2**31, s = 0; 0.375 = 0.75 * 2**-1 -> s = -1
    assert q.ops[0].multiplier.tolist() == [3 << 29, 3 << 29] and q.ops[0].shift.tolist() == [0, -1]
    assert run(q, np.array([[100, 100]])).outputs()[0].tolist() == [[75, 38]]  # 37.5 rounds away from 0
