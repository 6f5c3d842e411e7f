"""IR LUT as a ROM: one Verilog function per LUT op (a ``case`` over the input bit pattern), called per element.

``y = table[to_bits_in(x)]`` (``hwq.ir.ops.lut``): the index is the input raw modulo 2**W_in, i.e. the
low W_in bits of the element's two's complement wire. Only the patterns an element can hold (its proven
raw range) are listed; the most frequent output among them is the ``default`` arm, so a table with
long constant runs (sigmoid/tanh saturation) stays short. The function returns the output raw at the
width of the op's reachable output range; each element's node is as narrow as its own reachable entries.
"""

from __future__ import annotations

from collections import Counter

from hwq.io import sanitize_identifier
from hwq.ir.graph import Graph

from .datapath import Datapath, RtlError, Value
from .netlist import Node, fit, literal, low_bits, signed_width


def _codes(lo: int, hi: int, w: int) -> list[int]:
    """Bit patterns (raw mod 2**w) of every raw in [lo, hi], in raw order."""
    if hi - lo + 1 >= 1 << w:
        return list(range(1 << w))
    return [r % (1 << w) for r in range(lo, hi + 1)]


def build_lut(dp: Datapath, graph: Graph, op, args: list[list[Value]], k: int) -> list[Value]:
    """Nodes of an IR LUT op: ``y[j] = table[x[j] mod 2**W_in]`` through one shared case function."""
    xt, yt = graph.tensor(op.inputs[0]), graph.tensor(op.output)
    w_in = xt.fmt.width
    table = [int(v) for v in op.table]
    if len(table) != 1 << w_in:
        raise RtlError(f"op {op.name!r} (lut): table has {len(table)} entries, expected 2**{w_in} for {xt.fmt}")
    xs = args[0]
    per_elem = [_codes(dp.nodes[x.node].lo, dp.nodes[x.node].hi, w_in) for x in xs]
    reach = sorted({c for codes in per_elem for c in codes})
    vals = [table[c] for c in reach]
    wf = signed_width(min(vals), max(vals))
    fn = sanitize_identifier(f"lut{k}_{op.name}", prefix="lut")
    default, _ = Counter(vals).most_common(1)[0]
    arms = [f"        {w_in}'h{c:x}: {fn} = {literal(table[c], wf)};" for c in reach if table[c] != default]
    func = [
        f"// {op.name} (lut, {op.function or 'table'}): {xt.fmt} bit pattern -> {yt.fmt} raw; "
        f"{len(reach)} reachable patterns, default {default}",
        f"function signed [{wf - 1}:0] {fn};",
        f"    input [{w_in - 1}:0] idx;",
        "    begin",
        "        case (idx)",
        *arms,
        f"        default: {fn} = {literal(default, wf)};",
        "        endcase",
        "    end",
        "endfunction",
    ]
    if any("{" in ln or "}" in ln for ln in func):
        raise RtlError(f"internal: lut function text of {op.name!r} holds braces")
    outs = []
    pending = func  # printed once, in the first element that reads the table
    for j, (x, codes) in enumerate(zip(xs, per_elem)):
        src = dp.nodes[x.node]
        ev = [table[c] for c in codes]
        what = f"{op.name} (lut) element {j} -> {yt.fmt}"
        if len(set(ev)) == 1:
            outs.append(Value(dp.const(f"l{k}_y{j}", ev[0], what).name, yt.fmt.frac_bits))
            continue
        node = Node(f"l{k}_y{j}", min(ev), max(ev), src.level + 1, [x.node], [], what)
        node.body = pending + [
            f"wire signed [{wf - 1}:0] {{out}}_t = {fn}({low_bits('{0}', src.width, w_in)});",
            f"assign {{out}} = {fit('{out}_t', wf, node.width)};",
        ]
        dp.add(node)
        pending = []
        outs.append(Value(node.name, yt.fmt.frac_bits))
    return outs
