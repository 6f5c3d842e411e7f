"""Quantised layers (QAT and PTQ) whose forward pass is bit-exact with the IR interpreter.

Layers: ``QInput``, ``QLinear``, ``QConv1d``, ``QConv2d`` (depthwise via groups, optional folded
BatchNorm), ``QBatchNorm``, ``QReLU``, ``QReLU6``, ``QAdd``, ``QMaxPool1d/2d``, ``QAvgPool1d/2d``,
``QGlobalAvgPool`` (also ``nn.AdaptiveAvgPool1d/2d(1)``), ``QFlatten``.
Quantisers: ``FixedQuantizer`` (static or learned binary point, optional learned width),
``CSDQuantizer`` (k non-zero signed digits), ``MinifloatQuantizer``; ``make_quantizer(spec)`` builds one
from a config spec; ``quantize_model(model, quant_config, x)`` converts a float ``nn.Sequential``.
``emulate_raw`` gives a model's outputs as raw integers.
"""

from .convert import quantize_model
from .emulate import emulate_raw
from .layers import (
    QAdd,
    QAvgPool1d,
    QAvgPool2d,
    QBatchNorm,
    QConv1d,
    QConv2d,
    QFlatten,
    QGlobalAvgPool,
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
from .spec import make_quantizer

__all__ = [
    "CSDQuantizer",
    "FixedQuantizer",
    "MinifloatQuantizer",
    "QAdd",
    "QAvgPool1d",
    "QAvgPool2d",
    "QBatchNorm",
    "QConv1d",
    "QConv2d",
    "QFlatten",
    "QGlobalAvgPool",
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
    "make_quantizer",
    "quantize_model",
    "quantizers_of",
]
