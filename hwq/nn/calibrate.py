"""Post-training quantisation: calibrators choosing each quantiser's binary point, and bias correction.

The "point" of a quantiser is its power-of-two scale (``I`` of fixed point and CSD, ``-bias`` of a
minifloat). Calibrators run the model on calibration data in eval mode, quantiser by quantiser in
execution order (each sees its input already quantised by the ones before it). Quantisers whose point
the user fixed (``calibratable = False``: a format string or an integer ``int_bits``) are left alone.

- ``minmax``: the smallest point whose range covers max |x|.
- ``percentile``: covers the given percentile of |x| (clips outliers).
- ``mse``: the point among minmax-4 .. minmax+1 minimising the quantisation MSE of the tensor.
- ``output``: greedy, in execution order, the point among minmax-3 .. minmax+1 minimising the MSE of the
  model's final output against the float reference model's output (optimising by output error).

``bias_correction`` (Nagel et al. 2019, empirical): for each Linear/Conv, the mean output error caused by
weight quantisation on the calibration data is subtracted from the float bias before it is quantised.

``gptq`` (Frantar, Ashkboos, Hoefler, Alistarh, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers", ICLR 2023, arXiv:2210.17323): chooses each weight's grid value
column by column, compensating the rounding error of a column on the columns not yet quantised with the
inverse input Hessian. The steps follow the authors' reference implementation (github.com/IST-DASLab/gptq,
``GPTQ.fasterquant``: dead inputs zeroed, damping by a fraction of the mean Hessian diagonal, the upper
Cholesky factor of H^-1), without its lazy block updates. Works with any element-wise weight quantiser
(fixed, CSD, minifloat): the chosen values are on its grid.
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
    keep_weights: bool = False,
) -> dict[str, str]:
    """Set every quantiser's point with ``method`` (see the module docstring); returns name -> format.

    x: calibration inputs (batch first). reference: the float model (needed by ``output``).
    keep_weights: leave the weight quantisers (``*.weight_q``) as they are (e.g. after ``gptq``).
    """
    if method not in CALIBRATORS:
        raise ValueError(f"ptq.calibrator: unknown calibrator {method!r}; expected one of {', '.join(CALIBRATORS)}")
    if method == "output" and reference is None:
        raise ValueError("ptq.calibrator: 'output' needs the float reference model")
    was = model.training
    model.eval()
    try:
        order = [(n, q) for n, q in _ordered_quantizers(model, x) if q.calibratable]
        if keep_weights:
            order = [(n, q) for n, q in order if not n.endswith("weight_q")]
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


def _gptq_matrix(w: torch.Tensor, h: torch.Tensor, quant, damp: float) -> torch.Tensor:
    """GPTQ (Frantar et al. 2022) on a weight matrix ``w`` (out, in) with input Hessian ``h`` (in, in).

    Columns are quantised in order; each column's quantisation error is spread over the columns not yet
    quantised through the upper Cholesky factor of H^-1. ``quant`` maps a column to its quantised values.
    Returns the quantised matrix (values on the quantiser's grid).
    """
    w = w.clone().double()
    h = h.double().clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h += torch.eye(h.shape[0], dtype=h.dtype) * damp * torch.mean(torch.diag(h))
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    q = torch.zeros_like(w)
    for i in range(w.shape[1]):
        col = w[:, i]
        qc = quant(col)
        q[:, i] = qc
        err = (col - qc) / hinv[i, i]
        w[:, i:] -= err[:, None] * hinv[i, i:][None, :]
    return q


def gptq(model: nn.Module, x: torch.Tensor, damp: float = 0.01) -> int:
    """Replace the float weights of every QLinear and ungrouped QConv without folded BatchNorm by GPTQ's
    choice of grid values (the weight quantisers' formats are kept). Inputs come from the quantised model
    itself, layer by layer. Returns the number of layers changed. Run after ``calibrate``."""
    was = model.training
    model.eval()
    n = 0
    try:
        for _name, m in model.named_modules():
            if isinstance(m, L.QLinear):
                xin = _capture_module_input(model, m, x).double().reshape(-1, m.in_features)
                w = m.weight.detach()
            elif isinstance(m, L._QConvNd) and m.bn is None and m.conv.groups == 1:
                xin = _capture_module_input(model, m, x).double()
                c = m.conv
                if m.dims == 1:
                    xin = xin.unsqueeze(2)
                    k, st, pd, dl = (1, c.kernel_size[0]), (1, c.stride[0]), (0, c.padding[0]), (1, c.dilation[0])
                else:
                    k, st, pd, dl = c.kernel_size, c.stride, c.padding, c.dilation
                cols = torch.nn.functional.unfold(xin, k, dl, pd, st)  # (B, Cin*k, L)
                xin = cols.transpose(1, 2).reshape(-1, cols.shape[1])
                w = c.weight.detach().reshape(c.out_channels, -1)
            else:
                continue
            h = xin.T @ xin / max(xin.shape[0], 1)
            wq_fn = m.weight_q
            with torch.no_grad():
                q = _gptq_matrix(w, h, lambda col, f=wq_fn: f(col), damp)
                target = m.weight if isinstance(m, L.QLinear) else m.conv.weight
                target.copy_(q.reshape(target.shape).to(target.dtype))
            n += 1
    finally:
        model.train(was)
    return n
