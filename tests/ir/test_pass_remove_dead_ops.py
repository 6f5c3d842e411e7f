"""Pass remove_dead_ops: dead branches and unused tensors go, results stay."""

from __future__ import annotations

from hwq.formats import FixedFormat as F
from hwq.ir import ReLU
from hwq.ir.passes import (
    remove_dead_ops,
)
from hwq.ir.serialize import dumps

from .pass_helpers import dense_bn, extreme_inputs, same_results


def test_remove_dead_ops():
    g = dense_bn(F(24, 12), F(24, 12))
    g.add_tensor("dead", (2,), F(8, 4))
    g.add_tensor("unused", (5,), F(8, 4))
    g.ops.insert(1, ReLU("side", ["h"], "dead"))
    g.validate()
    before = dumps(g)
    r = remove_dead_ops(g)
    assert dumps(g) == before
    assert [op.name for op in r.ops] == ["fc", "bn"]
    assert set(r.tensors) == {"x", "h", "y"}
    same_results(g, r, extreme_inputs(g, 20, 0))
