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
- ``select_patch_bits(...)``: the search, error-based: it weighs memory against accuracy loss under a stated
  tolerance. (1) Per patch and width b, the step k with the least squared error on the calibration activations
  (``patch_steps``: a patch whose values stay small gets a fine step, one with outliers a coarse step or 8 bits).
  (2) Per patch and width, the *output error* D(p, b): the mean KL divergence of the model's softmax from the
  all-8-bit model's on the calibration images with only that patch lowered (one tail evaluation each).
  (3) A Lagrangian trade of memory against error: for a multiplier lambda every patch takes the width minimising
  ``bytes(p, b) + lambda * D(p, b)`` (bytes: its packed size, ``patch_quant.packed_bytes``); lambda sweeps the
  breakpoints of these choices, and the search keeps the least-memory assignment (binary search over lambda)
  whose *joint* evaluation keeps the loss within the tolerance, and optionally the cross-entropy increase
  (``max_loss``). The tolerance (``tolerance``, default 0.5 pp) is judged by ``criterion``: ``"flips"`` (default),
  the fraction of calibration images whose predicted class differs from the 8-bit model's (label-free, and an
  upper bound on the accuracy lost: every image lost is a flip), or ``"lost"``, the fraction the 8-bit model gets
  right and the assignment wrong (lucky fixes do not offset losses). With ``confidence`` (default 0.95) the
  one-sided Clopper-Pearson upper bound of that rate, not the rate itself, must stay within the tolerance, so a
  choice that holds on the calibration images holds on unseen images from the same distribution at that
  confidence (Clopper and Pearson 1934; with n images and no flip the bound is about 3 / n, so a 0.5 % tolerance
  needs 600 or more images). (4) Greedy refinement: single patches lowered one more width, least D per byte
  first, while the tolerance holds.
  (5) Computation: stock CMSIS-NN has no sub-8-bit activation kernels, so the op adds pack + unpack instructions
  on every element and saves none; the op is kept only when the memory it saves (packed bytes, or the planned
  arena when a ``memory`` callback is given: a map read once right away saves no arena) reaches
  ``min_saving`` bytes plus ``bytes_per_instruction`` x the estimated added instructions
  (``instr_per_element`` x elements, measured on QEMU Cortex-M4); otherwise every patch stays at 8 bits.
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
    "clopper_pearson_upper",
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
    """The search's result: grid, per-patch bits and shifts (row-major), bytes and calibration figures
    (accuracies as fractions, losses in nats)."""

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
    calib_lost: float = 0.0  # fraction of calibration images right at 8 bits and wrong with the choice
    calib_kl: float = 0.0  # mean KL divergence (nats) of the softmax from the 8-bit model's
    tolerance: float = 0.0
    memory_saved: int = 0  # bytes the op saves (packed map, or the planned arena with a memory callback)
    added_instructions: int = 0  # estimated pack + unpack instructions the op adds
    calib_flips: float = 0.0  # fraction of calibration images whose predicted class differs from the 8-bit model's
    calib_bound: float = 0.0  # the judged rate (flips or lost), or its upper confidence bound with ``confidence``
    criterion: str = "flips"
    confidence: float | None = None
    calib_images: int = 0


#: measured pack + unpack instructions per element of the map (QEMU Cortex-M4, ``hwq_patch_pack_s8`` and one
#: unpack, ``benchmarks/results/patch_precision.md``: 21,066 / 512 and 31,379 / 512 with two readers)
INSTR_PER_ELEMENT = 41.0


def select_patch_bits(
    net: CmsisNet,
    after: str,
    x: torch.Tensor,
    y: torch.Tensor,
    grid: tuple[int, int],
    widths: tuple[int, ...] = (8, 6, 4, 2),
    tolerance: float = 0.005,
    max_loss: float | None = None,
    min_saving: int = 16,
    bytes_per_instruction: float = 0.0,
    instr_per_element: float = INSTR_PER_ELEMENT,
    memory=None,
    max_drop: float | None = None,
    criterion: str = "flips",
    confidence: float | None = 0.95,
) -> PatchChoice:
    """Choose per-patch widths and steps of the map after node ``after`` on calibration data ``x`` (float
    inputs, held out from training) with labels ``y`` (int64): the error-based Lagrangian search of the module
    docstring. ``tolerance``: allowed fraction of calibration images lost (right at 8 bits, wrong after; 0.005 =
    0.5 pp); ``max_loss``: optional allowed cross-entropy increase (nats); ``min_saving`` (bytes) and
    ``bytes_per_instruction``: what the memory saving must reach for the op to be worth its added pack + unpack
    instructions (``instr_per_element`` per element); ``memory``: optional ``(bits, shifts) -> bytes`` (e.g. the
    planned arena with the op) measuring the memory instead of the packed map; ``max_drop``: old name of
    ``tolerance``; ``criterion``: ``"flips"`` (predicted class differs from the 8-bit model's) or ``"lost"``
    (right at 8 bits, wrong after); ``confidence``: judge the one-sided Clopper-Pearson upper bound of that rate at
    this confidence (None: the observed rate)."""
    if max_drop is not None:
        tolerance = float(max_drop)
    if criterion not in ("flips", "lost"):
        raise ValueError(f"select_patch_bits: criterion {criterion!r} is not 'flips' or 'lost'")
    if confidence is not None and not 0.0 < confidence < 1.0:
        raise ValueError(f"select_patch_bits: confidence {confidence} is not in (0, 1)")
    q, f, tail = _split(net, after, x)
    _, c, h, w = q.shape
    base, lo, hi = base_for(f), int(f.raw_min), int(f.raw_max)
    rows, cols = _edges(h, grid[0]), _edges(w, grid[1])
    npatch = grid[0] * grid[1]
    order = sorted(set(widths) | {8}, reverse=True)
    best_k, _ = patch_steps(q, grid, order, base, lo, hi)
    best_k.update({(p, 8): 0 for p in range(npatch)})
    logits8 = _tail(tail, q, f)
    logp8 = F.log_softmax(logits8, 1)
    pred8 = logits8.argmax(1)
    right8 = pred8 == y
    n_img = int(y.numel())
    acc8, loss8 = float(right8.double().mean()), float(F.cross_entropy(logits8, y))
    evals = 1
    cache: dict[tuple, tuple[float, float, float, float]] = {}
    flips: dict[tuple, int] = {}

    def evaluate(bits) -> tuple[float, float, float, float]:
        """(accuracy, cross-entropy, lost fraction, mean KL) of widths ``bits`` (steps from ``best_k``)."""
        nonlocal evals
        key = tuple(bits)
        if key not in cache:
            evals += 1
            shifts = [best_k[p, b] for p, b in enumerate(bits)]
            logits = _tail(tail, patch_quant_raw(q, grid, bits, shifts, base, lo, hi), f)
            pred = logits.argmax(1)
            kl = float((logp8.exp() * (logp8 - F.log_softmax(logits, 1))).sum(1).mean())
            cache[key] = (float((pred == y).double().mean()), float(F.cross_entropy(logits, y)),
                          float((right8 & (pred != y)).double().mean()), max(kl, 0.0))  # fmt: skip
            flips[key] = int((pred != pred8).sum())
        return cache[key]

    def judged(bits) -> float:
        """The rate the tolerance is judged on: flips or lost fraction, or its upper confidence bound."""
        lost = evaluate(bits)[2]
        k = flips[tuple(bits)] if criterion == "flips" else int(round(lost * n_img))
        return k / n_img if confidence is None else clopper_pearson_upper(k, n_img, confidence)

    def ok(bits) -> bool:
        loss = evaluate(bits)[1]
        return judged(bits) <= tolerance + 1e-12 and (max_loss is None or loss <= loss8 + max_loss)

    def nbytes(p: int, b: int) -> int:
        n = c * (rows[p // grid[1] + 1] - rows[p // grid[1]]) * (cols[p % grid[1] + 1] - cols[p % grid[1]])
        return (n * b + 7) // 8

    log: list[str] = []
    # (2) output error of each patch at each width, the others at 8 bits
    dist = {(p, 8): 0.0 for p in range(npatch)}
    for p in range(npatch):
        for b in order[1:]:
            bits = [8] * npatch
            bits[p] = b
            dist[p, b] = evaluate(bits)[3]

    # (3) Lagrangian: per lambda, each patch's width minimising bytes + lambda * D (ties: more bits)
    def assign(lam: float) -> list[int]:
        return [min(order, key=lambda b, p=p: (nbytes(p, b) + lam * dist[p, b], -b)) for p in range(npatch)]

    lams = {0.0}
    for p in range(npatch):
        for b1 in order:
            for b2 in order:
                if b2 < b1 and dist[p, b2] > dist[p, b1]:
                    lams.add((nbytes(p, b1) - nbytes(p, b2)) / (dist[p, b2] - dist[p, b1]))
    configs: list[list[int]] = []
    for lam in sorted(lams):
        for eps in (0.0, 1e-9 * max(lam, 1.0)):
            a = assign(lam + eps)
            if not configs or a != configs[-1]:
                configs.append(a)
    configs.append([8] * npatch)
    # the first feasible assignment in order of increasing lambda (feasibility grows with lambda)
    lo_i, hi_i = 0, len(configs) - 1
    while lo_i < hi_i:
        mid = (lo_i + hi_i) // 2
        if ok(configs[mid]):
            hi_i = mid
        else:
            lo_i = mid + 1
    bits = list(configs[lo_i])
    log.append(f"lagrangian: {len(configs)} assignments, chosen #{lo_i}: {bits}")
    # (4) greedy refinement: lower single patches one more width, least output error per byte saved first
    while True:
        moves = []
        for p in range(npatch):
            if bits[p] == order[-1]:
                continue
            nb = order[order.index(bits[p]) + 1]
            saved = nbytes(p, bits[p]) - nbytes(p, nb)
            moves.append(((dist[p, nb] - dist[p, bits[p]]) / max(saved, 1), p, nb))
        accepted = False
        for _, p, nb in sorted(moves):
            trial = list(bits)
            trial[p] = nb
            if ok(trial):
                bits = trial
                log.append(f"refine: patch {p} -> {nb} bits")
                accepted = True
                break
        if not accepted:
            break
    shifts = [best_k[p, b] for p, b in enumerate(bits)]
    acc, loss, lost, kl = evaluate(bits)
    nflip, bound = flips[tuple(bits)], judged(bits)
    full = c * h * w
    packed = packed_bytes((c, h, w), grid, bits)
    saved = full - packed if memory is None else int(memory([8] * npatch, [0] * npatch)) - int(memory(bits, shifts))
    added = int(round(instr_per_element * full))
    # (5) worth its instructions?
    if saved < min_saving + bytes_per_instruction * added:
        log.append(f"saving {saved} B < {min_saving} B + {bytes_per_instruction} B/instr x {added} instr: "
                   "all patches kept at 8 bits (no op)")  # fmt: skip
        bits, shifts, packed, saved, added = [8] * npatch, [0] * npatch, full, 0, 0
        acc, loss, lost, kl, nflip = acc8, loss8, 0.0, 0.0, 0
        bound = 0.0 if confidence is None else clopper_pearson_upper(0, n_img, confidence)
    judge = f"{criterion}" + ("" if confidence is None else f" {confidence:.0%} upper bound")
    log.append(f"chosen: bits {bits}, calib acc {acc8:.4f} -> {acc:.4f} on {n_img} images, flips {nflip}, "
               f"lost {lost:.4f}, {judge} {bound:.4f} (tolerance {tolerance}), KL {kl:.5f}, "
               f"memory saved {saved} B, {evals} evaluations")  # fmt: skip
    return PatchChoice(tuple(grid), tuple(bits), tuple(shifts), base, full, packed, acc8, acc, loss8, loss, evals,
                       log, lost, kl, tolerance, saved, added, nflip / max(n_img, 1), bound, criterion, confidence,
                       n_img)  # fmt: skip


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper confidence bound of a binomial rate: ``k`` events in ``n`` trials
    (counts), at ``confidence`` (a fraction, e.g. 0.95); a rate in [0, 1] (1.0 when n is 0). The exact bound,
    the ``confidence`` quantile of Beta(k + 1, n - k) (Clopper and Pearson, Biometrika 1934)."""
    from scipy.stats import beta

    if n <= 0 or k >= n:
        return 1.0
    return float(beta.ppf(confidence, k + 1, n - k))
