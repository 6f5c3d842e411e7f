"""IR graphs with branching pixel streams (fork/join) for the streamed residual tests."""

from __future__ import annotations

import numpy as np

from hwq.formats import parse
from hwq.ir import Add, Concat, Conv2d, Dense, Flatten, Graph, Multiply, ReLU

from .graphs import _conv_op, lossless_acc

WF, BF = parse("fixed<5,2>"), parse("fixed<6,2>")
ACT = "ufixed<6,3,RND,SAT>"


def inception(seed: int = 0) -> Graph:
    """x (2, 6, 5) forks: conv1x1 (3 ch) and conv3x3 pad 1 (2 ch) -> ReLU; Concat along channels (different
    formats, cast to the output's) -> conv3x3 stride 2 pad 1 (3 ch); the output is streamed."""
    rng = np.random.default_rng(seed)
    g = Graph("inception", ["x"], [])
    g.add_tensor("x", (2, 6, 5), "fixed<6,2>")
    _conv_op(Conv2d, g, "c1x1", "x", "a", (3, 6, 5), "fixed<7,3,RND,SAT>", (3, 2, 1, 1), WF, BF, rng)
    _conv_op(Conv2d, g, "c3x3", "x", "b", (2, 6, 5), "fixed<8,4,RND,SAT>", (2, 2, 3, 3), WF, BF, rng, padding=(1,) * 4)
    g.add_tensor("rb", (2, 6, 5), ACT)
    g.add_op(ReLU("relu", ["b"], "rb"))
    g.add_tensor("cat", (5, 6, 5), "fixed<7,3,RND_CONV,SAT>")
    g.add_op(Concat("cat", ["a", "rb"], "cat", axis=0))
    _conv_op(
        Conv2d, g, "head", "cat", "y", (3, 3, 3), "fixed<8,4,RND,SAT>", (3, 5, 3, 3), WF, BF, rng,
        stride=(2, 2), padding=(1,) * 4,
    )  # fmt: skip
    g.outputs = ["y"]
    g.validate()
    return g


def input_gate(seed: int = 0) -> Graph:
    """x (2, 5, 6) read three times: conv3x3 pad 1 -> ReLU r; m = Mul(x, r); y = Add(m, x) (a pixel layer
    as the last layer, its output streamed)."""
    rng = np.random.default_rng(seed)
    g = Graph("input_gate", ["x"], [])
    g.add_tensor("x", (2, 5, 6), "fixed<6,2>")
    _conv_op(Conv2d, g, "conv", "x", "c", (2, 5, 6), "fixed<8,4,RND,SAT>", (2, 2, 3, 3), WF, BF, rng, padding=(1,) * 4)
    g.add_tensor("r", (2, 5, 6), ACT)
    g.add_op(ReLU("relu", ["c"], "r"))
    g.add_tensor("m", (2, 5, 6), "fixed<8,4,RND,SAT>")
    g.add_op(Multiply("gate", ["x", "r"], "m"))
    g.add_tensor("y", (2, 5, 6), "fixed<8,4,RND_CONV,SAT>")
    g.add_op(Add("skip", ["m", "x"], "y"))
    g.outputs = ["y"]
    g.validate()
    return g


def downsample_block(seed: int = 0) -> Graph:
    """ResNet downsampling block on x (2, 8, 7): conv3x3 stride 2 pad 1 -> ReLU -> conv3x3 pad 1, skip conv1x1
    stride 2; Add -> ReLU -> flatten -> dense 5 (a parallel head fed through hwq_frame_collect)."""
    rng = np.random.default_rng(seed)
    g = Graph("downsample", ["x"], [])
    g.add_tensor("x", (2, 8, 7), "fixed<6,2>")
    s = (3, 4, 4)
    _conv_op(
        Conv2d, g, "ca", "x", "a", s, "fixed<8,4,RND,SAT>", (3, 2, 3, 3), WF, BF, rng, stride=(2, 2), padding=(1,) * 4
    )
    g.add_tensor("ra", s, ACT)
    g.add_op(ReLU("relu_a", ["a"], "ra"))
    _conv_op(Conv2d, g, "cb", "ra", "b", s, "fixed<8,4,RND,SAT>", (3, 3, 3, 3), WF, BF, rng, padding=(1,) * 4)
    _conv_op(Conv2d, g, "cs", "x", "sk", s, "fixed<7,3,RND,SAT>", (3, 2, 1, 1), WF, BF, rng, stride=(2, 2))
    g.add_tensor("sum", s, "fixed<8,4,RND,SAT>")
    g.add_op(Add("add", ["b", "sk"], "sum"))
    g.add_tensor("r", s, ACT)
    g.add_op(ReLU("relu", ["sum"], "r"))
    g.add_tensor("flat", (48,), ACT)
    g.add_op(Flatten("flatten", ["r"], "flat"))
    w = rng.integers(WF.raw_min, WF.raw_max + 1, size=(5, 48))
    b = rng.integers(BF.raw_min, BF.raw_max + 1, size=(5,))
    g.add_tensor("out", (5,), "fixed<10,6,RND,SAT>")
    acc = lossless_acc(g.tensor("flat").fmt, WF, w, b, BF)
    g.add_op(Dense("fc", ["flat"], "out", weight=w, bias=b, weight_fmt=WF, bias_fmt=BF, acc_fmt=acc))
    g.outputs = ["out"]
    g.validate()
    return g


BRANCHING = {"inception": inception, "input_gate": input_gate, "downsample": downsample_block}

__all__ = ["BRANCHING", "downsample_block", "inception", "input_gate"]
