"""Quantised layers (QAT and PTQ) whose forward pass is bit-exact with the IR interpreter.

Layers: ``QInput``, ``QLinear``, ``QConv1d``, ``QConv2d`` (depthwise via groups, optional folded
BatchNorm), ``QBatchNorm``, ``QReLU``, ``QReLU6``, ``QAdd``, ``QMaxPool1d/2d``, ``QAvgPool2d``,
``QFlatten``. Quantisers: ``FixedQuantizer`` (static or learned binary point, optional learned width),
``CSDQuantizer`` (k non-zero signed digits), ``MinifloatQuantizer``; ``make_quantizer(spec)`` builds one
from a config spec. ``emulate_raw`` gives a model's outputs as raw integers.
"""

from .emulate import emulate_raw
from .layers import (
    QAdd,
    QAvgPool2d,
    QBatchNorm,
    QConv1d,
    QConv2d,
    QFlatten,
    QInput,
    QLinear,
    QMaxPool1d,
    QMaxPool2d,
    QReLU,
    QReLU6,
    fmt_of,
    lossless_acc,
    quantizers_of,
)
from .quantizers import CSDQuantizer, FixedQuantizer, MinifloatQuantizer, Quantizer

__all__ = [
    "CSDQuantizer",
    "FixedQuantizer",
    "MinifloatQuantizer",
    "QAdd",
    "QAvgPool2d",
    "QBatchNorm",
    "QConv1d",
    "QConv2d",
    "QFlatten",
    "QInput",
    "QLinear",
    "QMaxPool1d",
    "QMaxPool2d",
    "QReLU",
    "QReLU6",
    "Quantizer",
    "emulate_raw",
    "fmt_of",
    "lossless_acc",
    "quantizers_of",
]
