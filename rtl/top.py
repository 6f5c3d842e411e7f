"""Text shared by the two top-module printers (``emit._print_top`` for a chain of layers,
``branch.print_dag_top`` for a layer DAG): the preamble up to the end of the port list, ``m_axis_tlast``,
and the wire/instance helpers of valid/ready streams.

A stream is a triple of signal names ``(tdata, tvalid, tready)``.
"""

from __future__ import annotations

from collections.abc import Callable

Writer = Callable[[str], None]
Stream = tuple[str, str, str]


def print_top_preamble(
    w: Writer,
    top: str,
    header: list[str],
    notes: list[str],
    pipeline: int,
    ports: tuple[str, int, str, int],
    out_beats: int,
) -> None:
    """Print (through ``w``) a top module's provenance ``header`` (one ``// `` line each), directives, the
    ``notes`` comment lines, ``module <top> #(parameter PIPELINE = <pipeline>)``, the clock/reset, the s_axis
    and m_axis ports (``ports`` = (s_axis comment line, s_axis_tdata bits, m_axis comment line, m_axis_tdata
    bits)) with ``m_axis_tlast``, and the tlast logic for ``out_beats`` beats per output vector."""
    in_comment, in_width, out_comment, out_width = ports
    for h in header:
        w(f"// {h}")
    w("")
    w("`resetall")
    w("`timescale 1ns / 1ps")
    w("`default_nettype none")
    w("")
    for n in notes:
        w(f"// {n}")
    w(f"module {top} #")
    w("(")
    w("    // Register each layer's datapath after every PIPELINE adder levels (0: output registers only)")
    w(f"    parameter PIPELINE = {pipeline}")
    w(")")
    w("(")
    w("    input  wire                   clk,")
    w("    input  wire                   rst,")
    w("")
    w(in_comment)
    w(f"    input  wire [{in_width - 1}:0] s_axis_tdata,")
    w("    input  wire                   s_axis_tvalid,")
    w("    output wire                   s_axis_tready,")
    w("")
    w(out_comment)
    w(f"    output wire [{out_width - 1}:0] m_axis_tdata,")
    w("    output wire                   m_axis_tvalid,")
    w("    output wire                   m_axis_tlast,  // last beat of an output vector")
    w("    input  wire                   m_axis_tready")
    w(");")
    w("")
    print_tlast(w, out_beats)


def print_tlast(w: Writer, beats: int) -> None:
    """Print (through ``w``) the top's ``m_axis_tlast`` logic: high on the last beat of every output vector
    (frame), i.e. on output beat ``k`` when ``k % beats == beats - 1``; a beat counter advanced by the
    m_axis handshake (``beats`` = 1: always high)."""
    w("// frame boundary: m_axis_tlast marks the last beat of every output vector")
    if beats <= 1:
        w("assign m_axis_tlast = 1'b1;")
        w("")
        return
    cw = max(1, (beats - 1).bit_length())
    w(f"reg [{cw - 1}:0] out_beat_reg;  // beat index within the current output vector, 0 .. {beats - 1}")
    w("always @(posedge clk) begin")
    w("    if (m_axis_tvalid && m_axis_tready) begin")
    w(f"        out_beat_reg <= (out_beat_reg == {cw}'d{beats - 1}) ? {cw}'d0 : out_beat_reg + 1'b1;")
    w("    end")
    w("    if (rst) begin")
    w(f"        out_beat_reg <= {cw}'d0;")
    w("    end")
    w("end")
    w(f"assign m_axis_tlast = out_beat_reg == {cw}'d{beats - 1};")
    w("")


def wires(w: Writer, name: str, width: int) -> Stream:
    """Declare (through ``w``) the wires of stream ``<name>`` with ``width`` data bits; return its names."""
    w(f"wire [{width - 1}:0] {name}_tdata;")
    w(f"wire {name}_tvalid;")
    w(f"wire {name}_tready;")
    return (f"{name}_tdata", f"{name}_tvalid", f"{name}_tready")


def instance(w: Writer, module: str, params: list[tuple[str, object]], inst: str, src: Stream, dst: Stream) -> None:
    """Print (through ``w``) instance ``inst`` of a one-in one-out stream ``module`` with ``params``
    (name, value), clocked by clk/rst, reading stream ``src`` and driving stream ``dst``."""
    plist = ", ".join(f".{k}({v})" for k, v in params)
    w(f"{module} #({plist}) {inst} (")
    w("    .clk(clk),")
    w("    .rst(rst),")
    w(f"    .s_axis_tdata({src[0]}),")
    w(f"    .s_axis_tvalid({src[1]}),")
    w(f"    .s_axis_tready({src[2]}),")
    w(f"    .m_axis_tdata({dst[0]}),")
    w(f"    .m_axis_tvalid({dst[1]}),")
    w(f"    .m_axis_tready({dst[2]})")
    w(");")
    w("")
