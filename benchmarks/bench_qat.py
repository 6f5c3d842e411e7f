"""QAT training-step overhead: quantised step time / float step time, hwq beside Brevitas, same process.

Models as in REFERENCE.md: MLP 16-64-32-32-5 (batch 256) and a small CNN on 1x28x28 inputs (two 3x3
convs with BatchNorm and ReLU, 2x2 max pooling, dense head; batch 128). Quantised versions use 8-bit
weights and activations with power-of-two scales:

- hwq: ``hwq.nn.quantize_model`` of the float model, learned binary points (QFX-style gradients),
  16-bit biases, BatchNorm folded into the conv (batch statistics in training), every tensor exact.
- Brevitas: QuantIdentity (input) + QuantLinear/QuantConv2d (Int8WeightPerTensorFixedPoint) +
  QuantReLU (Uint8ActPerTensorFixedPoint); BatchNorm2d left unfolded, as usually trained in Brevitas.

A step is forward + cross-entropy + backward + Adam step. Each model: 10 warm-up steps, then the
median of 7 timings of 20 steps each, one thread. Run: ``python benchmarks/bench_qat.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from hwq.nn.convert import quantize_model

Q8 = {
    "input": {"kind": "fixed", "width": 8, "int_bits": "learn"},
    "weight": {"kind": "fixed", "width": 8, "int_bits": "learn"},
    "bias": {"kind": "fixed", "width": 16, "int_bits": "learn"},
    "preact": {"kind": "fixed", "width": 8, "int_bits": "learn"},
    "act": {"kind": "fixed", "width": 8, "int_bits": "learn", "signed": False},
    "output": {"kind": "fixed", "width": 8, "int_bits": "learn"},
}


def float_mlp() -> nn.Sequential:
    sizes = [16, 64, 32, 32, 5]
    mods = []
    for i in range(len(sizes) - 1):
        mods.append((f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1])))
        if i < len(sizes) - 2:
            mods.append((f"relu{i + 1}", nn.ReLU()))
    return nn.Sequential(OrderedDict(mods))


def float_cnn() -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 8, 3, padding=1, bias=False),
            bn1=nn.BatchNorm2d(8),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(8, 16, 3, padding=1, bias=False),
            bn2=nn.BatchNorm2d(16),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc=nn.Linear(16 * 7 * 7, 10),
        )
    )


def brevitas_mlp() -> nn.Module:
    import brevitas.nn as qnn
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

    sizes = [16, 64, 32, 32, 5]
    mods: list[nn.Module] = [qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=False)]
    for i in range(len(sizes) - 1):
        mods.append(qnn.QuantLinear(sizes[i], sizes[i + 1], bias=True, weight_quant=Int8WeightPerTensorFixedPoint))
        if i < len(sizes) - 2:
            mods.append(qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint))
    return nn.Sequential(*mods)


def brevitas_cnn() -> nn.Module:
    import brevitas.nn as qnn
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

    return nn.Sequential(
        qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint),
        qnn.QuantConv2d(1, 8, 3, padding=1, bias=False, weight_quant=Int8WeightPerTensorFixedPoint),
        nn.BatchNorm2d(8),
        qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint),
        nn.MaxPool2d(2),
        qnn.QuantConv2d(8, 16, 3, padding=1, bias=False, weight_quant=Int8WeightPerTensorFixedPoint),
        nn.BatchNorm2d(16),
        qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint),
        nn.MaxPool2d(2),
        nn.Flatten(),
        qnn.QuantLinear(16 * 7 * 7, 10, bias=True, weight_quant=Int8WeightPerTensorFixedPoint),
    )


def step_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20, reps: int = 7) -> float:
    """Median seconds per training step."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(x)
        loss = F.cross_entropy(out.float(), y)
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t) / steps)
    return statistics.median(times)


def main() -> int:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        import brevitas

        have_brevitas = True
    except ImportError:
        have_brevitas = False
    rows = []
    cases = [
        ("MLP 16-64-32-32-5", float_mlp, brevitas_mlp, torch.randn(256, 16), torch.randint(0, 5, (256,))),
        ("CNN 1x28x28, 2 conv", float_cnn, brevitas_cnn, torch.rand(128, 1, 28, 28), torch.randint(0, 10, (128,))),
    ]
    for name, fmake, bmake, x, y in cases:
        fm = fmake()
        hq = quantize_model(fm, Q8, x)
        t_float = step_time(fm, x, y)
        t_hwq = step_time(hq, x, y)
        t_brev = step_time(bmake(), x, y) if have_brevitas else float("nan")
        rows.append((name, t_float, t_hwq, t_brev))
    bv = f", brevitas {brevitas.__version__}" if have_brevitas else ""
    print(f"QAT step time, 1 thread, torch {torch.__version__}{bv}")
    print("| model | float ms | hwq ms | hwq / float | Brevitas ms | Brevitas / float | hwq ratio / Brevitas ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, tf, th, tb in rows:
        print(
            f"| {name} | {tf * 1e3:.3f} | {th * 1e3:.3f} | {th / tf:.2f}x | {tb * 1e3:.3f} | {tb / tf:.2f}x | "
            f"{(th / tf) / (tb / tf):.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
