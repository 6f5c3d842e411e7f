"""Patch-wise execution of the leading stage of a CNN: the schedule and a reference run of ``hwq.ir.run``.

The *stage* is a prefix of the graph's ops that starts at the graph input and ends at the *split* op; its
output ``S`` (``(C, H, W)``) is cut into an ``R x C`` grid of output patches. Each patch is computed from
the input window it needs (receptive field with halo), layer by layer, on windows only; then the rest of
the graph runs on the whole ``S`` as usual. This is MCUNetV2's patch-based inference (Lin et al., 2021,
"MCUNetV2: Memory-Efficient Patch-based Inference for Tiny Deep Learning", section 3.1), written here
from the paper's description.

Why it is exact: every windowed op of the IR (``conv2d`` incl. depthwise, ``maxpool``, ``avgpool``) treats
a padded position the same way wherever the padding sits (conv: contributes 0, also with ``input_offset``;
maxpool: never wins; avgpool ``cmsis``: left out of sum and count; avgpool ``recip``: holds 0 in a fixed
divisor). A window clipped to the image, with *per-patch padding* ``(top, bottom, left, right)`` = the part
of the receptive field outside the image, therefore gives the integers of the whole-tensor op on that
patch. Element-wise ops (requantize, clamps, ``add_dyadic``, ...) need the same region of every input.

Units: the schedule is computed per *unit* (one kernel call: an anchor op and the element-wise ops fused
after it, as the MCU backend calls them; by default one unit per op). Geometry along one axis, for a unit
computing output rows ``[a, b)`` with kernel k, stride s, dilation d, padding p_lo::

    lo = a*s - p_lo;  hi = (b-1)*s - p_lo + d*(k-1) + 1          # rows of the input it reads
    window = [max(lo, 0), min(hi, N));  pad_top = max(0, -lo);  pad_bottom = max(0, hi - N)

Rows and columns are independent. A tensor read by several units holds the union (bounding range) of
what they read.

Order and halo caching: patches run column by column, top to bottom (``p = c*R + r``). Without caching
every unit computes its whole needed region for every patch (the overlap is *recomputed*). A tensor in
``cached`` keeps, from the patch above in the same column, the rows that both patches need (moved to
the front of its buffer, HWC rows being contiguous) and its producer computes only the new rows below:
a carried halo along the vertical axis, as a line buffer of the patch's width.

A tensor in ``hcached`` (column caching; it must be in ``cached`` too) also keeps, from the patch to its
left (same grid row, previous column), the columns that both patches need: after the patch to the left
ran, the columns the next one will read are saved, for the rows it will compute, into a *column cache*
(a strip of the tensor's full height, indexed by absolute row: ``strip[row, col - keep_cols[0]]``), and
restored into the left part of the buffer before the producer computes only the columns right of them.
With both caches every element of a cached tensor is computed once. The restored columns sit left of
the computed ones inside each HWC row, so the producer's output is no longer contiguous: the MCU code
calls its kernel once per output row. The vertical cache makes the rows each patch computes disjoint
down a column, so the strip never holds two patches' rows at once (``schedule`` checks it).

Per-patch precision: when the stage output's only reader is a ``patch_quant`` op on the same grid
(``fused_patch_quant``), each patch's output tile is exactly one of its patches (both cut with
``i * n // parts``), so it is requantised at that patch's bits and step as soon as the patch is computed
(``run_stage(..., quant=op)``): the MCU backend packs the tile into the packed map there, and the whole
int8 map never exists. ``patch_quant`` is position-wise, so this equals the op on the whole tensor.

``schedule(graph, split, grid, cached, units) -> Schedule`` gives, per patch, every unit's computed rows
and columns, its input windows and per-patch padding, and the rows it keeps; ``run_patchwise`` executes
it with the interpreter's op evaluators and must equal ``hwq.ir.run`` integer for integer (both are
tested). The MCU generator prints the same schedule as C tables.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .graph import Graph, GraphError
from .result import RunResult, quantize_inputs

__all__ = [
    "ELEMENTWISE",
    "WINDOWED",
    "PatchError",
    "Schedule",
    "Unit",
    "default_units",
    "fused_patch_quant",
    "run_patchwise",
    "schedule",
    "split_points",
    "stage_units",
    "tile_bounds",
]

#: op kinds with a spatial window (kernel, stride, padding[, dilation])
WINDOWED = ("conv2d", "maxpool", "avgpool")
#: op kinds that map a region of their inputs to the same region of their output (per-channel parameters)
ELEMENTWISE = ("requantize", "relu", "clip", "add_dyadic", "mul_dyadic", "add", "mul", "leaky_relu", "lut",
               "batchnorm")  # fmt: skip


class PatchError(GraphError):
    """A stage that cannot run patch by patch; the message names the op (layer) and the reason."""


Range = tuple[int, int]  # [lo, hi) in full-tensor coordinates


@dataclass(frozen=True)
class Unit:
    """One kernel call of the stage: ``ops`` (anchor first, then fused element-wise ops) reading
    ``inputs`` (IR tensors) and writing ``output``. Geometry comes from the anchor op."""

    name: str
    ops: tuple[str, ...]
    inputs: tuple[str, ...]
    output: str


@dataclass
class UnitPatch:
    """One unit's work for one patch (rows/columns in full-tensor coordinates; pads in elements)."""

    rows: Range  # output rows computed (may be empty: everything was kept)
    cols: Range  # output columns computed
    keep: Range  # output rows carried over from the patch above (empty: none)
    hkeep: Range = (0, 0)  # output columns restored from the column cache for rows ``rows`` (empty: none)
    hsave: tuple[Range, Range] | None = None  # (rows, columns) saved to the column cache for the next column
    in_rows: list[Range] = field(default_factory=list)  # per input: the window read (clipped)
    in_cols: list[Range] = field(default_factory=list)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # per-patch padding (top, bottom, left, right)


@dataclass
class Patch:
    """One output patch: grid position, the region each tensor's buffer holds, and each unit's work."""

    r: int
    c: int
    hold: dict[str, tuple[Range, Range]]
    units: list[UnitPatch]


@dataclass
class Schedule:
    """The patch-wise schedule of a stage (see the module docstring)."""

    graph: Graph
    units: list[Unit]
    input: str
    output: str
    grid: tuple[int, int]
    cached: frozenset[str]
    patches: list[Patch]
    row_tiles: list[Range]
    col_tiles: list[Range]
    hcached: frozenset[str] = frozenset()

    def strip_cols(self, tensor: str) -> int:
        """Width (columns) of ``tensor``'s column cache: the widest saved block (0: not column-cached)."""
        i = next((k for k, u in enumerate(self.units) if u.output == tensor), None)
        if i is None:
            return 0
        return max((p.units[i].hsave[1][1] - p.units[i].hsave[1][0] for p in self.patches if p.units[i].hsave),
                   default=0)  # fmt: skip

    def strip_bytes(self, tensor: str) -> int:
        """Bytes of ``tensor``'s column cache (its height x ``strip_cols`` x channels, int8)."""
        c, h, _ = self.graph.tensor(tensor).shape
        return c * h * self.strip_cols(tensor)

    def macs(self) -> dict[str, int]:
        """Multiply-accumulates of the stage: ``layer`` (whole tensors, once) and ``patch`` (this schedule,
        halo recomputation included)."""
        g = self.graph
        whole = sum(_unit_macs(g, u, _full(g, u.output)) for u in self.units)
        per = 0
        for p in self.patches:
            for u, up in zip(self.units, p.units):
                per += _unit_macs(g, u, (up.rows, up.cols))
        return {"layer": whole, "patch": per}

    def buffer_bytes(self, tensor: str, elem_bytes: int = 1) -> int:
        """Largest buffer of ``tensor`` over the patches (channels x held rows x held columns)."""
        c = self.graph.tensor(tensor).shape[0]
        best = 0
        for p in self.patches:
            if tensor in p.hold:
                (r0, r1), (c0, c1) = p.hold[tensor]
                best = max(best, c * max(r1 - r0, 0) * max(c1 - c0, 0) * elem_bytes)
        return best


def _full(graph: Graph, t: str) -> tuple[Range, Range]:
    _, h, w = graph.tensor(t).shape
    return (0, h), (0, w)


def _unit_macs(graph: Graph, u: Unit, region: tuple[Range, Range]) -> int:
    op = graph.op(u.ops[0])
    if op.kind != "conv2d":
        return 0
    (r0, r1), (c0, c1) = region
    cout, cg, kh, kw = op.weight.shape
    return cout * cg * kh * kw * max(r1 - r0, 0) * max(c1 - c0, 0)


def tile_bounds(n: int, parts: int) -> list[Range]:
    """Split ``n`` rows (or columns) into ``parts`` near-equal consecutive ranges (the first ones smaller)."""
    if not 1 <= parts <= n:
        raise PatchError(f"cannot cut {n} rows/columns into {parts} patches")
    edges = [i * n // parts for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts)]


def _geometry(op) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int], tuple[int, int]]:
    """(kernel, stride, padding (t, b, l, r), dilation) of a windowed or element-wise anchor op."""
    if op.kind == "conv2d":
        return tuple(op.weight.shape[2:]), tuple(op.stride), tuple(op.padding), tuple(op.dilation)
    if op.kind in ("maxpool", "avgpool"):
        return tuple(op.kernel), tuple(op.stride), tuple(op.padding), (1, 1)
    return (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)


def _in_range(lo: int, hi: int, k: int, s: int, p: int, d: int) -> Range:
    """Unclipped input range read by output range [lo, hi) along one axis."""
    return lo * s - p, (hi - 1) * s - p + d * (k - 1) + 1


def default_units(graph: Graph) -> list[Unit]:
    """One unit per op, in graph order."""
    return [Unit(op.name, (op.name,), tuple(op.inputs), op.output) for op in graph.ops]


def _check_unit(graph: Graph, u: Unit) -> None:
    op = graph.op(u.ops[0])
    if op.kind not in WINDOWED + ELEMENTWISE:
        raise PatchError(f"op {op.name!r} ({op.kind}): cannot be split into patches (it needs the whole tensor)")
    for name in u.ops[1:]:
        k = graph.op(name).kind
        if k not in ELEMENTWISE:
            raise PatchError(f"op {name!r} ({k}): only element-wise ops can be fused after a windowed op")
    for t in (*u.inputs, u.output):
        if len(graph.tensor(t).shape) != 3:
            raise PatchError(f"op {op.name!r} ({op.kind}): tensor {t!r} is not (C, H, W); only 2-D feature maps split")
    if op.kind in ELEMENTWISE:
        shapes = {graph.tensor(t).shape[1:] for t in (*u.inputs, u.output)}
        if len(shapes) > 1:
            raise PatchError(f"op {op.name!r} ({op.kind}): inputs and output differ in height/width")


def stage_units(graph: Graph, split: str, units: list[Unit] | None = None) -> list[Unit]:
    """The units of the stage ending at the unit that contains op ``split``; PatchError naming the op
    when the prefix cannot run patch by patch (an op that needs the whole tensor, a tensor read after
    the split, a second graph input)."""
    units = default_units(graph) if units is None else list(units)
    end = next((i for i, u in enumerate(units) if split in u.ops), None)
    if end is None:
        raise PatchError(f"split op {split!r}: no such op in graph {graph.name!r}")
    stage = units[: end + 1]
    for u in stage:
        _check_unit(graph, u)
    produced = {u.output for u in stage}
    out = stage[-1].output
    inside_ops = {n for u in stage for n in u.ops}
    for u in stage:
        for t in u.inputs:
            if t not in produced and t not in graph.inputs:
                raise PatchError(f"op {u.name!r}: input {t!r} comes from outside the stage")
    ins = {t for u in stage for t in u.inputs if t in graph.inputs}
    if len(ins) != 1:
        raise PatchError(f"split op {split!r}: the stage must read exactly one graph input, it reads {sorted(ins)}")
    for u in stage:
        for name in u.ops:
            t = graph.op(name).output
            if t == out:
                continue
            if t in graph.outputs:
                raise PatchError(f"op {name!r}: its output {t!r} is a graph output inside the stage")
            if not graph.consumers(t):
                raise PatchError(f"op {name!r}: its output {t!r} is never read")
            for c in graph.consumers(t):
                if c.name not in inside_ops:
                    raise PatchError(
                        f"op {name!r}: its output {t!r} is read by {c.name!r} after the split op {split!r}"
                    )
    return stage


def split_points(graph: Graph, units: list[Unit] | None = None) -> list[str]:
    """Anchor op names of every unit at which the graph can be split (the stage up to it is valid)."""
    units = default_units(graph) if units is None else list(units)
    out = []
    for u in units:
        try:
            stage_units(graph, u.ops[0], units)
        except PatchError:
            if graph.op(u.ops[0]).kind not in WINDOWED + ELEMENTWISE:
                break  # nothing after a whole-tensor op can be in the stage
            continue
        out.append(u.name)
    return out


def _union(a: Range | None, b: Range) -> Range:
    return b if a is None else (min(a[0], b[0]), max(a[1], b[1]))


def schedule(graph: Graph, split: str, grid: tuple[int, int], cached=(), units: list[Unit] | None = None,
             hcached=()) -> Schedule:  # fmt: skip
    """The patch schedule of the stage ending at op ``split`` for an ``R x C`` grid of its output; tensors in
    ``cached`` carry their overlapping rows from the patch above, tensors in ``hcached`` (a subset of
    ``cached``) also their overlapping columns from the patch to the left (see the module docstring)."""
    stage = stage_units(graph, split, units)
    x = next(t for u in stage for t in u.inputs if t in graph.inputs)
    s_out = stage[-1].output
    cached = frozenset(cached)
    hcached = frozenset(hcached)
    bad = (cached | hcached) - {u.output for u in stage[:-1]}
    if bad:
        raise PatchError(f"cached tensor(s) {sorted(bad)}: only tensors produced inside the stage (not its output)")
    if hcached - cached:
        raise PatchError(f"column-cached tensor(s) {sorted(hcached - cached)}: must have their rows cached too")
    _, h, w = graph.tensor(s_out).shape
    rows, cols = tile_bounds(h, grid[0]), tile_bounds(w, grid[1])
    geo = {u.name: _geometry(graph.op(u.ops[0])) for u in stage}
    patches: list[Patch] = []
    for c in range(grid[1]):
        prev: Patch | None = None
        for r in range(grid[0]):
            left = patches[(c - 1) * grid[0] + r] if c > 0 else None
            need: dict[str, list[Range | None]] = {s_out: [rows[r], cols[c]]}
            work: list[UnitPatch | None] = [None] * len(stage)
            for i in range(len(stage) - 1, -1, -1):
                u = stage[i]
                if u.output not in need:  # its consumers computed nothing for this patch (all rows kept)
                    if u.output in cached and prev is not None and u.output in prev.hold:
                        pr, pc = prev.hold[u.output]
                        need[u.output] = [pr, pc]
                        work[i] = UnitPatch((pr[1], pr[1]), pc, pr)
                    else:
                        work[i] = UnitPatch((0, 0), (0, 0), (0, 0))
                    continue
                nr, nc = need[u.output]
                keep = (nr[0], nr[0])
                if u.output in cached and prev is not None and u.output in prev.hold:
                    pr, pc = prev.hold[u.output]
                    if pc != nc:  # a consumer computed nothing: keep the column's full width
                        nc = _union(nc, pc)
                        need[u.output][1] = nc
                    if pr[0] <= nr[0] < pr[1]:
                        keep = (nr[0], min(pr[1], nr[1]))
                cmp_rows = (keep[1], nr[1])
                hkeep = (nc[0], nc[0])
                if u.output in hcached and left is not None and u.output in left.hold and cmp_rows[1] > cmp_rows[0]:
                    lr, lc = left.hold[u.output]
                    if lc[0] <= nc[0] < lc[1] and lr[0] <= cmp_rows[0] and cmp_rows[1] <= lr[1]:
                        hkeep = (nc[0], min(lc[1], nc[1]))
                        left.units[i].hsave = (cmp_rows, hkeep)
                cmp_cols = (hkeep[1], nc[1])
                k, s, p, d = geo[u.name]
                up = UnitPatch(cmp_rows, cmp_cols, keep, hkeep)
                if cmp_rows[1] > cmp_rows[0] and cmp_cols[1] > cmp_cols[0]:
                    rlo, rhi = _in_range(*cmp_rows, k[0], s[0], p[0], d[0])
                    clo, chi = _in_range(*cmp_cols, k[1], s[1], p[2], d[1])
                    for t in u.inputs:
                        _, th, tw = graph.tensor(t).shape
                        wr, wc = (max(rlo, 0), min(rhi, th)), (max(clo, 0), min(chi, tw))
                        if wr[1] <= wr[0] or wc[1] <= wc[0]:
                            raise PatchError(f"op {u.name!r}: a patch of it reads only padding")
                        up.in_rows.append(wr)
                        up.in_cols.append(wc)
                        cur = need.setdefault(t, [None, None])
                        cur[0], cur[1] = _union(cur[0], wr), _union(cur[1], wc)
                    _, th, tw = graph.tensor(u.inputs[0]).shape
                    up.pad = (max(0, -rlo), max(0, rhi - th), max(0, -clo), max(0, chi - tw))
                work[i] = up
            hold = {t: (v[0], v[1]) for t, v in need.items() if v[0] is not None}
            p = Patch(r, c, hold, work)
            patches.append(p)
            prev = p
    sch = Schedule(graph, stage, x, s_out, tuple(grid), cached, patches, rows, cols, hcached)
    _check_strips(sch)
    return sch


def _check_strips(sch: Schedule) -> None:
    """PatchError naming the op when a column cache's rows would be overwritten before they are read."""
    R = sch.grid[0]
    for i, u in enumerate(sch.units):
        if u.output not in sch.hcached:
            continue
        owner: dict[int, int] = {}  # absolute row -> index of the patch that will read it
        for pi, p in enumerate(sch.patches):
            up = p.units[i]
            if up.hkeep[1] > up.hkeep[0]:
                if any(owner.get(row) != pi for row in range(*up.rows)):
                    raise PatchError(f"op {u.name!r}: the column cache of {u.output!r} would be overwritten before "
                                     f"it is read (grid {sch.grid[0]}x{sch.grid[1]})")  # fmt: skip
            if up.hsave is not None:
                for row in range(*up.hsave[0]):
                    owner[row] = pi + R


def _eval_unit(graph: Graph, u: Unit, args: list[np.ndarray], pad) -> np.ndarray:
    from .ops import EVALUATORS

    val = None
    for j, name in enumerate(u.ops):
        op = graph.op(name)
        if j == 0:
            if op.kind in WINDOWED:
                op = dataclasses.replace(op, padding=tuple(int(v) for v in pad))
            ins = args
        else:
            ins = [val]
        fn = EVALUATORS.get(op.kind)
        if fn is None:
            raise PatchError(f"op {op.name!r}: the interpreter has no implementation of op kind {op.kind!r}")
        val = fn(op, ins, graph)
    return val


def fused_patch_quant(graph: Graph, stage_output: str, grid: tuple[int, int]):
    """The ``patch_quant`` op applied per patch inside the patch loop, or None: the only reader of
    ``stage_output``, on the same ``grid`` (so each output patch is one of its patches)."""
    readers = graph.consumers(stage_output)
    if len(readers) != 1 or readers[0].kind != "patch_quant" or stage_output in graph.outputs:
        return None
    op = readers[0]
    return op if tuple(int(v) for v in op.grid) == tuple(int(v) for v in grid) else None


def run_stage(sch: Schedule, x: np.ndarray, quant=None) -> np.ndarray:
    """The stage output ``(B, C, H, W)`` computed patch by patch from the stage input ``x`` (raws); with
    ``quant`` (a ``fused_patch_quant`` op) each output patch requantised at its own bits and step, i.e.
    the op's output."""
    g = sch.graph
    if quant is not None:
        from .ops.patch_quant import requant_codes

        fmt = g.tensor(quant.output).fmt
        qk, qbase = quant.shift_list(), quant.base_raw(g)
    bsz = x.shape[0]
    out = None
    bufs: dict[str, tuple[np.ndarray, Range, Range]] = {}
    strips: dict[str, np.ndarray] = {}  # column caches: [batch, channel, absolute row, column]
    for p in sch.patches:
        if p.r == 0:
            bufs = {}
        cur = {}
        if sch.input in p.hold:
            (r0, r1), (c0, c1) = p.hold[sch.input]
            cur[sch.input] = (x[:, :, r0:r1, c0:c1], (r0, r1), (c0, c1))
        for u, up in zip(sch.units, p.units):
            if u.output not in p.hold:
                continue
            hr, hc = p.hold[u.output]
            ch = g.tensor(u.output).shape[0]
            buf = None
            if up.keep[1] > up.keep[0]:
                old, orows, _ = bufs[u.output]
                buf = np.zeros((bsz, ch, hr[1] - hr[0], hc[1] - hc[0]), dtype=old.dtype)
                buf[:, :, : up.keep[1] - up.keep[0]] = old[:, :, up.keep[0] - orows[0] : up.keep[1] - orows[0]]
            if up.hkeep[1] > up.hkeep[0]:
                st = strips[u.output]
                if buf is None:
                    buf = np.zeros((bsz, ch, hr[1] - hr[0], hc[1] - hc[0]), dtype=st.dtype)
                buf[:, :, up.rows[0] - hr[0] : up.rows[1] - hr[0], up.hkeep[0] - hc[0] : up.hkeep[1] - hc[0]] = st[
                    :, :, up.rows[0] : up.rows[1], : up.hkeep[1] - up.hkeep[0]
                ]
            if up.rows[1] > up.rows[0] and up.cols[1] > up.cols[0]:
                args = []
                for t, wr, wc in zip(u.inputs, up.in_rows, up.in_cols):
                    a, ar, ac = cur[t]
                    args.append(a[:, :, wr[0] - ar[0] : wr[1] - ar[0], wc[0] - ac[0] : wc[1] - ac[0]])
                y = _eval_unit(g, u, args, up.pad)
                if y.shape[2:] != (up.rows[1] - up.rows[0], up.cols[1] - up.cols[0]):
                    raise PatchError(f"op {u.name!r}: patch output {y.shape[2:]} differs from the schedule")
                if buf is None:
                    buf = np.zeros((bsz, ch, hr[1] - hr[0], hc[1] - hc[0]), dtype=y.dtype)
                buf[:, :, up.rows[0] - hr[0] : up.rows[1] - hr[0], up.cols[0] - hc[0] : up.cols[1] - hc[0]] = y
            if up.hsave is not None:
                (s0, s1), (k0, k1) = up.hsave
                if u.output not in strips:
                    strips[u.output] = np.zeros((bsz, ch, g.tensor(u.output).shape[1], sch.strip_cols(u.output)),
                                                dtype=buf.dtype)  # fmt: skip
                strips[u.output][:, :, s0:s1, : k1 - k0] = buf[:, :, s0 - hr[0] : s1 - hr[0], k0 - hc[0] : k1 - hc[0]]
            cur[u.output] = (buf, hr, hc)
        y, hr, hc = cur[sch.output]
        if quant is not None:
            i = p.r * sch.grid[1] + p.c
            y = requant_codes(y, quant.bits[i], qk[i], qbase, int(fmt.raw_min), int(fmt.raw_max))[1]
        if out is None:
            out = np.zeros((bsz, *g.tensor(sch.output).shape), dtype=y.dtype)
        out[:, :, hr[0] : hr[1], hc[0] : hc[1]] = y
        bufs = {t: v for t, v in cur.items() if t in sch.cached}
    return out


def run_patchwise(graph: Graph, inputs, split: str, grid: tuple[int, int], cached=(), units=None,
                  hcached=()) -> RunResult:  # fmt: skip
    """``hwq.ir.run`` with the stage ending at op ``split`` computed patch by patch (``schedule``; rows of
    ``cached`` tensors and columns of ``hcached`` tensors carried over; a ``fused_patch_quant`` op applied
    per patch); the rest of the graph runs op by op on the whole stage output. Raw integers in and out,
    as ``run``."""
    from .ops import EVALUATORS

    sch = schedule(graph, split, grid, cached, units, hcached)
    values = quantize_inputs(graph, inputs)
    done = {n for u in sch.units for n in u.ops}
    pq = fused_patch_quant(graph, sch.output, sch.grid)
    if pq is None:
        values[sch.output] = run_stage(sch, np.asarray(values[sch.input]))
    else:  # the stage's int8 output never exists whole: each patch is requantised as it is computed
        values[pq.output] = run_stage(sch, np.asarray(values[sch.input]), pq)
        done.add(pq.name)
    for op in graph.ops:
        if op.name in done:
            continue
        values[op.output] = EVALUATORS[op.kind](op, [values[i] for i in op.inputs], graph)
    return RunResult(graph, {n: values[n] for n in graph.outputs})
