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
