"""Post-training quantisation: calibrators choosing each quantiser's binary point, and bias correction.

The "point" of a quantiser is its power-of-two scale (``I`` of fixed point and CSD, ``-bias`` of a
minifloat). Calibrators run the model on calibration data in eval mode, quantiser by quantiser in
execution order (each sees its input already quantised by the ones before it):

- ``minmax``: the smallest point whose range covers max |x|.
- ``percentile``: covers the given percentile of |x| (clips outliers).
- ``mse``: the point among minmax-4 .. minmax+1 minimising the quantisation MSE of the tensor.
- ``output``: greedy, in execution order, the point among minmax-3 .. minmax+1 minimising the MSE of the
  model's final output against the float reference model's output (optimising by output error).

``bias_correction`` (Nagel et al. 2019, empirical): for each Linear/Conv, the mean output error caused by
weight quantisation on the calibration data is subtracted from the float bias before it is quantised.
"""

from __future__ import annotations

import torch
from torch import nn

from . import layers as L
from .quantizers import MinifloatQuantizer, Quantizer

CALIBRATORS = ("minmax", "percentile", "mse", "output")


def _ordered_quantizers(model: nn.Module, x: torch.Tensor) -> list[tuple[str, Quantizer]]:
    """Quantisers in the order they first run on ``x`` (weights of a layer before its output)."""
    order: list[str] = []
    hooks = []
    for name, q in model.named_modules():
        if isinstance(q, Quantizer):
            hooks.append(q.register_forward_pre_hook(lambda m, a, n=name: order.append(n) if n not in order else None))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    mods = dict(model.named_modules())
    return [(n, mods[n]) for n in order]


def _capture_input(model: nn.Module, q: Quantizer, x: torch.Tensor) -> torch.Tensor:
    box: list[torch.Tensor] = []
    h = q.register_forward_pre_hook(lambda m, a: box.append(a[0].detach()) if not box else None)
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    return box[0]


def _is_float(q: Quantizer) -> bool:
    return isinstance(q, MinifloatQuantizer)


def calibrate(
    model: nn.Module,
    x: torch.Tensor,
    method: str = "minmax",
    percentile: float = 99.99,
    reference: nn.Module | None = None,
    only_uncalibrated: bool = False,
) -> dict[str, str]:
    """Set every quantiser's point with ``method`` (see the module docstring); returns name -> format.

    x: calibration inputs (batch first). reference: the float model (needed by ``output``).
    """
    if method not in CALIBRATORS:
        raise ValueError(f"ptq.calibrator: unknown calibrator {method!r}; expected one of {', '.join(CALIBRATORS)}")
    if method == "output" and reference is None:
        raise ValueError("ptq.calibrator: 'output' needs the float reference model")
    was = model.training
    model.eval()
    try:
        order = _ordered_quantizers(model, x)
        # start from min/max everywhere (in execution order)
        for _, q in order:
            t = _capture_input(model, q, x)
            q.set_point(q.point_for_max(float(t.abs().max())))
        if method == "minmax":
            return {n: str(q.fmt()) for n, q in order}
        if method in ("percentile", "mse"):
            for _, q in order:
                t = _capture_input(model, q, x).double()
                if method == "percentile":
                    m = float(torch.quantile(t.abs().flatten()[:1_000_000], percentile / 100.0))
                    q.set_point(q.point_for_max(m))
                else:
                    base = q.point_for_max(float(t.abs().max()))
                    best = None
                    for p in range(base - 4, base + 2):
                        q.set_point(p)
                        with torch.no_grad():
                            err = float(((q(t) - t) ** 2).mean())
                        if best is None or err < best[0]:
                            best = (err, p)
                    q.set_point(best[1])
            return {n: str(q.fmt()) for n, q in order}
        # output error: greedy in execution order
        reference.eval()
        with torch.no_grad():
            target = reference(x).double()
        for _, q in order:
            base = q.point()
            best = None
            for p in range(base - 3, base + 2):
                q.set_point(p)
                with torch.no_grad():
                    err = float(((model(x).double() - target) ** 2).mean())
                if best is None or err < best[0] - 1e-12:
                    best = (err, p)
            q.set_point(best[1])
        return {n: str(q.fmt()) for n, q in order}
    finally:
        model.train(was)


def bias_correction(model: nn.Module, x: torch.Tensor) -> int:
    """Empirical bias correction of every QLinear / QConv (without folded BN) in execution order.

    For each layer, with its actual (quantised) input: delta = mean(x @ (Wq - W)) over the batch (and
    positions); the float bias becomes b - delta, so that the quantised layer's mean output matches the
    float weights'. Returns the number of layers corrected.
    """
    was = model.training
    model.eval()
    n = 0
    try:
        for _name, m in model.named_modules():
            if isinstance(m, L.QLinear) and m.bias is not None:
                xin = _capture_module_input(model, m, x)
                with torch.no_grad():
                    wq = m.weight_q(m.weight).to(xin.dtype)
                    delta = (xin @ (wq - m.weight.to(xin.dtype)).T).mean(0)
                    m.bias.sub_(delta.to(m.bias.dtype))
                n += 1
            elif isinstance(m, L._QConvNd) and m.bn is None and m.conv.bias is not None:
                xin = _capture_module_input(model, m, x)
                with torch.no_grad():
                    w = m.conv.weight
                    d = m._conv(xin.double(), (m.weight_q(w) - w).double(), None)
                    dims = [0] + list(range(2, d.dim()))
                    m.conv.bias.sub_(d.mean(dims).to(m.conv.bias.dtype))
                n += 1
    finally:
        model.train(was)
    return n


def _capture_module_input(model: nn.Module, mod: nn.Module, x: torch.Tensor) -> torch.Tensor:
    box: list[torch.Tensor] = []
    h = mod.register_forward_pre_hook(lambda m, a: box.append(a[0].detach()) if not box else None)
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    return box[0]
