"""Small Brevitas QAT models (power-of-two scales) trained for a few steps on random data."""

from __future__ import annotations

import torch
from torch import nn


def _qnn():
    import brevitas.nn as qnn
    from brevitas import quant

    return qnn, quant


def brevitas_mlp() -> nn.Module:
    """16-32-16-5 MLP: int8 input, per-tensor int8 weights, int16 biases, uint8 ReLUs, 4-bit middle weights."""
    qnn, q = _qnn()
    return nn.Sequential(
        qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.QuantLinear(16, 32, weight_quant=q.Int8WeightPerTensorFixedPoint, bias_quant=q.Int16Bias,
                        return_quant_tensor=True),
        qnn.QuantReLU(act_quant=q.Uint8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.QuantLinear(32, 16, weight_quant=q.Int8WeightPerTensorFixedPoint, weight_bit_width=4,
                        bias_quant=q.Int16Bias, return_quant_tensor=True),
        qnn.QuantReLU(act_quant=q.Uint8ActPerTensorFixedPoint, bit_width=6, return_quant_tensor=True),
        nn.Dropout(0.1),
        qnn.QuantLinear(16, 5, weight_quant=q.Int8WeightPerTensorFixedPoint, bias_quant=q.Int16Bias,
                        return_quant_tensor=True),
    )  # fmt: skip


def brevitas_cnn() -> nn.Module:
    """1x8x8 CNN: two 3x3 convs (per-channel power-of-two weights, one strided), max pool, dense head."""
    qnn, q = _qnn()
    return nn.Sequential(
        qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.QuantConv2d(1, 6, 3, padding=1, weight_quant=q.Int8WeightPerChannelFixedPointMSE,
                        bias_quant=q.Int16Bias, return_quant_tensor=True),
        qnn.QuantReLU(act_quant=q.Uint8ActPerTensorFixedPoint, return_quant_tensor=True),
        nn.MaxPool2d(2),
        qnn.QuantConv2d(6, 8, 3, stride=2, padding=1, weight_quant=q.Int8WeightPerTensorFixedPoint,
                        bias_quant=q.Int16Bias, return_quant_tensor=True),
        qnn.QuantReLU(act_quant=q.Uint8ActPerTensorFixedPoint, return_quant_tensor=True),
        nn.Flatten(),
        qnn.QuantLinear(32, 4, weight_quant=q.Int8WeightPerTensorFixedPoint, bias_quant=q.Int16Bias,
                        return_quant_tensor=True),
    )  # fmt: skip


def train_briefly(model: nn.Module, shape: tuple[int, ...], n_out: int, steps: int = 30, seed: int = 0) -> nn.Module:
    """A few QAT steps on a random regression task, so weights and scales move away from init."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.randn(256, *shape)
    target = torch.randn(256, n_out)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        loss = ((getattr(out, "value", out) - target) ** 2).mean()
        loss.backward()
        opt.step()
    model.eval()
    return model
