"""What ``hwq.rtl.emit`` builds, counted without writing files: the features the FPGA cost model prices.

``plan_chain`` (called by ``rtl_plan.plan_rtl`` for every chain design) repeats the emitter's planning
steps (``rtl.plan.plan_layers``, ``rtl.build.build_layer`` / ``rtl.stream.build_stream_layer``: the real
adder graph from ``rtl.mcm`` with its common-subexpression elimination, exact node widths and levels),
then ``layer_features`` reads each layer's datapath:

- adder bits: for every two-operand adder the width of the part that really adds (the emitter passes the
  low bits of the shifted operand through, ``Datapath.adder``), split into bits within an operand's own
  width and above it (``ext_bits``: sign extension / carry out), of which subtracting (``sub_bits``);
  the subtracted operand's bits when it comes straight from a flip-flop (an input, or a value read across
  a register stage: ``sub_reg_bits``; the iCE40 carry takes the inverted operand from a LUT of its own,
  which a combinational operand's LUT absorbs);
  a sum of values whose sign bit is structurally 0 (unsigned inputs, ``zero_sign_nodes``) is one bit
  narrower, as yosys's ``wreduce`` makes it, and so is such an operand's own width; an add or subtract bit
  where one operand is such a structural 0 only passes the other bit (or its inverse) to the carry chain
  and counts with ``ext_bits``
  (no LUT on the LUT6); a rounding increment that reads only constant accumulator bits is no adder
  (``_round_up_is_zero``);
  the adders yosys's ``alumacc`` merges into a reader's ``$macc`` (``macc_merges``: the exact rule, checked
  against yosys's cells); constant additions (bias, rounding increments) and the output negations;
- select bits (``?:`` multiplexers of ReLU, saturation, max) and compare bits (saturation: the checked bits
  above the result; ``sat_raw_bits`` when the checked value is not rounded; max: operand bits);
- flip-flops as yosys keeps them of the registers ``layer.print_layer`` declares (a register stage after
  every ``pipeline`` levels and the output register; one valid flag per stage): ``bitflow`` reads every
  node body bit by bit and drops constant bits, counts once bits that are the same net, and keeps only
  bits a later reader needs (``ff``; ``ff_lcu`` for synth_xilinx's comparison mapping); the top's
  ``m_axis_tlast`` beat counter (``tlast_bits``) on the last layer of a streamed output;
- the primitives the top instantiates: skid buffers (2 x (width + 1) FFs each), line buffers
  (``hwq_window``: DEPTH x (pixel width [+1 pad flag]) shift-register bits, the window output register,
  four position counters; ``hwq_window_pad``: real pixels only, pad flags in the output register, walk,
  emission and row/column counters), frame collect/split registers;
- latency in cycles (``emit.top_latency``): ``layer.latency`` per layer plus one per skid buffer; with
  streamed layers the cycle model of the top's handshakes ``rtl.timing.stream_timing`` (line buffers'
  fill, tails, hold cycles, frame split/collect and the stalls they cause: exact, ``latency_exact``);
- a graph the emitter builds as a layer DAG (streamed residual Add / Concat / Mul: forks, FIFOs, joins)
  is priced by ``hwq.cost.rtl_dag.plan_dag`` instead (``rtl_plan.plan_rtl`` chooses): its pixel layers,
  every edge's skid buffer or FIFO, the forks; latency from ``rtl.timing.dag_timing``, exact.

Units: bits and counts; no coefficients here (``fpga.py`` prices the features for a target).
"""

from __future__ import annotations

import functools
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from hwq.ir.graph import Graph

_WIRE = re.compile(r"^\s*wire\s+(?:signed\s+)?(?:\[(\d+):0\]\s+)?(\S+)\s*=")
_CMP = re.compile(r"[<>]|==")
_PASS = re.compile(r"^assign \{out\} = \$signed\(\{\{out\}_hi, \{0\}\[(\d+)(?::0)?\]\}\);")


_RELU = re.compile(r"^assign \{out\} = \{0\}\[\d+\] \? \$signed\(\d+'h0\) : \{0\};$")
_INPUT_NAME = re.compile(r"x\d+")
_ALIGNED = re.compile(r"^wire signed \[\d+:0\] \{out\}_r = \$signed\(\{\{0\}, (\d+)'b0\}\);$")
_CADD = re.compile(r"^assign \{out\} = \$signed\(\d+'h([0-9a-f]+)\) \+ ")


def const_top(node) -> bool:
    """True when the node's sign bit is structurally 0, so yosys removes its registers: a ReLU select
    (``x[sign] ? 0 : x``) or an unsigned input zero-extended to a signed wire."""
    if node.lo < 0 or node.const:
        return False
    body = " ".join(node.body)
    return bool(_RELU.match(body)) or "1'b0, s_axis_tdata" in body


@dataclass
class LayerFeatures:
    """Counted features of one emitted layer module (see the module docstring); all in bits or counts."""

    name: str
    style: str
    kinds: list[str]
    adders: int = 0
    levels: int = 1
    latency: int = 1
    add_bits: int = 0  # two-operand adders: carry-chain bits
    ext_bits: int = 0  # of which above both operands' own bits (sign extension / carry out)
    sub_bits: int = 0  # of which subtract their second operand
    sub_reg_bits: int = 0  # subtracted operand bits read straight from a flip-flop (``datapath_features``)
    macc_bits: int = 0  # adder bits yosys merges into a reader's multi-operand $macc (carry-save rows)
    macc_merges: int = 0  # number of such merged adders
    const_bits: int = 0  # constant additions / increments: carry-chain bits
    carry4: int = 0  # 4-bit carry blocks of all adders (xc7 CARRY4 cells)
    mux_bits: int = 0  # ?: select bits
    cmp_bits: int = 0  # comparator operand bits (saturation: the checked bits above the result's)
    sat_raw_bits: int = 0  # saturation limit checks on an unrounded value: its bits above the result's
    ff: int = 0  # flip-flops kept after unused bits are removed (data + valid), comparisons on carry chains
    ff_lcu: int = 0  # the same when constant comparisons of <= 2 LUT6 groups become logic (synth_xilinx cmp2lcu)
    ff_declared: int = 0  # flip-flops as declared in the Verilog
    skid_bits: int = 0  # data bits of the skid buffer in front of this layer (0 for the first layer)
    skid_const_bits: int = 0  # of which constant (ReLU sign bits): no flip-flops
    window_bits: int = 0  # line-buffer shift-register bits
    window_taps_bits: int = 0  # window output register bits
    window_counter_bits: int = 0  # position counter bits (constant bits: one flop per equal group, synth_xilinx)
    window_static_bits: int = 0  # of which constant counter bits synth_ice40 removes (``static_counter_bits``)
    window_pad_bits: int = 0  # counter bits of a masked-padding line buffer (hwq_window_pad)
    frame_bits: int = 0  # frame collect / split register bits
    window_const_bits: int = 0  # of the line buffer's shift-register and window bits: no FF (``input_dup_bits``)
    frame_const_bits: int = 0  # of the frame collect / split bits: no FF (``input_dup_bits``)
    tlast_bits: int = 0  # the top's output beat counter for m_axis_tlast (last layer, streamed output)
    max_bits: int = 0  # max selects ``(a > b) ? a : b`` (maxpool): operand bits without a structural-0 sign
    dec_bits: int = 0  # minifloat input decoders: shift-matrix entries + signed value bits (``decode_bits``)
    extra: dict = field(default_factory=dict)

    @property
    def own_bits(self) -> int:
        """Two-operand adder bits within an operand's own bits (``add_bits - ext_bits``)."""
        return self.add_bits - self.ext_bits

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready) of the features."""
        return {k: v for k, v in self.__dict__.items() if k != "extra"} | self.extra


@functools.lru_cache(maxsize=1 << 16)  # body lines repeat (same widths): read each once
def _line_width(line: str, node_width: int) -> int:
    """Width of the wire a body line defines (``assign {out}``: the node's width)."""
    m = _WIRE.match(line)
    if m:
        return int(m.group(1)) + 1 if m.group(1) is not None else 1
    return node_width


def _used_bits(line: str, widths: list[int], used: list[set[int]]) -> None:
    """Add the operand bits read by one body line to ``used`` (``bitflow.add_read_bits``)."""
    from .bitflow import add_read_bits

    add_read_bits(line, widths, used)


def datapath_features(
    dp,
    outs,
    out_width: int,
    pipeline: int,
    const_inputs: dict | None = None,
    low_inputs: int = 0,
    code_out: bool = False,
) -> dict:
    """Adder/select/compare bits, carry blocks and flip-flops of one datapath (``rtl.datapath.Datapath``)
    whose output values ``outs`` leave through an output register truncated or sign-extended to
    ``out_width`` bits each; ``pipeline`` as the emitter's option; ``const_inputs``: {input node name:
    lowest bit that is constant 0 (the previous layer's ReLU sign bit)}; ``low_inputs``: low bits that are
    constant 0 in every input (``low_zero_bits``). Returns a dict of ints (``out_low_zero``: the same for
    the outputs; ``out_distinct_bits``: ``output_distinct_bits``, of float codes when ``code_out``)."""
    nodes = dp.nodes
    levels = max(1, max((nodes[v.node].level for v in outs), default=0))
    add_bits = ext_bits = sub_bits = const_bits = carry4 = mux_bits = cmp_bits = sat_raw_bits = max_bits = 0
    sub_reg_bits = 0
    # register stages (``layer.print_layer``): a value read across a stage boundary, or an input (a skid
    # buffer's or line buffer's register), comes straight from a flip-flop
    bounds = [b for b in range(1, levels + 1) if b == levels or (pipeline > 0 and b % pipeline == 0)]

    def stage(level: int) -> int:
        return next((k for k, b in enumerate(bounds) if level <= b), len(bounds))

    def from_ff(o: str, reader) -> bool:
        src = nodes[o]
        if src.const:
            return False
        if src.level == 0:
            return not decode_bits(src)  # a minifloat input's decoded value is logic, not a register
        return stage(src.level) != stage(reader.level)

    zero = zero_sign_nodes(nodes, const_inputs or {})
    tz = low_zero_bits(nodes, low_inputs)
    zero_up = {n.name for n in nodes.values() if _round_up_is_zero(n, nodes)}
    dec_bits = 0
    for n in nodes.values():
        if n.level == 0 and not n.const:
            d = decode_bits(n)
            if d:
                dec_bits += d
                carry4 += math.ceil(n.width / 4)  # the sign's negation: one carry chain
        if n.const or n.level == 0:
            continue
        # an operand whose sign bit is structurally 0 adds one bit fewer (yosys trims the zero bit)
        widths = [nodes[o].width - (o in zero) for o in n.operands]
        two = len([o for o in n.operands if not nodes[o].const]) >= 2
        for line in n.body:
            rhs = line.split("=", 1)[1] if "=" in line else line
            rhs = rhs.split("//", 1)[0]
            w = _line_width(line, n.width)
            if n.name in zero and w == n.width - _pass_width(n) and _add_line(line):
                w -= 1  # the sum's sign bit is structurally 0: no adder bit (yosys narrows the $add)
            q = rhs.count("?")
            if q == 1 and _MAX.search(rhs):
                # a max select (maxpool): compare and select of two variable operands, priced together;
                # a structurally-0 sign bit (ReLU before the pool) is no operand bit
                max_bits += w - all(o in zero for o in n.operands[:2])
            elif q:
                if "{out}_ovf_" in rhs.split("?", 1)[0]:
                    # a saturation select: the result's low bits that the aligned value holds as constant 0
                    # (its binary point above the source's) are functions of the limit checks alone,
                    # shared by every such bit: no select bit (iCE40: the emitter's output stage with the
                    # accumulator k bits below the result's LSB costs 1 LUT4 less per k, lut_primitives
                    # cast0..cast6)
                    aligned = next(filter(None, map(_ALIGNED.match, n.body)), None)
                    w -= min(int(aligned.group(1)), w) if aligned else 0
                mux_bits += q * w
                if _CMP.search(rhs.split("?", 1)[0]):
                    cmp_bits += n.width
            elif _CMP.search(rhs) and "{out}_ovf_" in line:
                # a saturation limit check: the bits of the rounded value above the result's
                wr = next((_line_width(ln, n.width) for ln in n.body if "{out}_r = " in ln), n.width)
                cmp_bits += max(0, wr - n.width)
                if any(ln.endswith("{out}_r = {0};") for ln in n.body):
                    sat_raw_bits += max(0, wr - n.width)
            elif _CMP.search(rhs):
                cmp_bits += max(widths) if widths else n.width
            elif " + " in rhs or " - " in rhs:
                if "{out}_up" in rhs and n.name in zero_up:
                    continue  # a rounding increment that is structurally 0: yosys removes the adder
                if two and "{1}" in rhs:
                    d = _pass_width(n)
                    low = 0
                    if tz and len(n.operands) > 1:
                        # low bits that are constant 0 in an operand: the other operand's bits pass through
                        # (no adder bit; they are operand bits, so they leave the own bits)
                        t0, t1 = tz.get(n.operands[0], 0), tz.get(n.operands[1], 0)
                        low = max(0, min(t1 if " - " in rhs else max(t0 - d, t1), w - 1))
                    add_bits += w - low
                    own = max(widths[0] - d, widths[1]) if len(widths) > 1 else w
                    ext_bits += max(0, w - own)
                    if len(widths) > 1 and any(o in zero for o in n.operands[:2]):
                        # an add or subtract bit where one operand is a structural 0 passes the other
                        # operand's bit (or its inverse: an INV cell, no LUT) to the carry chain: on the
                        # LUT6 no LUT (counted with the sign-extension bits; dense 64->8 ufixed<3,2>
                        # fixed<3,3>, xc7: 1,531 LUTs feed a CARRY4 S input, 1,599 own bits counted for
                        # additions only, 1,528 with subtractions)
                        z0, z1 = (o in zero for o in n.operands[:2])
                        lims = [widths[0] - d if z0 else w, widths[1] if z1 else w]
                        ext_bits += max(0, min(own, w) - min(lims))
                    if " - " in rhs:
                        sub_bits += w - low
                        k = 1 if "{1}" in rhs.split(" - ", 1)[1] else 0
                        if from_ff(n.operands[k], n):
                            sub_reg_bits += widths[k]
                    w -= low
                else:
                    const_bits += w
                    if " - " in rhs and "{0}" in rhs.split(" - ", 1)[1] and n.operands and from_ff(n.operands[0], n):
                        sub_reg_bits += widths[0]  # a constant minus a registered value
                carry4 += math.ceil(w / 4)
    low = {nm: low_inputs for nm in nodes if low_inputs > 0 and nodes[nm].level == 0 and _INPUT_NAME.fullmatch(nm)}
    detail: list = []
    keys: dict = {}
    ff, ff_decl, ff_lcu = _registers(
        nodes, outs, out_width, levels, pipeline, const_inputs or {}, detail=detail, low_inputs=low, keys_out=keys
    )
    codes = keys if code_out else None
    distinct = output_distinct_bits(nodes, outs, out_width, levels, detail, codes)
    if code_out:
        # the output register holds the values' float codes (``rtl.layer`` registers ``*_code``), not the
        # decoded values bitflow keyed: its distinct non-constant bits instead of the values' bits
        held = {k for stage, _, bits in detail if stage == levels for k in bits.values()}
        ff += distinct - len(held)
        ff_lcu += distinct - len(held)
    merges = macc_merges(nodes, outs, levels, pipeline)
    carry4 -= sum(math.ceil(w / 4) for _, _, w in merges)  # a merged adder's own carry chain is not built
    return {
        "levels": levels,
        "add_bits": add_bits,
        "ext_bits": ext_bits,
        "sub_bits": sub_bits,
        "sub_reg_bits": sub_reg_bits,
        "macc_bits": sum(w for _, _, w in merges),
        "macc_merges": len(merges),
        "const_bits": const_bits,
        "carry4": carry4,
        "mux_bits": mux_bits,
        "cmp_bits": cmp_bits,
        "sat_raw_bits": sat_raw_bits,
        "ff": ff,
        "ff_lcu": ff_lcu,
        "ff_declared": ff_decl,
        "dec_bits": dec_bits,
        "max_bits": max_bits,
        "out_low_zero": min((_out_low_zero(nodes[v.node], tz) for v in outs), default=0),
        "out_distinct_bits": distinct,
        "code_sign_zero": [_code_sign_zero(nodes, v.node, codes) for v in outs] if codes is not None else None,
    }


def output_distinct_bits(nodes, outs, out_width: int, levels: int, detail: list, codes: dict | None = None) -> int:
    """Distinct non-constant nets among the ``out_width`` x len(outs) output bits (``m_axis_tdata``) of a
    datapath: bit j of an output value is its output register's bit ``min(j, width - 1)`` (sign extension),
    keyed as ``bitflow.resolve`` keys it (``detail`` from ``bitflow.register_count``: the kept bits of
    every register; a bit absent from the output stage is constant). Constant bits (a ReLU's sign, a
    float code's sign after a ReLU, ``{x, 1'b0}`` low bits) and copies of one net (sign extension) leave
    no flip-flop in the registers the next layer's data pass through (skid buffer, line buffer, frame
    collect): yosys's ``opt_dff`` removes a register of a constant and ``opt_merge`` merges registers of
    one net, register after register along the chain. ``codes``: the outputs are float codes of the
    values (``out_width`` bits each; ``codes``: ``bitflow.resolve`` keys of every node), see ``_code_keys``."""
    if codes is not None:
        keys = set()
        for v in outs:
            if not nodes[v.node].const:
                keys |= _code_keys(nodes, v.node, out_width, codes)
        return len(keys)
    held = {name: bits for stage, name, bits in detail if stage == levels}
    keys: set = set()
    for v in outs:
        n = nodes[v.node]
        if n.const:
            continue
        bits = held.get(v.node, {})
        for j in range(out_width):
            k = bits.get(min(j, n.width - 1))
            if k is not None:
                keys.add(k)
    return len(keys)


_MAX = re.compile(r"^\s*\((\{\d\}) > (\{\d\})\) \? \1 : \2\s*;?\s*$")
_MF_SH = re.compile(r"^wire \[(\d+):0\] \{out\}_mfsh = ")
_MF_MAG = re.compile(r"^wire \[(\d+):0\] \{out\}_mfmag = ")
_MF_ONE = re.compile(r"\{1'b1, \{0\}\[(\d+):0\]\}")


def _code_sign_zero(nodes, name: str, keys: dict) -> bool:
    """True when the sign bit of the float code ``rtl.layer`` registers for output value ``name`` is
    constant 0: a ReLU of a decoded value, or a value decoded from a code node whose sign bit
    (``bitflow.resolve`` ``keys``) is constant 0 (e.g. a maxpool of such values re-encoded)."""
    n = nodes[name]
    if n.const:
        return False
    if const_top(n):
        return True
    sign = _MF_SIGN.search(" ".join(n.body))
    if not sign or len(n.operands) != 1 or nodes[n.operands[0]].const:
        return False
    code = keys[n.operands[0]]
    s = int(sign.group(1))
    return s < len(code) and code[s] == ("c", 0)


def _code_keys(nodes, name: str, out_width: int, keys: dict) -> set:
    """Non-constant nets of the ``out_width``-bit float code ``rtl.layer`` registers for output value
    ``name``: a value decoded from a code node (``{0}[s] ? -pos : pos``) registers that node's bits; a
    ReLU of such a value registers the code with its sign bit 0 (``c[s] ? 0 : c``: the other bits are new
    nets unless the sign is constant); anything else counts every code bit."""
    n = nodes[name]
    relu = const_top(n) and len(n.operands) == 1
    dec = nodes[n.operands[0]] if relu else n
    sign = _MF_SIGN.search(" ".join(dec.body))
    if not sign or len(dec.operands) != 1 or nodes[dec.operands[0]].const:
        return {(name, i) for i in range(out_width)}
    code = keys[dec.operands[0]][:out_width]
    s = int(sign.group(1))
    out = set()
    for i, k in enumerate(code):
        if k[0] == "c" or (relu and i >= s):
            continue
        out.add(k if not relu or (s < len(code) and code[s][0] == "c") else ("relu", name, i))
    return out


_MF_SIGN = re.compile(r"\{out\}_mfv = \{0\}\[(\d+)\] \?")


def decode_bits(node) -> int:
    """Size of a minifloat input decoder (an input node whose body turns a float code into a signed
    integer, ``rtl.minifloat``: ``(1.m) << (e - 1)`` or the subnormal ``m``, then ``sign ? -v : v``), in
    bits: the entries of its shift matrix (for every shift 0 .. 2**sh - 2 the significand bits that land
    inside the W-bit magnitude) plus the bits of the signed value (negation and sign select); 0 for any
    other node. yosys ``synth_xilinx`` builds it in about 0.75 LUT6 per such bit (9 formats e2m1 .. e5m2
    synthesised alone, 0.66 to 0.94); a layer reading float activations has one per input element.
    A code of at most 4 bits (e2m1) counts 0: every decoded bit is then a function of <= 4 code bits,
    which ABC folds into the LUTs of the adders reading it (e2m1 MLP fc2 / fc3 synthesised alone: +1.3 %
    / +0.2 % LUT against the model without decoders, +7.8 % / +15 % with them)."""
    sh = w = m = 0
    sign = _MF_SIGN.search(" ".join(node.body))
    if sign is None or int(sign.group(1)) + 1 <= 4:
        return 0
    for line in node.body:
        a, b, c = _MF_SH.match(line), _MF_MAG.match(line), _MF_ONE.search(line)
        if a:
            sh = int(a.group(1)) + 1
        if b:
            w = int(b.group(1)) + 1
        if c and "_mfone" in line:
            m = int(c.group(1)) + 2
    if not (sh and w and m):
        return 0
    return sum(max(0, min(m, w - s)) for s in range(2**sh - 1)) + node.width


def low_zero_bits(nodes, low_inputs: int) -> dict[str, int]:
    """{node: number of low bits that are structurally 0} when every input holds ``low_inputs`` such bits
    (a previous layer's output whose format keeps a constant 0 below its value, e.g. a ReLU into a format
    with one more fraction bit: ``{x, 1'b0}``); yosys sees them across the layer boundary of a whole
    design and every adder reading only such values is that many bits narrower. Inputs carry them; sums
    of two non-constant operands (``min``), maxpool selects (``min``) and ReLU selects keep them; every
    other node (constants, casts, saturation) counts 0. Empty when ``low_inputs`` is 0."""
    if low_inputs <= 0:
        return {}
    tz: dict[str, int] = {}
    for n in nodes.values():
        ops = [o for o in n.operands if not nodes[o].const]
        body = " ".join(n.body)
        if n.const:
            continue
        if n.level == 0:
            if _INPUT_NAME.fullmatch(n.name) or (len(n.operands) == 1 and n.operands[0] in tz):
                tz[n.name] = low_inputs if _INPUT_NAME.fullmatch(n.name) else tz[n.operands[0]]
            continue
        if not ops or len(ops) != len(n.operands):
            continue
        t = min(tz.get(o, 0) for o in ops)
        rhs = body.split("=", 1)[1].split("//", 1)[0] if "=" in body else body
        if t and (_RELU.match(body) or (len(n.body) == 1 and _MAX.search(rhs)) or _add_only(n)):
            tz[n.name] = t
    return tz


def _add_only(n) -> bool:
    """True when every body line of ``n`` is an addition/subtraction of its operands or a pass-through
    concatenation (no constant, cast or select)."""
    return all(_add_line(line) or _PASS.search(line) or "_ah = " in line for line in n.body) and any(
        _add_line(line) for line in n.body
    )


def _out_low_zero(node, tz: dict) -> int:
    """Low bits of an output value that are structurally 0: a constant 0 appended below it (``{x, k'b0}``)
    plus those of its operand when it is a plain shift, or ``tz`` of the node."""
    k, val = constant_low_bits(node)
    if k and val == 0:
        return k
    return tz.get(node.name, 0)


def zero_sign_nodes(nodes, const_inputs: dict | None = None) -> set[str]:
    """Names of the datapath nodes whose sign bit is structurally 0 in the netlist yosys optimises (not
    merely >= 0 by the range analysis): an unsigned input (zero-extended, ``const_top``), an input whose
    sign bit the previous layer's ReLU makes 0 (``const_inputs``: {input node: lowest zero bit}), a
    non-negative constant, and a sum (no subtraction, no negation) of such nodes, with a constant >= 0
    or not. yosys's ``wreduce`` strips the zero top bits of an unsigned ``$add``'s operands and the
    constant carry-out bit of its result, so each such sum is one bit narrower than its declared wire
    (a range >= 0 reached through a subtraction, e.g. ``(x << 3) - x``, is not structurally visible and
    does not count). Checked on yosys 0.23 (``tests/cost/test_narrow_inputs.py``; ``calibrate.NARROW_SHAPES``)."""
    const_inputs = const_inputs or {}
    zero: set[str] = set()
    for n in nodes.values():  # nodes are in definition order: operands first
        if n.const:
            if n.lo >= 0:
                zero.add(n.name)
        elif n.level == 0:
            if const_top(n) or const_inputs.get(n.name, n.width) <= n.width - 1:
                zero.add(n.name)
        elif n.lo >= 0 and n.operands and all(o in zero for o in n.operands):
            adds = [line for line in n.body if _add_line(line)]
            if adds and not any(_is_sub(line) for line in adds):
                zero.add(n.name)
            elif len(n.body) == 1 and _MAX.search(n.body[0].split("=", 1)[1].split("//", 1)[0]):
                zero.add(n.name)  # the max of values whose sign bit is 0 (a maxpool after a ReLU)
    return zero


_LOW_CONST = re.compile(r"^assign \{out\} = \$signed\(\{.*, (\d+)'([bh])([0-9a-f]+)\}\);")
_UP = re.compile(r"^wire \{out\}_up = (.*?);")
_ATOM = re.compile(r"\(\|\{0\}\[(\d+):(\d+)\]\)|\{0\}\[(\d+)\]|1'b([01])")


def constant_low_bits(node) -> tuple[int, int]:
    """(k, value): the node's k low bits are the constant ``value`` (a bias's own low bits appended below
    the sum, ``{hi, k'hC}``, or a left shift's zero bits); (0, 0) when none are."""
    for line in node.body:
        m = _LOW_CONST.match(line.split("//", 1)[0].strip())
        if m:
            return int(m.group(1)), int(m.group(3), 16 if m.group(2) == "h" else 2)
    return 0, 0


def _round_up_is_zero(n, nodes) -> bool:
    """True when a cast's rounding increment (``{out}_up``, a function of the dropped bits of its operand)
    is 0 for every value: every bit it reads is one of the operand's constant low bits
    (``constant_low_bits``) and the expression is 0 with them. Then yosys removes the rounding adder
    (e.g. a trained layer whose products are multiples of 2**k below the bias's own bits)."""
    m = next((m for m in map(_UP.match, n.body) if m), None)
    if m is None or not n.operands:
        return False
    k, val = constant_low_bits(nodes[n.operands[0]])
    expr = m.group(1)
    ok = True

    def bit(i: int) -> str:
        nonlocal ok
        if i >= k:
            ok = False
            return "0"
        return str((val >> i) & 1)

    def repl(a: re.Match) -> str:
        if a.group(4) is not None:
            return a.group(4)
        if a.group(3) is not None:
            return bit(int(a.group(3)))
        hi, lo = int(a.group(1)), int(a.group(2))
        return "(" + " | ".join(bit(i) for i in range(lo, hi + 1)) + ")"

    py = _ATOM.sub(repl, expr).replace("!", "1 ^ ")
    if not ok or not re.fullmatch(r"[01&|^() ]+", py):
        return False
    return eval(py) == 0  # noqa: S307 - only 0/1 digits and bit operators (checked above)


def _is_sub(line: str) -> bool:
    """True when an adder body line subtracts or negates."""
    rhs = line.split("=", 1)[1].split("//", 1)[0] if "=" in line else line
    return " - " in rhs or rhs.lstrip().startswith("-")


@functools.lru_cache(maxsize=1 << 16)
def _whole(line: str, token: str) -> bool:
    """True when ``token`` occurs in ``line`` as one whole operand: on its own or as ``$unsigned(token)``,
    not part-selected (``token[..]``) nor inside a concatenation (sign extension, shift)."""
    for m in re.finditer(re.escape(token), line):
        before = line[: m.start()].rstrip()
        after = line[m.end() :].lstrip()
        if not (before.endswith((",", "{")) or after.startswith(("[", ",", "}"))):
            return True
    return False


@functools.lru_cache(maxsize=1 << 16)
def _add_line(line: str) -> bool:
    """True when a body line is one addition, subtraction or negation (a yosys ``$add``/``$sub``/``$neg``)."""
    rhs = line.split("=", 1)[1].split("//", 1)[0] if "=" in line else line
    if "?" in rhs or _CMP.search(rhs):
        return False
    return " + " in rhs or " - " in rhs or rhs.lstrip().startswith("-")


_AH = re.compile(r"\{out\}_ah = \$signed\(\{0\}\[(\d+):(\d+)\]\);")


def macc_merges(nodes, outs, levels: int, pipeline: int) -> list[tuple[str, str, int]]:
    """The adders yosys's ``alumacc`` merges into their reader's multi-operand ``$macc`` cell, as
    (producer node, consumer node, width in bits). alumacc merges an ``$add``/``$sub``/``$neg`` into the
    adder that reads it when its result has exactly one reader, that reader takes the whole result as one
    operand, and both are equally wide (a narrower result merges only when its sum cannot overflow, which
    the emitter's unsigned sums of sign-extended operands always can: they never merge).

    In the emitter's terms, the producer is a node whose value is one adder's result (``assign {out} =
    a +- b``: a two-operand adder or a constant add) or whose high part is (an adder passing its low bits
    through: ``{out}_hi``); the consumer is an adder line reading that result whole: the node itself
    (``{k}`` or ``$unsigned({k})``, not sign-extended), or a pass-through producer's high part through the
    consumer's ``{out}_ah = {0}[h:d]`` when d is the producer's pass-through width. Both lines equally wide,
    no other reader of those bits, no register between them (same pipeline stage), the producer not a
    layer output. Merged adders are built by ``maccmap`` as carry-save rows of full adders instead of their
    own carry chain. Checked against yosys 0.23's ``$macc`` cells on the 84 calibration designs."""
    stages = [b for b in range(1, levels + 1) if b == levels or (pipeline > 0 and b % pipeline == 0)]

    def stage(level: int) -> int:
        return next((k for k, b in enumerate(stages) if level <= b), len(stages))

    whole_y: dict[str, int] = {}  # producer whose node value is its adder's result: {name: width}
    hi_y: dict[str, tuple[int, int]] = {}  # pass-through producer: {name: (pass width, adder width)}
    for n in nodes.values():
        if n.const or n.level == 0:
            continue
        if len(n.body) == 1 and n.body[0].startswith("assign {out} = ") and _add_line(n.body[0]):
            whole_y[n.name] = n.width
        d = _pass_width(n)
        if d and any(line.startswith("wire") and "{out}_hi = " in line and _add_line(line) for line in n.body):
            hi_y[n.name] = (d, n.width - d)
    readers: dict[str, set[str]] = {}
    for n in nodes.values():
        for o in n.operands:
            readers.setdefault(o, set()).add(n.name)
    out_names = {v.node for v in outs}

    def lines_reading(c, name: str) -> list[str]:
        refs = ["{" + str(k) + "}" for k, o in enumerate(c.operands) if o == name]
        return [line for line in c.body if any(r in line for r in refs)]

    merges = []
    for c in nodes.values():
        if c.const or c.level == 0:
            continue
        ah = next((m for m in map(_AH.search, c.body) if m), None)
        for line in c.body:
            if not _add_line(line):
                continue
            w = _line_width(line, c.width)
            cands = []
            for k, o in enumerate(c.operands):
                ref = "{" + str(k) + "}"
                if whole_y.get(o) == w and _whole(line, ref) and lines_reading(c, o) == [line]:
                    cands.append(o)
            if ah and c.operands and _whole(line, "{out}_ah"):
                o = c.operands[0]
                d, wy = hi_y.get(o, (0, 0))
                if d and wy == w and int(ah.group(2)) == d and int(ah.group(1)) == nodes[o].width - 1:
                    cands.append(o)
            for o in cands:
                if o in out_names or readers.get(o) != {c.name} or stage(nodes[o].level) != stage(c.level):
                    continue
                merges.append((o, c.name, w))
    return merges


def _needed_operand_bits(n, nodes, needed: set[int]) -> list[set[int]]:
    """Bits of each operand that node ``n`` needs to produce its ``needed`` output bits (backward
    liveness, as yosys's optimisation sees it): a pass-through adder's low bits need only the operand bits
    they copy; a constant addition whose constant has ``tz`` trailing zero bits needs no operand bit below
    ``min(tz, lowest needed bit)`` (no carry can come from there); other lines need every bit they read."""
    widths = [nodes[o].width for o in n.operands]
    used: list[set[int]] = [set() for _ in widths]
    if not needed:
        return used
    lo = min(needed)
    for line in n.body:
        m = _PASS.search(line)
        if m:
            d = int(m.group(1)) + 1
            used[0].update(i for i in needed if i < d)
            continue
        if "_hi = " in line or "_ah = " in line:
            if max(needed) < _pass_width(n):
                continue  # only the copied low bits are needed: the adder above them is not
        m = _CADD.search(line)
        if m and n.operands:
            c = int(m.group(1), 16)
            tz = n.width if c == 0 else (c & -c).bit_length() - 1
            tmp = [set() for _ in widths]
            _used_bits(line, widths, tmp)
            used[0].update(i for i in tmp[0] if i >= min(tz, lo))
            continue
        _used_bits(line, widths, used)
    return used


def _pass_width(n) -> int:
    """Number of low bits a pass-through adder copies from its first operand (0: not such a node)."""
    for line in n.body:
        m = _PASS.search(line)
        if m:
            return int(m.group(1)) + 1
    return 0


def _registers(
    nodes,
    outs,
    out_width: int,
    levels: int,
    pipeline: int,
    const_inputs: dict,
    detail: list | None = None,
    low_inputs: dict | None = None,
    keys_out: dict | None = None,
) -> tuple[int, int, int]:
    """(flip-flops yosys keeps, flip-flops declared, flip-flops kept by ``synth_xilinx``) of the layer's
    register stages (``layer.print_layer``): ``bitflow.register_count`` (per stage one valid flag plus,
    per value live across it, the distinct non-constant bits a later reader needs, from a bit-level
    reading of the node bodies; the third count with constant comparisons as ``cmp2lcu`` logic)."""
    from .bitflow import register_count

    return register_count(
        nodes, outs, out_width, levels, pipeline, const_inputs, detail, low_inputs=low_inputs, keys_out=keys_out
    )


def set_datapath_features(feat: LayerFeatures, f: dict, dp, vals, out_width: int, pipeline: int, code: bool):
    """Copies ``datapath_features``' counts ``f`` (bits, flip-flops, levels) of one layer's datapath ``dp``
    into ``feat`` (adders, levels, latency in cycles at ``pipeline``) and returns (constant output bits,
    per-element constant bit or None) of its ``vals`` at ``out_width`` bits: for a float output (``code``)
    the code's sign bit (``out_width - 1``) where the value's sign is structurally 0."""
    from hwq.rtl.layer import latency

    feat.extra["out_low_zero"] = f["out_low_zero"]
    feat.extra["out_distinct_bits"] = f["out_distinct_bits"]
    const_out = _constant_output_bits(dp, vals, out_width)
    const_el = _constant_elements(dp, vals, out_width)
    if code and _cross_layer_constants():
        const_el = [out_width - 1 if z else None for z in f["code_sign_zero"]]
        const_out = sum(b is not None for b in const_el)
    feat.adders = dp.adders
    feat.levels = f["levels"]
    feat.latency = latency(f["levels"], pipeline)
    keys = ("add_bits", "ext_bits", "sub_bits", "macc_bits", "macc_merges", "const_bits", "carry4", "mux_bits")
    keys += ("dec_bits", "max_bits", "sub_reg_bits", "cmp_bits", "sat_raw_bits", "ff", "ff_lcu", "ff_declared")
    for key in keys:
        setattr(feat, key, f[key])
    return const_out, const_el


def _constant_output_bits(dp, vals, out_width: int) -> int:
    """Bits of a layer's output elements that are structurally 0 (the sign bits of ReLU results and their
    sign extension): the next skid buffer keeps no flip-flops for them."""
    n = 0
    for v in vals:
        node = dp.nodes[v.node]
        if const_top(node) and node.width <= out_width:
            n += out_width - node.width + 1
    return n


def _constant_elements(dp, vals, out_width: int) -> list:
    """Per output value: the lowest output bit that is structurally 0 (ReLU sign bit), or None."""
    out = []
    for v in vals:
        node = dp.nodes[v.node]
        out.append(node.width - 1 if const_top(node) and node.width <= out_width else None)
    return out


def _per_channel(const_el: list, fr, per_pixel: bool) -> dict:
    """{channel: lowest constant bit} when every element of the channel has the same one. ``per_pixel``:
    ``const_el`` holds one pixel's channels (a streamed layer's values); else row-major (C, H, W)."""
    if per_pixel:
        return {c: b for c, b in enumerate(const_el) if b is not None}
    out = {}
    for c in range(fr.channels):
        bits = set(const_el[c * fr.beats : (c + 1) * fr.beats])
        if len(bits) == 1 and None not in bits:
            out[c] = bits.pop()
    return out


def _bits_for(v: int) -> int:
    """``hwq_window``/frame primitives' ``bits_for``: bits needed to hold ``v`` (at least 1)."""
    return max(1, int(v).bit_length())


def _static_low_bits(step: int, width: int) -> int:
    """Low bits of a ``width``-bit counter that ``+ step`` (``step`` truncated to ``width`` bits, as the
    primitives' localparams do) never changes: the truncated step's trailing zeros (all bits when it is 0)."""
    step %= 1 << width
    return width if step == 0 else (step & -step).bit_length() - 1


def static_counter_bits(win, primitive: str) -> tuple[int, int]:
    """Flip-flops yosys saves on the position counters of a masked-padding line buffer
    (``hwq_window_pad`` / ``hwq_window_hold``, ``rtl.stream.Window`` ``win``) whose steps leave low bits
    constant: (synth_xilinx, synth_ice40), counted against the declared ``ry`` / ``cx`` / ``e`` widths.

    A counter bit below the lowest 1 of every step added to it (``ry += SH``, ``cx += SW``, ``e += SW`` or
    ``E_ROW = SH*IN_W - (WO-1)*SW``) only ever holds its reload value (0 for ``ry`` / ``cx``, the bit of
    ``E_FIRST`` (+ ``BIAS`` in ``_hold``) for ``e``): the adder's low bit is a wire to the flop's own output.
    ``synth_xilinx`` keeps such a flop (its D input keeps undefined branches until after ``opt_dff``) but
    ``opt_merge`` merges equal ones: per register, one flop per reload value; where ``ry`` and ``e`` take
    their step in the same branch and reload in the same one (``hwq_window_hold``; ``hwq_window_pad`` with a
    single output column), also ``ry``'s zeros with ``e``'s. ``synth_ice40`` removes them all. Neither flow
    touches ``hwq_window_hold``'s ``cx`` (reloaded at the row end in the emission branch, not only at the
    frame end): every declared bit stays.
    ``hwq_window`` (walks the padded frame): the emitting row / column ``ty += SH`` / ``tx += SW``, reloaded
    with ``EXT_H - 1`` / ``EXT_W - 1``; ``synth_xilinx`` merges per register, ``synth_ice40`` removes them.
    Measured with yosys 0.23 on the primitives alone and in streamed layers (strides 1 to 6)."""
    if primitive == "hwq_window":
        cw = _bits_for(max(win.in_h + win.pad_t + win.pad_b, win.in_w + win.pad_l + win.pad_r))
        sy, sx = _static_low_bits(win.sh, cw), _static_low_bits(win.sw, cw)
        first_y, first_x = (win.kh - 1) * win.dh, (win.kw - 1) * win.dw
        kept = len({(first_y >> i) & 1 for i in range(sy)}) + len({(first_x >> i) & 1 for i in range(sx)})
        return sy + sx - kept, sy + sx
    frame = win.in_h * win.in_w
    e = win.emissions()
    hold = primitive == "hwq_window_hold"
    bias = max(-e[0], 0) if hold else 0
    pw = _bits_for(max(e[-1], frame - 1) + bias + 1)
    rw = _bits_for((win.out_h - 1) * win.sh)
    xw = _bits_for((win.out_w - 1) * win.sw)
    e_row = max(win.sh * win.in_w - (win.out_w - 1) * win.sw, 0)
    sy, sx = _static_low_bits(win.sh, rw), _static_low_bits(win.sw, xw)
    # a step truncated to 0 (one output row / column): the adder folds away early, the register is constant
    # and removed whole (both flows); its compare with the last row / column is then constant true
    sx_gone = sx == xw
    gone = (rw if sy == rw else 0) + (xw if sx_gone else 0)
    steps = [] if sx == xw else [win.sw]  # e += SW only while cx is not the last column
    if not (sy == rw and not hold):  # hwq_window_pad: e += E_ROW only while ry is not the last row
        steps.append(e_row)
    steps = steps or [win.sw, e_row]  # a single output pixel (measured: both adders stay)
    se = min((_static_low_bits(st, pw) for st in steps), default=0)
    e_vals = {((e[0] + bias) >> i) & 1 for i in range(se)}
    sy, sx = (0 if sy == rw else sy), (0 if sx == xw else sx)
    if hold:  # cx is reloaded at the row end in the emission branch: its constant bits stay (both flows)
        sx = 0
    # ry and e step in one branch (hwq_window_hold; hwq_window_pad once cx is gone): their zeros are one flop
    one_branch = hold or sx_gone
    kept = (sy > 0) + (sx > 0) + len(e_vals) - (one_branch and sy > 0 and 0 in e_vals)
    return gone + sy + sx + se - kept, gone + sy + sx + se


def pad_flag_bits(win) -> int:
    """Pad-flag flip-flops of a masked-padding line buffer's output register (``m_axis_tpad``, read by a
    padded maxpool): one per distinct flag function. Tap ``(a, b)``'s flag is ``!(row_in[a] && col_in[b])``,
    where ``row_in[a]`` is constant 1 (the row is never padding) or the comparisons the primitive's
    generate block picks (``ry >= LO``, ``ry < HI``; the same for ``col_in[b]`` on ``cx``): taps with equal
    (row, column) comparisons (e.g. every tap of a kernel row whose columns are never padding) share one
    flop (``opt_merge``); a tap never padding has none."""

    def test(k: int, pad: int, size: int, d: int, last: int):
        lo, hi = pad - k * d, pad + size - k * d
        lo_t = "never" if lo > last else (lo if lo > 0 else None)
        hi_t = "never" if hi <= 0 else (None if hi > last else hi)
        return None if lo_t is None and hi_t is None else (lo_t, hi_t)

    rows = [test(a, win.pad_t, win.in_h, win.dh, (win.out_h - 1) * win.sh) for a in range(win.kh)]
    cols = [test(b, win.pad_l, win.in_w, win.dw, (win.out_w - 1) * win.sw) for b in range(win.kw)]
    flags = {(r, c) for r in rows for c in cols if (r, c) != (None, None)}
    # a tap always padding (a comparison never true) has a constant flag: no flop
    return sum("never" not in (r or ()) + (c or ()) for r, c in flags)


def hold_window_bits(win, channels: int, width: int, flags: bool, read=None) -> tuple[int, int, int]:
    """Flip-flops of an ``hwq_window_hold`` line buffer (``rtl/primitives/hwq_window_hold.v``) of window
    ``win`` (``rtl.stream.Window``) over pixels of ``channels`` x ``width`` bits: (shift register, output
    register, counters), in bits, as the primitive declares them and yosys keeps them in a streamed layer.

    ``read``: the (tap ``a*KW + b``, channel) pairs the datapath reads (None: all); yosys removes the output
    register bits of the others and, per channel, the shift register beyond its oldest read tap.
    Shift register: ``DEPTH = (KH-1)*DH*IN_W + (KW-1)*DW`` real pixels (no pad flags stored). Output
    register: every read tap's pixel bits, ``m_axis_tvalid`` and, when the datapath reads them (a padded
    maxpool, ``flags``), the distinct pad flags of the taps that can be padding (``pad_flag_bits``).
    Counters: the walk position ``p`` and next emission position ``e`` (``PW = bits_for(P_END + BIAS + 1)``
    bits each), the count ``q`` of the next frame's pixels taken during the tail (``PW`` bits, only when the
    frame has tail steps, ``TAIL > 0``: else nothing reads it), the done flag and the output row / column
    counters (``bits_for((HO-1)*SH)``, ``bits_for((WO-1)*SW)``), less the equal constant low bits
    ``synth_xilinx`` merges (``static_counter_bits``; ``synth_ice40`` removes more of them: ``layer_ff``)."""
    frame = win.in_h * win.in_w
    e = win.emissions()
    bias = max(-e[0], 0)
    p_end = max(e[-1], frame - 1)
    tail = p_end - (frame - 1)
    pw_count = _bits_for(p_end + bias + 1)
    shift, taps = masked_window_regs(win, channels, width, read)
    taps += (pad_flag_bits(win) if flags else 0) + 1
    rw = _bits_for((win.out_h - 1) * win.sh)
    xw = _bits_for((win.out_w - 1) * win.sw)
    counters = (3 if tail > 0 else 2) * pw_count + 1 + rw + xw - static_counter_bits(win, "hwq_window_hold")[0]
    return shift, taps, counters


def masked_window_regs(win, channels: int, width: int, read=None, row: int | None = None) -> tuple[int, int]:
    """(shift-register data bits, output-register data bits) of a line buffer whose datapath reads the
    (tap, channel) pairs ``read`` (None: all): per channel, the shift register up to its oldest read tap
    (tap ``(a, b)`` is ``(KH-1-a)*DH*row + (KW-1-b)*DW`` pixels back; yosys removes the unread rest) and a
    read tap's bits. ``row``: pixels per shift-register row, IN_W (default: ``hwq_window_pad`` /
    ``hwq_window_hold``, real pixels only) or IN_W + PAD_L + PAD_R (``hwq_window``, which walks the padding)."""
    pairs = [(t, c) for t in range(win.taps) for c in range(channels)]
    read = pairs if read is None else [tc for tc in pairs if tc in read]

    row = win.in_w if row is None else row

    def offset(t: int) -> int:
        return (win.kh - 1 - t // win.kw) * win.dh * row + (win.kw - 1 - t % win.kw) * win.dw

    shift = sum(max((offset(t) for t, c2 in read if c2 == c), default=0) for c in range(channels))
    return shift * width, len(read) * width


def read_window_inputs(dp, outs, taps: int) -> set[tuple[int, int]]:
    """(tap, channel) pairs of a streamed layer's window that its datapath ``dp`` reads on the way to the
    output values ``outs`` (input node ``x{i}``, ``i = channel*taps + tap``; ``rtl.stream.build_stream_layer``)."""
    live, todo = set(), [v.node for v in outs]
    while todo:
        nm = todo.pop()
        if nm in live or nm not in dp.nodes:
            continue
        live.add(nm)
        todo.extend(dp.nodes[nm].operands)
    return {(int(nm[1:]) % taps, int(nm[1:]) // taps) for nm in live if _INPUT_NAME.fullmatch(nm)}


def emitter_default_adders() -> str:
    """The Verilog emitter's default adder-graph style (``hwq.rtl.emit``'s ``adders`` default)."""
    import inspect

    from hwq.rtl.emit import emit

    return inspect.signature(emit).parameters["adders"].default


#: per-layer results of ``plan_chain`` (key: ``_layer_key``), least recently used dropped beyond ``CACHE_SIZE``
_LAYER_CACHE: OrderedDict = OrderedDict()
CACHE_SIZE = 4096
_CACHE_STATS = {"hits": 0, "misses": 0, "disk_hits": 0}
_SOURCE_HASH: list[str] = []


def clear_cache() -> None:
    """Forget every in-memory layer result of ``plan_chain`` (the next estimate of each layer is cold again,
    unless ``$HWQ_COST_LAYER_CACHE`` holds it)."""
    _LAYER_CACHE.clear()
    _CACHE_STATS.update(hits=0, misses=0, disk_hits=0)


def cache_info() -> dict:
    """``{"hits", "misses", "disk_hits", "size"}`` of ``plan_chain``'s per-layer cache since ``clear_cache``
    (``hits`` includes the layers read from the folder cache, ``disk_hits`` those alone)."""
    return dict(_CACHE_STATS, size=len(_LAYER_CACHE))


def _disk_dir():
    """The folder cache (``$HWQ_COST_LAYER_CACHE``) with a subfolder per emitter source hash, or None."""
    import hashlib
    import os
    from pathlib import Path

    root = os.environ.get("HWQ_COST_LAYER_CACHE")
    if not root:
        return None
    if not _SOURCE_HASH:
        import hwq.rtl

        h = hashlib.sha256()
        for f in sorted(Path(hwq.rtl.__file__).parent.glob("*.py")) + [Path(__file__)]:
            h.update(f.name.encode() + f.read_bytes())
        _SOURCE_HASH.append(h.hexdigest()[:16])
    d = Path(root) / _SOURCE_HASH[0]
    d.mkdir(parents=True, exist_ok=True)
    return d


def _disk_get(folder, key: bytes):
    """A layer result from the folder cache, or None (missing or unreadable)."""
    import json

    path = folder / f"{key.hex()}.json"
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    feat = LayerFeatures(**r["features"])
    return feat, tuple(tuple(x) for x in r["ranges"]), r["const_out"], tuple(r["const_el"])


def _disk_put(folder, key: bytes, value) -> None:
    """Store a layer result in the folder cache (atomic write; silently skipped when not JSON-able)."""
    import json

    from hwq.io import atomic_write

    feat, ranges, const_out, const_el = value
    try:
        text = json.dumps(
            {
                "features": dict(feat.__dict__),
                "ranges": [list(r) for r in ranges],
                "const_out": const_out,
                "const_el": list(const_el),
            }
        )
    except (TypeError, ValueError):
        return
    atomic_write(folder / f"{key.hex()}.json", text)


def _feed(h, value) -> None:
    """Add one op attribute to the hash ``h`` (arrays by dtype, shape and bytes; formats by their text)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype == object:
            h.update(f"O{value.shape}{value.tolist()!r}".encode())
        else:
            h.update(f"{value.dtype.str}{value.shape}".encode())
            h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(f"{type(value).__name__}:{value!s}".encode())
    h.update(b"\x00")


def _layer_key(graph: Graph, layers: list, k: int, ranges, prev_const, const_in: int, options: tuple) -> bytes:
    """Hash of everything one layer's features depend on: its ops' kinds and parameters (weights, bias,
    formats, geometry; not their names), the shapes and formats of the tensors they read and write, the
    layer's and the previous layer's style, the input value ranges proven upstream, the previous layer's
    structurally-zero output bits, and the emitter options (pipeline, io, adders)."""
    import dataclasses
    import hashlib

    lay = layers[k]
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{lay.style}|{layers[k - 1].style if k else '-'}|{options!r}|{const_in}".encode())
    for op in lay.ops:
        h.update(op.kind.encode())
        for f in dataclasses.fields(op):
            if f.name in ("name", "inputs", "output"):
                continue
            _feed(h, getattr(op, f.name))
        for t in [*op.inputs, op.output]:
            ten = graph.tensor(t)
            h.update(f"{t == lay.input}{ten.shape}{ten.fmt}".encode())
    h.update(repr(ranges).encode())
    h.update(repr(prev_const).encode())
    return h.digest()


def check_plan_options(graph: Graph, pipeline: int, io: str) -> None:
    """Raises ``hwq.rtl.RtlError`` naming the option, op or format when ``hwq.rtl.emit`` would refuse
    ``graph`` with ``pipeline`` (register stages, int >= 0) and ``io`` (an ``rtl.plan.IO_MODES`` name)."""
    from hwq.rtl.datapath import RtlError
    from hwq.rtl.plan import IO_MODES, check_graph

    if not isinstance(pipeline, int) or pipeline < 0:
        raise RtlError(f"rtl cost: pipeline must be an integer >= 0, got {pipeline!r}")
    if io not in IO_MODES:
        raise RtlError(f"rtl cost: io must be one of {', '.join(IO_MODES)}, got {io!r}")
    check_graph(graph)


def plan_chain(
    graph: Graph, *, pipeline: int = 1, io: str = "stream", adders: str | None = None, cache: bool = True
) -> list[LayerFeatures]:
    """Features of every layer module ``hwq.rtl.emit(graph, ..., pipeline=, io=, adders=)`` would write
    when its plan is a chain of layer modules, computed by the emitter's own planning and datapath builders
    (nothing is printed or written); ``adders`` None: the emitter's default style. The model's entry point
    is ``rtl_plan.plan_rtl``, which sends a graph the emitter builds as a layer DAG to ``rtl_dag.plan_dag``
    instead (here such a graph is priced as if its branching region were one parallel layer).

    ``cache`` (default True): each layer's result is kept in memory keyed by a hash of what it depends
    on (``_layer_key``: weights, formats, upstream ranges, options), so re-estimating a graph in which
    only some layers changed rebuilds only those layers (the CSE of a large layer takes seconds; a cached
    layer costs a hash of its weights). ``clear_cache()`` empties it. With ``$HWQ_COST_LAYER_CACHE`` set
    to a folder, results are also kept there as JSON (keyed with a hash of the emitter's and this
    module's source, so an edited emitter never returns a stale layer), shared across processes.
    Raises ``hwq.rtl.RtlError`` naming the op/format when the graph cannot be emitted."""
    from hwq.rtl.plan import plan_layers

    check_plan_options(graph, pipeline, io)
    adders = adders or emitter_default_adders()
    layers = plan_layers(graph, io)
    in_t = graph.tensor(graph.inputs[0])
    ranges = [(in_t.fmt.raw_min, in_t.fmt.raw_max)] * in_t.size
    out: list[LayerFeatures] = []
    const_out = 0
    prev_const: list = []
    options = (pipeline, io, adders)
    low_in = 0
    dist_in = None
    disk = _disk_dir() if cache else None
    for k, lay in enumerate(layers):
        opts = options + (low_in, dist_in)
        key = _layer_key(graph, layers, k, ranges, prev_const, const_out, opts) if cache else None
        hit = _LAYER_CACHE.get(key) if cache else None
        if hit is None and cache and disk:
            hit = _disk_get(disk, key)
            if hit is not None:
                _LAYER_CACHE[key] = hit
                _CACHE_STATS["disk_hits"] += 1
        if hit is not None:
            _LAYER_CACHE.move_to_end(key)
            _CACHE_STATS["hits"] += 1
            feat0, ranges, const_out, const_el = hit
            ranges = list(ranges)
        else:
            _CACHE_STATS["misses"] += bool(cache)
            feat0, ranges, const_out, const_el = _layer_features(
                graph, layers, k, ranges, prev_const, const_out, pipeline, adders, low_in, dist_in
            )
            if cache:
                _LAYER_CACHE[key] = (feat0, tuple(ranges), const_out, tuple(const_el))
                if disk:
                    _disk_put(disk, key, _LAYER_CACHE[key])
            while len(_LAYER_CACHE) > CACHE_SIZE:
                _LAYER_CACHE.popitem(last=False)
        feat = replace(feat0, name=lay.name, kinds=list(feat0.kinds), extra=dict(feat0.extra))
        out.append(feat)
        prev_const = list(const_el)
        low_in = int(feat0.extra.get("out_low_zero", 0))
        dist_in = feat0.extra.get("out_distinct_bits") if _cross_layer_constants() else None
    if layers[-1].style == "stream":  # rtl.top.print_tlast: a beat counter when a frame has several beats
        from hwq.rtl.stream import frame_of

        beats = frame_of(graph.tensor(layers[-1].output).shape).beats
        out[-1].tlast_bits = (beats - 1).bit_length() if beats > 1 else 0
    if io == "stream" and _emitted_as_dag(graph):  # top_timing: the emitted top is not this chain
        out[0].extra["emitted_dag"] = True
    return out


def _emitted_as_dag(graph: Graph) -> bool:
    """True when ``emit`` (``plan_layers(..., branches=True)``) builds a layer DAG (forks, FIFOs and pixel
    joins, ``rtl/branch.py``): ``rtl_plan.plan_rtl`` then prices it with ``rtl_dag.plan_dag`` (the chain planner
    would price the branching region as one parallel layer; ``fast_plan.plan_fast`` too sends it to
    ``plan_dag(fast=True)``)."""
    from hwq.rtl.branch import is_dag
    from hwq.rtl.datapath import RtlError
    from hwq.rtl.plan import plan_layers

    reads = [n for op in graph.ops for n in op.inputs]
    if len(reads) == len(set(reads)):  # no tensor read twice, no op reading one tensor twice: a chain
        return False
    try:
        return is_dag(plan_layers(graph, "stream", branches=True))
    except RtlError:
        return False


def _layer_features(
    graph: Graph,
    layers: list,
    k: int,
    ranges,
    prev_const: list,
    const_in: int,
    pipeline: int,
    adders: str,
    low_in: int = 0,
    dist_in: int | None = None,
) -> tuple:
    """One layer of ``plan_chain``: (LayerFeatures, output value ranges, structurally-zero output bits,
    per-output lowest zero bit) given the input ranges and the previous layer's zero bits; ``dist_in``:
    distinct non-constant nets among the previous layer's output bits (``output_distinct_bits``; None:
    all bits), which sets the input-side registers without a flip-flop (``input_dup_bits``)."""
    from hwq.rtl.build import build_layer
    from hwq.rtl.stream import build_stream_layer, frame_of

    lay = layers[k]
    xt, yt = graph.tensor(lay.input), graph.tensor(lay.output)
    feat = LayerFeatures(lay.name, lay.style, [op.kind for op in lay.ops])
    win_regs = 0.0  # pixels' worth of data bits the line buffer keeps (shift + window registers, read taps)
    if lay.style == "stream":
        dp, vals, ranges, win, flags = build_stream_layer(graph, lay, ranges, adders)
        ifr = frame_of(xt.shape)
        hp = win.in_h + win.pad_t + win.pad_b
        wp = win.in_w + win.pad_l + win.pad_r
        if getattr(win, "primitive", "hwq_window") == "hwq_window_pad":
            # one input pixel per cycle, padding masked: real pixels only in the shift register, a pad
            # flag per tap in the output register, walk/emission counters of PW bits, row/column counters
            depth = (win.kh - 1) * win.dh * win.in_w + (win.kw - 1) * win.dw
            e = win.emissions()
            pcount = _bits_for(max(e[-1], win.in_h * win.in_w - 1) + 1)
            read = read_window_inputs(dp, vals, win.taps)
            feat.window_bits, feat.window_taps_bits = masked_window_regs(win, ifr.channels, xt.fmt.width, read)
            # pad flags: read by a maxpool only, of the taps that can be padding (the others' are never read),
            # one per distinct flag function
            flag_bits = (pad_flag_bits(win) if flags else 0) + 1
            feat.window_taps_bits += flag_bits
            rw = _bits_for((win.out_h - 1) * win.sh)
            xw = _bits_for((win.out_w - 1) * win.sw)
            # the tail's count of the next frame's pixels (q) only with tail steps, else nothing reads it
            tail = e[-1] >= win.in_h * win.in_w
            static = static_counter_bits(win, "hwq_window_pad")  # constant low bits: merged / removed
            feat.window_counter_bits = (3 if tail else 2) * pcount + 1 + rw + xw - static[0]
            feat.window_static_bits = static[1] - static[0]
            win_regs = (feat.window_bits + feat.window_taps_bits - flag_bits) / (ifr.channels * xt.fmt.width)
            # their comparators and tail/mask control (the LUT feature as calibrated: q counted)
            feat.window_pad_bits = 3 * pcount + 1 + rw + xw
        elif win.primitive == "hwq_window_hold":
            # padding masked, several outputs of one position on consecutive cycles (hold_window_bits)
            read = read_window_inputs(dp, vals, win.taps)
            hold = hold_window_bits(win, ifr.channels, xt.fmt.width, flags, read)
            feat.window_bits, feat.window_taps_bits, feat.window_counter_bits = hold
            static = static_counter_bits(win, "hwq_window_hold")
            feat.window_static_bits = static[1] - static[0]
            # their comparators, hold and tail/mask control (the LUT feature: every declared counter bit)
            feat.window_pad_bits = feat.window_counter_bits + static[0]
            win_regs = (hold[0] + len(read) * xt.fmt.width) / (ifr.channels * xt.fmt.width)
        else:
            depth = (win.kh - 1) * win.dh * wp + (win.kw - 1) * win.dw
            flag = 1 if flags else 0
            read = read_window_inputs(dp, vals, win.taps)  # a tap of zero weights: its data bits unread
            shift, taps = masked_window_regs(win, ifr.channels, xt.fmt.width, read, row=wp)
            feat.window_bits = shift + depth * flag
            feat.window_taps_bits = taps + win.taps * flag + 1
            static = static_counter_bits(win, "hwq_window")  # constant low bits of tx / ty: merged / removed
            feat.window_counter_bits = 4 * _bits_for(max(hp, wp)) + 2 - static[0]
            feat.window_static_bits = static[1] - static[0]
            win_regs = (shift + taps) / (ifr.channels * xt.fmt.width)
        feat.extra["window"] = win.parameters()
        # the line buffer's cycles per frame without gaps or back-pressure (all three primitives: the walked
        # padded frame, IN_H*IN_W, or IN_H*IN_W plus hwq_window_hold's tail and hold cycles)
        feat.extra["cycles_per_frame"] = win.cycles_per_frame()
    else:
        slots = None
        if k > 0 and layers[k - 1].style == "stream":
            slots = [frame_of(xt.shape).slot(i) for i in range(xt.size)]
        dp, vals, ranges = build_layer(graph, lay, ranges, slots=slots, adders=adders)
    cin: dict[str, int] = {}
    if prev_const and _cross_layer_constants():  # else (a module alone) the inputs are free ports
        if lay.style == "stream":
            taps = len([nm for nm in dp.nodes if _INPUT_NAME.fullmatch(nm)]) // max(1, frame_of(xt.shape).channels)
            ch_bits = _per_channel(prev_const, frame_of(xt.shape), layers[k - 1].style == "stream")
            for nm in dp.nodes:
                if _INPUT_NAME.fullmatch(nm):
                    bit = ch_bits.get(int(nm[1:]) // max(taps, 1))
                    if bit is not None:
                        cin[nm] = bit
        elif layers[k - 1].style != "stream":
            cin = {f"x{i}": b for i, b in enumerate(prev_const) if b is not None}
        else:
            ch_bits = _per_channel(prev_const, frame_of(xt.shape), True)
            fr = frame_of(xt.shape)
            cin = {f"x{i}": ch_bits[i // fr.beats] for i in range(xt.size) if ch_bits.get(i // fr.beats) is not None}
    if cin and getattr(xt.fmt, "kind", "") == "float" and _cross_layer_constants():
        # a float code whose sign bit is constant 0 (a ReLU's): the decoded value's sign (its top bit) is 0
        cin = {nm: dp.nodes[nm].width - 1 for nm in cin}
    code = getattr(yt.fmt, "kind", "") == "float"
    f = datapath_features(dp, vals, yt.fmt.width, pipeline, cin, low_in, code_out=code)
    const_out, const_el = set_datapath_features(feat, f, dp, vals, yt.fmt.width, pipeline, code)
    if k > 0:
        before = layers[k - 1]
        if before.style != "stream" and lay.style == "stream":
            fr = frame_of(xt.shape)
            width = fr.channels * xt.fmt.width
            feat.frame_bits += fr.beats * width + 1 + _bits_for(fr.beats - 1)
        if before.style == "stream" or lay.style == "stream":
            skid = frame_of(xt.shape).channels * xt.fmt.width
        else:
            skid = xt.size * xt.fmt.width
        if lay.style == "stream" and before.style != "stream":
            const_in //= max(1, frame_of(xt.shape).beats)
        feat.skid_bits = skid
        feat.skid_const_bits = const_in
        if before.style == "stream" and lay.style != "stream":
            fr = frame_of(xt.shape)
            feat.frame_bits += fr.beats * fr.channels * xt.fmt.width + 1 + _bits_for(fr.beats - 1)
        dup = input_dup_bits(dist_in, xt.size * xt.fmt.width if before.style != "stream" else skid)
        if before.style == "stream" or lay.style != "stream":  # the skid buffer holds what the layer emits
            feat.skid_const_bits = max(const_in, dup)
        if before.style == "stream" and lay.style == "stream":
            feat.window_const_bits = round(win_regs * dup)
        elif before.style == "stream":
            feat.frame_const_bits = frame_of(xt.shape).beats * dup
        elif lay.style == "stream":
            feat.frame_const_bits = dup
    return feat, ranges, const_out, const_el


def _cross_layer_constants() -> bool:
    """True: a layer's inputs carry what the previous layer makes constant or equal (a ReLU's sign bit, a
    float code's sign after a ReLU, ``input_dup_bits``), as yosys sees them in a whole design. Patched to
    False (with ``_out_low_zero`` returning 0) to estimate a layer module synthesised alone (its inputs free
    ports), e.g. ``tests/cost/test_whole_network.py``."""
    return True


def input_dup_bits(dist_in: int | None, bits: int) -> int:
    """Of the ``bits`` data bits of one beat the previous layer emits, those a register holding them
    needs no flip-flop for: constant or a copy of another bit (``bits - dist_in``, ``output_distinct_bits``;
    0 when ``dist_in`` is None). Such registers: the skid buffer in front of a layer, a streamed layer's
    line buffer (DEPTH + taps pixels: its shift register and window register) and frame collect (BEATS
    beats) / split registers."""
    return 0 if dist_in is None else max(0, bits - int(dist_in))


def top_latency(layers: list[LayerFeatures]) -> tuple[int, bool]:
    """(cycles from a vector's first input beat to its last output beat without gaps or back-pressure,
    exact?) of the whole design, as ``emit.top_latency`` writes it to rtl.json: the layers' latencies plus
    one cycle per skid buffer for parallel layers; with streamed layers ``top_timing``'s latency (line
    buffers' fill, tails, hold cycles and stalls counted); for a layer DAG priced by ``rtl_dag.plan_dag``
    ``rtl.timing.dag_timing``'s latency (exact with the emitter's levels; the fast model's DAG latency
    follows its approximated levels). Not exact (the parallel part only) when the timing model stops."""
    try:
        timing = top_timing(layers)
    except ValueError:  # the timing model stopped on a design it does not know: the parallel part only
        timing = None
    if timing is None:
        return sum(lay.latency for lay in layers) + len(layers) - 1, False
    return timing.latency, True


def top_timing(layers: list[LayerFeatures]):
    """``hwq.rtl.timing.StreamTiming`` (clock cycles: latency, latency_max, cycles_per_frame) of the design
    the layers describe, computed as the emitter computes it (``emit.top_timing``) from each layer's
    style, ``latency`` and, when streamed, ``extra["window"]``; for a layer DAG the ``dag_timing`` figures
    ``rtl_dag.plan_dag`` stores on the first layer (latency, latency_max, cycles_per_frame). None for a DAG
    without them (``extra["emitted_dag"]``: the timing model stopped; or a style other than ``"stream"`` /
    ``"parallel"``) or a streamed layer without its window geometry."""
    from hwq.rtl.stream import Window
    from hwq.rtl.timing import ChainLayer, StreamTiming, stream_timing

    dag = layers[0].extra.get("dag_timing") if layers else None
    if dag:  # rtl_dag.plan_dag: rtl.timing.dag_timing of the emitted layer DAG
        return StreamTiming(int(dag[0]), int(dag[1]), (int(dag[0]),), dag[2])
    if any(lay.extra.get("emitted_dag") for lay in layers):
        return None
    if all(lay.style == "parallel" for lay in layers):
        lat = sum(lay.latency for lay in layers) + len(layers) - 1
        return StreamTiming(lat, lat, (lat,), 1)
    chain = []
    for lay in layers:
        win = lay.extra.get("window")
        if lay.style not in ("stream", "parallel") or (lay.style == "stream" and not win):
            return None
        geom = Window(**{k.lower(): int(v) for k, v in win.items()}) if lay.style == "stream" else None
        chain.append(ChainLayer(lay.style, lay.latency, geom))
    return stream_timing(chain)
