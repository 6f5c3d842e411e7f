"""Shared geometry and arithmetic of the convolution ops (``conv1d`` and ``conv2d``).

Layouts: input raw ``(B, Cin, H, W)``, weight raw ``(Cout, Cin/groups, kH, kW)``, bias raw ``(Cout,)``,
output raw ``(B, Cout, Ho, Wo)`` with ``Ho = (H + pad_top + pad_bottom - dil_h*(kH-1) - 1) // stride_h + 1``
(likewise Wo). Padded positions hold the value 0 (raw 0). Group ``g`` maps input channels
``g*Cin/groups ..`` to output channels ``g*Cout/groups ..``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .common import _CHUNK_ELEMENTS, mac, mac_plan, value_range


def out_size(n: int, k: int, stride: int, pad_lo: int, pad_hi: int, dilation: int) -> int:
    """Output length along one spatial axis (may be <= 0 for an impossible geometry)."""
    return (n + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


def patches(x: np.ndarray, kernel, stride, padding, dilation, pad_value=0) -> np.ndarray:
    """Sliding windows of ``x`` ``(B, C, H, W)``: returns a view-like array ``(B, C, Ho, Wo, kH, kW)``.

    padding = (top, bottom, left, right); padded positions hold ``pad_value``.
    """
    kh, kw = kernel
    sh, sw = stride
    pt, pb, pl, pr = padding
    dh, dw = dilation
    if any(padding):
        xp = np.full(
            (x.shape[0], x.shape[1], x.shape[2] + pt + pb, x.shape[3] + pl + pr),
            pad_value,
            dtype=x.dtype,
        )
        xp[:, :, pt : pt + x.shape[2], pl : pl + x.shape[3]] = x
    else:
        xp = x
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    win = sliding_window_view(xp, (eh, ew), axis=(2, 3))  # (B, C, H', W', eh, ew)
    return win[:, :, ::sh, ::sw, ::dh, ::dw]


def conv2d_raw(x, weight, bias, x_frac, w_frac, b_frac, acc_fmt, stride, padding, dilation, groups) -> np.ndarray:
    """Accumulator raws ``(B, Cout, Ho, Wo)`` of a grouped 2-D convolution (see ``mac`` for the order:
    bias first, then products in row-major order over (cin, kh, kw) of the group's input channels)."""
    bsz, cin, h, w_ = x.shape
    cout, cg, kh, kw = weight.shape
    g = groups
    mg = cout // g
    ho = out_size(h, kh, stride[0], padding[0], padding[1], dilation[0])
    wo = out_size(w_, kw, stride[1], padding[2], padding[3], dilation[1])
    wmat = weight.reshape(g, mg, cg * kh * kw)
    bmat = np.asarray(bias).reshape(g, mg)
    # one plan for the whole batch (padding adds 0, inside the range); float64 im2col when it is exact
    plan = mac_plan(*value_range(x), wmat, x_frac + w_frac, acc_fmt.cast_raw(bmat, b_frac), acc_fmt)
    if plan == "float":
        x = x.astype(np.float64)
    per_sample = max(cin * ho * wo * kh * kw, 1)
    step = max(1, _CHUNK_ELEMENTS // per_sample)
    outs = []
    for s0 in range(0, bsz, step):
        pt = patches(x[s0 : s0 + step], (kh, kw), stride, padding, dilation)  # (b, Cin, Ho, Wo, kH, kW)
        b = pt.shape[0]
        pt = pt.reshape(b, g, cg, ho, wo, kh, kw).transpose(0, 1, 3, 4, 2, 5, 6)
        cols = pt.reshape(b, g, ho * wo, cg * kh * kw)
        acc = mac(cols, wmat, x_frac + w_frac, bmat, b_frac, acc_fmt, plan)  # (b, G, Mg, P)
        outs.append(acc.reshape(b, cout, ho, wo))
    if not outs:
        return np.zeros((0, cout, ho, wo), dtype=np.int64 if acc_fmt.width <= 62 else object)
    return np.concatenate(outs, axis=0)
