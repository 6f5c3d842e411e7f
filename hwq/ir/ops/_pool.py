"""Shared geometry of the pooling ops: windows over ``(C, L)`` or ``(C, H, W)`` tensors.

kernel / stride: one int per spatial axis; padding: (lo, hi) per spatial axis, i.e. ``(left, right)``
for 1-D and ``(top, bottom, left, right)`` for 2-D. Output size per axis:
``(n + lo + hi - k) // stride + 1``.
"""

from __future__ import annotations

import numpy as np

from ._conv import out_size, patches
from .common import int_tuple, op_error


def check_geometry(op, in_shape: tuple, out_shape: tuple, pad_must_be_smaller: bool) -> None:
    """Validate kernel/stride/padding of a pooling op against its tensors; raise naming the op."""
    if len(in_shape) not in (2, 3):
        raise op_error(op, f"input must be (C, L) or (C, H, W), got shape {in_shape}")
    nd = len(in_shape) - 1
    kernel = int_tuple(op, "kernel", op.kernel, nd, 1)
    stride = int_tuple(op, "stride", op.stride, nd, 1)
    padding = int_tuple(op, "padding", op.padding, 2 * nd, 0)
    if pad_must_be_smaller and any(padding[2 * a] >= kernel[a] or padding[2 * a + 1] >= kernel[a] for a in range(nd)):
        raise op_error(op, f"padding {padding} must be smaller than the kernel {kernel} on every side")
    want = (in_shape[0],) + tuple(
        out_size(in_shape[1 + a], kernel[a], stride[a], padding[2 * a], padding[2 * a + 1], 1) for a in range(nd)
    )
    if any(s < 1 for s in want):
        raise op_error(op, f"kernel {kernel} does not fit the padded input {in_shape}")
    if tuple(out_shape) != want:
        raise op_error(op, f"output shape {tuple(out_shape)}, expected {want}")


def windows(x: np.ndarray, kernel, stride, padding, pad_value) -> np.ndarray:
    """Windows of x ``(B, C, L)`` or ``(B, C, H, W)``: ``(B, C, *out_spatial, K)`` with the K window
    elements in row-major (kh, kw) order."""
    if x.ndim == 3:
        x4 = x[:, :, None, :]
        k2, s2, p2 = (1, kernel[0]), (1, stride[0]), (0, 0, padding[0], padding[1])
    else:
        x4, k2, s2, p2 = x, tuple(kernel), tuple(stride), tuple(padding)
    pt = patches(x4, k2, s2, p2, (1, 1), pad_value)  # (B, C, Ho, Wo, kh, kw)
    b, c, ho, wo = pt.shape[:4]
    w = pt.reshape(b, c, ho, wo, k2[0] * k2[1])
    return w[:, :, 0] if x.ndim == 3 else w


def window_max(x: np.ndarray, kernel, stride, padding, pad_value) -> np.ndarray:
    """Maximum over each window of x ``(B, C, L)`` or ``(B, C, H, W)``: a loop over the kernel offsets
    (strided views, no window copies), never over pixels."""
    squeeze = x.ndim == 3
    if squeeze:
        x = x[:, :, None, :]
        kernel, stride, padding = (1, kernel[0]), (1, stride[0]), (0, 0, padding[0], padding[1])
    kh, kw = kernel
    sh, sw = stride
    pt, pb, pl, pr = padding
    if any(padding):
        xp = np.full((x.shape[0], x.shape[1], x.shape[2] + pt + pb, x.shape[3] + pl + pr), pad_value, dtype=x.dtype)
        xp[:, :, pt : pt + x.shape[2], pl : pl + x.shape[3]] = x
    else:
        xp = x
    ho = (xp.shape[2] - kh) // sh + 1
    wo = (xp.shape[3] - kw) // sw + 1
    out = None
    for a in range(kh):
        for b in range(kw):
            view = xp[:, :, a : a + sh * (ho - 1) + 1 : sh, b : b + sw * (wo - 1) + 1 : sw]
            out = view.copy() if out is None else np.maximum(out, view, out=out)
    return out[:, :, 0, :] if squeeze else out


def reciprocal(n: int, bits: int = 18) -> tuple[int, int]:
    """Fixed-point reciprocal of a window size: (recip, frac_bits) with recip * 2**-frac_bits ~ 1/n.

    n a power of two: exactly (1, log2 n), i.e. a shift. Otherwise recip = round(2**R / n) (nearest;
    no ties for such n) with R = bits - 1 + ceil(log2 n), so recip has exactly ``bits`` bits.
    """
    if n < 1:
        raise ValueError(f"window size must be >= 1, got {n}")
    if n & (n - 1) == 0:
        return 1, n.bit_length() - 1
    r = bits - 1 + (n - 1).bit_length()
    return ((1 << (r + 1)) + n) // (2 * n), r
