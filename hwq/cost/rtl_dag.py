"""Features of a layer DAG as ``hwq.rtl.emit`` builds it: streamed branching regions (residual Add, Concat,
Mul of pixel streams; ``rtl/branch.py``) counted as the emitted top wires them.

``plan_dag`` repeats the emitter's plan (``plan_layers(graph, "stream", branches=True)``) and prices:

- every conv/pool layer (``"stream"``) and every layer after the cut (``"parallel"``) with
  ``rtl_model._layer_features``, its producer in the DAG standing in as the layer before it (a ``"pixel"``
  producer moves one pixel per beat, as a streamed one does);
- every ``"pixel"`` layer (a join: Add / Mul / Concat, or per-pixel ops reading a forked tensor) from
  ``branch.build_pixel_layer``'s datapath with ``rtl_model.datapath_features``, each input's structurally-0
  sign bits (a ReLU before it) carried in as for any other layer;
- the top's blocks (``branch.print_dag_top``): one ``hwq_skid_buffer`` per edge (2 x (width + 1) FFs, less
  the bits constant or equal in what the producer emits) but a single read of the top's input; a
  ``hwq_fifo`` where ``branch.fifo_depths`` gives a depth: its write and read pointers, the read port's
  address register and the occupancy count in flip-flops (``fifo_ctrl_bits``), its DEPTH x DATA_WIDTH storage an
  asynchronous-read memory, which ``synth_xilinx`` maps to distributed RAM (``RAM32M`` / ``RAM64M``, not
  LUT or FF cells; counted in ``extra["fifo_ram_bits"]``; ``synth_ice40``: SB_RAM40_4K block RAM with
  registers around it, or flip-flops: ``fifo_cells``, from ``extra["fifos"]``); one ``hwq_fork`` per tensor
  read by N layers (N taken flags);
- latency: ``rtl.timing.dag_timing`` over the plan with each layer's levels and window, the figure
  ``emit`` writes to rtl.json (``extra["dag_timing"]`` on the first layer; ``rtl_model.top_timing`` reads
  it, so ``latency_exact`` is True); memoised by what it reads (``_timing_key``), as a search re-prices
  one structure many times.

The fast estimate (``fpga(..., exact=False)``) uses the same plan with ``fast=True``: each conv / pool /
dense layer from ``fast.layer_features_fast`` (no CSE run), everything above counted as here.

Fork, FIFO-control and extra skid-valid flip-flops are added to the reading (for a fork: producing) layer's
``ff`` / ``ff_lcu`` and listed in ``extra`` (``fork_flags``, ``fifo_ctrl_bits``, ``fifo_ram_bits``,
``edge_skids``). Units: bits and counts.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from hwq.ir.graph import Graph


def _bits_for(v: int) -> int:
    """``bits_for`` of the primitives: bits needed to hold ``v`` (at least 1)."""
    return max(1, int(v).bit_length())


def fifo_ctrl_bits(depth: int, data_registered: bool = False) -> int:
    """Flip-flops of ``hwq_fifo`` besides its storage: wr_reg and rd_reg (``bits_for(DEPTH - 1)`` each),
    count_reg (``bits_for(DEPTH)``) and one more read address of ``bits_for(DEPTH - 1)``: yosys's
    ``memory_dff`` turns ``mem[rd_reg]`` into a read port with an address register of its own
    (``mem$rdreg``, the next rd_reg) and keeps rd_reg for the pointer logic. ``data_registered``: the read
    data goes straight into flip-flops (a concat's wiring into the reader's output register); yosys then
    merges those instead and adds no address register (xc7 netlists, yosys 0.23, session 8: the FIFO alone
    at depths 3..70, and the four test DAGs)."""
    return (2 if data_registered else 3) * _bits_for(depth - 1) + _bits_for(depth)


#: yosys 0.23 ``memory_libmap`` with ``ice40/brams.txt`` (SB_RAM40_4K, 4 kbit): cost of one tile; read / write
#: widths 2, 4, 8 with one write enable per word (``HAS_BE 0``: word padded to the width) or 16 with
#: per-bit enables (``HAS_BE 1``: no padding); 4096 / width words
ICE40_TILE_COST = 64
ICE40_LAYOUTS = ((True, (2, 4, 8)), (False, (2, 4, 8, 16)))


def ice40_bram_layout(depth: int, width: int) -> tuple[float, int, int]:
    """(cost, SB_RAM40_4K tiles, address-mux select bits) of the cheapest block-RAM layout yosys 0.23's
    ``memory_libmap`` finds for a DEPTH x WIDTH memory with one write and one read port (its geometry
    search: per layout and tile width w, ``ceil(depth / (4096 / w))`` address slices, tiles = ceil(slices x
    word bits / w), cost 64 per tile + 0.5 per read-mux bit + 0.5 per write-decode slice; ties keep the
    first); the emulation score is added by the caller. Mux select bits: registered by the read port."""
    best = None
    for padded, widths in ICE40_LAYOUTS:
        for w in widths:
            slices = (depth - 1) // (4096 // w) + 1
            bits = slices * (-(-width // w) * w if padded else width)
            tiles = -(-bits // w)
            cost = ICE40_TILE_COST * tiles + 0.5 * (slices - 1) * width + (0.5 * slices if slices > 1 else 0)
            if best is None or cost < best[0]:
                best = (cost, tiles, (slices - 1).bit_length())
    return best


def fifo_ice40(depth: int, width: int, data_registered: bool = False, const_bits: int = 0) -> tuple[int, int, int]:
    """(flip-flops, SB_RAM40_4K tiles, data-copy bits) of one ``hwq_fifo`` under ``synth_ice40`` (yosys 0.23),
    flip-flops without the data copy (a per-tensor register, ``fifo_cells``).

    ``memory_libmap`` maps the storage to block RAM only when a layout (``ice40_bram_layout``) plus 2 x its
    emulation score costs strictly less than DEPTH x WIDTH (one per bit in flip-flops). Emulation: the
    asynchronous read becomes a synchronous port on the next read address, made transparent in logic
    (score 4): a register of the written word (the data copy: WIDTH bits less ``const_bits``, constant or
    duplicate bits of the writer) and one address-match flag; a read whose data goes straight into a
    register (``data_registered``: a concat's output register, merged into the port) also needs read-first
    emulation (score 7) and keeps a write-address register (bits_for(DEPTH - 1)) and one more flag.
    Pointers: wr_reg, rd_reg (bits_for(DEPTH - 1)), count_reg (bits_for(DEPTH)); a layout of several address
    slices adds its registered mux select bits. Otherwise the storage is DEPTH x (WIDTH - const_bits)
    flip-flops next to ``fifo_ctrl_bits``. Measured: ``hwq_fifo`` alone at 23 sizes, 8 more read into a
    register, and the 10 DAG designs of ``tests/cost/test_dag_exact.py`` (``data/dag_yosys_ice40.json``)."""
    aw, cw = _bits_for(depth - 1), _bits_for(depth)
    cost, tiles, mux = ice40_bram_layout(depth, width)
    if cost + 2 * (7 if data_registered else 4) < depth * width:
        return 2 * aw + cw + 1 + mux + (aw + 1 if data_registered else 0), tiles, width - const_bits
    return fifo_ctrl_bits(depth, data_registered) + depth * (width - const_bits), 0, 0


def fifo_cells(feats: list, target: dict) -> list[tuple[int, int]]:
    """Per layer of a ``plan_dag`` result: (flip-flops to add to ``fpga.layer_ff``, block-RAM cells) of its
    FIFOs on ``target`` (a loaded target dict). ``synth_xilinx``: (0, 0), the storage is distributed RAM and
    ``fifo_ctrl_bits`` is already in ``ff``. ``synth_ice40``: ``fifo_ice40`` less that ``fifo_ctrl_bits``;
    the data copy of FIFOs written from the same tensor (one fork output wire) is one register, counted on
    the first. Layers without ``extra["fifos"]`` ([DEPTH, DATA_WIDTH, registered, const bits, tensor] each):
    (0, 0)."""
    if not target.get("synth", {}).get("script", "").startswith("synth_ice40"):
        return [(0, 0)] * len(feats)
    out, copied = [], set()
    for feat in feats:
        ff = bram = 0
        for depth, width, registered, const, tensor in feat.extra.get("fifos", []):
            f, b, copy = fifo_ice40(depth, width, bool(registered), const)
            ff += f - fifo_ctrl_bits(depth, bool(registered))
            bram += b
            if copy and tensor not in copied:
                copied.add(tensor)
                ff += copy
        out.append((ff, bram))
    return out


#: ``dag_timing`` figures by ``_timing_key`` (a cycle-level run of the top: most of a fast estimate's time)
_TIMING: OrderedDict = OrderedDict()
TIMING_CACHE_SIZE = 256


def _timing_key(graph: Graph, layers: list, pipeline: int) -> tuple:
    """Everything ``rtl.timing.dag_timing`` reads of a layer DAG: the pipeline, the input's and every
    layer's output shape, each layer's name, style, input tensors, output, levels and window parameters."""
    src = graph.inputs[0]
    rows = tuple(
        (
            lay.name,
            lay.style,
            tuple(lay.inputs or [lay.input]),
            lay.output,
            tuple(graph.tensor(lay.output).shape),
            int(lay.levels),
            tuple(sorted(lay.window.parameters().items())) if lay.window is not None else None,
        )
        for lay in layers
    )
    return (pipeline, src, tuple(graph.tensor(src).shape), graph.outputs[0], rows)


def _timing(graph: Graph, layers: list, pipeline: int, dag_timing) -> list[int]:
    """[latency, latency_max, cycles_per_frame] (clock cycles) of ``dag_timing(graph, layers, pipeline)``,
    memoised by ``_timing_key``: a search that changes weights or formats but not levels reuses the run."""
    key = _timing_key(graph, layers, pipeline)
    hit = _TIMING.get(key)
    if hit is None:
        t = dag_timing(graph, layers, pipeline)
        hit = _TIMING[key] = (t.latency, t.latency_max, t.cycles_per_frame)
        while len(_TIMING) > TIMING_CACHE_SIZE:
            _TIMING.popitem(last=False)
    else:
        _TIMING.move_to_end(key)
    return list(hit)


def plan_dag(graph: Graph, pipeline: int, adders: str, fast: bool = False) -> list | None:
    """``rtl_model.LayerFeatures`` of every layer module ``emit`` writes for ``graph`` in stream mode when its
    plan is a layer DAG (module docstring), in the emitter's order; None when the plan is a chain.

    ``fast`` (``fpga(..., exact=False)``): every conv / pool / parallel layer from ``fast.py``'s digit-count
    approximation (no CSE run; ``_fast_layer``), its output ranges those of its format; pixel layers, skid
    buffers, forks, FIFOs, line buffers, frame registers and the ``dag_timing`` latency as above (the
    FIFO depths and latency then follow the approximated levels)."""
    from hwq.rtl.branch import STREAMED_STYLES, fifo_depths, is_dag
    from hwq.rtl.datapath import RtlError
    from hwq.rtl.plan import plan_layers
    from hwq.rtl.stream import Window, frame_of
    from hwq.rtl.timing import dag_timing

    from . import rtl_model as rm

    layers = plan_layers(graph, "stream", branches=True)
    if not is_dag(layers):
        return None
    src = graph.inputs[0]
    in_t = graph.tensor(src)
    ranges = {src: [(in_t.fmt.raw_min, in_t.fmt.raw_max)] * in_t.size}
    # per tensor: (const_el, const_out, low zero bits, distinct output bits) of what its producer emits
    state: dict[str, tuple] = {src: ([], 0, 0, None)}
    producer = {lay.output: lay for lay in layers}
    readers: dict[str, list] = {}
    for lay in layers:
        for n in lay.inputs:
            readers.setdefault(n, []).append(lay)
    out = []
    for lay in layers:
        if lay.style == "pixel":
            feat, r, c_out, c_el = _pixel_features(graph, lay, ranges, state, pipeline, adders)
        elif fast:
            feat, r, c_out, c_el = _fast_layer(graph, lay, producer.get(lay.input), pipeline)
        else:
            t = lay.input
            prod = producer.get(t)
            c_el, c_out, low, dist = state[t]
            if prod is None:
                seq, k = [lay], 0
            else:
                seq, k = [replace(prod, style="stream") if prod.style == "pixel" else prod, lay], 1
            args = (ranges[t], c_el, c_out, pipeline, adders, low, dist)
            feat, r, c_out, c_el = rm._layer_features(graph, seq, k, *args)
            feat = replace(feat, kinds=list(feat.kinds), extra=dict(feat.extra))
        ranges[lay.output] = list(r)
        dist = feat.extra.get("out_distinct_bits") if rm._cross_layer_constants() else None
        state[lay.output] = (list(c_el), c_out, int(feat.extra.get("out_low_zero", 0)), dist)
        out.append(feat)
    for lay, feat in zip(layers, out):  # as emit leaves them: fifo_depths and dag_timing read them
        lay.levels = feat.levels
        win = feat.extra.get("window")
        lay.window = Window(**{k.lower(): int(v) for k, v in win.items()}) if win else None
    # the top's blocks (branch.print_dag_top)
    depths = fifo_depths(graph, layers, pipeline=pipeline)
    feats = {lay.name: f for lay, f in zip(layers, out)}
    for lay, feat in zip(layers, out):
        if lay.style != "pixel":
            t = lay.input
            if t == src and len(readers[t]) > 1:  # a fork of the top's input: a skid buffer behind it
                x = graph.tensor(t)
                feat.skid_bits = frame_of(x.shape).channels * x.fmt.width
                feat.skid_const_bits = 0
            continue
        skids, extra_ff, ram, ctrl, fifos = [], 0, 0, 0, []
        for t in lay.inputs:
            x = graph.tensor(t)
            width = frame_of(x.shape).channels * x.fmt.width
            d = depths.get((lay.name, t), 0)
            if d:
                registered = all(op.kind == "concat" for op in lay.ops)
                ctrl += fifo_ctrl_bits(d, registered)
                ram += d * width
                c_el, c_out, _, dist = state[t]
                const = max(c_out, rm.input_dup_bits(dist, width)) if producer.get(t) is not None else 0
                fifos.append([d, width, int(registered), const, t])
            elif not (t == src and len(readers[t]) == 1):
                c_el, c_out, _, dist = state[t]
                const = max(c_out, rm.input_dup_bits(dist, width)) if producer.get(t) is not None else 0
                skids.append((width, const))
        feat.skid_bits = sum(w for w, _ in skids)
        feat.skid_const_bits = sum(c for _, c in skids)
        extra_ff += 2 * max(0, len(skids) - 1)  # layer_ff prices one valid pair: 2 x (sum + 1)
        feat.extra.update(edge_skids=len(skids), fifo_ctrl_bits=ctrl, fifo_ram_bits=ram, fifos=fifos)
        feat.ff += extra_ff + ctrl
        feat.ff_lcu += extra_ff + ctrl if feat.ff_lcu else 0
    for t, rs in readers.items():
        if len(rs) > 1:  # hwq_fork: N taken flags, on the producing layer (the first layer for the input)
            feat = feats[producer[t].name] if t in producer else out[0]
            feat.extra["fork_flags"] = feat.extra.get("fork_flags", 0) + len(rs)
            feat.ff += len(rs)
            if feat.ff_lcu:
                feat.ff_lcu += len(rs)
    if layers[-1].style in STREAMED_STYLES:  # rtl.top.print_tlast
        beats = frame_of(graph.tensor(layers[-1].output).shape).beats
        out[-1].tlast_bits = (beats - 1).bit_length() if beats > 1 else 0
    try:
        out[0].extra["dag_timing"] = _timing(graph, layers, pipeline, dag_timing)
    except (ValueError, RtlError):  # as emit: a timing-model error leaves the latency not exact
        pass
    out[0].extra["emitted_dag"] = True
    return out


def _pixel_features(graph: Graph, lay, ranges: dict, state: dict, pipeline: int, adders: str) -> tuple:
    """(LayerFeatures, output ranges, structurally-zero output bits, per-output lowest zero bit) of a pixel
    layer: ``branch.build_pixel_layer``'s datapath, input ``x{i}_{c}`` carrying the sign bit its producer
    makes constant."""
    from hwq.rtl.branch import build_pixel_layer
    from hwq.rtl.stream import frame_of

    from . import rtl_model as rm

    dp, vals, out_ranges, _ = build_pixel_layer(graph, lay, ranges, adders)
    yt = graph.tensor(lay.output)
    cin: dict[str, int] = {}
    if rm._cross_layer_constants():
        for i, t in enumerate(lay.inputs):
            c_el = state[t][0]
            if not c_el:
                continue
            x = graph.tensor(t)
            for c, b in rm._per_channel(c_el, frame_of(x.shape), True).items():
                nm = f"x{i}_{c}"
                if nm in dp.nodes:
                    cin[nm] = dp.nodes[nm].width - 1 if getattr(x.fmt, "kind", "") == "float" else b
    code = getattr(yt.fmt, "kind", "") == "float"
    f = rm.datapath_features(dp, vals, yt.fmt.width, pipeline, cin, 0, code_out=code)
    feat = rm.LayerFeatures(lay.name, "pixel", [op.kind for op in lay.ops])
    const_out, const_el = rm.set_datapath_features(feat, f, dp, vals, yt.fmt.width, pipeline, code)
    return feat, out_ranges, const_out, const_el


def _fast_layer(graph: Graph, lay, prod, pipeline: int) -> tuple:
    """(LayerFeatures, output ranges, 0, []) of a conv / pool / parallel layer of a layer DAG for the fast
    estimate: ``fast.layer_features_fast`` (no datapath built), its skid buffer and line-buffer / frame
    bits counted as ``rtl_model._layer_features`` counts them with producer ``prod`` (None: the top's
    input) standing in as the layer before it; output ranges: ``fast.format_ranges`` (no constant bits)."""
    from hwq.rtl.stream import frame_of

    from .fast import format_ranges, layer_features_fast, stream_link_bits

    feat = layer_features_fast(graph, lay.ops, lay.name, lay.style, pipeline)
    seq = [lay] if prod is None else [replace(prod, style="stream") if prod.style == "pixel" else prod, lay]
    if prod is not None:
        xt = graph.tensor(lay.input)
        streamed = seq[0].style == "stream" or lay.style == "stream"
        feat.skid_bits = frame_of(xt.shape).channels * xt.fmt.width if streamed else xt.size * xt.fmt.width
    stream_link_bits(graph, seq, len(seq) - 1, feat)
    return feat, format_ranges(graph, lay.output), 0, []
