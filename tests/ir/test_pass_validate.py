"""Pass validate: every problem named."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import FixedFormat as F
from hwq.ir import Conv2d, Graph, GraphError, Op, ReLU, Requantize, run
from hwq.ir.passes import (
    validate,
)

from .pass_helpers import dense_bn


def test_validate_names_the_problem():
    g = dense_bn(F(24, 12), F(24, 12))
    assert validate(g) is g

    class Mystery(Op):
        kind = "mystery"

    bad = dense_bn(F(24, 12), F(24, 12))
    bad.ops.append(Mystery("m", ["y"], "z"))
    bad.add_tensor("z", (2,), F(8, 8))
    with pytest.raises(GraphError, match=r"op 'm': kind 'mystery' has no interpreter implementation"):
        validate(bad)
    bad = dense_bn(F(24, 12), F(24, 12))
    bad.inputs = ["x", "x"]
    with pytest.raises(GraphError, match=r"an input is listed twice"):
        validate(bad)
    bad = dense_bn(F(24, 12), F(24, 12))
    bad.ops[1].scale = np.array([11, -6, 1])
    with pytest.raises(GraphError, match=r"op 'bn' \(batchnorm\): scale has shape \(3,\), expected \(2,\)"):
        validate(bad)
    bad = dense_bn(F(24, 12), F(24, 12))
    w, b = np.zeros((2, 3, 1, 1), np.int64), np.zeros(2, np.int64)
    bad.ops[0] = Conv2d("fc", ["x"], "h", w, b, F(4, 4), F(4, 4), F(8, 8))
    with pytest.raises(GraphError, match=r"op 'fc' \(conv2d\): input 'x' must be \(C, H, W\)"):
        validate(bad)


def test_validate_affine_int_tensors_only_around_dyadic_requantize():
    from hwq.formats import parse

    g = Graph("aff", ["x"], ["q"])
    g.add_tensor("x", (2,), F(16, 16))
    g.add_tensor("q", (2,), parse("int<8,scale=0.1,zp=3>"))
    g.add_op(Requantize("rq", ["x"], "q", "dyadic", np.array([1 << 30]), np.array([0]), out_offset=3))
    validate(g)
    y = run(g, np.array([[10, -10]])).outputs()[0]
    assert y.tolist() == [[5 + 3, -5 + 3]]  # 10 * 0.5 = 5 (+ offset 3)
    g.add_tensor("r", (2,), F(8, 8))
    g.add_op(ReLU("relu", ["q"], "r"))
    g.outputs = ["r"]
    with pytest.raises(GraphError, match=r"op 'relu' \(relu\): tensor 'q' has format int<8,.*no power-of-two LSB"):
        validate(g)
