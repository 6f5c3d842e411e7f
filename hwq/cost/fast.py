"""Fast approximation of ``rtl_plan.plan_rtl`` (no CSE run): microseconds per layer instead of seconds.

For a search that calls the cost model thousands of times, ``fpga(..., exact=False)`` estimates each
layer's features from the weights' canonical-signed-digit counts instead of building the adder graph:

- adders ~ ``A * D**B * (M*N)**C * rho**B_RHO`` for a matrix of M live outputs x N inputs with D non-zero
  CSD digits, rho digits per non-zero weight (the sharing that ``rtl.mcm`` finds: many-digit weights
  share more per digit), at most ``K_S`` x the row-factoring count (``row_factor_adders``: each output
  sums its terms grouped by the weights' odd parts; what the CSE finds in one long row of few-digit
  weights, e.g. minifloat mantissas x 2**e, where the digit law is 30-40 % high) and at least the longest
  output's terms - 1 (a single 128-input sum of powers of two shares nothing);
- adder bits ~ adders x (``W0`` + ``W_X`` x input width + ``W_R`` x mean range bits + ``W_S`` x mean weight
  span + ``W_U`` x [input unsigned] + ``W_N`` x log2(N) + ``W_M`` x log2(M)), where the range bits of an
  output are log2 of its largest |sum| over the input format's range less its weights' common trailing
  zero bits (the emitter sums a row without its common power of two and appends those constant bits after
  the bias add: 9-13 bits for minifloat weights) and a weight's span is its bits between the lowest and
  highest set bit (the shifted operands' offset);
- sign-extension / carry-out bits ~ adders x (``K_EXT`` + ``K_EXT_U`` x [input unsigned]), about a bit per
  adder whatever its width (an input whose sign bit is structurally 0, ``rtl_model.zero_sign_nodes``, adds
  bits that only pass to the carry chain); per adder bit they were 3x too many on 20-bit minifloat sums;
- constant-add bits, counted per output: the bias add over the sum's bits (none for a zero bias), the
  output rounding's increment over the kept bits (none for TRN, or when the dropped bits are all below the
  row's common trailing zeros), times ``K_CONST`` (fitted 1.02); an element-wise requantize / ReLU that
  drops fractional bits with rounding adds its kept bits + 1 (``round_bits``);
- saturation select bits: 2 x output width per output whose sum can exceed the output format; compare
  bits ~ ``K_CMP`` x the sums' bits above the output format; limit checks on an unrounded sum (its frac
  bits equal the output's): 2 x its bits above the output format; a ReLU select as wide as its input;
- macc bits (adders yosys merges into carry-save trees) ~ adder bits x ``K_MACC`` of the pipeline depth;
  subtracting adder bits ~ adder bits x ``K_SUB``; of those, the subtracted operand's bits read straight
  from a flip-flop (``sub_reg_bits``: an input, or across a register stage) ~ adder bits x ``K_SUB_REG`` of
  the pipeline depth (0.38 with a register after every level, 0.11 with none);
- element-wise ops in a layer module: a maxpool is a comparator tree per window ((taps - 1) compare and
  select pairs as wide as its input); a variable product (``mul``, ``rtl.varmul``) a gated copy of the
  wider operand per bit of the narrower one, summed by (bits - 1) adders; a batch norm a CSD product
  per channel scale (digits - 1 adders) plus its bias add; an ``add`` one adder per element; each cast
  to its output format ~ elements x output width x ``K_MUX`` select bits;
- minifloat formats: an input at its decoded integer width (``value_width``) plus its decoder
  (``decoder_bits``); an output's cast counted on the emitter's own ``float_cast`` built once per (sum
  width, sign, shift, format) (``float_cast_bits``);
- counted, not approximated (``stream_link_bits``: they follow from the window geometry and tensor
  shapes): line-buffer shift-register, window, counter and pad-control bits of streamed layers, frame
  collect/split registers between streamed and parallel layers, the top's tlast counter, skid buffers;
- flip-flops: the output register and valid flags, plus what each pipeline register holds at its depth
  (``_stage_register_terms``): inside a matrix's adder tree the inputs it still reads and per row
  ``ceil(digits / 2**depth)`` partial sums as wide as the input + widest weight span + depth, between the tree
  and the output cast the accumulators, after it the element-wise values; priced by ``K_FF`` (fitted by
  ``fast_ff_fit.fit_fast_ff`` on the design set at pipeline 1-3 against the exact bit-level count);
- adder levels (which set the register stages, the latency and a DAG's FIFO depths) as the emitter builds
  them: a matrix's balanced adder graph is as deep as the plain tree of its row with the most CSD digits
  (``ceil(log2 digits)``), plus one level for a non-zero bias and one for a cast that is not the identity;
  a maxpool ``ceil(log2 taps)`` compare-select levels; a variable product a chain of its partial products
  (``rtl.constmul.sum_terms``); a batch norm's constant products built once per scale
  (``const_mul_levels``); minifloat casts built once (``float_cast_levels``). Equal to the exact model on
  409 of 415 layers (the design set, the DAG test designs, 6 trained networks; pipeline 1, 2 and each
  design's own); a saturating accumulator that the emitter sums in order (``rtl.ordered``) is deeper;
- a layer DAG (streamed residual Add, Concat, Mul: ``rtl_dag.plan_dag(fast=True)``): forks, skid buffers,
  FIFOs, line buffers, frame registers and the ``dag_timing`` latency counted as in the exact model, the
  join / pixel layers' small datapaths built (no CSE), each conv / pool / dense layer approximated as
  above with its output ranges those of its format (``format_ranges``); FIFO depths and latency follow
  the approximated levels (equal to the exact model's on the ten test designs). LUT -8.2 .. +3.1 % of the exact
  model on the ten designs of ``tests/cost/test_dag_exact.py`` (``tests/cost/test_dag_fast.py``).

The constants were fitted by ``fit_fast`` on the exact features of the calibration design set
(``calibrate.design_set``; least squares, log space for the adder law); the adder law, adder bits and
sign-extension bits also on 12 layers of 5 trained / PTQ'd low-bit networks (narrow unsigned ReLU inputs,
2-4-bit weights; weighted 5x; a layer module that also holds element-wise products or batch norms is left
out: its exact adder count is not the matrix's), where the design set's signed 8-bit inputs alone left the fast estimate
+23 % to +69 % LUT above the exact model. Every term grows with the digit
count, the input width and the number of outputs, so the fast estimate is monotone in them (property
tests), which the exact model is not always (the emitter's greedy CSE can share more after a change).
Streamed layers price one window; parallel convolutions one window per output pixel.

LUT against the exact model (``benchmarks/bench_cost_fast.py``, results in
``benchmarks/results/cost_fast_vs_exact.json``): 23 trained / PTQ'd graphs not used in any fit (MLPs with
2-6-bit weights, CNNs with streamed convolutions and maxpools, the minifloat table's MLPs and CNNs) median
3.4 %, p90 5.6 % per graph, 2.8 % / 6.8 % per layer; the design set median 2.5 %, p90 7.4 %. Against yosys
with the exact model's coefficients, the design set's LUTs rank with Spearman 0.994 (xc7) / 0.993 (iCE40)
(the exact model: 0.998 / 0.997); within a shape, 6 (xc7) and 5 (iCE40) of 12 groups are one or two swaps
short of 0.95.
"""

from __future__ import annotations

import math

import numpy as np

from hwq.ir.ops.common import raw_frac_bits

from .legacy import csd_digit_count
from .rtl_model import LayerFeatures

# fitted by fit_fast(designs, drop=("W_D",), c_fixed=-0.03) on the calibration design set (112 designs) plus 12
# layers of 5 trained graphs (weight 5), exact features from rtl_plan.plan_rtl with the emitter's default
# adder style (balanced), 2026-11-28
A, B, C = 1.1552, 0.9279, -0.03
#: adders ~ ... x (digits per non-zero weight) ** B_RHO: a matrix of many-digit weights shares more per digit
B_RHO = -0.0977
#: adders per row-factoring adder (``row_factor_adders``): the adder count is at most K_S x S
K_S = 1.0493
#: adder bits per adder: constant, input width, accumulator range bits, weight span, unsigned input, log2(N)
W0, W_X, W_R, W_S, W_U, W_N = -0.6412, 0.7841, 0.1539, 0.2272, 0.132, 0.3052
#: adder bits per adder: log2 of the mean digits per output (held at 0: fit_fast(drop=("W_D",)) ranked the
#: design set better without it), log2 of the live outputs
W_D, W_M = 0.0, 0.1411
K_CONST = 1.02
K_MUX = 1.5
K_CMP = 2.0978
#: macc bits per adder bit by pipeline depth (0, 1, 2, >= 3): chains of adders inside one register stage
K_MACC = (0.0524, 0.0, 0.0273, 0.0132)
#: subtracted operand bits read straight from a flip-flop (an input or across a register stage; the
#: iCE40 carry then needs an inverter LUT of its own) per adder bit, by pipeline depth (0, 1, 2, >= 3)
K_SUB_REG = (0.112, 0.3778, 0.2744, 0.212)
#: sign-extension / carry-out bits per adder (+ K_EXT_U for an unsigned input); subtracting bits per adder bit
K_EXT, K_EXT_U, K_SUB = 0.7922, 0.3213, 0.4434
#: flip-flops per bit of what a pipeline register holds (``_stage_register_terms``: inputs a matrix's tree
#: still reads, its partial sums, accumulators, element-wise values), fitted by ``fast_ff_fit.fit_fast_ff``
K_FF = {"in": 0.0395, "ps": 0.5608, "acc": 1.6843, "ew": 2.1523}


def _matrix_figures(op, graph, streamed: bool) -> tuple[int, int, int, int]:
    """(D digits, M outputs, N inputs per output, positions) of a Dense/Conv op as the emitter builds it."""
    w = np.asarray(op.weight)
    if w.dtype == object:
        w = w.astype(np.int64)
    m = int(w.shape[0])
    n = int(np.prod(w.shape[1:]))
    d = int(csd_digit_count(w).sum())
    pos = 1
    if op.kind in ("conv1d", "conv2d") and not streamed:
        pos = int(np.prod(graph.tensor(op.output).shape[1:]))
    return d, m, n, pos


_ODD_MEMO: dict = {}


def _odd_count(span: int, digits: int) -> float:
    """Odd integers below ``2**(span + 1)`` with at most ``digits`` non-zero CSD digits: how many distinct
    odd parts a weight matrix of that widest odd part and most digits can hold (inf above 16 bits)."""
    if span > 16:
        return math.inf
    key = (span, digits)
    if key not in _ODD_MEMO:
        u = np.arange(1, 1 << (span + 1), 2, dtype=np.int64)
        _ODD_MEMO[key] = float((csd_digit_count(u) <= digits).sum())
    return _ODD_MEMO[key]


def row_factor_adders(w: np.ndarray) -> tuple[float, int]:
    """(S, k) for an integer weight matrix ``w`` (outputs x inputs): S estimates the adders of the outputs'
    sums when each output factors its weights by their odd parts, ``sum_j x_j w_j = sum_u u * (sum of
    x_j << e_j over the j with odd part u)``: (k_i - 1) adders to sum output i's k_i non-zero terms, plus
    (digits - 1) per distinct odd part u, taken as the row's mean extra digits per weight times the
    expected number of distinct odd parts among k_i draws from the O odd values the matrix's widest odd
    part and most digits allow (``_odd_count``). This is what the emitter's CSE finds in a long row of
    few-digit weights (a minifloat's mantissa x 2**e: few odd parts, many repeats) and what the digit-count
    law misses there. k is the most non-zero weights of one output: a sum of k terms needs k - 1 adders."""
    a = np.abs(w)
    nzm = a != 0
    k = nzm.sum(axis=1).astype(float)
    if not nzm.any():
        return 0.0, 0
    u = a[nzm] // (a[nzm] & -a[nzm])
    dg = csd_digit_count(a)
    big = int(u.max())
    odd = _odd_count(big.bit_length() - 1, int(dg.max()))
    live = k > 0
    extra = np.where(live, (dg.sum(axis=1) - k) / np.maximum(k, 1), 0.0)  # mean extra digits per weight
    distinct = k if math.isinf(odd) else odd * (1 - (1 - 1 / odd) ** k)
    return float((k[live] - 1).sum() + (extra * distinct).sum()), int(k.max())


def value_width(fmt) -> int:
    """Bits of the signed datapath node holding a raw of ``fmt``: a fixed-point value's width (+1 when
    unsigned, zero-extended); a minifloat's decoded integer (``rtl.minifloat``: its raws span
    ``raw_min .. raw_max``, e.g. 19 bits for e4m3), not its code width."""
    if hasattr(fmt, "exp_bits"):
        lo, hi = int(fmt.raw_min), int(fmt.raw_max)
        return max(hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1
    return int(fmt.width) + (1 if fmt.raw_min >= 0 else 0)


def decoder_bits(fmt) -> int:
    """Size in bits of one minifloat input decoder as ``rtl_model.decode_bits`` counts it: for every
    binade shift 0 .. 2**E - 2 the significand bits (M + 1) that land inside the magnitude (M + 2**E - 1
    bits), plus the signed value's bits; 0 for a fixed-point format or a code of at most 4 bits."""
    if not hasattr(fmt, "exp_bits") or fmt.width <= 4:
        return 0
    e, m = int(fmt.exp_bits), int(fmt.man_bits)
    mag = m + (1 << e) - 1
    return sum(max(0, min(m + 1, mag - sh)) for sh in range((1 << e) - 1)) + value_width(fmt)


_CAST_MEMO: dict = {}


def float_cast_bits(width: int, signed: bool, shift: int, fmt) -> dict:
    """Select / compare / constant-add bits of one cast of a ``width``-bit sum (signed or not, ``shift``
    more fractional bits than ``fmt``'s raws) to the minifloat ``fmt``: the emitter's own cast
    (``rtl.minifloat.float_cast``: magnitude, leading-one search, normalising shift, rounding, saturation;
    a handful of nodes, no CSE) built on a one-input datapath and counted by ``rtl_model.datapath_features``.
    Memoised by its arguments (a layer's outputs share one representative width)."""
    key = (width, signed, shift, str(fmt))
    hit = _CAST_MEMO.get(key)
    if hit is not None:
        return hit
    from hwq.formats import FixedFormat
    from hwq.rtl.datapath import Datapath, Value
    from hwq.rtl.minifloat import float_cast

    from .rtl_model import datapath_features

    dp = Datapath()
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << (width - 1)) - 1)
    dp.input("x0", 0, FixedFormat(width, width, True), lo, hi, "sum")
    v = float_cast(dp, "y", Value("x0", fmt.frac_bits + shift), fmt, "cast")
    f = datapath_features(dp, [v], fmt.width, 0)
    skip = ("levels", "ff", "ff_lcu", "ff_declared", "macc_merges", "macc_bits", "carry4")
    out = {k: v for k, v in f.items() if k not in skip and isinstance(v, int) and v}
    _CAST_MEMO[key] = out
    _CAST_LEVELS[key] = int(dp.nodes[v.node].level)
    return out


_CAST_LEVELS: dict = {}


def float_cast_levels(width: int, signed: bool, shift: int, fmt) -> int:
    """Adder levels of the cast ``float_cast_bits`` builds (same arguments; built once, memoised)."""
    float_cast_bits(width, signed, shift, fmt)
    return _CAST_LEVELS[(width, signed, shift, str(fmt))]


def fixed_cast_levels(x_fmt, lo: int, hi: int, y_fmt) -> int:
    """Levels of ``Datapath.cast`` of a value of ``x_fmt``'s LSB with raw range ``lo .. hi`` to the
    fixed-point ``y_fmt``: 0 when the cast is the identity (same LSB, range inside ``y_fmt``), else 1 (one
    rounding / overflow node)."""
    s = int(x_fmt.frac_bits) - int(y_fmt.frac_bits)
    if s < 0:
        lo, hi = lo << -s, hi << -s
    elif s > 0:
        lo, hi = lo >> s, -((-hi) >> s)  # floor / ceil bound the rounded range
    return 0 if s == 0 and int(y_fmt.raw_min) <= lo and hi <= int(y_fmt.raw_max) else 1


def _width_figures(op, graph, nonneg: bool = False) -> dict:
    """Width figures of a Dense/Conv op, over the outputs with a non-zero weight: ``rb`` mean range bits
    of the outputs' sums as the adders build them, ``rb_acc`` the same with the row's constant low bits
    (the accumulator; ``rb_acc_sum`` its sum over the outputs), ``span`` mean span of the non-zero weights
    in bits (``span_max`` the widest), ``uns`` 1 if the input is
    unsigned else 0, ``over`` mean bits of the sums above the output format's (which a saturation
    checks), ``bias_bits`` bias-add bits and ``rnd_bits`` rounding-increment bits (sums over outputs).

    The range of output k is ``sum(w+ * x_hi + w- * x_lo)`` to ``sum(w+ * x_lo + w- * x_hi)`` over the
    input format's raw range (LSB units). The emitter sums a row's products without the row's common
    power of two (its weights' fewest trailing zero bits, ``tz``: many for minifloat weights, whose raws
    are a few mantissa digits times 2**e) and appends those constant low bits after the bias add, so a
    row's sums are ``log2(max |bound| + 1) + 1 - tz`` bits wide, and so is its bias add (when the bias is
    not 0); the output rounding's increment (a rounding mode other than TRN, a fixed-point output with
    fewer fractional bits) adds the sum's bits above the dropped ones, and is constant (no adder) when
    the dropped bits are all below ``tz``. A weight's span is ``floor(log2|w|)`` minus its trailing zero
    bits. Bits are summed over the live outputs (one position)."""
    w = np.asarray(op.weight)
    if w.dtype == object:
        w = w.astype(np.int64)
    w = w.reshape(w.shape[0], -1).astype(np.int64)
    fmt = graph.tensor(op.inputs[0]).fmt
    x_lo, x_hi = (0 if nonneg else min(int(fmt.raw_min), 0)), max(int(fmt.raw_max), 0)
    wp, wn = np.clip(w, 0, None).astype(float), np.clip(w, None, 0).astype(float)
    lo = wp.sum(1) * x_lo + wn.sum(1) * x_hi
    hi = wp.sum(1) * x_hi + wn.sum(1) * x_lo
    live = (w != 0).any(axis=1)  # an all-zero output has no adders: it must not dilute the mean width
    a = np.abs(w)
    low = np.where(a > 0, a & -a, np.iinfo(np.int64).max).min(axis=1)
    tz = np.where(live, np.log2(np.where(live, low, 1).astype(float)), 0.0)
    rbits = np.log2(np.maximum(np.abs(lo), np.abs(hi)) + 1) + 1 - tz
    rb = float(np.mean(rbits[live] if live.any() else rbits)) if w.size else 1.0
    rb_acc = rb + (float(np.mean(tz[live])) if live.any() else 0.0)
    rb_acc_sum = float(np.sum((rbits + tz)[live]))
    nz = a[a != 0]
    spans = np.floor(np.log2(nz)) - np.log2(nz & -nz) if nz.size else np.zeros(1)
    span = float(np.mean(spans))
    span_max = float(np.max(spans))
    y = graph.tensor(op.output).fmt
    bits = np.ceil(np.log2(np.maximum(np.abs(lo), np.abs(hi)) + 1)) + 1
    shift = fmt.frac_bits + raw_frac_bits(op.weight_fmt) - y.frac_bits
    over = float(np.mean(np.maximum(0.0, bits - shift - y.width))) if w.size else 0.0
    sat_rows = int(np.sum(live & (bits - shift - y.width > 0)))  # outputs whose sum can overflow the format
    over_sum = float(np.sum(np.where(live, np.maximum(0.0, bits - shift - y.width), 0.0)))
    b = np.asarray(getattr(op, "bias", None) if getattr(op, "bias", None) is not None else np.zeros(len(w)))
    b = b.astype(np.int64).reshape(-1) if b.size == len(w) else np.zeros(len(w), dtype=np.int64)
    bias_bits = float(np.sum(np.where(live & (b != 0), rbits, 0.0)))
    rnd_bits = 0.0
    if not hasattr(y, "exp_bits") and getattr(y, "rounding", "TRN") != "TRN" and shift > 0:
        drop = np.maximum(1.0, bits - shift)
        rnd_bits = float(np.sum(np.where(live & (tz < shift), drop, 0.0)))
    uns = int(fmt.raw_min >= 0 or nonneg)
    return dict(
        rb=rb,
        rb_acc=rb_acc,
        rb_acc_sum=rb_acc_sum,
        span_max=span_max,
        span=span,
        uns=uns,
        over=over,
        over_sum=over_sum,
        sat_rows=sat_rows,
        bias_bits=bias_bits,
        rnd_bits=rnd_bits,
    )


def _after_relu(graph, name: str) -> bool:
    """True when tensor ``name`` is produced by a ReLU, or by a maxpool / flatten / reshape of such a tensor
    (its values are >= 0: a minifloat code's sign bit is then structurally 0, ``rtl_model._code_sign_zero``)."""
    for op in graph.ops:
        if op.output == name:
            if op.kind == "relu":
                return True
            return op.kind in ("maxpool", "flatten", "reshape") and _after_relu(graph, op.inputs[0])
    return False


def _low_zero_bits(graph, name: str) -> int:
    """Low raw bits of fixed-point tensor ``name`` that are structurally 0: an element-wise op (ReLU, clip,
    requantize) into a format with more fractional bits than its input's appends them (``{x, 1'b0}``), and
    a maxpool / flatten / reshape keeps them (``rtl_model.low_zero_bits``)."""
    for op in graph.ops:
        if op.output == name:
            x, y = graph.tensor(op.inputs[0]).fmt, graph.tensor(name).fmt
            if hasattr(x, "exp_bits") or hasattr(y, "exp_bits"):
                return 0
            if op.kind in ("relu", "clip", "requantize"):
                return max(0, int(y.frac_bits) - int(x.frac_bits)) + min(
                    _low_zero_bits(graph, op.inputs[0]), max(0, int(y.width) - 1)
                )
            if op.kind in ("maxpool", "flatten", "reshape") and (x.width, x.frac_bits) == (y.width, y.frac_bits):
                return _low_zero_bits(graph, op.inputs[0])
            return 0
    return 0


def round_bits(x_fmt, y_fmt) -> int:
    """Bits of the rounding increment of one element-wise cast from fixed-point ``x_fmt`` to fixed-point
    ``y_fmt`` (a ReLU / clip / requantize that drops fractional bits with a rounding mode other than TRN):
    the kept bits plus one (``{fl[top], fl} + up``); 0 when no increment is built."""
    if hasattr(x_fmt, "exp_bits") or hasattr(y_fmt, "exp_bits") or getattr(y_fmt, "rounding", "TRN") == "TRN":
        return 0
    drop = int(x_fmt.frac_bits) - int(y_fmt.frac_bits)
    return max(1, int(x_fmt.width) - drop + 1) if drop > 0 else 0


def adder_bits_per_adder(
    rb: float, span: float, unsigned: int, wx: int, n: int, digits: float = 2.0, rows: int = 1
) -> float:
    """Mean carry-chain bits of one two-operand adder (fitted law, see the module docstring); >= 1."""
    bits = W0 + W_X * wx + W_R * rb + W_S * span + W_U * unsigned + W_N * math.log2(max(n, 2))
    return max(1.0, bits + W_D * math.log2(max(digits, 2)) + W_M * math.log2(max(rows, 1)))


_CMUL_LEVELS: dict = {}


def const_mul_levels(c: int, width: int) -> int:
    """Adder levels of ``rtl.constmul.const_mul`` of a ``width``-bit signed value by the integer ``c`` (its
    shared CSD digits, Huffman tree and final negation), built once on a one-input datapath (memoised)."""
    key = (c, width)
    hit = _CMUL_LEVELS.get(key)
    if hit is None:
        from hwq.formats import FixedFormat
        from hwq.rtl.constmul import const_mul
        from hwq.rtl.datapath import Datapath, Value

        dp = Datapath()
        dp.input("x0", 0, FixedFormat(width, width, True), -(1 << (width - 1)), (1 << (width - 1)) - 1, "x")
        v = const_mul(dp, "p", Value("x0", 0), c, 0, "x * c")
        hit = _CMUL_LEVELS[key] = int(dp.nodes[v.node].level)
    return hit


def _stage_register_terms(segments: list, levels: int, pipeline: int) -> dict:
    """What the pipeline registers (every ``pipeline`` levels below ``levels``) hold, by kind, summed over
    the registers: ``in`` input bits a matrix's adder tree still reads, ``ps`` its partial sums (per row,
    ``ceil(digits / 2**depth)`` sums as wide as the input + weight span + depth), ``acc`` its accumulators
    between the tree and the output cast, ``ew`` element-wise values."""
    out = {"in": 0.0, "ps": 0.0, "acc": 0.0, "ew": 0.0}
    if pipeline <= 0:
        return out
    for b in range(pipeline, levels, pipeline):
        for lo, hi, kind, pay in segments:
            if not lo <= b < hi:
                continue
            if kind == "tree":
                bits, dig, width, pos = pay
                depth = b - lo
                out["in"] += bits
                out["ps"] += pos * float((np.ceil(dig / (1 << depth)) * (width + depth)).sum()) if depth else 0.0
            else:
                out[kind] += pay
    return out


def _elementwise_cast_levels(graph, op, x_fmt, y_fmt, wn: int) -> int:
    """Levels of the cast that ends an element-wise op (``Datapath.cast`` / ``minifloat.float_cast``) from
    the op's result to ``y_fmt``: a ReLU / clip / requantize / maxpool result has its input's LSB and
    range (a ReLU's clipped at 0), a product, sum or batch norm is wider than its output (one level)."""
    if op.kind in ("flatten", "reshape"):
        return 0
    fx, fy = hasattr(x_fmt, "exp_bits"), hasattr(y_fmt, "exp_bits")
    if fx and fy:
        if op.kind == "relu" and y_fmt == x_fmt:
            return 0
        nonneg = op.kind == "relu" or _after_relu(graph, op.inputs[0])
        return float_cast_levels(wn, not nonneg, x_fmt.frac_bits - y_fmt.frac_bits, y_fmt)
    if fx or fy:
        return 1
    if op.kind in ("relu", "clip", "requantize", "maxpool"):
        lo = max(int(x_fmt.raw_min), 0) if op.kind == "relu" else int(x_fmt.raw_min)
        return fixed_cast_levels(x_fmt, lo, int(x_fmt.raw_max), y_fmt)
    return 1


def layer_features_fast(graph, ops: list, name: str, style: str, pipeline: int) -> LayerFeatures:
    """Approximate ``LayerFeatures`` of one layer (ops in topological order) without building it."""
    feat = LayerFeatures(name, style, [op.kind for op in ops])
    adders = add_bits = ext_bits = const_bits = mux_bits = cmp_bits = sat_raw = max_bits = max_node_bits = 0.0
    dec_bits = 0
    cast_feats: dict = {}
    segments: list = []  # (first level, end level, kind, payload): what a stage register there holds
    levels = 0
    for op in ops:
        y = graph.tensor(op.output)
        x = graph.tensor(op.inputs[0])
        wy = y.fmt.width
        if op.kind in ("dense", "conv1d", "conv2d"):
            d, m, n, pos = _matrix_figures(op, graph, style == "stream")
            # a minifloat input after a ReLU: its sign bit is structurally 0, as an unsigned fixed-point input's
            nonneg = hasattr(x.fmt, "exp_bits") and _after_relu(graph, op.inputs[0])
            wx = value_width(x.fmt) - (1 if (x.fmt.raw_min >= 0 and not hasattr(x.fmt, "exp_bits")) or nonneg else 0)
            dec_bits += (n if style == "stream" or op.kind == "dense" else x.size) * decoder_bits(x.fmt)
            m_live = int((np.asarray(op.weight).reshape(m, -1) != 0).any(axis=1).sum())  # outputs with adders
            wm = np.asarray(op.weight)
            wm = (wm.astype(np.int64) if wm.dtype == object else wm).reshape(m, -1).astype(np.int64)
            s_row, k_row = row_factor_adders(wm)
            # the digit-count law, at most the row-factoring count, at least a sum of the longest row's terms
            rho = d / max(int(np.count_nonzero(wm)), 1)  # digits per non-zero weight
            law = A * max(d, 1) ** B * max(m_live * n, 1) ** C * max(rho, 1.0) ** B_RHO
            a = max(min(law, K_S * s_row), k_row - 1) * pos
            adders += a
            wf = _width_figures(op, graph, nonneg)
            rb, uns, over = wf["rb"], wf["uns"], wf["over"]
            low = min(_low_zero_bits(graph, op.inputs[0]), max(wx - 1, 0))  # input bits that are always 0
            wx, rb = wx - low, max(rb - low, 1.0)
            bits = a * adder_bits_per_adder(rb, wf["span"], uns, wx, n, d / max(m_live, 1), m_live)
            add_bits += bits
            ext_bits += a * (K_EXT + K_EXT_U * uns)  # sign extension / carry out: about a bit per adder
            const_bits += K_CONST * pos * (wf["bias_bits"] + wf["rnd_bits"])  # bias add, rounding increment
            if hasattr(y.fmt, "exp_bits"):  # a minifloat output: the emitter's float cast, counted on one output
                off = op.acc_fmt.frac_bits - x.fmt.frac_bits - raw_frac_bits(op.weight_fmt)
                signed = bool(x.fmt.raw_min < 0 or (np.asarray(op.weight) < 0).any())
                cast_args = (
                    max(2, int(round(wf["rb_acc"])) + max(off, 0)),
                    signed,
                    op.acc_fmt.frac_bits - y.fmt.frac_bits,
                    y.fmt,
                )
                cast = float_cast_bits(*cast_args)
                for k, v in cast.items():  # every feature the exact model counts on that cast
                    cast_feats[k] = cast_feats.get(k, 0) + m * pos * v
            else:
                if y.fmt.overflow != "WRAP":  # two selects (high, low limit) where the sum can overflow
                    # (on the result's bits above those the aligned sum holds as constant 0, as the exact model)
                    aligned = min(max(y.fmt.frac_bits - op.acc_fmt.frac_bits, 0), wy)
                    mux_bits += 2 * pos * (wy - aligned) * wf["sat_rows"]
                    cmp_bits += K_CMP * pos * wf["over_sum"]  # the high and low limit checks
                if op.acc_fmt.frac_bits == y.fmt.frac_bits and y.fmt.overflow != "WRAP":
                    sat_raw += 2 * m * pos * over  # both limit checks on the unrounded sum: its bits above the output
            lev0 = levels
            # the balanced adder graph is no deeper than the plain tree of the row with the most digits; the
            # bias add and the cast to the output format take one level each (none for a zero bias or an
            # identity cast)
            dig_rows = csd_digit_count(wm).sum(axis=1)
            dmax = int(dig_rows.max(initial=0))
            tree = (dmax - 1).bit_length()
            levels += tree + int(wf["bias_bits"] > 0)
            if hasattr(y.fmt, "exp_bits"):
                levels += float_cast_levels(*cast_args)
            elif op.acc_fmt.frac_bits != y.fmt.frac_bits or wf["sat_rows"] > 0:
                levels += 1
            nin = n * (1 if style == "stream" else pos)
            # partial sums as wide as the input + the widest weight span (a mean span would shrink when a
            # small weight is added); accumulators summed row by row (a mean would shrink with a new row)
            segments.append((lev0, lev0 + tree, "tree", (nin * wx, dig_rows[dig_rows > 0], wx + wf["span_max"], pos)))
            segments.append((lev0 + tree, levels, "acc", pos * wf["rb_acc_sum"]))
            continue
        elems = y.size if style != "stream" else y.shape[0]  # values one datapath computes
        wn = value_width(x.fmt)  # the operand's signed node width
        if op.kind == "maxpool":  # a comparator tree per window: (taps - 1) compare + select pairs
            taps = int(np.prod(op.kernel))
            max_node_bits += elems * (taps - 1) * wn
            # a max of unsigned inputs (and of such maxes) has a structural-0 sign bit: one bit fewer each
            max_bits += elems * (taps - 1) * (wn - (1 if x.fmt.raw_min >= 0 else 0))
            levels += math.ceil(math.log2(max(taps, 2)))
        elif op.kind == "mul":  # shift-and-add array (rtl.varmul): a gated copy per bit of the narrower operand
            x2 = graph.tensor(op.inputs[1])
            wa, wb = sorted((wn, value_width(x2.fmt)))
            pp = wa - (1 if min(x.fmt.raw_min, x2.fmt.raw_min) >= 0 else 0)
            mux_bits += elems * pp * wb
            adders += elems * max(pp - 1, 0)
            add_bits += elems * max(pp - 1, 0) * (wb + pp / 2)
            levels += max(pp - 1, 0)  # rtl.constmul.sum_terms adds the shifted copies lowest top bit first: a chain
        elif op.kind == "batchnorm":  # x * scale[c] (CSD shift-and-add) + bias[c]
            signed_sc = np.asarray(op.scale, dtype=np.int64).ravel()
            sc = np.abs(signed_sc)
            dg = csd_digit_count(sc)
            span = np.floor(np.log2(np.maximum(sc, 1))) - np.log2(np.maximum(sc & -sc, 1))
            per = elems / max(len(sc), 1)
            adders += per * float(np.maximum(dg - 1, 0).sum())
            add_bits += per * float((np.maximum(dg - 1, 0) * (wn + span)).sum())
            const_bits += per * float((wn + span + 1).sum())
            bias = np.asarray(getattr(op, "bias", None) if getattr(op, "bias", None) is not None else [0])
            levels += max((const_mul_levels(int(c), wn) for c in set(signed_sc.tolist())), default=0)
            levels += int(bool(np.any(bias.astype(np.int64) != 0)))
        elif op.kind == "add":  # one adder per element
            adders += elems
            add_bits += elems * (wn + 1)
            levels += 1
        fx, fy = hasattr(x.fmt, "exp_bits"), hasattr(y.fmt, "exp_bits")
        if op.kind in ("relu", "maxpool") and fx and fy:
            # minifloat values (rtl.minifloat): a ReLU into its own format selects the raw and the code; into
            # another format it selects the raw, then casts it (float_cast: round, encode, decode); a maxpool
            # decodes its window's inputs and casts the max (its raw has no code)
            same = op.kind == "relu" and y.fmt == x.fmt
            if op.kind == "relu":
                mux_bits += elems * (x.fmt.width + K_MUX * wy if same else wn)
            else:
                dec_bits += elems * int(np.prod(op.kernel)) * decoder_bits(x.fmt)
            if not same:
                nonneg = op.kind == "relu" or _after_relu(graph, op.inputs[0])
                cast = float_cast_bits(wn, not nonneg, x.fmt.frac_bits - y.fmt.frac_bits, y.fmt)
                for k, v in cast.items():
                    cast_feats[k] = cast_feats.get(k, 0) + elems * v
        elif op.kind == "relu" and not fx:
            mux_bits += elems * x.fmt.width  # x[sign] ? 0 : x, on the input's bits
        elif op.kind in ("relu", "clip", "requantize", "batchnorm", "mul", "add") or (
            op.kind == "maxpool" and (y.fmt.width, y.fmt.frac_bits) != (x.fmt.width, x.fmt.frac_bits)
        ):
            mux_bits += K_MUX * elems * wy
        const_bits += elems * round_bits(x.fmt, y.fmt)
        lev_ew = levels
        levels += _elementwise_cast_levels(graph, op, x.fmt, y.fmt, wn)
        if levels > lev_ew:
            segments.append((lev_ew, levels, "ew", elems * wn))
    n_out = graph.tensor(ops[-1].output)
    out_bits = (n_out.size if style != "stream" else n_out.shape[0]) * n_out.fmt.width
    levels = max(levels, 1)
    stages = ((levels - 1) // pipeline if pipeline > 0 else 0) + 1
    feat.adders = int(round(adders))
    feat.add_bits = int(round(add_bits))
    feat.macc_bits = int(round(add_bits * K_MACC[min(pipeline, 3)]))
    feat.ext_bits = feat.add_bits - int(round(add_bits - ext_bits))  # own bits rounded (monotone in the bits)
    feat.sub_bits = int(round(add_bits * K_SUB))
    if hasattr(feat, "sub_reg_bits"):
        feat.sub_reg_bits = int(round(add_bits * K_SUB_REG[min(pipeline, 3)]))
    feat.sat_raw_bits = int(round(sat_raw))
    feat.const_bits = int(round(const_bits))
    if hasattr(feat, "dec_bits"):  # minifloat input decoders (the exact model's ``decode_bits``)
        feat.dec_bits = dec_bits
    if hasattr(feat, "max_bits"):  # the exact model prices a max select's compare and select together
        feat.max_bits = int(round(max_bits))
    else:  # (a LayerFeatures without max_bits: compare and select bits of the node's width)
        cmp_bits += max_node_bits
        mux_bits += max_node_bits
    feat.mux_bits = int(round(mux_bits))
    feat.cmp_bits = int(round(cmp_bits))
    feat.carry4 = int(round((add_bits + const_bits) / 4))
    for k, v in cast_feats.items():
        if hasattr(feat, k):
            setattr(feat, k, getattr(feat, k) + int(v))
    feat.carry4 += (cast_feats.get("add_bits", 0) + cast_feats.get("const_bits", 0)) // 4
    feat.levels = levels
    feat.latency = stages
    terms = _stage_register_terms(segments, levels, pipeline)
    feat.ff = int(round(out_bits + stages + sum(K_FF[k] * v for k, v in terms.items())))
    feat.extra["ff_terms"] = terms
    feat.extra["ff_fixed"] = out_bits + stages  # the output register and valid flags (not fitted)
    feat.ff_declared = feat.ff
    return feat


def format_ranges(graph, name: str) -> list[tuple[int, int]]:
    """Raw (lo, hi) of every element of tensor ``name`` (row-major) as its format allows; lo >= 0 after a
    ReLU (``_after_relu``). The fast estimate's stand-in for the exact model's propagated value ranges."""
    t = graph.tensor(name)
    lo, hi = int(t.fmt.raw_min), int(t.fmt.raw_max)
    if _after_relu(graph, name):
        lo = max(lo, 0)
    return [(lo, hi)] * t.size


def stream_link_bits(graph, layers: list, k: int, feat: LayerFeatures) -> None:
    """Set the line-buffer and frame features of layer ``k`` (``window_bits``, ``window_taps_bits``,
    ``window_counter_bits``, ``window_pad_bits``, ``frame_bits``; bits) as ``rtl_model`` counts them:
    they follow from the window geometry and the tensor shapes alone (no datapath is built), so the fast
    estimate has them exactly. ``hwq_window_pad`` (masked padding): real pixels only in the shift register,
    the distinct pad flags (``rtl_model.pad_flag_bits``) in the output register only for a maxpool, walk /
    emission / row / column counters; ``hwq_window_hold``: ``rtl_model.hold_window_bits``; ``hwq_window``:
    the padded rows in the shift register, four position counters; all three less the constant counter bits
    of strided windows (``rtl_model.static_counter_bits``, ``window_static_bits``); a frame collect
    (parallel -> streamed) or split (streamed -> parallel) register of one frame plus a beat counter."""
    from hwq.rtl.stream import frame_of, window_of

    from .rtl_model import _bits_for, hold_window_bits, masked_window_regs, pad_flag_bits, static_counter_bits

    lay = layers[k]
    xt = graph.tensor(lay.input)
    if lay.style == "stream":
        head = lay.ops[0]
        win = window_of(head, graph)
        feat.extra["window"] = win.parameters()  # rtl_model.top_timing: the line buffer's latency
        flag = 1 if head.kind == "maxpool" and win.padded_taps() else 0
        if win.primitive == "hwq_window_pad":
            pcount = _bits_for(max(win.emissions()[-1], win.in_h * win.in_w - 1) + 1)
            counters = 1 + _bits_for((win.out_h - 1) * win.sh) + _bits_for((win.out_w - 1) * win.sw)
            fr = frame_of(xt.shape)
            read = _read_taps(head, win, fr.channels)
            feat.window_bits, feat.window_taps_bits = masked_window_regs(win, fr.channels, xt.fmt.width, read)
            feat.window_taps_bits += flag * pad_flag_bits(win) + 1
            tail = win.emissions()[-1] >= win.in_h * win.in_w  # q: read only with tail steps
            static = static_counter_bits(win, win.primitive)
            feat.window_counter_bits = counters + (3 if tail else 2) * pcount - static[0]
            feat.window_static_bits = static[1] - static[0]
            feat.window_pad_bits = counters + 3 * pcount
        elif win.primitive == "hwq_window_hold":
            fr = frame_of(xt.shape)
            hold = hold_window_bits(win, fr.channels, xt.fmt.width, bool(flag), _read_taps(head, win, fr.channels))
            feat.window_bits, feat.window_taps_bits, feat.window_counter_bits = hold
            static = static_counter_bits(win, win.primitive)
            feat.window_static_bits = static[1] - static[0]
            feat.window_pad_bits = feat.window_counter_bits + static[0]
        else:
            hp = win.in_h + win.pad_t + win.pad_b
            wp = win.in_w + win.pad_l + win.pad_r
            depth = (win.kh - 1) * win.dh * wp + (win.kw - 1) * win.dw
            fr = frame_of(xt.shape)
            read = _read_taps(head, win, fr.channels)
            shift, taps = masked_window_regs(win, fr.channels, xt.fmt.width, read, row=wp)
            feat.window_bits = shift + depth * flag
            feat.window_taps_bits = taps + win.taps * flag + 1
            static = static_counter_bits(win, win.primitive)
            feat.window_counter_bits = 4 * _bits_for(max(hp, wp)) + 2 - static[0]
            feat.window_static_bits = static[1] - static[0]
    if k > 0 and (layers[k - 1].style == "stream") != (lay.style == "stream"):
        fr = frame_of(xt.shape)
        feat.frame_bits = fr.beats * fr.channels * xt.fmt.width + 1 + _bits_for(fr.beats - 1)


def _read_taps(op, win, channels: int) -> set[tuple[int, int]] | None:
    """(tap, input channel) pairs of a streamed conv's window with a nonzero weight in some output channel
    (the datapath reads no other: ``rtl_model.read_window_inputs``); None (all) for pooling."""
    if op.kind not in ("conv1d", "conv2d"):
        return None
    w = np.asarray(op.weight)
    w = w.reshape(w.shape[0], w.shape[1], win.kh, win.kw)
    per = w.shape[0] // int(op.groups)  # output channels per group; group g reads input channels g*cg..
    cg = w.shape[1]
    out = set()
    for c in range(channels):
        g = c // cg
        rows = w[g * per : (g + 1) * per, c % cg]
        out |= {(a * win.kw + b, c) for a in range(win.kh) for b in range(win.kw) if np.any(rows[:, a, b] != 0)}
    return out


def fit_fast(designs: list[dict], drop: tuple = (), c_fixed: float | None = None) -> dict:
    """Constants of this module fitted on designs with exact ``features`` (``calibrate.featurise``; every
    design's ops[0] is its matrix op and features[0] its layer; an optional ``weight`` per design, default
    1): the adder law in log space (``c_fixed``: hold its (outputs x inputs) exponent C at that value),
    adder bits per adder by least squares relative to the exact bits (``drop``: names of its terms, e.g.
    ``("W_D",)``, held at 0), the other bit factors by least squares through the origin. Returns
    {constant name: value} (``K_MACC0`` .. ``K_MACC3``, ``K_SUB_REG0`` .. ``K_SUB_REG3`` by pipeline depth)."""
    rows = []
    for d in designs:
        g = d["graph"]
        op = g.ops[0]
        f = d["features"][0]
        dd, m, n, pos = _matrix_figures(op, g, f.style == "stream")
        wf = _width_figures(op, g)
        wx = g.tensor(op.inputs[0]).fmt.width
        # the layer's other ops' rounding increments are counted, not fitted: K_CONST prices the rest
        el = 0
        for o in g.ops[1:]:
            yo = g.tensor(o.output)
            el += (yo.size if f.style != "stream" else yo.shape[0]) * round_bits(g.tensor(o.inputs[0]).fmt, yo.fmt)
        wm = np.asarray(op.weight)
        wm = (wm.astype(np.int64) if wm.dtype == object else wm).reshape(m, -1).astype(np.int64)
        s_row, k_row = row_factor_adders(wm)
        m_live = int((wm != 0).any(axis=1).sum())
        nz = int(np.count_nonzero(wm))
        wt = float(d.get("weight", 1.0))
        rows.append(
            dict(d=dd, m=m_live, n=n, nz=nz, pos=pos, wx=wx, f=f, p=d["pipeline"], el=el, s=s_row, k=k_row, wt=wt, **wf)
        )
    # a layer whose module also holds element-wise products, batch norms or adds counts their adders too:
    # not the matrix's, so it is left out
    rows = [r for r in rows if r["f"].adders > 0 and not set(r["f"].kinds) & {"mul", "batchnorm", "add"}]
    wt = np.array([r["wt"] for r in rows])
    keys = ("d", "m", "n", "nz", "pos", "rb", "span", "uns", "over", "wx", "s", "k")
    col = {k: np.array([float(r[k]) for r in rows]) for k in keys}
    ex = {k: np.array([float(getattr(r["f"], k)) for r in rows]) for k in ("adders", "add_bits", "ext_bits")}

    def lsq(X, y, w):
        sw = np.sqrt(w)
        return np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]

    X = np.column_stack(
        [
            np.ones(len(rows)),
            np.log(col["d"]),
            np.log(np.maximum(col["m"], 1) * col["n"]),
            np.log(col["d"] / np.maximum(col["nz"], 1)),
        ]
    )
    y = np.log(ex["adders"] / col["pos"])
    if c_fixed is None:
        la, b, c, e = lsq(X, y, wt)
    else:  # the (outputs x inputs) exponent held (dense matrices alone cannot tell it from the digits')
        la, b, e = lsq(X[:, [0, 1, 3]], y - c_fixed * X[:, 2], wt)
        c = c_fixed

    def law(q):  # the adder count as layer_features_fast computes it (per position)
        qq = np.array([q[0], q[1], c_fixed if c_fixed is not None else q[2], q[3]])
        return np.maximum(np.minimum(math.exp(qq[0]) * np.exp(X[:, 1:] @ qq[1:4]), q[4] * col["s"]), col["k"] - 1)

    from scipy.optimize import least_squares

    q = least_squares(lambda q: np.sqrt(wt) * (np.log(np.maximum(law(q), 1e-3)) - y), [la, b, c, e, 1.0]).x
    out = {"A": math.exp(q[0]), "B": q[1], "C": c_fixed if c_fixed is not None else q[2], "B_RHO": q[3], "K_S": q[4]}
    ad = ex["adders"]
    terms = {
        "W0": np.ones(len(rows)),
        "W_X": col["wx"],
        "W_R": col["rb"],
        "W_S": col["span"],
        "W_U": col["uns"],
        "W_N": np.log2(np.maximum(col["n"], 2)),
        "W_D": np.log2(np.maximum(col["d"] / np.maximum(col["m"], 1), 2)),
        "W_M": np.log2(np.maximum(col["m"], 1)),
    }
    names = [k for k in terms if k not in drop]
    X = ad[:, None] * np.column_stack([terms[k] for k in names])
    out.update({k: 0.0 for k in drop})
    out.update(zip(names, lsq(X, ex["add_bits"], wt / ex["add_bits"])))
    ab = ex["add_bits"]
    X = np.column_stack([ad, ad * col["uns"]])
    out.update(zip(("K_EXT", "K_EXT_U"), lsq(X, ex["ext_bits"], wt / np.maximum(ex["ext_bits"], 1))))

    def ratio(num, den):
        num, den = np.array(num, float), np.array(den, float)
        return float(num @ den / max(den @ den, 1e-9))

    fs = [r["f"] for r in rows]
    cb = np.array([r["pos"] * (r["bias_bits"] + r["rnd_bits"]) for r in rows])
    out["K_CONST"] = ratio([f.const_bits - r["el"] for f, r in zip(fs, rows)], cb)
    out["K_CMP"] = ratio([f.cmp_bits for f in fs], [r["pos"] * r["over_sum"] for r in rows])
    out["K_SUB"] = ratio([f.sub_bits for f in fs], ab)
    for p in range(4):
        sel = [k for k, r in enumerate(rows) if min(r["p"], 3) == p]
        out[f"K_MACC{p}"] = ratio([fs[k].macc_bits for k in sel], [ab[k] for k in sel])
        out[f"K_SUB_REG{p}"] = ratio([getattr(fs[k], "sub_reg_bits", 0) for k in sel], [ab[k] for k in sel])
    return {k: round(float(v), 4) for k, v in out.items()}
