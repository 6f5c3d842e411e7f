"""Patch plans of a lowered MCU program: the per-patch call sequence, its arena plan, MACs and instructions.

``patch_program(prog, split, grid, cached)`` maps the stage of ``hwq.ir.patchwise.schedule`` onto the
CMSIS-NN calls of ``mcu.lower.lower``: one unit per kernel call (anchor + fused requantise/clamps). Each
patch runs this sequence of *substeps* (``Sub``), with geometry from per-patch tables (``PatchGeom``):

- ``gather``: the input window, read from the caller's CHW input, stored HWC in the window buffer;
- ``fetch`` (``input="stream"``, instead of ``gather``): the input window (with its halo) asked from the
  user's callback ``hwq_<model>_read_input_window(in, y0, x0, h, w, dst)``, which writes it HWC into the
  window buffer; the whole input image is then never in the program's SRAM (its bytes leave ``io_bytes``
  and the peak; the caller's ``in`` pointer is handed to the callback untouched, as its context);
- ``crop``: a sub-box of a tensor's patch buffer copied out when a window kernel reads fewer columns than
  the buffer holds (a tensor read by two units); rows alone need no copy (a pointer offset);
- ``kernel``: the unit's CMSIS-NN call on the window (``in_h x in_w``, per-patch padding ``pad_t``/
  ``pad_l``; bottom/right padding is implicit in the kernel's bounds checks, as for the whole tensor).
  A cached output tensor has a *halo cache* (the rows the next patch below shares, its width x channels):
  restored to the front of the output buffer before the call, the next patch's rows saved after it, so
  only the cache lives across patches (a line buffer), not the patch buffer. A column-cached tensor also
  has a *column cache* (``hwq.ir.patchwise``: a strip of its height x the overlap columns x channels):
  the overlap columns of the rows the kernel computes are restored into the left of the buffer before the
  call (``hl_*``), and those the next column will need are saved after it (``hs_*``); the kernel then
  writes only the columns right of them, which are not contiguous in HWC, so it is called once per
  output row (window rows and padding of each row computed in C from ``row0`` and the layer's stride,
  kernel and padding); element-wise kernels run one call per row when an operand's buffer is wider than
  the region (strided rows);
- ``paste``: the stage output patch copied into the whole output tensor (skipped when the last kernel can
  write in place: element-wise, or a grid one patch wide);
- ``pack``: per-patch precision inside the loop. When the stage output's only reader is a ``patch_quant``
  on the same grid (``hwq.ir.patchwise.fused_patch_quant``), the output patch is packed at its own bits
  and step (``hwq_patch_pack_s8`` on the tile, a 1x1 map) straight into its place in the packed map
  (patches row-major, each on a byte boundary: the layout of ``mcu/target/hwq_patch_pack.h``), instead of
  being pasted; the int8 stage output is never allocated, and the layer-by-layer pack step is dropped.
  The readers after the loop unpack the map to int8 as in the layer-by-layer program.

The arena is planned by ``mcu.plan.plan_program`` on a timeline of the substeps of one patch followed by
the layer-by-layer steps after the stage: a patch buffer lives from its substep to its last reader inside
one patch, a halo cache and the stage output for the whole loop. Sizes are the largest over patches.
Instructions are estimated with the calibrated per-kernel formulas of ``hwq.cost.mcu`` on each call's
real per-patch shape, plus uncalibrated copy costs (``COPY_*``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hwq.ir.patchwise import ELEMENTWISE, PatchError, Schedule, Unit, fused_patch_quant, schedule, split_points

from ..kernels import McuEmitError
from ..lower import Buffer, Program
from ..plan import MemoryPlan, plan_program

#: estimated Cortex-M4 instructions of the copy helpers (uncalibrated: per element gathered CHW -> HWC,
#: per byte copied by memcpy/memmove, per copied row, per call)
COPY_GATHER_ELEMENT = 8.0
COPY_BYTE = 0.6
COPY_ROW = 25.0
COPY_CALL = 30.0
#: table load and loop overhead per substep and patch
SUBSTEP_OVERHEAD = 20.0


@dataclass
class PatchGeom:
    """One substep's geometry for one patch (bytes for offsets/strides; elements for sizes)."""

    a_off: int = 0
    a_stride: int = 0
    b_off: int = 0
    b_stride: int = 0
    in_h: int = 0
    in_w: int = 0
    pad_t: int = 0
    pad_l: int = 0
    y_off: int = 0
    y_stride: int = 0
    out_h: int = 0
    out_w: int = 0
    keep_n: int = 0  # bytes restored from the halo cache to the front of the output buffer before the call
    save_src: int = 0  # after the call: save_n bytes from the output buffer + save_src to the halo cache
    save_n: int = 0
    row0: int = 0  # absolute first output row the kernel computes (per-row calls)
    x_row0: int = 0  # absolute row of the first row of the kernel's input buffer (per-row calls)
    hl_src: int = 0  # before the call: hl_rows x hl_n bytes from the column cache + hl_src to the output + hl_dst
    hl_dst: int = 0
    hl_rows: int = 0
    hl_n: int = 0
    hs_src: int = 0  # after the call: hs_rows x hs_n bytes from the output + hs_src to the column cache + hs_dst
    hs_dst: int = 0
    hs_rows: int = 0
    hs_n: int = 0

    FIELDS = ("a_off", "a_stride", "b_off", "b_stride", "in_h", "in_w", "pad_t", "pad_l", "y_off", "y_stride",
              "out_h", "out_w", "keep_n", "save_src", "save_n", "row0", "x_row0", "hl_src", "hl_dst", "hl_rows",
              "hl_n", "hs_src", "hs_dst", "hs_rows", "hs_n")  # fmt: skip

    def values(self) -> list[int]:
        """The fields in C struct order."""
        return [int(getattr(self, f)) for f in self.FIELDS]


@dataclass
class Sub:
    """One substep of the per-patch sequence (duck-types ``mcu.lower.Step`` for ``plan_program``)."""

    index: int
    kind: str  # gather | crop | kernel | paste | pack
    func: str
    layer: object  # the kernel's Layer (kernel substeps), else None
    inputs: list[str]  # buffer names
    output: str
    scratch: int = 0
    unit: int = -1  # unit index (kernel, crop)
    step: object = None  # the lowered Step of a kernel substep
    geom: list[PatchGeom] = field(default_factory=list)  # per patch
    cache: str | None = None  # halo cache buffer of a cached output tensor
    strip: str | None = None  # column cache buffer of a column-cached output tensor
    strip_stride: int = 0  # bytes per row of the column cache
    row_calls: bool = False  # the kernel is called once per output row (output columns not contiguous)
    inplace: bool = False


@dataclass
class PatchProgram:
    """A lowered program whose leading stage runs patch by patch."""

    prog: Program  # the layer-by-layer program
    sch: Schedule
    subs: list[Sub]
    rest: list  # lowered Steps after the stage, re-indexed after the substeps
    buffers: dict[str, Buffer]  # every buffer of the patch timeline
    plan: MemoryPlan
    stage_steps: list  # lowered Steps of the stage, one per unit
    split: str
    halo: str
    macs: dict = field(default_factory=dict)
    instructions: dict = field(default_factory=dict)
    pack: object = None  # the layer-by-layer pack Step of a patch_quant applied per patch inside the loop
    input: str = "sram"  # sram: the caller's whole input array is read; stream: windows come from a callback
    input_bytes: int = 0  # bytes of the whole input image (the caller's input array)

    @property
    def last_stage_index(self) -> int:
        """Index (layer-by-layer program) of the last step the patch loop replaces."""
        return self.stage_steps[-1].index + (1 if self.pack is not None else 0)

    def summary(self) -> dict:
        """JSON-ready figures (bytes, MAC and instruction counts)."""
        m = self.macs
        extra = m["stage_patch"] - m["stage_layer"]
        out = {
            "split": self.split,
            "grid": list(self.sch.grid),
            "halo": self.halo,
            "cached": sorted(self.sch.cached),
            "cached_columns": sorted(self.sch.hcached),
            "column_cache_bytes": sum(self.sch.strip_bytes(t) for t in self.sch.hcached),
            "patches": len(self.sch.patches),
            "stage_ops": [n for u in self.sch.units for n in u.ops],
            "arena_bytes": self.plan.arena_bytes,
            "peak_sram_bytes": self.plan.peak_sram_bytes,
            "input": self.input,
            "input_image_bytes": self.input_bytes,
            "input_window_bytes": self.buffers[self.subs[0].output].nbytes,
            # bytes the windows read from the input per run (halo overlaps read again; input=stream: what the
            # callback delivers, vs input_image_bytes)
            "input_read_bytes": sum(gg.in_h * gg.in_w for gg in self.subs[0].geom)
            * self.sch.graph.tensor(self.sch.input).shape[0],
            "peak_sram_with_input_image_bytes": self.plan.peak_sram_bytes
            + (self.input_bytes if self.input == "stream" else 0),
            "peak_sram_without_input_image_bytes": self.plan.peak_sram_bytes
            - (self.input_bytes if self.input == "sram" else 0),
            "stage_macs": m["stage_layer"],
            "stage_patch_macs": m["stage_patch"],
            "extra_macs": m["stage_patch"] - m["stage_layer"],
            "extra_macs_pct_of_stage": round(
                100.0 * (m["stage_patch"] - m["stage_layer"]) / max(m["stage_layer"], 1), 2
            ),
            "total_macs": m["total"],
            "extra_macs_pct_of_model": round(100.0 * extra / max(m["total"], 1), 2),
            "instructions_estimate": int(round(self.instructions["total"])),
            "stage_instructions_estimate": int(round(self.instructions["stage"])),
        }
        if self.pack is not None:
            lay = self.pack.layer
            out["patch_quant"] = {
                "op": lay.ops[0].name,
                "bits": list(lay.params["bits"]),
                "shifts": list(lay.params["shifts"]),
                "packed_bytes": int(lay.params["packed_bytes"]),
                "int8_bytes": int(self.sch.graph.tensor(self.sch.output).size),
            }
        return out


#: fields of one ``hwq_patch_geom_t`` row (one per ``PatchGeom`` field): every substep has a const table of one
#: row per patch, of int16_t fields when every value of the program fits, else int32_t (``geom_ctype``)
GEOM_FIELDS = len(dataclasses.fields(PatchGeom))
#: the patch loop's own static helpers (``mcu.patch.cgen``), priced by the ``[flash] helpers`` table
PATCH_GATHER, PATCH_COPY_ROWS = "hwq_patch_gather_s8", "hwq_patch_copy_rows_s8"


def patch_flash(pp: PatchProgram) -> MemoryPlan:
    """``pp.plan`` with the patch program's flash: the geometry tables among the const bytes and, when the
    Cortex-M4 ``[flash]`` table has a ``patch`` part, the loop's calibrated code bytes
    (``patch_flash_code_bytes``); otherwise the code of the substeps priced as calls of a run function."""
    from ..plan import _m4_flash_table

    code = patch_flash_code_bytes(pp, _m4_flash_table())
    return dataclasses.replace(
        pp.plan,
        flash_weight_bytes=pp.plan.flash_weight_bytes + geometry_table_bytes(pp),
        flash_code_bytes=pp.plan.flash_code_bytes if code is None else code,
    )


def geom_ctype(pp: PatchProgram) -> str:
    """C type of the geometry tables' fields: ``int16_t`` when every value of every substep's table fits in
    16 bits (halving the tables' flash), else ``int32_t``."""
    values = [v for sub in pp.subs for gg in sub.geom for v in gg.values()]
    return "int16_t" if all(-(1 << 15) <= v < (1 << 15) for v in values) else "int32_t"


def geometry_table_bytes(pp: PatchProgram) -> int:
    """Flash bytes of the per-substep geometry tables of a patch program (exact: one row per patch each, of
    ``GEOM_FIELDS`` fields of ``geom_ctype``)."""
    width = 2 if geom_ctype(pp) == "int16_t" else 4
    return width * GEOM_FIELDS * sum(len(sub.geom) for sub in pp.subs)


def patch_code_features(pp: PatchProgram) -> dict[str, int]:
    """What the generated patch loop's code is made of (``mcu.patch.cgen``): one count per substep of each
    kind (``gather``, ``fetch``, ``crop``, ``paste``, ``pack``; kernels as ``kernel:<family>`` with family conv,
    pool, add, mul, clamp) and per optional part of a kernel substep (``keep`` / ``save``: the halo-row cache
    copies, ``hl`` / ``hs``: the column cache copies, ``rows``: one call per output row)."""
    from ..cgen import _family

    out: dict[str, int] = {}

    def add(key: str) -> None:
        out[key] = out.get(key, 0) + 1

    for sub in pp.subs:
        if sub.kind != "kernel":
            add(sub.kind)
            continue
        add(f"kernel:{_family(sub.func)}")
        if sub.cache is not None and any(gg.keep_n for gg in sub.geom):
            add("keep")
        if sub.cache is not None and any(gg.save_n for gg in sub.geom):
            add("save")
        if sub.strip is not None and any(gg.hl_n for gg in sub.geom):
            add("hl")
        if sub.strip is not None and any(gg.hs_n for gg in sub.geom):
            add("hs")
        if sub.row_calls:
            add("rows")
    return out


def patch_helpers(pp: PatchProgram) -> list[str]:
    """The patch helpers the generated model file defines for ``pp`` (``mcu.patch.cgen.PatchCProgram.model_c``)."""
    out = [PATCH_GATHER] if pp.input != "stream" else []
    if any(sub.kind in ("crop", "paste") or sub.strip is not None for sub in pp.subs):
        out.append(PATCH_COPY_ROWS)
    return out


def patch_flash_code_bytes(pp: PatchProgram, table: dict) -> int | None:
    """Code bytes (flash) of a patch program from a target's ``[flash]`` table: the steps after the stage as
    ``mcu.plan.flash_code_bytes`` prices a run function, every stage kernel in the kernels' union, the patch
    helpers (``helpers``) and the loop (``patch.base`` + ``patch[feature]`` per ``patch_code_features``
    count). An ``input=stream`` program's window fetch is a call in the gather's place and is priced as the
    gather where the table has no ``fetch`` price of its own (the calibration links no stream programs; on 5
    linked ones the total is then within -0.10 .. +0.42 % on M4, M7 and M55, ``benchmarks/mcu_stream_pack_flash.py``;
    2.4-4.2 % low with the fetch left out). None when the table has no ``patch`` part (not calibrated)."""
    from ..plan import flash_code_bytes

    patch = table.get("patch")
    if not patch:
        return None
    single = bool(pp.prog.single_rounding)
    rest = [s.func for s in pp.rest]
    stage = sorted({sub.func for sub in pp.subs if sub.kind in ("kernel", "pack")})
    run_call = table.get("run_call", {})
    total = float(table.get("run_base", 0.0)) + sum(float(run_call.get(f, 0.0)) for f in rest)
    library = {k: v for k, v in table.items() if k not in ("run_base", "run_call")}  # helpers and kernels only
    total += flash_code_bytes(library, stage + rest, single)  # the union: a kernel both use counts once
    helpers = table.get("helpers", {})
    total += sum(float(helpers.get(h, 0.0)) for h in patch_helpers(pp))
    price = dict(patch)
    price.setdefault("fetch", price.get("gather", 0.0))  # the callback is called where a gather would be
    total += float(price.get("base", 0.0)) + sum(
        float(price.get(k, 0.0)) * n for k, n in patch_code_features(pp).items()
    )
    return int(round(total))


def stage_units_of(prog: Program) -> tuple[list[Unit], list]:
    """(units, steps): one ``Unit`` per kernel step of ``prog`` (layout copies left out), with its step."""
    units, steps = [], []
    for s in prog.steps:
        if s.layer is None:
            continue
        lay = s.layer
        units.append(Unit(lay.ops[0].name, tuple(op.name for op in lay.ops), tuple(lay.ops[0].inputs), lay.output))
        steps.append(s)
    return units, steps


def _stage_check(prog: Program, units, steps, n: int) -> None:
    g = prog.graph
    for u, s in zip(units[:n], steps[:n]):
        if not s.func.endswith(("_s8", "_s4")) or s.func.startswith("arm_fully_connected"):
            raise PatchError(f"op {u.name!r} ({s.func}): only int8-activation kernels run patch by patch")
        if s.func.startswith("arm_elementwise") or s.func.startswith("hwq_clamp"):
            if g.op(u.ops[0]).kind not in ELEMENTWISE:
                raise PatchError(f"op {u.name!r}: not element-wise")
        for t in u.inputs:
            if prog.buffers[prog.tensor_buffer[t]].ctype != "int8_t":
                raise PatchError(f"op {u.name!r}: input {t!r} is not int8")
            c = g.tensor(t).shape[0]
            perm = s.in_perm[u.inputs.index(t)] if u.inputs.index(t) < len(s.in_perm) else None
            if c > 1 and perm is None and t not in g.inputs:
                raise PatchError(f"op {u.name!r}: input {t!r} is stored channels-first; the stage needs HWC")


def mcu_split_points(prog: Program) -> list[str]:
    """Anchor op names where the lowered program can be split (valid stage, int8 kernels, HWC tensors)."""
    units, steps = stage_units_of(prog)
    out = []
    for name in split_points(prog.graph, units):
        n = next(i for i, u in enumerate(units) if u.name == name) + 1
        try:
            _stage_check(prog, units, steps, n)
        except PatchError:
            break
        if prog.graph.tensor(units[n - 1].output).shape[1:] == (1, 1):
            continue  # a 1x1 output has nothing to cut
        out.append(name)
    return out


def _scratch(step, mode: str) -> int:
    from ..scratch import scratch_bytes

    return scratch_bytes(step, mode)


INPUT_MODES = ("sram", "stream")


def patch_program(prog: Program, split: str, grid: tuple[int, int], cached=(), halo: str = "recompute",
                  scratch: str = "cmsis-nn", target: str = "cortex-m4", hcached=(),
                  input: str = "sram") -> PatchProgram:  # fmt: skip
    """The patch plan of ``prog`` for the stage ending at the unit containing op ``split`` (see the module
    docstring); ``cached`` / ``hcached``: tensors whose halo rows / columns are cached; ``input``:
    ``sram`` (the caller's whole int8 input array is gathered from) or ``stream`` (each patch's window is
    fetched through the user's callback; the input image's bytes leave the peak SRAM). Raises PatchError
    naming the op when the stage cannot run patch by patch."""
    if input not in INPUT_MODES:
        raise McuEmitError(f"input={input!r}: expected sram or stream")
    g = prog.graph
    units, steps = stage_units_of(prog)
    sch = schedule(g, split, grid, cached, units, hcached)
    n = len(sch.units)
    _stage_check(prog, units, steps, n)
    ssteps = steps[:n]
    stage_names = {u.output for u in sch.units}
    x, s_out = sch.input, sch.output
    tb = prog.tensor_buffer
    chan = {t: g.tensor(t).shape[0] for t in stage_names | {x}}
    bufs: dict[str, Buffer] = {}

    def pbuf(name: str, size: int) -> str:
        bufs[name] = Buffer(name, name, size, "int8_t", size, "arena")
        return name

    # patch buffers: the gathered input window and every stage tensor but the output
    pb = {x: pbuf(f"pw_{tb[x]}", sch.buffer_bytes(x))}
    for u in sch.units[:-1]:
        pb[u.output] = pbuf(f"pw_{tb[u.output]}", sch.buffer_bytes(u.output))
    last = sch.units[-1]
    last_ew = g.op(last.ops[0]).kind in ELEMENTWISE
    pq = fused_patch_quant(g, s_out, sch.grid)
    k_end = ssteps[-1].index
    pack = None
    if pq is not None:
        pack = next((st for st in prog.steps if st.index == k_end + 1), None)
        if pack is None or pack.func != "hwq_patch_pack_s8" or pack.layer.ops[0].name != pq.name:
            pack = None  # not right after the stage: packed after the loop, layer by layer
    direct = (last_ew or grid[1] == 1) and pack is None
    s_buf = tb[s_out]
    pts = sch.patches
    subs: list[Sub] = []

    def add(kind, func, layer, ins, out, **kw) -> Sub:
        sub = Sub(len(subs), kind, func, layer, ins, out, **kw)
        subs.append(sub)
        return sub

    # gather
    _, hx, wx = g.tensor(x).shape
    geo = []
    for p in pts:
        gg = PatchGeom()
        if x in p.hold:
            (r0, r1), (c0, c1) = p.hold[x]
            gg = PatchGeom(a_off=r0 * wx + c0, in_h=r1 - r0, in_w=c1 - c0)
        geo.append(gg)
    if input == "stream":
        if prog.buffers[tb[x]].place != "in" or len(g.inputs) != 1:
            raise PatchError(f"input=stream: the stage input {x!r} is not the model's only input")
        add("fetch", "read_input_window", None, [tb[x]], pb[x], geom=geo)
    else:
        add("gather", "hwq_patch_gather_s8", None, [tb[x]], pb[x], geom=geo)
    for i, (u, st) in enumerate(zip(sch.units, ssteps)):
        ew = g.op(u.ops[0]).kind in ELEMENTWISE
        ins = []
        for j, t in enumerate(u.inputs):
            crop = not ew and any(
                bool(pu.in_cols) and pu.in_cols[j] != p.hold[t][1] for p, pu in ((p, p.units[i]) for p in pts)
            )
            if not crop:
                ins.append(pb[t])
                continue
            cb = pbuf(f"pc{i}_{j}_{tb[t]}", 0)
            geo = []
            for p in pts:
                pu = p.units[i]
                if not pu.in_rows:  # computes nothing for this patch
                    geo.append(PatchGeom())
                    continue
                (ar, ac), wr, wc = p.hold[t], pu.in_rows[j], pu.in_cols[j]
                wa = (ac[1] - ac[0]) * chan[t]
                nb = (wc[1] - wc[0]) * chan[t]
                geo.append(PatchGeom(a_off=(wr[0] - ar[0]) * wa + (wc[0] - ac[0]) * chan[t], a_stride=wa,
                                     y_stride=nb, out_h=wr[1] - wr[0], out_w=nb))  # fmt: skip
                bufs[cb].count = bufs[cb].nbytes = max(bufs[cb].nbytes, nb * (wr[1] - wr[0]))
            add("crop", "hwq_patch_copy_rows_s8", None, [pb[t]], cb, unit=i, geom=geo)
            ins.append(cb)
        is_last = i == n - 1
        out = (s_buf if direct else pbuf("pw_out", sch.buffer_bytes(s_out))) if is_last else pb[u.output]
        geo = []
        cy = g.tensor(u.output).shape[0]
        _, hs, ws = g.tensor(s_out).shape
        sstride = sch.strip_cols(u.output) * cy
        for pi, p in enumerate(pts):
            pu = p.units[i]
            gg = PatchGeom()
            if u.output in p.hold and not is_last:
                hr, hc = p.hold[u.output]
                wy = (hc[1] - hc[0]) * cy
                gg.y_off, gg.y_stride = (pu.rows[0] - hr[0]) * wy + (pu.cols[0] - hc[0]) * cy, wy
                gg.keep_n = (pu.keep[1] - pu.keep[0]) * wy
                if pu.hkeep[1] > pu.hkeep[0]:
                    gg.hl_src, gg.hl_rows = pu.rows[0] * sstride, pu.rows[1] - pu.rows[0]
                    gg.hl_dst, gg.hl_n = (pu.rows[0] - hr[0]) * wy + (pu.hkeep[0] - hc[0]) * cy, (
                        pu.hkeep[1] - pu.hkeep[0]) * cy  # fmt: skip
                if pu.hsave is not None:
                    (s0, s1), (k0, k1) = pu.hsave
                    gg.hs_src, gg.hs_dst = (s0 - hr[0]) * wy + (k0 - hc[0]) * cy, s0 * sstride
                    gg.hs_rows, gg.hs_n = s1 - s0, (k1 - k0) * cy
                nxt = pts[pi + 1] if pi + 1 < len(pts) and pts[pi + 1].r == p.r + 1 else None
                if nxt is not None and u.output in sch.cached:
                    nk = nxt.units[i].keep
                    if nk[1] > nk[0]:
                        gg.save_src, gg.save_n = (nk[0] - hr[0]) * wy, (nk[1] - nk[0]) * wy
            elif is_last:
                if direct:
                    gg.y_off, gg.y_stride = (pu.rows[0] * ws + pu.cols[0]) * cy, ws * cy
                else:
                    wy = (pu.cols[1] - pu.cols[0]) * cy
                    gg.y_off, gg.y_stride = 0, wy
            nr, nc = pu.rows[1] - pu.rows[0], pu.cols[1] - pu.cols[0]
            if nr > 0 and nc > 0:
                if ew:
                    offs = []
                    for t in u.inputs:
                        ar, ac = p.hold[t]
                        wa = (ac[1] - ac[0]) * chan[t]
                        offs.append(((pu.rows[0] - ar[0]) * wa + (pu.cols[0] - ac[0]) * chan[t], wa))
                    contiguous = all(stride == nc * cy for _, stride in offs) and gg.y_stride == nc * cy
                    gg.a_off, gg.a_stride = offs[0]
                    if len(offs) > 1:
                        gg.b_off, gg.b_stride = offs[1]
                    gg.out_h, gg.out_w = (1, nr * nc * cy) if contiguous else (nr, nc * cy)
                else:
                    wr, wc = pu.in_rows[0], pu.in_cols[0]
                    if ins[0].startswith("pc"):
                        gg.a_off, gg.x_row0 = 0, wr[0]
                        gg.a_stride = (wc[1] - wc[0]) * chan[u.inputs[0]]
                    else:
                        ar, ac = p.hold[u.inputs[0]]
                        gg.a_off = (wr[0] - ar[0]) * (ac[1] - ac[0]) * chan[u.inputs[0]]
                        gg.x_row0, gg.a_stride = ar[0], (ac[1] - ac[0]) * chan[u.inputs[0]]
                    gg.in_h, gg.in_w = wr[1] - wr[0], wc[1] - wc[0]
                    gg.pad_t, gg.pad_l = pu.pad[0], pu.pad[2]
                    gg.out_h, gg.out_w = nr, nc
                    gg.row0 = pu.rows[0]
            geo.append(gg)
        cache = strip = None
        if u.output in sch.cached:
            cache = pbuf(f"ph_{tb[u.output]}", max([gg.save_n for gg in geo] + [gg.keep_n for gg in geo] + [0]))
        if u.output in sch.hcached and sch.strip_bytes(u.output):
            strip = pbuf(f"pv_{tb[u.output]}", sch.strip_bytes(u.output))
        row_calls = not ew and any(gg.out_h > 0 and gg.y_stride != gg.out_w * cy for gg in geo)
        add("kernel", st.func, st.layer, ins, out, scratch=_scratch(st, scratch), unit=i, step=st, geom=geo,
            cache=cache, strip=strip, strip_stride=sstride, row_calls=row_calls)  # fmt: skip
    if not direct:
        geo = []
        _, hs, ws = g.tensor(s_out).shape
        cy = chan[s_out] if s_out in chan else g.tensor(s_out).shape[0]
        for p in pts:
            (r0, r1), (c0, c1) = p.hold[s_out]
            nb = (c1 - c0) * cy
            geo.append(PatchGeom(a_stride=nb, y_off=(r0 * ws + c0) * cy, y_stride=ws * cy, out_h=r1 - r0, out_w=nb))
        if pack is None:
            add("paste", "hwq_patch_copy_rows_s8", None, ["pw_out"], s_buf, geom=geo)
        else:
            pk = pack.layer.params
            seg = [0]  # byte offset of each patch of the packed map (row-major over the grid)
            for r0, r1 in sch.row_tiles:
                for c0, c1 in sch.col_tiles:
                    seg.append(seg[-1] + ((r1 - r0) * (c1 - c0) * cy * pk["bits"][len(seg) - 1] + 7) // 8)
            geo = []
            for p in pts:
                (r0, r1), (c0, c1) = p.hold[s_out]
                geo.append(PatchGeom(a_stride=(c1 - c0) * cy, y_off=seg[p.r * grid[1] + p.c], out_h=r1 - r0,
                                     out_w=c1 - c0))  # fmt: skip
            add("pack", "hwq_patch_pack_s8", pack.layer, ["pw_out"], pack.output, geom=geo)
    m = len(subs)
    # lifetimes on the patch timeline
    for sub in subs:
        b = bufs.get(sub.output)
        if b is not None:
            b.first = sub.index if b.first < 0 else min(b.first, sub.index)
        for name in sub.inputs:
            if name in bufs:
                bufs[name].last = max(bufs[name].last, sub.index)
    for sub in subs:
        for name in (sub.cache, sub.strip):  # the carried rows / columns live for the whole loop
            if name is not None:
                bufs[name].first, bufs[name].last = 0, m - 1
    # the rest of the program, re-indexed after the substeps (and the pack step the loop took over)
    k_stage = k_end
    if pack is not None:
        k_end += 1
    rest = [dataclasses.replace(s, index=m + s.index - k_end - 1) for s in prog.steps if s.index > k_end]
    if input == "stream" and any(tb[x] in s.inputs for s in rest):
        raise PatchError(f"input=stream: the input {x!r} is read after the patch stage; it must be held whole")
    skip = {tb[t] for t in stage_names if t != s_out} | {tb[x]}
    if pack is not None:
        skip.add(s_buf)  # the int8 stage output never exists whole: patches go straight to the packed map
    for s in prog.steps:
        if s.index <= k_stage and s.layer is None:
            skip.add(s.output)  # the input layout copy: replaced by the gather
    for name, b in prog.buffers.items():
        if name in skip and b.place == "arena":
            continue
        nb = dataclasses.replace(b)
        if name == s_buf or (pack is not None and name == pack.output):
            nb.first = 0
            nb.last = m + b.last - k_end - 1 if b.last > k_end else m - 1
            if b.place == "out":
                nb.last = m + len(rest)
        elif b.place == "arena":
            nb.first = m + b.first - k_end - 1
            nb.last = m + b.last - k_end - 1
        elif b.place == "out":
            nb.last = m + len(rest)
        if input == "stream" and name == tb[x]:
            nb.nbytes = 0  # never read by the program: the callback delivers windows (not in its SRAM)
        bufs[name] = nb
    synth = dataclasses.replace(prog, steps=[*subs, *rest], buffers=bufs)
    plan = plan_program(synth)
    pp = PatchProgram(prog, sch, subs, rest, bufs, plan, ssteps, split, halo, pack=pack, input=input,
                      input_bytes=prog.buffers[tb[x]].nbytes)  # fmt: skip
    mac = sch.macs()
    total = sum(int(s.layer.macs) for s in prog.steps if s.layer is not None)
    pp.macs = {"stage_layer": mac["layer"], "stage_patch": mac["patch"], "total": total}
    pp.instructions = estimate_instructions(pp, target)
    pp.plan = patch_flash(pp)
    return pp


def _coefs(target: str) -> dict:
    from hwq.cost.targets import load_target

    return load_target(target).get("instructions", {})


def sub_instructions(sub: Sub, gg: PatchGeom, coefs: dict, prog: Program) -> float:
    """Estimated instructions of one substep for one patch (kernels: the calibrated ``hwq.cost.mcu``
    formula on the patch's shape; copies: ``COPY_*``)."""
    from hwq.cost.mcu_formulas import KERNEL_OF, kernel_instructions

    if sub.kind in ("gather", "fetch"):  # fetch: the callback's work, costed as the harness's CHW -> HWC copy
        c = prog.graph.tensor(prog.buffers[sub.inputs[0]].tensor).shape[0]
        return COPY_CALL + COPY_GATHER_ELEMENT * gg.in_h * gg.in_w * c + SUBSTEP_OVERHEAD
    if sub.kind in ("crop", "paste"):
        return COPY_CALL + gg.out_h * (COPY_ROW + COPY_BYTE * gg.out_w) + SUBSTEP_OVERHEAD
    if sub.kind == "pack":
        from hwq.cost.mcu_formulas import instructions

        n = gg.out_h * gg.out_w * int(sub.layer.params["c"])
        return SUBSTEP_OVERHEAD + instructions(sub.func, {"elements": n}, coefs)
    est = SUBSTEP_OVERHEAD + sum(COPY_CALL + COPY_BYTE * n for n in (gg.keep_n, gg.save_n) if n)
    est += sum(COPY_CALL + rows * (COPY_ROW + COPY_BYTE * n) for rows, n in ((gg.hl_rows, gg.hl_n),
                                                                          (gg.hs_rows, gg.hs_n)) if n)  # fmt: skip
    if gg.out_h <= 0 or gg.out_w <= 0:
        return est
    kernel = KERNEL_OF.get(sub.func)
    p = sub.layer.params
    if kernel in ("add_s8", "mul_s8"):
        per = kernel_instructions(kernel, {"n": gg.out_w}, coefs)
        return est + gg.out_h * (per if per is not None else 8.0 * gg.out_w + 40)
    if sub.func.startswith("hwq_clamp"):
        return est + gg.out_h * (COPY_CALL + 4.0 * gg.out_w)
    st, dil = p["stride"], p.get("dilation", (1, 1))
    cin = int(p.get("cin", p.get("c", 0)))
    shape = dict(h=gg.in_h, w=gg.in_w, cin=cin, cout=int(p.get("cout", cin)), kh=int(p["kh"]), kw=int(p["kw"]),
                 sh=int(st[0]), sw=int(st[1]), pt=gg.pad_t, pl=gg.pad_l, dh=int(dil[0]), dw=int(dil[1]),
                 ho=gg.out_h, wo=gg.out_w)  # fmt: skip
    if sub.row_calls and gg.y_stride != gg.out_w * shape["cout"]:  # one call per output row
        rows = gg.out_h
        shape.update(h=min(shape["dh"] * (shape["kh"] - 1) + 1, gg.in_h), pt=0, ho=1)
    else:
        rows = 1
    v = kernel_instructions(kernel, shape, coefs) if kernel else None
    return est + rows * (v if v is not None else 10.0 * shape["ho"] * gg.out_w * shape["cout"])


def layer_instructions(prog: Program, target: str = "cortex-m4") -> list[float]:
    """Estimated instructions of every step of the layer-by-layer program (``hwq.cost.mcu`` formulas)."""
    from hwq.cost.mcu_formulas import KERNEL_OF, instructions, kernel_instructions, shape_from_step, step_features

    coefs = _coefs(target)
    out = []
    for s in prog.steps:
        kernel = KERNEL_OF.get(s.func)
        shape = shape_from_step(s, prog) if kernel else None
        v = kernel_instructions(kernel, shape, coefs) if shape is not None else None
        if v is None:
            if s.layer is None:  # layout copy
                v = COPY_CALL + COPY_GATHER_ELEMENT * prog.buffers[s.output].count
            else:
                v = instructions(s.func, step_features(s, prog), coefs)
        out.append(float(v))
    return out


def estimate_instructions(pp: PatchProgram, target: str = "cortex-m4") -> dict:
    """``{"stage", "rest", "total"}`` estimated instructions of a patch program on ``target``."""
    coefs = _coefs(target)
    stage = 0.0
    for sub in pp.subs:
        for gg in sub.geom:
            stage += sub_instructions(sub, gg, coefs, pp.prog)
    per = layer_instructions(pp.prog, target)
    k_end = pp.last_stage_index
    rest = sum(v for s, v in zip(pp.prog.steps, per) if s.index > k_end)
    return {"stage": stage, "rest": rest, "total": stage + rest}


def parse_grid(text: str) -> tuple[int, int]:
    """``"RxC"`` -> (R, C); McuEmitError on anything else."""
    try:
        r, c = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise McuEmitError(f"patches={text!r}: expected auto, none or RxC (e.g. 3x3)") from None
    if r < 1 or c < 1:
        raise McuEmitError(f"patches={text!r}: rows and columns must be positive")
    return r, c
