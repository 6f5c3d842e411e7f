"""PatchQuant: per-patch requantisation of an 8-bit activation map to a lower bit width and back (QuantMCU-style
per-patch mixed precision, static per-patch bit map).

x raw ``(C, H, W)`` in an 8-bit integer or fixed-point format (at most 256 raw values: int8 storage); the output
has the same shape and format. The spatial plane is cut into a ``grid = (R, Q)`` of patches: patch ``(i, j)``
covers rows ``[i*H//R, (i+1)*H//R)`` and columns ``[j*W//Q, (j+1)*W//Q)`` of every channel (the last patch of a
row or column takes the remainder; every patch is non-empty, so ``R <= H`` and ``Q <= W``). Patch ``p = i*Q + j``
is stored with ``bits[p]`` in [1, 8] bits per element and step ``2**shifts[p]`` (``shifts[p]`` in
[0, 8 - bits[p]]; default ``8 - bits[p]``: the full 8-bit range at a coarser step; a smaller shift keeps a finer
step and saturates the patch's outliers, QuantMCU's point: a patch without outliers needs fewer bits).
``base`` is a raw of the input format (default: the input format's smallest raw, e.g. -128 for int8; after a
ReLU with zero point z, ``base = z`` keeps 0 exact). For each element x of patch p, with ``b = bits[p]`` and
``k = shifts[p]``::

    q = clamp((x - base + r) >> k, 0, 2**b - 1)     # r = 2**(k-1) for k > 0 (round half up), else 0;
                                                    # >> is an arithmetic (floor) shift
    y = clamp(base + (q << k), raw_min, raw_max)    # the output format's raw range

``q`` is the unsigned b-bit code the MCU backend stores (packed, ``mcu/runtime``); ``y`` is what the next kernel
reads after unpacking. With ``b = 8``, ``k = 0`` and ``base = raw_min`` the op is the identity. Values below
``base`` clamp to ``base``. Integer arithmetic only; no accumulation order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import check_arity, op_error


def patch_bounds(size: int, parts: int) -> list[tuple[int, int]]:
    """Half-open ``[start, stop)`` index ranges of ``parts`` patches along an axis of ``size`` elements
    (``start = i * size // parts``), the grid rule of ``patch_quant``."""
    return [(i * size // parts, (i + 1) * size // parts) for i in range(parts)]


def patch_elements(shape: tuple[int, ...], grid: tuple[int, int]) -> list[int]:
    """Elements (all channels) of each patch, row-major over the grid, for a ``(C, H, W)`` tensor."""
    c, h, w = shape
    rows, cols = patch_bounds(h, grid[0]), patch_bounds(w, grid[1])
    return [c * (r1 - r0) * (c1 - c0) for r0, r1 in rows for c0, c1 in cols]


def packed_bytes(shape: tuple[int, ...], grid: tuple[int, int], bits) -> int:
    """Bytes of the packed storage: each patch's codes as one bit stream starting on a byte boundary."""
    return sum((n * int(b) + 7) // 8 for n, b in zip(patch_elements(shape, grid), bits))


def requant_codes(x: np.ndarray, b: int, k: int, base: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes q, read-back y) of raw integers ``x`` at ``b`` bits and step ``2**k`` (module docstring; int64)."""
    k = int(k)
    x = np.asarray(x, dtype=np.int64)
    r = (1 << (k - 1)) if k > 0 else 0
    q = np.clip((x - int(base) + r) >> k, 0, (1 << int(b)) - 1)
    y = np.clip(int(base) + (q << k), lo, hi)
    return q, y


@register
@dataclass
class PatchQuant(Op):
    """Per-patch requantisation to ``bits[p]`` bits and back; formula in the module docstring."""

    kind = "patch_quant"
    grid: tuple[int, int] = (1, 1)  # (R, Q) patches over (H, W)
    bits: tuple[int, ...] = (8,)  # one width per patch, row-major over the grid
    base: int | None = None  # raw of the smallest code (None: the input format's raw_min)
    shifts: tuple[int, ...] | None = None  # per patch step 2**k (None: 8 - bits[p] each)

    def shift_list(self) -> list[int]:
        """Per-patch shifts k (``shifts``, or ``8 - bits[p]``)."""
        if self.shifts is None:
            return [8 - int(b) for b in self.bits]
        return [int(k) for k in self.shifts]

    def base_raw(self, graph: Graph) -> int:
        """The raw value of code 0 (``base``, or the input format's smallest raw)."""
        return int(graph.tensor(self.inputs[0]).fmt.raw_min) if self.base is None else int(self.base)

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        if len(x.shape) != 3:
            raise op_error(self, f"input {x.name!r} has shape {x.shape}; expected (C, H, W)")
        if x.shape != y.shape:
            raise op_error(self, f"input {x.name!r} {x.shape} and output {y.name!r} {y.shape} shapes differ")
        if x.fmt != y.fmt:
            raise op_error(self, f"input format {x.fmt} and output format {y.fmt} differ")
        lo, hi = getattr(x.fmt, "raw_min", None), getattr(x.fmt, "raw_max", None)
        if type(x.fmt).__name__ not in ("FixedFormat", "IntFormat") or hi - lo > 255:
            raise op_error(self, f"input format {x.fmt} is not an 8-bit integer or fixed-point format")
        grid = tuple(self.grid) if isinstance(self.grid, (tuple, list)) else ()
        if len(grid) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in grid):
            raise op_error(self, f"grid must be two integers (rows, cols), got {self.grid!r}")
        _, h, w = x.shape
        if not (1 <= grid[0] <= h and 1 <= grid[1] <= w):
            raise op_error(self, f"grid {grid[0]}x{grid[1]} does not fit the {h}x{w} plane (1 <= R <= H, 1 <= Q <= W)")
        bits = tuple(self.bits) if isinstance(self.bits, (tuple, list, np.ndarray)) else ()
        if len(bits) != grid[0] * grid[1]:
            raise op_error(
                self, f"bits has {len(bits)} entries; the {grid[0]}x{grid[1]} grid needs {grid[0] * grid[1]}"
            )
        for b in bits:
            if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= 8:
                raise op_error(self, f"bits must be integers in [1, 8], got {b!r}")
        if self.shifts is not None:
            ks = tuple(self.shifts) if isinstance(self.shifts, (tuple, list, np.ndarray)) else ()
            if len(ks) != len(bits):
                raise op_error(self, f"shifts has {len(ks)} entries; bits has {len(bits)}")
            for k, b in zip(ks, bits):
                if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= 8 - b:
                    raise op_error(self, f"shifts must be integers in [0, 8 - bits] per patch, got {k!r} for {b} bits")
        if self.base is not None and (not isinstance(self.base, (int, np.integer)) or not lo <= self.base <= hi):
            raise op_error(self, f"base {self.base!r} is not a raw of the input format [{lo}, {hi}]")


def evaluate(op: PatchQuant, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, C, H, W) -> y raw (B, C, H, W) in the same format (module docstring formula)."""
    (x,) = args
    x = np.asarray(x, dtype=np.int64)
    fmt = graph.tensor(op.output).fmt
    lo, hi, base = int(fmt.raw_min), int(fmt.raw_max), op.base_raw(graph)
    y = np.empty_like(x)
    rows, cols = patch_bounds(x.shape[2], op.grid[0]), patch_bounds(x.shape[3], op.grid[1])
    ks, p = op.shift_list(), 0
    for r0, r1 in rows:
        for c0, c1 in cols:
            y[:, :, r0:r1, c0:c1] = requant_codes(x[:, :, r0:r1, c0:c1], op.bits[p], ks[p], base, lo, hi)[1]
            p += 1
    return y
