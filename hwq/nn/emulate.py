"""Run the torch emulator and read its outputs as raw integers, for comparison with ``hwq.ir.run``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .layers import fmt_of


def emulate_raw(model: nn.Module, x, batch_size: int = 4096) -> list[np.ndarray]:
    """Raw int64 outputs (units of each output format's LSB) of ``model`` in eval mode on inputs ``x``.

    x: float array or tensor, batch first. Each output must come from a quantiser (it carries its
    format); the values are checked to be on that format's grid.
    """
    was = model.training
    model.eval()
    outs: list[list[np.ndarray]] = []
    try:
        xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        if not xt.is_floating_point():
            xt = xt.double()
        with torch.no_grad():
            for i in range(0, xt.shape[0], batch_size):
                y = model(xt[i : i + batch_size])
                ys = list(y) if isinstance(y, (tuple, list)) else [y]
                for k, t in enumerate(ys):
                    f = fmt_of(t)
                    if f is None:
                        raise ValueError(f"model output {k} carries no format: end the model with a quantised layer")
                    if getattr(f, "kind", None) == "int":  # affine int<W,scale,zp> (CMSIS-NN profile)
                        ri = f.to_raw(t.double().numpy())
                        if not np.array_equal(f.from_raw(ri), t.double().numpy()):
                            raise AssertionError(f"model output {k}: values not on the grid of {f}")
                    else:
                        r = np.ldexp(t.double().numpy(), f.frac_bits)
                        ri = r.astype(np.int64)
                        if not np.array_equal(ri.astype(np.float64), r):
                            raise AssertionError(f"model output {k}: values not on the grid of {f}")
                    if len(outs) <= k:
                        outs.append([])
                    outs[k].append(ri)
    finally:
        model.train(was)
    return [np.concatenate(o) for o in outs]
