"""Print one layer's datapath (``datapath.Datapath``) as a valid/ready-streamed, pipelined Verilog module.

Pipeline: stage ``b`` (1 <= b < LEVELS) sits between node levels ``b`` and ``b+1`` and is a register
when ``b`` is a multiple of the ``PIPELINE`` parameter (0: no internal registers); stage ``LEVELS`` is the
output register. Every stage advances together on ``ce = !m_axis_tvalid || m_axis_tready`` (a stalling
pipeline): ``s_axis_tready = ce``, and a beat's result leaves ``1 + (LEVELS - 1) // PIPELINE`` cycles
after it was accepted. Each stage is a ``generate`` block of per-value registers (``<value>_r<b>``; the
valid flag has a synchronous reset, data has none) or of plain wires; values stay narrow, which keeps
Verilator's C++ small. Deep datapaths (saturating chains) stay compact: a stage with ``PACK_MIN_VALUES``
live values or more registers them as one packed vector (``st<b>_q``), and a value live through
``TAPS_MIN_STAGES`` stages or more goes through one ``hwq_taps`` delay line (same registers, text linear
in the values instead of values x stages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hwq.formats import FixedFormat

from .datapath import Datapath, Value
from .minifloat import is_float, output_codes
from .netlist import Node, fit


@dataclass
class LayerPorts:
    """Stream widths and element formats of a layer module."""

    in_count: int
    in_fmt: FixedFormat
    out_count: int
    out_fmt: FixedFormat
    in_note: str = field(
        default="", kw_only=True
    )  # appended to the s_axis port comment (e.g. the input range the datapath assumes)

    @property
    def in_width(self) -> int:
        """Bits of s_axis_tdata: elements x element width."""
        return self.in_count * self.in_fmt.width

    @property
    def out_width(self) -> int:
        """Bits of m_axis_tdata: elements x element width."""
        return self.out_count * self.out_fmt.width


def _subst(line: str, out: str, operands: list[str]) -> str:
    line = line.replace("{out}", out)
    for k, o in enumerate(operands):
        line = line.replace("{" + str(k) + "}", o)
    return line


def _declare_assigned(n: Node, body: list[str], note: str) -> list[str] | None:
    """The node's lines with its declaration and final ``assign`` as one net declaration assignment
    (``wire signed [W-1:0] name = expr;  // note``), or None when the body's last line is not that
    assignment or an earlier line reads the node itself (then it is declared first, as before)."""
    head = f"assign {n.name} = "
    if not body or not body[-1].startswith(head):
        return None
    word = re.compile(rf"\b{re.escape(n.name)}\b")
    if any(word.search(b) for b in body[:-1]):
        return None
    expr, _, tail = body[-1][len(head) :].partition(";")
    extra = tail.strip()
    extra = f"; {extra[2:].strip()}" if extra.startswith("//") else (f" {extra}" if extra else "")
    return body[:-1] + [f"wire signed [{n.width - 1}:0] {n.name} = {expr};  // {note}{extra}"]


def levels_of(dp: Datapath, outs: list[Value]) -> int:
    """Number of node levels of the layer (>= 1); the output register is stage LEVELS."""
    return max(1, max((dp.nodes[v.node].level for v in outs), default=0))


def latency(levels: int, pipeline: int) -> int:
    """Cycles from an accepted input beat to its output beat (no back-pressure)."""
    return 1 + ((levels - 1) // pipeline if pipeline > 0 else 0)


def module_preamble(w, header: list[str], describe: list[str], module: str, pipeline: int) -> None:
    """Print (through ``w``) a layer module's provenance header, directives, description comments and
    ``module <name> #(parameter PIPELINE = <pipeline>) (clk, rst,`` up to the stream ports."""
    for h in header:
        w(f"// {h}" if h else "//")
    w("")
    w("`resetall")
    w("`timescale 1ns / 1ps")
    w("`default_nettype none")
    w("")
    for d in describe:
        w(f"// {d}")
    w(f"module {module} #")
    w("(")
    w("    // Register the datapath after every PIPELINE adder levels (0: only the output register)")
    w(f"    parameter PIPELINE = {pipeline}")
    w(")")
    w("(")
    w("    input  wire                   clk,")
    w("    input  wire                   rst,")
    w("")


def _stage_registers(w, indent: str, b: int, live: list[Node], ins: list[str], v_in: str) -> None:
    """Print the registers of stage ``b``: valid (synchronous reset) and one register per live value."""
    regs = [f"{n.name}_r{b}" for n in live]
    w(f"{indent}reg valid_reg;")
    for n, r in zip(live, regs):
        w(f"{indent}reg signed [{n.width - 1}:0] {r};")
    w(f"{indent}always @(posedge clk) begin")
    w(f"{indent}    if (ce) begin")
    w(f"{indent}        valid_reg <= {v_in};")
    for r, x in zip(regs, ins):
        w(f"{indent}        {r} <= {x};")
    w(f"{indent}    end")
    w(f"{indent}    if (rst) begin")
    w(f"{indent}        valid_reg <= 1'b0;")
    w(f"{indent}    end")
    w(f"{indent}end")
    w(f"{indent}assign valid_s{b} = valid_reg;")
    for n, r in zip(live, regs):
        w(f"{indent}assign {n.name}_s{b} = {r};")


#: a value live through at least this many pipeline stages goes through an ``hwq_taps`` delay line
TAPS_MIN_STAGES = 4
#: a stage with at least this many live values registers them as one packed vector
PACK_MIN_VALUES = 24


def _print_packed_stage(w, b: int, live: list[Node], ins: list[str], v_in: str, out_reg: bool) -> None:
    """Stage ``b`` as one vector: ``st<b>_d`` packs the live values, ``st<b>_q`` is it registered (or
    passed through when the stage is a wire), and ``<value>_s<b>`` are its fields. Same registers as
    ``_stage_registers``, a third of the text."""
    total = sum(n.width for n in live)
    w(f"wire [{total - 1}:0] st{b}_d;")
    w(f"wire [{total - 1}:0] st{b}_q;")
    parts = list(reversed(ins))  # the first live value in the lowest bits
    for k in range(0, len(parts), 8):
        head = f"assign st{b}_d = {{" if k == 0 else "    "
        tail = "};" if k + 8 >= len(parts) else ","
        w(head + ", ".join(parts[k : k + 8]) + tail)
    reg = [
        "reg valid_reg;",
        f"reg [{total - 1}:0] q_reg;",
        "always @(posedge clk) begin",
        "    if (ce) begin",
        f"        valid_reg <= {v_in};",
        f"        q_reg <= st{b}_d;",
        "    end",
        "    if (rst) begin",
        "        valid_reg <= 1'b0;",
        "    end",
        "end",
        f"assign valid_s{b} = valid_reg;",
        f"assign st{b}_q = q_reg;",
    ]
    if out_reg:  # the output register: at module scope, as _stage_registers prints it
        for line in reg:
            w(line)
    else:
        w("generate")
        w(f"    if (({b} % PIPE_EVERY) == 0) begin : g_stage_{b}")
        for line in reg:
            w("        " + line)
        w(f"    end else begin : g_stage_{b}_wire")
        w(f"        assign valid_s{b} = {v_in};")
        w(f"        assign st{b}_q = st{b}_d;")
        w("    end")
        w("endgenerate")
    lo = 0
    for n in live:
        w(f"wire signed [{n.width - 1}:0] {n.name}_s{b} = st{b}_q[{lo + n.width - 1}:{lo}];")
        lo += n.width


def _print_taps(w, n: Node, first: int, last: int, read: list[int]) -> None:
    """One ``hwq_taps`` delay line for value ``n`` through stages first..last, and a wire ``<n>_s<b>`` for
    every stage b that is read."""
    wd = n.width
    w(f"wire [{wd * (last - first + 1) - 1}:0] {n.name}_t;  // stages {first}..{last}")
    w(
        f"hwq_taps #(.WIDTH({wd}), .FIRST({first}), .LAST({last}), .TOTAL({wd * (last - first + 1)}), "
        ".LEVELS(LEVELS), .PIPE_EVERY(PIPE_EVERY)) "
        f"u_{n.name}_t (.clk(clk), .ce(ce), .d({n.name}), .q({n.name}_t));"
    )
    for b in read:
        lo = (b - first) * wd
        w(f"wire signed [{wd - 1}:0] {n.name}_s{b} = {n.name}_t[{lo + wd - 1}:{lo}];")


def uses_taps(text: str) -> bool:
    """True when a printed layer module instantiates ``hwq_taps``."""
    return "hwq_taps #(" in text


def print_layer(
    module: str,
    header: list[str],
    dp: Datapath,
    outs: list[Value],
    ports: LayerPorts,
    pipeline: int,
    describe: list[str],
) -> str:
    """Verilog text of one layer module (see the module docstring for the pipeline contract). Minifloat
    outputs leave as their codes (``minifloat.output_codes``)."""
    if is_float(ports.out_fmt):
        outs = output_codes(dp, outs, ports.out_fmt)
    nodes = list(dp.nodes.values())
    top_level = levels_of(dp, outs)
    out_names = [v.node for v in outs]
    # last level at which each node is read (outputs: read by the output register, "level" LEVELS + 1)
    last_use: dict[str, int] = {}
    for n in nodes:
        for o in n.operands:
            if n.level > dp.nodes[o].level:
                last_use[o] = max(last_use.get(o, 0), n.level)
    for o in out_names:
        last_use[o] = top_level + 1

    # values live through TAPS_MIN_STAGES stages or more go through one hwq_taps delay line each (text
    # linear in the values); the others get per-stage registers below. Stages read from a delay line:
    tapped: dict[str, set[int]] = {}
    if top_level > 1:
        for n in nodes:
            if not n.const and last_use.get(n.name, 0) - max(n.level, 1) >= TAPS_MIN_STAGES:
                tapped[n.name] = set()
        for n in nodes:
            for o in n.operands:
                if o in tapped and n.level > dp.nodes[o].level and n.level > 1:  # stage 0: the value itself
                    tapped[o].add(n.level - 1)
        for o in out_names:
            if o in tapped:
                tapped[o].add(top_level)

    def stage_name(name: str, b: int) -> str:
        """Wire of value ``name`` at the output of stage ``b`` (stage 0: the value itself)."""
        return name if b == 0 else f"{name}_s{b}"

    def ref(name: str, consumer_level: int) -> str:
        """Wire through which a node at ``consumer_level`` reads value ``name``."""
        node = dp.nodes[name]
        if node.const or node.level == consumer_level:
            return name
        return stage_name(name, consumer_level - 1)

    lines: list[str] = []
    w = lines.append
    module_preamble(w, header, describe, module, pipeline)
    w(
        f"    // {ports.in_count} x {ports.in_fmt} raw values, "
        f"element i at bits [i*{ports.in_fmt.width} +: {ports.in_fmt.width}]"
        + (f"; {ports.in_note}" if ports.in_note else "")
    )
    w(f"    input  wire [{ports.in_width - 1}:0] s_axis_tdata,")
    w("    input  wire                   s_axis_tvalid,")
    w("    output wire                   s_axis_tready,")
    w("")
    w(
        f"    // {ports.out_count} x {ports.out_fmt} raw values, "
        f"element j at bits [j*{ports.out_fmt.width} +: {ports.out_fmt.width}]"
    )
    w(f"    output wire [{ports.out_width - 1}:0] m_axis_tdata,")
    w("    output wire                   m_axis_tvalid,")
    w("    input  wire                   m_axis_tready")
    w(");")
    w("")
    if top_level > 1:
        w(f"localparam LEVELS = {top_level};")
        w("// a stage is a register when its index is a multiple of PIPE_EVERY")
        w("localparam PIPE_EVERY = (PIPELINE > 0) ? PIPELINE : LEVELS + 1;")
        w("// latency (cycles from s_axis beat to m_axis beat): 1 + (LEVELS - 1) / PIPE_EVERY")
    else:
        w("// one node level: the output register is the only stage (latency 1 cycle)")
    w("")
    w("// synthesis translate_off")
    w("initial begin")
    w("    if (PIPELINE < 0) begin")
    w(f'        $display("Error: {module}: PIPELINE must be >= 0 (got %0d)", PIPELINE);')
    w("        $finish;")
    w("    end")
    w("end")
    w("// synthesis translate_on")
    w("")
    w("// Every stage advances unless the output register holds a beat that is not taken.")
    w("wire ce = !m_axis_tvalid || m_axis_tready;")
    w("assign s_axis_tready = ce;")
    w("")
    w("// Bits below a rounding point or above a wrap width are dropped on purpose.")
    w("/* verilator lint_off UNUSEDSIGNAL */")
    by_level: dict[int, list[Node]] = {}
    for n in nodes:
        by_level.setdefault(n.level, []).append(n)
    for level in range(0, top_level + 1):
        lv = by_level.get(level, [])
        if lv:
            w("")
            w(f"// ---- level {level}" + (": inputs and constants" if level == 0 else ""))
        for n in lv:
            ops = [ref(o, n.level) for o in n.operands]
            cmt = f"  // {n.comment}" if n.comment else ""
            body = [_subst(b, n.name, ops) for b in n.body]
            merged = _declare_assigned(n, body, f"[{n.lo}, {n.hi}]{cmt}")
            if merged is None:
                w(f"wire signed [{n.width - 1}:0] {n.name};  // [{n.lo}, {n.hi}]{cmt}")
                for b in body:
                    w(b)
            else:
                for b in merged:
                    w(b)
            if n.name in tapped:
                _print_taps(w, n, max(n.level, 1), last_use[n.name] - 1, sorted(tapped[n.name]))
        # stage after this level
        if level == 0:
            continue
        b = level
        live = [
            n for n in nodes if not n.const and n.level <= b and last_use.get(n.name, 0) > b and n.name not in tapped
        ]
        w("")
        what = "output register" if b == top_level else f"stage {b}: a register when {b} is a multiple of PIPE_EVERY"
        w(f"// {what}")
        w(f"wire valid_s{b};")
        ins = [n.name if n.level == b else stage_name(n.name, b - 1) for n in live]
        v_in = "s_axis_tvalid" if b == 1 else f"valid_s{b - 1}"
        if len(live) >= PACK_MIN_VALUES:
            _print_packed_stage(w, b, live, ins, v_in, b == top_level)
            continue
        for n in live:
            w(f"wire signed [{n.width - 1}:0] {stage_name(n.name, b)};")
        outs_b = [stage_name(n.name, b) for n in live]

        if b == top_level:
            _stage_registers(w, "", b, live, ins, v_in)
        else:
            w("generate")
            w(f"    if (({b} % PIPE_EVERY) == 0) begin : g_stage_{b}")
            _stage_registers(w, "        ", b, live, ins, v_in)
            w(f"    end else begin : g_stage_{b}_wire")
            w(f"        assign valid_s{b} = {v_in};")
            for o, x in zip(outs_b, ins):
                w(f"        assign {o} = {x};")
            w("    end")
            w("endgenerate")
    w("/* verilator lint_on UNUSEDSIGNAL */")
    w("")
    w("// output elements: raw bit patterns of " + str(ports.out_fmt))
    wo = ports.out_fmt.width
    for j, v in enumerate(outs):
        n = dp.nodes[v.node]
        src = n.name if n.const else stage_name(n.name, top_level)
        pat = fit(src, n.width, wo)
        if pat.startswith("$signed("):
            pat = pat[len("$signed(") : -1]
        hi, lo = (j + 1) * wo - 1, j * wo
        rng = f"[{hi}:{lo}]" if wo > 1 else f"[{lo}]"
        w(f"assign m_axis_tdata{rng} = $unsigned({pat});")
    w(f"assign m_axis_tvalid = valid_s{top_level};")
    w("")
    w("endmodule")
    w("")
    w("`resetall")
    return "\n".join(lines) + "\n"
