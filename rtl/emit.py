"""``hwq.rtl.emit``: IR graph -> multiplier-free, valid/ready-streamed Verilog-2005.

The graph (one input, one output, fixed-point tensors, ops of ``build.SUPPORTED_OPS``) is cut into
layer modules by ``plan.plan_layers`` (a new layer at each Dense/Conv op where one tensor is live; branching
regions stay in one layer) and each layer's datapath is built by ``build.build_layer``. A convolution is
fully parallel ("io_parallel"): the whole input frame is one stream beat, and the conv is a constant sparse
matrix-vector product (``datapath.conv_as_dense``) built like a Dense layer. Layers are joined by
``hwq_skid_buffer`` instances in the top module, whose ``PIPELINE`` parameter every layer inherits.

Files written into ``out_dir``: ``<top>.v`` (top), ``<top>_<layer>.v`` (one per layer), the primitive
``hwq_skid_buffer.v``, ``graph.json`` (the IR, read by ``hwq verify rtl``) and
``rtl.json`` (a manifest: top name, source files in compile order, stream widths, levels, adders).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from hwq.io import atomic_write, graph_hash, provenance_lines, sanitize_identifier
from hwq.ir.graph import Graph
from hwq.ir.serialize import dumps, save

from .build import build_layer, describe_layer
from .datapath import RtlError
from .layer import LayerPorts, latency, levels_of, print_layer
from .plan import LayerPlan, plan_layers

PRIMITIVES = ("hwq_skid_buffer.v",)


def emit(
    graph: Graph, out_dir, *, command: str = "", pipeline: int = 1, top: str | None = None, **options
) -> list[Path]:
    """Write Verilog for ``graph`` into ``out_dir`` (which must exist); return the written files.

    ``pipeline``: default of the top's PIPELINE parameter (a register after every ``pipeline`` adder
    levels; 0 = output registers only). ``top``: top module name (default ``hwq_<graph name>``).
    Raises RtlError (a ValueError) naming the op/format when the graph cannot be implemented exactly.
    """
    if options:
        raise RtlError(f"unknown rtl emitter option(s): {', '.join(sorted(options))} (known: pipeline, top)")
    if not isinstance(pipeline, int) or pipeline < 0:
        raise RtlError(f"rtl emitter: pipeline must be an integer >= 0, got {pipeline!r}")
    out_dir = Path(out_dir)
    text = dumps(graph)
    header = provenance_lines(command, graph_hash(text))
    top_name = sanitize_identifier(top or f"hwq_{graph.name}", prefix="hwq")
    layers = plan_layers(graph)
    in_t = graph.tensor(graph.inputs[0])
    ranges = [(in_t.fmt.raw_min, in_t.fmt.raw_max)] * in_t.size
    files: list[Path] = []
    layer_files = []
    for lay in layers:
        dp, vals, ranges = build_layer(graph, lay, ranges)
        xt, yt = graph.tensor(lay.input), graph.tensor(lay.output)
        lay.ports = LayerPorts(xt.size, xt.fmt, yt.size, yt.fmt)
        lay.module = f"{top_name}_{lay.name}"
        lay.levels = levels_of(dp, vals)
        lay.adders = dp.adders
        src = print_layer(lay.module, header, dp, vals, lay.ports, pipeline, describe_layer(graph, lay))
        layer_files.append(atomic_write(out_dir / f"{lay.module}.v", src))
    top_src = _print_top(top_name, header, graph, layers, pipeline)
    prim_files = []
    for p in PRIMITIVES:
        prim_files.append(atomic_write(out_dir / p, resources.files("hwq.rtl").joinpath("primitives", p).read_bytes()))
    top_file = atomic_write(out_dir / f"{top_name}.v", top_src)
    files = prim_files + layer_files + [top_file]
    out_t = graph.tensor(graph.outputs[0])
    manifest = {
        "top": top_name,
        "sources": [f.name for f in files],
        "pipeline": pipeline,
        "in": {"count": in_t.size, "format": str(in_t.fmt), "width": in_t.size * in_t.fmt.width},
        "out": {"count": out_t.size, "format": str(out_t.fmt), "width": out_t.size * out_t.fmt.width},
        "latency": top_latency(layers, pipeline),
        "layers": [
            {
                "name": lay.name,
                "module": lay.module,
                "ops": [op.name for op in lay.ops],
                "levels": lay.levels,
                "adders": lay.adders,
            }
            for lay in layers
        ],
    }
    files.append(atomic_write(out_dir / "rtl.json", json.dumps(manifest, indent=1) + "\n"))
    files.append(save(graph, out_dir / "graph.json"))
    return files


def top_latency(layers: list[LayerPlan], pipeline: int) -> int:
    """Cycles from input beat to output beat without back-pressure: layers plus one per skid buffer."""
    return sum(latency(lay.levels, pipeline) for lay in layers) + (len(layers) - 1)


def _print_top(top: str, header: list[str], graph: Graph, layers: list[LayerPlan], pipeline: int) -> str:
    lines: list[str] = []
    w = lines.append
    for h in header:
        w(f"// {h}")
    w("")
    w("`resetall")
    w("`timescale 1ns / 1ps")
    w("`default_nettype none")
    w("")
    w(f"// Graph {graph.name!r}: {' -> '.join(lay.name for lay in layers)}")
    w("// Layers are joined by skid buffers (registered ready); every layer inherits PIPELINE.")
    first, last = layers[0].ports, layers[-1].ports
    w(f"module {top} #")
    w("(")
    w("    // Register each layer's datapath after every PIPELINE adder levels (0: output registers only)")
    w(f"    parameter PIPELINE = {pipeline}")
    w(")")
    w("(")
    w("    input  wire                   clk,")
    w("    input  wire                   rst,")
    w("")
    w(
        f"    // input {graph.inputs[0]!r}: {first.in_count} x {first.in_fmt} raw values, "
        f"element i at bits [i*{first.in_fmt.width} +: {first.in_fmt.width}]"
    )
    w(f"    input  wire [{first.in_width - 1}:0] s_axis_tdata,")
    w("    input  wire                   s_axis_tvalid,")
    w("    output wire                   s_axis_tready,")
    w("")
    w(
        f"    // output {graph.outputs[0]!r}: {last.out_count} x {last.out_fmt} raw values, "
        f"element j at bits [j*{last.out_fmt.width} +: {last.out_fmt.width}]"
    )
    w(f"    output wire [{last.out_width - 1}:0] m_axis_tdata,")
    w("    output wire                   m_axis_tvalid,")
    w("    input  wire                   m_axis_tready")
    w(");")
    w("")
    prev = ("s_axis_tdata", "s_axis_tvalid", "s_axis_tready")
    for k, lay in enumerate(layers):
        p = lay.ports
        last_layer = k == len(layers) - 1
        if k > 0:
            sk = f"{lay.name}_in"
            w(f"// skid buffer into {lay.name}")
            w(f"wire [{p.in_width - 1}:0] {sk}_tdata;")
            w(f"wire {sk}_tvalid;")
            w(f"wire {sk}_tready;")
            w(f"hwq_skid_buffer #(.DATA_WIDTH({p.in_width})) skid_{lay.name} (")
            w("    .clk(clk),")
            w("    .rst(rst),")
            w(f"    .s_axis_tdata({prev[0]}),")
            w(f"    .s_axis_tvalid({prev[1]}),")
            w(f"    .s_axis_tready({prev[2]}),")
            w(f"    .m_axis_tdata({sk}_tdata),")
            w(f"    .m_axis_tvalid({sk}_tvalid),")
            w(f"    .m_axis_tready({sk}_tready)")
            w(");")
            w("")
            prev = (f"{sk}_tdata", f"{sk}_tvalid", f"{sk}_tready")
        if last_layer:
            outs = ("m_axis_tdata", "m_axis_tvalid", "m_axis_tready")
        else:
            o = f"{lay.name}_out"
            w(f"// {lay.name}: {p.out_count} x {p.out_fmt}")
            w(f"wire [{p.out_width - 1}:0] {o}_tdata;")
            w(f"wire {o}_tvalid;")
            w(f"wire {o}_tready;")
            outs = (f"{o}_tdata", f"{o}_tvalid", f"{o}_tready")
        w(f"{lay.module} #(.PIPELINE(PIPELINE)) u_{lay.name} (")
        w("    .clk(clk),")
        w("    .rst(rst),")
        w(f"    .s_axis_tdata({prev[0]}),")
        w(f"    .s_axis_tvalid({prev[1]}),")
        w(f"    .s_axis_tready({prev[2]}),")
        w(f"    .m_axis_tdata({outs[0]}),")
        w(f"    .m_axis_tvalid({outs[1]}),")
        w(f"    .m_axis_tready({outs[2]})")
        w(");")
        w("")
        prev = outs
    w("endmodule")
    w("")
    w("`resetall")
    return "\n".join(lines) + "\n"
