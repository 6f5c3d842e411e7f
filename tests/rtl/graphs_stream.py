"""IR graphs for the streamed-convolution tests: a small CNN and one graph per window geometry."""

from __future__ import annotations

import numpy as np

from hwq.formats import parse
from hwq.ir import Add, AvgPool, BatchNorm, Conv1d, Conv2d, Dense, Flatten, Graph, MaxPool, ReLU, Reshape
from hwq.ir.ops.avgpool import reciprocal

from .graphs import _conv_op, lossless_acc

WF, BF = parse("fixed<5,2>"), parse("fixed<6,2>")


def stream_cnn(seed: int = 0, size: int = 8, ch: int = 4, name: str = "scnn") -> Graph:
    """1 x size x size -> conv3x3 pad 1 (ch) -> ReLU -> maxpool 2x2 -> conv3x3 stride 2 pad 1 (ch) -> ReLU
    -> flatten -> dense 10; random full-range weights, lossless WRAP accumulators."""
    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], [])
    g.add_tensor("x", (1, size, size), "fixed<6,2>")
    _conv_op(
        Conv2d, g, "conv1", "x", "c1", (ch, size, size), "fixed<8,4,RND,SAT>", (ch, 1, 3, 3), WF, BF, rng,
        padding=(1, 1, 1, 1),
    )  # fmt: skip
    g.add_tensor("r1", (ch, size, size), "ufixed<6,3,RND,SAT>")
    g.add_op(ReLU("relu1", ["c1"], "r1"))
    s2 = size // 2
    g.add_tensor("p1", (ch, s2, s2), "ufixed<6,3,RND,SAT>")
    g.add_op(MaxPool("pool1", ["r1"], "p1", kernel=(2, 2), stride=(2, 2), padding=(0, 0, 0, 0)))
    s3 = (s2 + 2 - 3) // 2 + 1
    _conv_op(
        Conv2d, g, "conv2", "p1", "c2", (ch, s3, s3), "fixed<8,4,RND_CONV,SAT>", (ch, ch, 3, 3), WF, BF, rng,
        stride=(2, 2), padding=(1, 1, 1, 1),
    )  # fmt: skip
    g.add_tensor("r2", (ch, s3, s3), "ufixed<6,3,RND,SAT>")
    g.add_op(ReLU("relu2", ["c2"], "r2"))
    n = ch * s3 * s3
    g.add_tensor("flat", (n,), "ufixed<6,3,RND,SAT>")
    g.add_op(Flatten("flatten", ["r2"], "flat"))
    w = rng.integers(WF.raw_min, WF.raw_max + 1, size=(10, n))
    b = rng.integers(BF.raw_min, BF.raw_max + 1, size=(10,))
    g.add_tensor("out", (10,), "fixed<10,6,RND,SAT>")
    acc = lossless_acc(g.tensor("flat").fmt, WF, w, b, BF)
    g.add_op(Dense("fc", ["flat"], "out", weight=w, bias=b, weight_fmt=WF, bias_fmt=BF, acc_fmt=acc))
    g.outputs = ["out"]
    g.validate()
    return g


def _one_conv(name, x_shape, w_shape, y_shape, seed, cls=Conv2d, relu=True, **geom) -> Graph:
    """x -> one conv (random weights) [-> ReLU]; the graph output is the (streamed) conv/ReLU output."""
    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], [])
    g.add_tensor("x", x_shape, "fixed<6,2>")
    _conv_op(cls, g, "conv", "x", "c", y_shape, "fixed<8,4,RND_INF,SAT>", w_shape, WF, BF, rng, **geom)
    out = "c"
    if relu:
        g.add_tensor("r", y_shape, "ufixed<6,3,RND,SAT>")
        g.add_op(ReLU("relu", ["c"], "r"))
        out = "r"
    g.outputs = [out]
    g.validate()
    return g


def _maxpool_on_input(seed: int) -> Graph:
    """Signed input (negative values everywhere) -> maxpool 3x3 stride 2 padding 1: padded taps must never win."""
    g = Graph("maxpool_pad", ["x"], ["y"])
    g.add_tensor("x", (3, 7, 6), "fixed<6,2>")
    g.add_tensor("y", (3, 4, 3), "fixed<5,2,RND,SAT>")
    g.add_op(MaxPool("pool", ["x"], "y", kernel=(3, 3), stride=(2, 2), padding=(1, 1, 1, 1)))
    g.validate()
    return g


def _avgpool(seed: int, kernel: int) -> Graph:
    """conv3x3 'same' (3 ch) -> AvgPool kernel x kernel, stride 1, padding (1, 0, 0, 1) (zeros counted)."""
    rng = np.random.default_rng(seed)
    g = Graph(f"avgpool{kernel}", ["x"], [])
    g.add_tensor("x", (1, 6, 5), "fixed<6,2>")
    _conv_op(
        Conv2d, g, "conv", "x", "c", (3, 6, 5), "fixed<8,4,RND,SAT>", (3, 1, 3, 3), WF, BF, rng, padding=(1, 1, 1, 1)
    )
    r, rf = reciprocal(kernel * kernel)
    ho, wo = (6 + 1 - kernel) + 1, (5 + 1 - kernel) + 1
    g.add_tensor("y", (3, ho, wo), "fixed<7,3,RND_CONV,SAT>")
    acc = parse("fixed<14,10,TRN,WRAP>")
    g.add_op(
        AvgPool(
            "avg", ["c"], "y", kernel=(kernel, kernel), stride=(1, 1), padding=(1, 0, 0, 1), acc_fmt=acc, recip=r,
            recip_frac_bits=rf,
        )
    )  # fmt: skip
    g.outputs = ["y"]
    g.validate()
    return g


def _dense_reshape_conv(seed: int) -> Graph:
    """x (12,) -> dense 18 -> reshape (2, 3, 3) -> conv3x3 pad 1 (3 ch): a parallel layer feeding a streamed
    one through hwq_frame_split."""
    rng = np.random.default_rng(seed)
    g = Graph("dense_to_conv", ["x"], [])
    g.add_tensor("x", (12,), "fixed<6,2>")
    w = rng.integers(WF.raw_min, WF.raw_max + 1, size=(18, 12))
    b = rng.integers(BF.raw_min, BF.raw_max + 1, size=(18,))
    g.add_tensor("d", (18,), "fixed<7,3,RND,SAT>")
    acc = lossless_acc(g.tensor("x").fmt, WF, w, b, BF)
    g.add_op(Dense("fc", ["x"], "d", weight=w, bias=b, weight_fmt=WF, bias_fmt=BF, acc_fmt=acc))
    g.add_tensor("img", (2, 3, 3), "fixed<7,3,RND,SAT>")
    g.add_op(Reshape("reshape", ["d"], "img"))
    _conv_op(
        Conv2d, g, "conv", "img", "y", (3, 3, 3), "fixed<8,4,RND,SAT>", (3, 2, 3, 3), WF, BF, rng, padding=(1,) * 4
    )
    g.outputs = ["y"]
    g.validate()
    return g


def _residual(seed: int) -> Graph:
    """conv_a 'same' -> ReLU (streamed) -> conv_b 'same' -> Add(ReLU output, conv_b): the branch stays in one
    parallel layer fed through hwq_frame_collect."""
    rng = np.random.default_rng(seed)
    g = Graph("residual", ["x"], [])
    g.add_tensor("x", (2, 5, 4), "fixed<6,2>")
    _conv_op(
        Conv2d, g, "conv_a", "x", "a", (2, 5, 4), "fixed<8,4,RND,SAT>", (2, 2, 3, 3), WF, BF, rng, padding=(1,) * 4
    )
    g.add_tensor("r", (2, 5, 4), "ufixed<6,3,RND,SAT>")
    g.add_op(ReLU("relu", ["a"], "r"))
    _conv_op(
        Conv2d, g, "conv_b", "r", "b", (2, 5, 4), "fixed<8,4,RND,SAT>", (2, 2, 3, 3), WF, BF, rng, padding=(1,) * 4
    )
    g.add_tensor("y", (2, 5, 4), "fixed<7,4,RND_CONV,SAT>")
    g.add_op(Add("add", ["r", "b"], "y"))
    g.outputs = ["y"]
    g.validate()
    return g


def _saturating_conv_batchnorm(seed: int) -> Graph:
    """conv3x3 pad 1 with a narrow SAT accumulator that saturates and rounds products one by one (the IR's
    ordered chain), then a per-channel BatchNorm and a ReLU fused into the streamed layer."""
    rng = np.random.default_rng(seed)
    g = Graph("sat_conv_bn", ["x"], ["y"])
    g.add_tensor("x", (2, 5, 5), "fixed<6,2>")
    w = rng.integers(WF.raw_min, WF.raw_max + 1, size=(3, 2, 3, 3))
    b = rng.integers(BF.raw_min, BF.raw_max + 1, size=(3,))
    acc = parse("fixed<8,4,RND,SAT>")  # 4 fractional bits < F_x + F_w = 7: products rounded one by one
    g.add_tensor("c", (3, 5, 5), "fixed<8,4,RND,SAT>")
    g.add_op(Conv2d("conv", ["x"], "c", weight=w, bias=b, weight_fmt=WF, bias_fmt=BF, acc_fmt=acc, padding=(1,) * 4))
    g.add_tensor("n", (3, 5, 5), "fixed<8,3,RND_INF,SAT>")
    sf, bnf = parse("fixed<6,2>"), parse("fixed<8,3>")
    g.add_op(
        BatchNorm(
            "bn", ["c"], "n", scale=rng.integers(sf.raw_min, sf.raw_max + 1, size=(3,)),
            bias=rng.integers(bnf.raw_min, bnf.raw_max + 1, size=(3,)), scale_fmt=sf, bias_fmt=bnf,
        )
    )  # fmt: skip
    g.add_tensor("y", (3, 5, 5), "ufixed<6,3,RND,SAT>")
    g.add_op(ReLU("relu", ["n"], "y"))
    g.validate()
    return g


GEOMETRIES = {
    "stride2_pad1": lambda s: _one_conv(
        "stride2", (2, 7, 7), (3, 2, 3, 3), (3, 4, 4), s, stride=(2, 2), padding=(1,) * 4
    ),
    "dilation2": lambda s: _one_conv(
        "dilation2", (1, 8, 7), (2, 1, 3, 3), (2, 8, 7), s, dilation=(2, 2), padding=(2,) * 4
    ),
    "asymmetric_pad": lambda s: _one_conv(
        "asym", (2, 5, 6), (2, 2, 2, 3), (2, 6, 5), s, padding=(0, 2, 1, 0), stride=(1, 1)
    ),
    "groups2": lambda s: _one_conv("groups2", (4, 5, 5), (4, 2, 3, 3), (4, 3, 3), s, groups=2),
    "depthwise": lambda s: _one_conv(
        "depthwise", (3, 6, 5), (6, 1, 3, 3), (6, 6, 2), s, groups=3, padding=(1, 1, 1, 0), stride=(1, 2)
    ),
    "conv1x1": lambda s: _one_conv("conv1x1", (3, 4, 5), (5, 3, 1, 1), (5, 4, 5), s, relu=False),
    "conv1d": lambda s: _one_conv(
        "conv1d", (2, 13), (4, 2, 3), (4, 6), s, cls=Conv1d, stride=2, padding=(1, 2), dilation=2
    ),
    "maxpool_pad_input": _maxpool_on_input,
    "avgpool2x2_pad": lambda s: _avgpool(s, 2),
    "avgpool3x3_pad": lambda s: _avgpool(s, 3),
    "dense_reshape_conv": _dense_reshape_conv,
    "residual_add": _residual,
    "sat_acc_batchnorm": _saturating_conv_batchnorm,
}

__all__ = ["GEOMETRIES", "stream_cnn"]
