"""``hwq.rtl.emit``: IR graph -> multiplier-free, valid/ready-streamed Verilog-2005.

The graph (one input, one output, fixed-point tensors, ops of ``ops.REGISTRY``) is cut into
layer modules by ``plan.plan_layers`` (a new layer at each Dense/Conv op where one tensor is live; branching
regions stay in one layer). Layers are joined by ``hwq_skid_buffer`` instances in the top module, whose
``PIPELINE`` parameter every layer inherits. Two I/O styles (option ``io``):

- ``io="stream"`` (default): convolution and local pooling layers are *streamed* (``rtl/stream.py``): a
  (C, H, W) tensor travels as H*W beats per frame, row-major over (y, x), each beat holding the C channel
  raws of one pixel (channel c at bits ``[c*W_elem +: W_elem]``; Conv1d (C, L): H = 1). A streamed layer is a
  line buffer (``hwq_window``) feeding one datapath that computes one output pixel per beat, so its area does
  not grow with the image. Per-pixel ops after a conv/pool (ReLU, Clip, Requantize, ...) join it. Other
  layers stay parallel; at a streamed -> parallel boundary the top inserts ``hwq_frame_collect`` (H*W beats
  -> one beat, elements in pixel-major slots ``(y*W + x)*C + c``), at a parallel -> streamed boundary
  ``hwq_frame_split`` (the parallel layer orders its outputs pixel-major). The top's s_axis (m_axis) is
  pixel-streamed when the graph input (output) belongs to a streamed layer. A branching region (residual
  Add, Concat, Mul of pixel streams) streams too (``rtl/branch.py``): each conv through its own line buffer,
  the element-wise join as a one-pixel ``"pixel"`` layer, the top forking streams (``hwq_fork``) and holding
  the skip path in a ``hwq_fifo`` sized for the other path's line buffers.

The top's ``m_axis_tlast`` marks the last beat of every output vector (frame); ``hwq verify rtl`` checks it.
- ``io="parallel"``: every layer is fully parallel ("io_parallel"): the whole input tensor is one stream
  beat and a conv is a constant sparse matrix-vector product (``datapath.conv_as_dense``) built like a
  Dense layer; area grows with the number of output pixels.

Files written into ``out_dir``: ``<top>.v`` (top), ``<top>_<layer>.v`` (one per layer; a streamed layer also
``<top>_<layer>_datapath.v``), the primitives it instantiates (``hwq_skid_buffer.v``, ``hwq_window.v`` or,
for a padded window that can run at one input pixel per cycle, ``hwq_window_pad.v``, for the other padded
windows whose outputs come in input order ``hwq_window_hold.v``, ``hwq_frame_collect.v``,
``hwq_frame_split.v``, ``hwq_fork.v``, ``hwq_fifo.v``), ``graph.json`` (the IR, read
by ``hwq verify rtl``) and
``rtl.json`` (a manifest: top name, io, source files in compile order, stream geometry of ``in``/``out``
(``count``, ``format``, ``width`` = bits of tdata, ``beats`` per vector, ``per_beat`` elements, ``order``),
latency (cycles from a vector's first input beat to its last output beat without gaps or back-pressure,
``top_latency``; with streamed layers also ``latency_max`` and ``cycles_per_frame``),
layers with their style, levels and adders).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from hwq.io import atomic_write, graph_hash, provenance_lines, sanitize_identifier
from hwq.ir.graph import Graph
from hwq.ir.serialize import dumps, save

from .branch import STREAMED_STYLES, build_pixel_layer, describe_pixel_layer, is_dag, print_dag_top
from .build import build_layer, describe_layer
from .datapath import RtlError
from .layer import LayerPorts, latency, levels_of, print_layer, uses_taps
from .plan import IO_MODES, LayerPlan, plan_layers
from .stream import (
    WindowPorts,
    build_stream_layer,
    describe_stream_layer,
    frame_of,
    print_stream_layer,
)
from .timing import ChainLayer, StreamTiming, dag_timing, stream_timing
from .top import instance as top_instance
from .top import print_top_preamble
from .top import wires as top_wires

PRIMITIVES = (
    "hwq_skid_buffer.v",
    "hwq_window.v",
    "hwq_window_pad.v",
    "hwq_window_hold.v",
    "hwq_frame_collect.v",
    "hwq_frame_split.v",
    "hwq_taps.v",
    "hwq_fork.v",
    "hwq_fifo.v",
)
ORDER_ONE_BEAT = "row-major"
ORDER_PIXELS = "pixel-major (y, x); channels within a beat"


def emit(
    graph: Graph,
    out_dir,
    *,
    command: str = "",
    pipeline: int = 1,
    top: str | None = None,
    io: str = "stream",
    adders: str = "balanced",
    tb_vectors: int = 200,
    **options,
) -> list[Path]:
    """Write Verilog for ``graph`` into ``out_dir`` (which must exist); return the written files.

    ``pipeline``: default of the top's PIPELINE parameter (a register after every ``pipeline`` adder
    levels; 0 = output registers only). ``top``: top module name (default ``hwq_<graph name>``).
    ``io``: ``"stream"`` (convolutions/pooling stream one pixel per beat through line buffers) or
    ``"parallel"`` (one beat per tensor everywhere); see the module docstring. ``adders``: ``"balanced"``
    (default: shared CSD digits under a depth bound, never more adder levels than the plain adder tree,
    a few percent more adders than ``"fewest"``), ``"fewest"`` (row-difference chains and transposed
    adder graphs where they save adders; two to eight more levels per layer, i.e. more latency at a
    given PIPELINE) or ``"shallow"`` (plain shared CSD digits without a bound).
    ``standalone_layers`` (option, default off): every layer module is built for the whole range of its
    declared input format, so it is exact on its own (reusable IP); by default a layer after the first is
    built for the raw range proven upstream (narrower adders; its port comment and ``rtl.json`` say so).
    ``tb_vectors``: golden vectors of the self-checking bench folder ``out_dir/tb`` (``hwq.rtl.bench``:
    plain Verilog and cocotb benches, hex/npy vectors; default 200; 0: no bench).
    Raises RtlError (a ValueError) naming the op/format when the graph cannot be implemented exactly.
    """
    standalone = options.pop("standalone_layers", False)
    if standalone not in (True, False, 0, 1):
        raise RtlError(f"rtl emitter: standalone_layers must be true/false (1/0), got {standalone!r}")
    standalone = bool(standalone)
    if options:
        known = "pipeline, top, io, adders, standalone_layers, tb_vectors"
        raise RtlError(f"unknown rtl emitter option(s): {', '.join(sorted(options))} (known: {known})")
    if not isinstance(pipeline, int) or pipeline < 0:
        raise RtlError(f"rtl emitter: pipeline must be an integer >= 0, got {pipeline!r}")
    if io not in IO_MODES:
        raise RtlError(f"rtl emitter: io must be one of {', '.join(IO_MODES)}, got {io!r}")
    out_dir = Path(out_dir)
    text = dumps(graph)
    header = provenance_lines(command, graph_hash(text))
    top_name = sanitize_identifier(top or f"hwq_{graph.name}", prefix="hwq")
    layers = plan_layers(graph, io, branches=True)
    in_t = graph.tensor(graph.inputs[0])
    tensor_ranges = {in_t.name: [(in_t.fmt.raw_min, in_t.fmt.raw_max)] * in_t.size}
    layer_files: list[Path] = []
    taps = False
    modules: set[str] = {top_name}
    for k, lay in enumerate(layers):
        xt, yt = graph.tensor(lay.input), graph.tensor(lay.output)
        lay.module = f"{top_name}_{lay.name}"
        full = [(xt.fmt.raw_min, xt.fmt.raw_max)] * xt.size
        if standalone:
            for n in lay.inputs:
                t = graph.tensor(n)
                tensor_ranges[n] = [(t.fmt.raw_min, t.fmt.raw_max)] * t.size
        ranges = tensor_ranges[lay.input]
        lay.in_range = (min(lo for lo, _ in ranges), max(hi for _, hi in ranges))
        lay.narrowed = ranges != full
        note = _narrowed_note(lay) if lay.narrowed else ""
        if lay.style == "pixel":  # branching regions (rtl/branch.py): one pixel of each input per beat
            dp, vals, ranges, lay.ports = build_pixel_layer(graph, lay, tensor_ranges, adders)
            lay.ports.in_note = note
            names = [lay.module]
            desc = describe_pixel_layer(graph, lay)
            srcs = [print_layer(lay.module, header, dp, vals, lay.ports, pipeline, desc)]
        elif lay.style == "stream":
            dp, vals, ranges, win, flags = build_stream_layer(graph, lay, ranges, adders)
            ifr, ofr = frame_of(xt.shape), frame_of(yt.shape)
            lay.window = win
            lay.ports = LayerPorts(ifr.channels, xt.fmt, ofr.channels, yt.fmt)
            dp_ports = WindowPorts(
                win.taps * ifr.channels, xt.fmt, ofr.channels, yt.fmt, win.taps if flags else 0, in_note=note
            )
            dp_module = f"{lay.module}_datapath"
            describe = describe_stream_layer(graph, lay, win)
            names = [dp_module, lay.module]
            srcs = [
                print_layer(dp_module, header, dp, vals, dp_ports, pipeline, describe),
                print_stream_layer(
                    lay.module,
                    dp_module,
                    header,
                    describe,
                    win,
                    lay.ports.in_width,
                    lay.ports.out_width,
                    dp_ports.in_width,
                    flags,
                    pipeline,
                    note,
                ),
            ]
        else:
            slots = None
            if k > 0 and layers[k - 1].style in STREAMED_STYLES:  # fed by hwq_frame_collect: pixel-major slots
                slots = [frame_of(xt.shape).slot(i) for i in range(xt.size)]
            dp, vals, ranges = build_layer(graph, lay, ranges, slots=slots, adders=adders)
            if k + 1 < len(layers) and layers[k + 1].style in STREAMED_STYLES:  # feeds hwq_frame_split
                ofr = frame_of(yt.shape)
                vals = [vals[c * ofr.beats + p] for p in range(ofr.beats) for c in range(ofr.channels)]
            lay.ports = LayerPorts(xt.size, xt.fmt, yt.size, yt.fmt, in_note=note)
            names = [lay.module]
            srcs = [print_layer(lay.module, header, dp, vals, lay.ports, pipeline, describe_layer(graph, lay))]
        tensor_ranges[lay.output] = ranges
        lay.levels = levels_of(dp, vals)
        lay.adders = dp.adders
        taps = taps or any(uses_taps(src) for src in srcs)
        for name, src in zip(names, srcs):
            if name in modules:
                raise RtlError(f"layer {lay.name!r}: module name {name!r} is used twice; rename the op")
            modules.add(name)
            layer_files.append(atomic_write(out_dir / f"{name}.v", src))
    if is_dag(layers):
        mixed = True
        comments = (
            _port_comment("input", graph.inputs[0], in_t, _in_ports(graph, layers), True, False, mixed),
            _port_comment("output", graph.outputs[0], graph.tensor(graph.outputs[0]), layers[-1].ports,
                          layers[-1].style in STREAMED_STYLES, True, mixed),
        )  # fmt: skip
        top_src = print_dag_top(top_name, header, graph, layers, pipeline, comments)
    else:
        top_src = _print_top(top_name, header, graph, layers, pipeline)
    prim_files = []
    for p in _primitives(layers, taps, is_dag(layers)):
        prim_files.append(atomic_write(out_dir / p, resources.files("hwq.rtl").joinpath("primitives", p).read_bytes()))
    top_file = atomic_write(out_dir / f"{top_name}.v", top_src)
    files = prim_files + layer_files + [top_file]
    out_t = graph.tensor(graph.outputs[0])
    manifest = {
        "top": top_name,
        "io": io,
        "adders": adders,
        "sources": [f.name for f in files],
        "pipeline": pipeline,
        "in": _port_manifest(in_t, layers[0].style in STREAMED_STYLES),
        "out": _port_manifest(out_t, layers[-1].style in STREAMED_STYLES),
        **_latency_manifest(layers, pipeline, graph),
        "standalone_layers": standalone,
        "layers": [_layer_manifest(lay) for lay in layers],
    }
    files.append(atomic_write(out_dir / "rtl.json", json.dumps(manifest, indent=1) + "\n"))
    files.append(save(graph, out_dir / "graph.json"))
    if tb_vectors:
        from .bench import write_bench

        files += write_bench(graph, out_dir, manifest, header, vectors=tb_vectors)
    return files


def _primitives(layers: list[LayerPlan], taps: bool = False, dag: bool = False) -> list[str]:
    """Primitive files the top and the layers instantiate (``taps``: some layer uses hwq_taps; ``dag``: the
    top forks and joins streams, ``rtl/branch.py``), in PRIMITIVES order."""
    used = {"hwq_skid_buffer.v"} | ({"hwq_taps.v"} if taps else set())
    if dag:
        used |= {"hwq_fork.v", "hwq_fifo.v"}
    for k, lay in enumerate(layers):
        if lay.style == "stream":
            used.add(f"{lay.window.primitive}.v")  # hwq_window_pad / _hold: padding masked, not walked
            if k > 0 and layers[k - 1].style not in STREAMED_STYLES:
                used.add("hwq_frame_split.v")
        elif k > 0 and layers[k - 1].style in STREAMED_STYLES and lay.style not in STREAMED_STYLES:
            used.add("hwq_frame_collect.v")
    return [p for p in PRIMITIVES if p in used]


def _latency_manifest(layers: list[LayerPlan], pipeline: int, graph: Graph) -> dict:
    """rtl.json latency entries (clock cycles, no gaps or back-pressure): ``latency`` (a vector's first input
    beat -> its last output beat); a design with streamed layers adds ``latency_max`` (the maximum over
    frames back to back) and ``cycles_per_frame`` (steady-state cycles between frames)."""
    try:
        timing = top_timing(layers, pipeline, graph)
    except ValueError:  # the timing model stopped (a design it does not know): no figure rather than no Verilog
        timing = None
    if timing is None:
        return {"latency": None}
    if not any(lay.style in STREAMED_STYLES for lay in layers):
        return {"latency": timing.latency}
    return {"latency": timing.latency, "latency_max": timing.latency_max, "cycles_per_frame": timing.cycles_per_frame}


def _port_manifest(t, streamed: bool) -> dict:
    """rtl.json entry of the top's input or output stream."""
    if streamed:
        fr = frame_of(t.shape)
        beats, per_beat, order = fr.beats, fr.channels, ORDER_PIXELS
    else:
        beats, per_beat, order = 1, t.size, ORDER_ONE_BEAT
    return {
        "count": t.size,
        "format": str(t.fmt),
        "width": per_beat * t.fmt.width,
        "beats": beats,
        "per_beat": per_beat,
        "order": order,
    }


def _layer_manifest(lay: LayerPlan) -> dict:
    """rtl.json entry of one layer."""
    out = {
        "name": lay.name,
        "module": lay.module,
        "style": lay.style,
        "ops": [op.name for op in lay.ops],
        "levels": lay.levels,
        "adders": lay.adders,
        "in_range": list(lay.in_range),
        "in_narrowed": lay.narrowed,
    }
    if lay.window is not None:
        out["window"] = lay.window.parameters()
    if len(lay.inputs) > 1:
        out["inputs"] = list(lay.inputs)
    return out


def _in_ports(graph: Graph, layers: list[LayerPlan]) -> LayerPorts:
    """Ports describing the graph input as the first layer reading it sees it (for the top's comment)."""
    t = graph.tensor(graph.inputs[0])
    c = frame_of(t.shape).channels if layers[0].style in STREAMED_STYLES else t.size
    return LayerPorts(c, t.fmt, 1, t.fmt)


def _narrowed_note(lay: LayerPlan) -> str:
    """Port comment of a layer built for the input range proven upstream, not its whole format."""
    lo, hi = lay.in_range
    return (
        f"NARROWED: exact only for raws in [{lo}, {hi}] (the range proven upstream); "
        "emit with -O standalone_layers=1 for a module exact on every value of its format"
    )


def top_latency(layers: list[LayerPlan], pipeline: int, graph: Graph | None = None) -> int | None:
    """Cycles from a vector's first input beat to its last output beat without gaps or back-pressure.

    All layers parallel: the layers' latencies plus one per skid buffer. A chain with streamed layers: the
    exact figure of ``timing.stream_timing`` (line-buffer fill, tails, hold cycles and stalls counted;
    the minimum over frames back to back, as ``hwq.sim.rtlsim.run_rtl`` measures ``latency_cycles``);
    a layer DAG (forks, FIFOs, joins) with ``timing.dag_timing``, which needs the ``graph`` (None without
    it)."""
    timing = top_timing(layers, pipeline, graph)
    return None if timing is None else timing.latency


def top_timing(layers: list[LayerPlan], pipeline: int, graph: Graph | None = None) -> StreamTiming | None:
    """``timing.StreamTiming`` (clock cycles) of the emitted top: for a chain of parallel layers the closed
    form (latency = latency_max = the layers' latencies plus one per skid buffer, one vector per cycle),
    for a chain with streamed layers ``timing.stream_timing``, for a layer DAG (``branch.is_dag``)
    ``timing.dag_timing`` of ``graph`` (None when ``graph`` is None)."""
    if not any(lay.style in STREAMED_STYLES for lay in layers):
        lat = sum(latency(lay.levels, pipeline) for lay in layers) + (len(layers) - 1)
        return StreamTiming(lat, lat, (lat,), 1)
    if is_dag(layers):
        return None if graph is None else dag_timing(graph, layers, pipeline)
    chain = [ChainLayer(lay.style, latency(lay.levels, pipeline), lay.window) for lay in layers]
    return stream_timing(chain)


def _port_comment(direction: str, name: str, t, ports: LayerPorts, streamed: bool, outgoing: bool, mixed: bool) -> str:
    """Header comment of the top's s_axis (``outgoing`` False) or m_axis port; ``mixed``: the design has
    streamed layers (a one-beat port then says so)."""
    count, fmt = (ports.out_count, ports.out_fmt) if outgoing else (ports.in_count, ports.in_fmt)
    idx = "j" if outgoing else "i"
    if not streamed:
        return (
            f"    // {direction} {name!r}: {count} x {fmt} raw values, "
            f"element {idx} at bits [{idx}*{fmt.width} +: {fmt.width}]" + (" (one beat per vector)" if mixed else "")
        )
    fr = frame_of(t.shape)
    return (
        f"    // {direction} {name!r} {tuple(t.shape)}: pixel-streamed, {fr.beats} beats per vector, one pixel "
        f"(y, x) per beat in row-major order; beat = {count} channels x {fmt}, channel c at bits "
        f"[c*{fmt.width} +: {fmt.width}]"
    )


def _print_top(top: str, header: list[str], graph: Graph, layers: list[LayerPlan], pipeline: int) -> str:
    lines: list[str] = []
    w = lines.append
    notes = [
        f"Graph {graph.name!r}: {' -> '.join(lay.name for lay in layers)}",
        "Layers are joined by skid buffers (registered ready); every layer inherits PIPELINE.",
    ]
    if any(lay.style == "stream" for lay in layers):
        streamed = ", ".join(lay.name for lay in layers if lay.style == "stream")
        notes.append(f"Streamed layers (one pixel per beat, line buffer + per-pixel datapath): {streamed}.")
        notes.append("hwq_frame_collect / hwq_frame_split join streamed and parallel layers (pixel-major slots).")
    first, last = layers[0].ports, layers[-1].ports
    in_t, out_t = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    mixed = any(lay.style == "stream" for lay in layers)
    ports = (
        _port_comment("input", graph.inputs[0], in_t, first, layers[0].style == "stream", False, mixed),
        first.in_width,
        _port_comment("output", graph.outputs[0], out_t, last, layers[-1].style == "stream", True, mixed),
        last.out_width,
    )
    out_fr = frame_of(out_t.shape) if layers[-1].style == "stream" else None
    print_top_preamble(w, top, header, notes, pipeline, ports, out_fr.beats if out_fr else 1)

    def instance(module: str, params: list[tuple[str, int]], inst: str, src, dst) -> None:
        top_instance(w, module, params, inst, src, dst)

    def wires(name: str, width: int):
        return top_wires(w, name, width)

    prev = ("s_axis_tdata", "s_axis_tvalid", "s_axis_tready")
    for k, lay in enumerate(layers):
        p = lay.ports
        last_layer = k == len(layers) - 1
        if k > 0:
            before = layers[k - 1]
            fr = frame_of(graph.tensor(lay.input).shape) if lay.style != before.style else None
            if before.style != "stream" and lay.style == "stream":
                w(f"// frame split into {lay.name}: {fr.beats} beats of {fr.channels} channels (pixel-major)")
                sp = wires(f"{lay.name}_pix", p.in_width)
                instance(
                    "hwq_frame_split", [("BEAT_WIDTH", p.in_width), ("BEATS", fr.beats)], f"split_{lay.name}", prev, sp
                )
                prev = sp
            skid_width = before.ports.out_width if before.style == "stream" else p.in_width
            sk = f"{lay.name}_in"
            w(f"// skid buffer into {lay.name}")
            skw = wires(sk, skid_width)
            instance("hwq_skid_buffer", [("DATA_WIDTH", skid_width)], f"skid_{lay.name}", prev, skw)
            prev = skw
            if before.style == "stream" and lay.style != "stream":
                w(f"// frame collect into {lay.name}: {fr.beats} beats of {fr.channels} channels -> one beat, ")
                w(f"// element (c, y, x) at slot (y*{fr.width} + x)*{fr.channels} + c")
                co = wires(f"{lay.name}_frame", p.in_width)
                instance(
                    "hwq_frame_collect",
                    [("BEAT_WIDTH", skid_width), ("BEATS", fr.beats)],
                    f"collect_{lay.name}",
                    prev,
                    co,
                )
                prev = co
        if last_layer:
            outs = ("m_axis_tdata", "m_axis_tvalid", "m_axis_tready")
        else:
            o = f"{lay.name}_out"
            what = " (one pixel per beat)" if lay.style == "stream" else ""
            w(f"// {lay.name}: {p.out_count} x {p.out_fmt}{what}")
            outs = wires(o, p.out_width)
        instance(lay.module, [("PIPELINE", "PIPELINE")], f"u_{lay.name}", prev, outs)
        prev = outs
    w("endmodule")
    w("")
    w("`resetall")
    return "\n".join(lines) + "\n"
