"""IR graph -> the ordered CMSIS-NN calls of one model (``Program``), with buffers and layouts.

Layouts: the IR is channels-first (``(C, H, W)``, ``(C, L)``); CMSIS-NN is NHWC. Every tensor has a
*physical order*: ``None`` (the IR's row-major order) or a ``(C, H, W)`` triple meaning its bytes are the HWC
order of that shape. Convolutions and pools produce HWC; a view (flatten/reshape) keeps its source's bytes
and order; a dense layer reading an HWC-ordered vector has its weight columns permuted at emit time, so no
transpose runs for the usual conv -> flatten -> dense. Only a graph input read by a convolution (C > 1) or a
graph output left in HWC order costs a copy (``hwq_chw_to_hwc_s8`` / ``hwq_hwc_to_chw_s8``). The entry point
takes inputs and returns outputs in the IR's order, so the runner and ``hwq.ir.run`` agree element by
element.

Buffers: graph inputs are read in place from the caller's ``in`` array, graph outputs written in place to
``out`` (several inputs/outputs are concatenated in graph order); every other tensor lives in the arena.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hwq.io import unique_identifiers

from .kernels import Layer, McuEmitError, Unsupported, fused_into, layer_for, storage
from .scratch import SCRATCH_MODES, scratch_bytes


@dataclass
class Buffer:
    """Storage of one base tensor (views share their source's buffer)."""

    name: str  # C identifier suffix
    tensor: str  # IR tensor
    count: int  # elements
    ctype: str
    nbytes: int  # count * element size
    place: str  # "in" | "out" | "arena"
    io_offset: int = 0  # element offset inside the in/out array
    first: int = -1  # step writing it (-1: before the first step)
    last: int = -1  # last step reading it (len(steps): a graph output)


@dataclass
class Step:
    """One call in the generated run function."""

    index: int
    func: str
    layer: Layer | None  # None for the layout copies
    inputs: list[str]  # buffer names
    output: str  # buffer name
    in_perm: list  # physical order of each input (see the module docstring)
    scratch: int = 0  # bytes of the kernel's ctx buffer
    comment: str = ""
    params: dict = field(default_factory=dict)

    @property
    def inplace(self) -> bool:
        """The output may share the first input's bytes (element-wise kernels)."""
        return bool(self.layer is not None and self.layer.inplace)


@dataclass
class Program:
    """The lowered model: ordered steps, buffers, rounding build and the I/O mapping."""

    graph: object
    model: str  # sanitised model identifier
    steps: list[Step]
    buffers: dict[str, Buffer]
    tensor_buffer: dict[str, str]  # IR tensor -> buffer name
    single_rounding: bool
    in_ctype: str
    out_ctype: str
    inputs: list[dict]  # {"name","count","ctype","storage_offset"}
    outputs: list[dict]


def hwc_order(shape: tuple) -> tuple | None:
    """The physical order a CMSIS-NN spatial kernel needs for an IR tensor of this shape."""
    if len(shape) == 3:
        c, h, w = shape
    elif len(shape) == 2:
        (c, w), h = shape, 1
    else:
        return None
    return (c, h, w) if c > 1 and h * w > 1 else None


def _op_error(op, reason: str) -> McuEmitError:
    return McuEmitError(f"op {op.name!r} ({op.kind}): {reason}")


def lower(graph, scratch: str = "cmsis-nn", check: bool = True) -> Program:
    """Pattern-match ``graph`` onto CMSIS-NN calls; McuEmitError naming the op when it cannot.

    scratch: how kernel scratch buffers are sized (``mcu.plan.scratch_bytes``); check: validate the graph
    first (``Graph.validate``; callers that already did may skip it)."""
    from hwq.io import sanitize_identifier

    if check:
        graph.validate()
    model = sanitize_identifier(graph.name, "model")
    for t in list(graph.inputs) + list(graph.outputs):
        try:
            storage(graph, t)
        except Unsupported as e:
            raise McuEmitError(str(e)) from None
    base: dict[str, str] = {t: t for t in graph.inputs}
    perm: dict[str, tuple | None] = {t: None for t in graph.inputs}
    layers: list[tuple[Layer, list]] = []  # (layer, [(kind, in_tensor, out_tensor)] copies before it)
    covered: set[str] = set()
    rounding: dict[bool, str] = {}
    extra_tensors: dict[str, tuple] = {}  # copy target -> (source base, shape)
    for op in graph.ops:
        if op.name in covered:
            continue
        try:
            if fused_into(op, graph) is not None:
                raise _op_error(op, "fused op reached alone")  # pragma: no cover - fused ops are covered
            lay = layer_for(op, graph)
        except Unsupported as e:
            raise _op_error(op, str(e)) from None
        covered.update(o.name for o in lay.ops)
        if lay.single_rounding is not None:
            rounding.setdefault(lay.single_rounding, op.name)
            if len(rounding) > 1:
                raise _op_error(
                    op,
                    f"needs CMSIS_NN_USE_SINGLE_ROUNDING={int(lay.single_rounding)} but op "
                    f"{rounding[not lay.single_rounding]!r} needs the other build",
                )
        if lay.func == "view":
            base[lay.output] = base[lay.inputs[0]]
            perm[lay.output] = perm[lay.inputs[0]]
            layers.append((lay, []))
            continue
        copies = []
        ins = []
        spatial = set(lay.spatial_inputs)
        if lay.func.startswith("arm_elementwise") and any(perm[t] is not None for t in lay.inputs):
            spatial = set(range(len(lay.inputs)))  # an HWC operand: read the other one in HWC too
        for pos, t in enumerate(lay.inputs):
            orig = t
            if _is_packed(perm[t]):  # per-patch packed codes (patch_quant): unpack to int8 NHWC first, once per
                tmp = f"{t}__unpacked{len(layers)}"  # reader, so only the packed bytes live between readers
                if tmp not in base:
                    base[tmp] = tmp
                    perm[tmp] = hwc_order(perm[t][1:])
                    extra_tensors[tmp] = (t, perm[t][1:])
                    copies.append(("hwq_patch_unpack", t, tmp))
                t = tmp
            if pos in spatial:
                want = hwc_order(graph.tensor(orig).shape)
                if perm[t] != want:
                    if perm[t] is not None or want is None:
                        raise _op_error(op, f"input {t!r} is in an order the kernel cannot read ({perm[t]})")
                    tmp = f"{t}__hwc"
                    if tmp not in base:
                        base[tmp] = tmp
                        perm[tmp] = want
                        extra_tensors[tmp] = (t, want)
                        copies.append(("hwq_chw_to_hwc", t, tmp))
                    t = tmp
            ins.append(t)
        if lay.inplace or lay.func.startswith("arm_elementwise"):
            ps = {perm[t] for t in ins}
            if len(ps) > 1:
                raise _op_error(op, "element-wise inputs are stored in different orders (HWC and CHW)")
            out_perm = ps.pop()
        elif lay.func == "hwq_patch_pack_s8":
            out_perm = ("packed", *graph.tensor(lay.output).shape)
        elif lay.spatial_inputs:
            out_perm = hwc_order(graph.tensor(lay.output).shape)
        else:
            out_perm = None
        lay.inputs = ins
        base[lay.output] = lay.output
        perm[lay.output] = out_perm
        layers.append((lay, copies))
    # graph outputs in HWC order are copied out in IR order
    tail = []
    for t in graph.outputs:
        b = base.get(t)
        if b in graph.inputs:
            raise McuEmitError(f"graph output {t!r} is a graph input (or a view of one); nothing to compute")
        if perm[t] is not None:
            tmp = f"{t}__out"
            base[tmp] = tmp
            perm[tmp] = None
            tail.append(("hwq_hwc_to_chw", t, tmp))
    single = bool(rounding and True in rounding)
    prog = _assemble(graph, model, layers, tail, base, perm, extra_tensors, single, scratch)
    _size_packed(prog, [lay for lay, _ in layers if lay.func == "hwq_patch_pack_s8"])
    return prog


def _is_packed(order) -> bool:
    return isinstance(order, tuple) and order[:1] == ("packed",)


def _size_packed(prog: Program, packs: list[Layer]) -> None:
    """Packed buffers (patch_quant) take their packed size; each unpack step gets its pack's parameters."""
    by_buffer = {}
    for lay in packs:
        buf = prog.buffers[prog.tensor_buffer[lay.output]]
        buf.nbytes = lay.params["packed_bytes"]
        by_buffer[buf.name] = lay
    for s in prog.steps:
        if s.func.startswith("hwq_patch_unpack"):
            s.params.update({k: v for k, v in by_buffer[s.inputs[0]].params.items() if k not in s.params})


def _assemble(graph, model, layers, tail, base, perm, extra_tensors, single, scratch) -> Program:
    out_base = {}
    for t in graph.outputs:
        src = f"{t}__out" if f"{t}__out" in base else base[t]
        if src in out_base.values():
            raise McuEmitError(f"graph output {t!r} shares its storage with another output")
        out_base[t] = src
    bases = []
    for t in list(graph.inputs) + [lay.output for lay, _ in layers if lay.func != "view"]:
        bases.append(t)
    for _lay, copies in layers:
        for _, _, tmp in copies:
            bases.append(tmp)
    for _, _, tmp in tail:
        bases.append(tmp)
    bases = list(dict.fromkeys(bases))
    ids = unique_identifiers(bases, "t")
    buffers: dict[str, Buffer] = {}

    def shape_of(b):
        if b in extra_tensors:
            return graph.tensor(extra_tensors[b][0]).shape, extra_tensors[b][0]
        if b.endswith("__out") and b[:-5] in graph.tensors and b not in graph.tensors:
            return graph.tensor(b[:-5]).shape, b[:-5]
        return graph.tensor(b).shape, b

    io_in, io_out = 0, 0
    for b in bases:
        shape, src = shape_of(b)
        st = storage(graph, src)
        count = graph.tensor(src).size
        place, off = "arena", 0
        if b in graph.inputs:
            place, off = "in", io_in
            io_in += count
        elif b in out_base.values():
            place = "out"
        buffers[ids[b]] = Buffer(ids[b], b, count, st.ctype, count * st.nbytes, place, off)
    for t in graph.outputs:
        buf = buffers[ids[out_base[t]]]
        buf.io_offset = io_out
        io_out += buf.count
    steps: list[Step] = []

    def add(func, layer, ins, out, comment="", params=None):
        s = Step(len(steps), func, layer, [ids[base.get(i, i)] for i in ins], ids[base.get(out, out)],
                 [perm.get(i) for i in ins], 0, comment, params or {})  # fmt: skip
        steps.append(s)
        return s

    for lay, copies in layers:
        for kind, src, tmp in copies:
            c, h, w = perm[tmp] or extra_tensors[tmp][1]
            add(f"{kind}_{_sfx(buffers[ids[tmp]])}", None, [src], tmp, "", {"c": c, "h": h, "w": w})
        if lay.func == "view":
            continue
        add(lay.func, lay, lay.inputs, lay.output)
    for kind, src, tmp in tail:
        c, h, w = perm[src]
        add(f"{kind}_{_sfx(buffers[ids[tmp]])}", None, [src], tmp, "", {"c": c, "h": h, "w": w})
    for s in steps:
        out = buffers[s.output]
        out.first = s.index if out.first < 0 else min(out.first, s.index)
        for i in s.inputs:
            buffers[i].last = max(buffers[i].last, s.index)
    for b in buffers.values():
        if b.place == "out":
            b.last = len(steps)
    if scratch not in SCRATCH_MODES:
        raise McuEmitError(f"scratch={scratch!r}: expected one of {', '.join(SCRATCH_MODES)}")
    for s in steps:
        s.scratch = scratch_bytes(s, scratch)
    ins = [_io(graph, t, buffers[ids[t]]) for t in graph.inputs]
    outs = [_io(graph, t, buffers[ids[out_base[t]]]) for t in graph.outputs]
    if len({d["ctype"] for d in ins}) > 1 or len({d["ctype"] for d in outs}) > 1:
        raise McuEmitError("graph inputs (or outputs) mix int8 and int16 storage; one entry point takes one type")
    return Program(
        graph, model, steps, buffers, {t: ids[base[t]] for t in base if base[t] in ids}, single,
        ins[0]["ctype"], outs[0]["ctype"], ins, outs,
    )  # fmt: skip


def _sfx(buf: Buffer) -> str:
    return "s16" if buf.ctype == "int16_t" else "s8"


def _io(graph, tensor: str, buf: Buffer) -> dict:
    st = storage(graph, tensor)
    return {
        "name": tensor,
        "count": graph.tensor(tensor).size,
        "ctype": st.ctype,
        "storage_offset": st.offset,
        "offset": buf.io_offset,
    }
