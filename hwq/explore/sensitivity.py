"""Per-layer sensitivity: the Hessian trace of the loss w.r.t. each layer's weights (Hutchinson's
estimator, as HAWQ-V2 uses it) and the measured loss change when one layer at a time is quantised.

- ``hessian_traces(model, x, y, layers, probes, seed)``: ``tr(H_l) ~ mean_v v^T H_l v`` over Rademacher
  vectors ``v`` (Hutchinson 1990; HAWQ-V2, Dong et al. 2020), ``H v`` by double back-propagation. Units:
  nats per squared weight unit; ``average`` is the trace divided by the layer's weight count.
- The HAWQ-V3 objective of a weight format f at layer l is ``Omega_l(f) = tr(H_l)/n_l * ||Q_f(W_l) - W_l||^2``
  (a second-order estimate of the loss increase).
- Measured: the validation loss with only layer l changed to option o (every other layer at the 16-bit
  reference), minus the reference loss; one table per dimension (weight format, activation width, result
  width). The ILP objective adds the three for a layer's choice.
"""

from __future__ import annotations

import numpy as np


def hessian_traces(model, x, y, layers: list[str], probes: int = 32, seed: int = 0) -> dict[str, dict]:
    """Hutchinson trace of the loss Hessian per layer's weight: ``{layer: {"trace", "average", "std", "n"}}``.

    model: float torch model (``nn.Sequential`` with the named layers); x, y: numpy batch (float32 inputs,
    int64 labels); probes: Rademacher vectors per estimate; deterministic for a given seed."""
    import torch
    import torch.nn.functional as F

    model.eval()
    params = []
    for name in layers:
        m = getattr(model, name)
        params.append(m.weight)
    gen = torch.Generator().manual_seed(seed)
    loss = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    grads = torch.autograd.grad(loss, params, create_graph=True)
    samples = {n: [] for n in layers}
    for _ in range(probes):
        vs = [torch.randint(0, 2, p.shape, generator=gen).float() * 2 - 1 for p in params]
        hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
        for n, v, h in zip(layers, vs, hv):
            samples[n].append(float((v * h).sum()))
    out = {}
    for n, p in zip(layers, params):
        s = np.asarray(samples[n])
        out[n] = {
            "trace": float(s.mean()),
            "average": float(s.mean() / p.numel()),
            "std": float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else 0.0,
            "n": int(p.numel()),
        }
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation of two equally long lists (ties get average ranks); nan if undefined (fewer
    than two items, or a constant list)."""
    from scipy.stats import spearmanr

    if len(a) < 2 or np.ptp(np.asarray(a, dtype=float)) == 0 or np.ptp(np.asarray(b, dtype=float)) == 0:
        return float("nan")  # a constant list has no ranks (scipy would warn)
    r = spearmanr(a, b).statistic
    return float(r)
