"""Per-patch mixed precision (QuantMCU-style) for models in the CMSIS-NN profile: the emulator node, its
insertion into a ``CmsisNet``, and the search that chooses each patch's bit width.

Design (the IR op ``patch_quant``, ``hwq/ir/ops/patch_quant.py``, is the arithmetic): one int8 activation map
(C, H, W), a static grid R x Q of spatial patches, and per patch a bit width b in [1, 8] and a step 2**k
(0 <= k <= 8 - b). The map is stored as unsigned b-bit codes ``q = clamp((x - base + 2**(k-1)) >> k, 0,
2**b - 1)`` and read back as ``y = base + (q << k)``; ``base`` is the tensor's zero point after a ReLU (zero
stays exact), else the format's smallest raw. ``k = 8 - b`` keeps the whole 8-bit range at a coarser step; a
smaller k keeps a finer step and saturates the patch's outliers, which is why a patch without outliers can use
fewer bits (QuantMCU's value-driven patch classification, Lin et al. 2023/24, made static per patch position
and decided on calibration data).

- ``patch_quant_raw(q, grid, bits, shifts, base, lo, hi)``: the integer function in torch (written
  independently of the interpreter), so the emulator equals ``hwq.ir.run`` integer for integer.
- ``CPatchQuant``: a ``hwq.nn.cmsis`` node (exact integer path in eval mode, the same values with a
  straight-through gradient in training mode, ``lower`` adds the ``patch_quant`` op).
- ``insert_patch_quant(net, after, grid, bits, shifts)``: a copy of the net with the node after ``after``.
- ``select_patch_bits(...)``: the search. Per patch and width b it first picks the step k with the least
  squared error on the calibration activations (so a patch whose calibration values stay small gets a fine
  step, one with outliers a coarse step or 8 bits), then lowers widths greedily, cheapest error per byte saved
  first (8 -> 6 -> 4 -> 2), keeping a move only while the calibration accuracy stays within ``max_drop`` of the
  all-8-bit model and the calibration cross-entropy within ``max_loss`` of it. The memory term is the packed
  bytes (``patch_quant.packed_bytes``); the instruction term is the measured pack + unpack cost per element
  (``instr_per_element``): a map whose packed saving is below ``min_saving`` bytes is left at 8 bits (no op),
  because packing it would cost instructions for nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from hwq.formats import IntFormat
from hwq.ir.ops.patch_quant import packed_bytes

from .cmsis import ActQuant, CmsisNet, _Node

__all__ = [
    "CPatchQuant",
    "PatchChoice",
    "base_for",
    "insert_patch_quant",
    "patch_quant_raw",
    "patch_steps",
    "select_patch_bits",
]


def _edges(size: int, parts: int) -> list[int]:
    return [i * size // parts for i in range(parts + 1)]


def patch_quant_raw(q: torch.Tensor, grid: tuple[int, int], bits, shifts, base: int, lo: int, hi: int) -> torch.Tensor:
    """Per-patch requantisation of int64 raws ``q`` (B, C, H, W) (``hwq/ir/ops/patch_quant.py`` formula):
    patch p of the ``grid`` at ``bits[p]`` bits and step ``2**shifts[p]``, codes above ``base``; result
    int64 raws clamped to [lo, hi]. A per-element width/step map is built once and applied in one pass."""
    _, _, h, w = q.shape
    rows, cols = _edges(h, grid[0]), _edges(w, grid[1])
    kmap = torch.empty((h, w), dtype=torch.int64)
    cmax = torch.empty((h, w), dtype=torch.int64)
    for i in range(grid[0]):
        for j in range(grid[1]):
            p = i * grid[1] + j
            kmap[rows[i] : rows[i + 1], cols[j] : cols[j + 1]] = int(shifts[p])
            cmax[rows[i] : rows[i + 1], cols[j] : cols[j + 1]] = (1 << int(bits[p])) - 1
    half = torch.where(kmap > 0, torch.bitwise_left_shift(torch.ones_like(kmap), (kmap - 1).clamp(min=0)), 0)
    d = q.long() - int(base) + half
    code = torch.minimum(torch.bitwise_right_shift(d, kmap).clamp(min=0), cmax)
    return (int(base) + torch.bitwise_left_shift(code, kmap)).clamp(lo, hi)


def base_for(fmt: IntFormat) -> int:
    """The default ``base`` of a map in ``fmt``: its zero point when that is the smallest raw (after a ReLU),
    else the smallest raw (so 8-bit patches are the identity)."""
    return int(fmt.raw_min)


class CPatchQuant(_Node):
    """Per-patch requantisation of the previous node's int8 output (``patch_quant``); keeps its format."""

    def __init__(self, name: str, grid: tuple[int, int], bits, shifts=None, base: int | None = None) -> None:
        """grid (R, Q); bits / shifts: one entry per patch, row-major (shifts default 8 - bits); base: raw of
        code 0 (None: the input format's smallest raw)."""
        super().__init__()
        self.name, self.grid = name, (int(grid[0]), int(grid[1]))
        self.bits = tuple(int(b) for b in bits)
        self.shifts = tuple(8 - b for b in self.bits) if shifts is None else tuple(int(k) for k in shifts)
        self.base = base

    def _base(self, fin: IntFormat) -> int:
        return base_for(fin) if self.base is None else int(self.base)

    def float_forward(self, x, fin: ActQuant, calib=None):
        """Fake-quantised float forward: the exact integer op on the input grid, straight-through gradient."""
        f = fin.fmt()
        s, z = float(f.scale[0]), int(f.zero_point[0])
        with torch.no_grad():
            q = torch.round(x.detach().double() / s).long() + z
            y = (patch_quant_raw(q, self.grid, self.bits, self.shifts, self._base(f), f.raw_min, f.raw_max) - z) * s
        return x + (y.to(x.dtype) - x).detach()

    def int_forward(self, q, fin):
        """Exact integers: raws ``q`` (B, C, H, W) in ``fin`` -> (raws, the same format)."""
        return patch_quant_raw(q, self.grid, self.bits, self.shifts, self._base(fin), fin.raw_min, fin.raw_max), fin

    def lower(self, low, x, fin, shape):
        """Add the ``patch_quant`` op reading tensor ``x``; returns (output name, format)."""
        from hwq.ir.ops.patch_quant import PatchQuant

        y = low.tensor(self.name, shape, fin)
        low.g.add_op(PatchQuant(self.name, [x], y, grid=self.grid, bits=self.bits, base=self.base,
                                shifts=self.shifts))  # fmt: skip
        return y, fin


def _node_index(net: CmsisNet, after: str) -> int:
    names = [n.name for n in net.nodes]
    if after not in names:
        raise ValueError(f"insert_patch_quant: no node {after!r} (nodes: {', '.join(names)})")
    return names.index(after)


def insert_patch_quant(
    net: CmsisNet, after: str, grid: tuple[int, int], bits, shifts=None, name: str = "patch_quant"
) -> CmsisNet:
    """A deep copy of ``net`` with a ``CPatchQuant`` node after the node called ``after`` (top level)."""
    i = _node_index(net, after)
    out = copy.deepcopy(net)
    nodes = list(out.nodes)
    nodes.insert(i + 1, CPatchQuant(name, grid, bits, shifts))
    out.nodes = torch.nn.ModuleList(nodes)
    return out


def _split(net: CmsisNet, after: str, x: torch.Tensor) -> tuple[torch.Tensor, IntFormat, list]:
    """Raws and format of the map after node ``after`` for inputs ``x``, and the nodes after it."""
    i = _node_index(net, after)
    fin = net.inq.fmt()
    q = torch.from_numpy(fin.to_raw(x.detach().double().numpy()))
    f = fin
    with torch.no_grad():
        for n in net.nodes[: i + 1]:
            q, f = n.int_forward(q, f)
    return q, f, list(net.nodes[i + 1 :])


def _tail(nodes, q, f) -> torch.Tensor:
    with torch.no_grad():
        for n in nodes:
            q, f = n.int_forward(q, f)
    return (q - int(f.zero_point[0])).double() * float(f.scale[0])


def patch_steps(
    q: torch.Tensor, grid: tuple[int, int], widths, base: int, lo: int, hi: int
) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], float]]:
    """Per patch p and width b: the step k (0 <= k <= 8 - b) with the least summed squared error (raw units) of
    ``patch_quant`` on the calibration raws ``q`` (B, C, H, W), and that error: ``({(p, b): k}, {(p, b): err})``.
    A patch whose values stay within ``base + 2**b - 1`` gets k = 0 (exact); outliers push k up."""
    _, _, h, w = q.shape
    rows, cols = _edges(h, grid[0]), _edges(w, grid[1])
    best_k: dict[tuple[int, int], int] = {}
    err: dict[tuple[int, int], float] = {}
    for i in range(grid[0]):
        for j in range(grid[1]):
            p = i * grid[1] + j
            xs = q[:, :, rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
            for b in widths:
                cands = []
                for k in range(0, 9 - b):
                    yq = patch_quant_raw(xs, (1, 1), [b], [k], base, lo, hi)
                    cands.append((float(((yq - xs).double() ** 2).sum()), k))
                e, k = min(cands)
                best_k[p, b], err[p, b] = k, e
    return best_k, err


@dataclass
class PatchChoice:
    """The search's result: grid, per-patch bits and shifts (row-major), bytes and calibration figures."""

    grid: tuple[int, int]
    bits: tuple[int, ...]
    shifts: tuple[int, ...]
    base: int
    int8_bytes: int
    packed_bytes: int
    calib_accuracy_8bit: float
    calib_accuracy: float
    calib_loss_8bit: float
    calib_loss: float
    evaluations: int
    log: list[str] = field(default_factory=list)


def select_patch_bits(
    net: CmsisNet,
    after: str,
    x: torch.Tensor,
    y: torch.Tensor,
    grid: tuple[int, int],
    widths: tuple[int, ...] = (8, 6, 4, 2),
    max_drop: float = 0.005,
    max_loss: float = 0.02,
    min_saving: int = 16,
) -> PatchChoice:
    """Choose per-patch widths and steps of the map after node ``after`` on calibration data ``x`` (float
    inputs) with labels ``y`` (int64): error-guided greedy descent under an accuracy / cross-entropy budget
    (module docstring). ``max_drop``: allowed calibration accuracy drop (fraction); ``max_loss``: allowed
    cross-entropy increase (nats); ``min_saving``: bytes below which the op is not worth its instructions."""
    q, f, tail = _split(net, after, x)
    _, c, h, w = q.shape
    base, lo, hi = base_for(f), int(f.raw_min), int(f.raw_max)
    rows, cols = _edges(h, grid[0]), _edges(w, grid[1])
    npatch = grid[0] * grid[1]
    best_k, err = patch_steps(q, grid, widths, base, lo, hi)

    def evaluate(bits, shifts) -> tuple[float, float]:
        logits = _tail(tail, patch_quant_raw(q, grid, bits, shifts, base, lo, hi), f)
        acc = float((logits.argmax(1) == y).double().mean())
        return acc, float(F.cross_entropy(logits, y))

    bits = [max(widths)] * npatch
    shifts = [8 - b for b in bits]
    acc8, loss8 = evaluate(bits, shifts)
    evals, log = 1, []
    order = sorted(widths, reverse=True)
    blocked: set[int] = set()
    acc, loss = acc8, loss8
    while True:
        moves = []
        for p in range(npatch):
            if p in blocked or bits[p] == order[-1]:
                continue
            nb = order[order.index(bits[p]) + 1]
            n = c * (rows[p // grid[1] + 1] - rows[p // grid[1]]) * (cols[p % grid[1] + 1] - cols[p % grid[1]])
            saved = (n * bits[p] + 7) // 8 - (n * nb + 7) // 8
            moves.append(((err[p, nb] - err.get((p, bits[p]), 0.0)) / max(saved, 1), p, nb))
        if not moves:
            break
        _, p, nb = min(moves)
        trial_b, trial_k = list(bits), list(shifts)
        trial_b[p], trial_k[p] = nb, best_k[p, nb]
        a, l_ = evaluate(trial_b, trial_k)
        evals += 1
        if a >= acc8 - max_drop and l_ <= loss8 + max_loss:
            bits, shifts, acc, loss = trial_b, trial_k, a, l_
            log.append(f"patch {p}: {nb} bits, step 2**{trial_k[p]} (calib acc {a:.4f}, loss {l_:.4f})")
        else:
            blocked.add(p)
            log.append(f"patch {p}: {nb} bits refused (calib acc {a:.4f}, loss {l_:.4f})")
    full = c * h * w
    packed = packed_bytes((c, h, w), grid, bits)
    if full - packed < min_saving:
        bits, shifts, packed, acc, loss = [8] * npatch, [0] * npatch, full, acc8, loss8
        log.append(f"saving below {min_saving} bytes: all patches kept at 8 bits")
    return PatchChoice(tuple(grid), tuple(bits), tuple(shifts), base, full, packed, acc8, acc, loss8, loss, evals, log)
