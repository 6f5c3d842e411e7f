"""Reference float models for the digits data set (``nn.Sequential``, converted by ``hwq.nn.quantize_model``)."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


def digits_mlp(hidden: tuple[int, ...] = (64, 32), inputs: int = 64, classes: int = 10) -> nn.Sequential:
    """MLP inputs-hidden...-classes with ReLU: layers fc1, relu1, fc2, relu2, ..., fc<n> (default 64-64-32-10)."""
    mods: list[tuple[str, nn.Module]] = []
    n = inputs
    for i, h in enumerate(hidden, 1):
        mods += [(f"fc{i}", nn.Linear(n, h)), (f"relu{i}", nn.ReLU())]
        n = h
    mods.append((f"fc{len(hidden) + 1}", nn.Linear(n, classes)))
    return nn.Sequential(OrderedDict(mods))


def digits_cnn(channels: tuple[int, int] = (8, 16), classes: int = 10, pool: str = "max") -> nn.Sequential:
    """Small CNN for 1x8x8 images: two 3x3 convs (padding 1) with BatchNorm and ReLU, 2x2 pooling after
    each, dense head. Layers conv1, bn1, relu1, pool1, conv2, bn2, relu2, pool2, flatten, fc.
    pool: "max" or "avg" (2x2), or "stride" (the convs stride 2 instead; no pooling layers)."""
    c1, c2 = channels
    mods: list[tuple[str, nn.Module]] = []
    stride = 2 if pool == "stride" else 1
    for i, (cin, cout) in enumerate(((1, c1), (c1, c2)), 1):
        mods += [
            (f"conv{i}", nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)),
            (f"bn{i}", nn.BatchNorm2d(cout)),
            (f"relu{i}", nn.ReLU()),
        ]
        if pool == "max":
            mods.append((f"pool{i}", nn.MaxPool2d(2)))
        elif pool == "avg":
            mods.append((f"pool{i}", nn.AvgPool2d(2)))
        elif pool != "stride":
            raise ValueError(f"model.pool: expected max, avg or stride, got {pool!r}")
    mods += [("flatten", nn.Flatten()), ("fc", nn.Linear(c2 * 2 * 2, classes))]
    return nn.Sequential(OrderedDict(mods))


class Residual(nn.Module):
    """``relu(body(x) + x)`` (``relu=False``: no ReLU after the sum); the body keeps the shape of x."""

    def __init__(self, body: nn.Sequential, relu: bool = True) -> None:
        super().__init__()
        self.body = body
        self.relu = relu

    def forward(self, x):
        y = self.body(x) + x
        return nn.functional.relu(y) if self.relu else y


def _conv_bn_relu(cin: int, cout: int, k: int = 3, groups: int = 1, relu: bool = True) -> list:
    mods = [nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return mods + [nn.ReLU()] if relu else mods


def _named(prefix: str, mods: list) -> list[tuple[str, nn.Module]]:
    kinds = {nn.Conv2d: "conv", nn.BatchNorm2d: "bn", nn.ReLU: "relu"}
    return [(f"{kinds[type(m)]}{prefix}", m) for m in mods]


def digits_dscnn(channels: tuple[int, int] = (8, 16), classes: int = 10) -> nn.Sequential:
    """Depthwise-separable CNN for 1x8x8 images: conv1 3x3 (1->c1), then two blocks of a depthwise 3x3
    (groups = channels) and a pointwise 1x1 conv, each with BatchNorm and ReLU, 2x2 max pooling after each
    block, dense head. Layers conv1.., dw2, pw2, pool2, dw3, pw3, pool3, flatten, fc."""
    c1, c2 = channels
    mods = _named("1", _conv_bn_relu(1, c1))
    mods += _named("_dw2", _conv_bn_relu(c1, c1, 3, groups=c1)) + _named("_pw2", _conv_bn_relu(c1, c2, 1))
    mods += [("pool2", nn.MaxPool2d(2))]
    mods += _named("_dw3", _conv_bn_relu(c2, c2, 3, groups=c2)) + _named("_pw3", _conv_bn_relu(c2, c2, 1))
    mods += [("pool3", nn.MaxPool2d(2)), ("flatten", nn.Flatten()), ("fc", nn.Linear(c2 * 2 * 2, classes))]
    return nn.Sequential(OrderedDict(mods))


def digits_rescnn(channels: tuple[int, int] = (8, 16), classes: int = 10) -> nn.Sequential:
    """Residual CNN for 1x8x8 images: conv1 3x3 (1->c1) + BN + ReLU, a residual block
    ``relu(x + bn(conv(relu(bn(conv(x))))))`` (an element-wise add), 2x2 max pool, conv2 (c1->c2) + BN +
    ReLU, 2x2 average pool, dense head."""
    c1, c2 = channels
    body = nn.Sequential(
        OrderedDict(_named("a", _conv_bn_relu(c1, c1)) + _named("b", _conv_bn_relu(c1, c1, relu=False)))
    )
    mods = _named("1", _conv_bn_relu(1, c1)) + [("res", Residual(body)), ("pool1", nn.MaxPool2d(2))]
    mods += _named("2", _conv_bn_relu(c1, c2)) + [("pool2", nn.AvgPool2d(2))]
    mods += [("flatten", nn.Flatten()), ("fc", nn.Linear(c2 * 2 * 2, classes))]
    return nn.Sequential(OrderedDict(mods))
