"""The MCU backend's registry: IR op kind -> the CMSIS-NN call that computes it.

One function per anchor op kind (``dense``, ``conv1d``, ``conv2d``, ``maxpool``, ...) maps the op, plus the
ops fused after it (a dyadic ``requantize`` of a dense/conv accumulator, then ``relu`` / ``clip`` / narrowing
``requantize(cast)`` clamps), onto one CMSIS-NN call, as a ``Layer``. ``flatten`` / ``reshape`` are views.
Each function restates only what differs from the IR op's docstring (``hwq/ir/ops/<kind>.py``): storage
(``mcu/storage.py``), layout (NHWC, OHWI) and which fields carry which integer.

The arithmetic map, per output (CMSIS-NN conv/fc)::

    acc   = bias' + sum w * (storage_x + input_offset')   # input_offset' = input_offset - storage_offset_x
    store = clamp(requant(acc, m, s) + output_offset', act_min', act_max')
            # output_offset' = out_offset + storage_offset_y; act bounds likewise shifted

which equals the IR's ``clamp(requant(bias + sum w*(raw_x + input_offset)) + out_offset)`` exactly when the
accumulator cannot overflow int32 differently from the IR (``_check_acc``). A fixed-point layer whose output
is a direct cast ``acc -> fixed<8,..>`` by k fractional bits maps to ``m = 2**30, s = 1 - k`` in the
single-rounding build (``RND`` exactly; ``TRN`` with ``2**(k-1)`` subtracted from the bias).

``supports(op, graph) -> None | str`` answers for every op kind (used by emit, cost and explore).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hwq.backend import OpRegistry

from .storage import Storage, storage_of

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


class McuEmitError(ValueError):
    """A graph the MCU backend cannot emit; the message names the op (or tensor) and the reason."""


class Unsupported(Exception):
    """An op (or format) the MCU backend cannot take; the message is the reason."""


@dataclass
class Epilogue:
    """Requantisation and clamp after an anchor op, in raw (IR) units of the final output tensor."""

    multiplier: np.ndarray | None  # (C,) or (1,) int64, Q31 (None: no requantisation, e.g. pools)
    shift: np.ndarray | None
    out_offset: int
    act_min: int
    act_max: int
    output: str  # final IR tensor written by the layer
    ops: list = field(default_factory=list)  # fused IR ops after the anchor
    single_rounding: bool | None = None  # None: the layer does not depend on the build
    bias_adjust: int = 0  # added to every bias (TRN via RND)


@dataclass
class Layer:
    """One CMSIS-NN call: the IR ops it covers and the integers it needs (printed by ``mcu/cgen.py``)."""

    func: str  # CMSIS-NN function name (or an hwq helper: hwq_clamp_s8, ...)
    kind: str  # anchor op kind
    ops: list  # IR ops covered, anchor first
    inputs: list[str]  # IR tensors read
    output: str  # IR tensor written
    macs: int = 0
    params: dict = field(default_factory=dict)
    inplace: bool = False  # the output may overwrite inputs[0] (element-wise kernels)
    single_rounding: bool | None = None
    spatial_inputs: tuple[int, ...] = ()  # input positions that the kernel reads as NHWC


def _frac(fmt) -> int:
    try:
        return int(fmt.frac_bits)
    except (ValueError, AttributeError):
        return 0  # affine int<W> with a real scale: raws are plain integers, the scale is in the multiplier


def _fixed_frac(fmt) -> int | None:
    try:
        return int(fmt.frac_bits)
    except (ValueError, AttributeError):
        return None


def storage(graph, tensor: str) -> Storage:
    """Storage of an IR tensor; Unsupported naming the tensor when it has none."""
    t = graph.tensor(tensor)
    s = storage_of(t.fmt)
    if isinstance(s, str):
        raise Unsupported(f"tensor {tensor!r}: {s}")
    return s


def _only_consumer(graph, tensor: str):
    if tensor in graph.outputs:
        return None
    cons = graph.consumers(tensor)
    return cons[0] if len(cons) == 1 else None


def _is_sat(fmt) -> bool:
    return getattr(fmt, "overflow", "SAT") in ("SAT", "SAT_SYM") or type(fmt).__name__ == "IntFormat"


def _fuse_clamps(graph, tensor: str, lo: int, hi: int) -> tuple[str, int, int, list]:
    """Follow single-consumer relu/clip/cast-requantize ops that are pure clamps of ``tensor``'s raws."""
    fused = []
    while True:
        c = _only_consumer(graph, tensor)
        if c is None or c.kind not in ("relu", "clip", "requantize"):
            break
        if c.kind == "requantize" and c.mode != "cast":
            break
        xf, yf = graph.tensor(tensor).fmt, graph.tensor(c.output).fmt
        fx, fy = _fixed_frac(xf), _fixed_frac(yf)
        if fx is None or fy is None or fx != fy or isinstance(storage_of(yf), str):
            break
        nlo, nhi = lo, hi
        if c.kind == "relu":
            nlo = max(nlo, 0)
        elif c.kind == "clip":
            nlo = nlo if c.lo is None else max(nlo, int(c.lo))
            nhi = nhi if c.hi is None else min(nhi, int(c.hi))
        if nlo > nhi:
            nlo = nhi = min(max(nlo, lo), hi)  # the clip's bounds miss the range: a constant
        if nlo < yf.raw_min or nhi > yf.raw_max:  # the cast must saturate (a clamp), not wrap
            if not _is_sat(yf):
                break
            nlo, nhi = max(nlo, yf.raw_min), min(nhi, yf.raw_max)
            if nlo > nhi:
                break
        lo, hi = nlo, nhi
        fused.append(c)
        tensor = c.output
    return tensor, lo, hi, fused


def _acc_bound(weight: np.ndarray, bias: np.ndarray, xlo: int, xhi: int, in_off: int) -> int:
    """Largest |accumulator| over all inputs: |bias| + sum |w| * max|x + input_offset| (per output, max)."""
    m = max(abs(xlo + in_off), abs(xhi + in_off))
    w2 = weight.reshape(weight.shape[0], -1)
    if w2.dtype.kind in "iu" and w2.size and int(np.abs(w2).max()) * w2.shape[1] < 1 << 62:
        w = np.abs(w2).sum(axis=1)  # exact in int64
    else:
        w = np.abs(w2.astype(object)).sum(axis=1)
    return int(max((abs(int(b)) + int(s) * m for b, s in zip(bias.tolist(), w.tolist())), default=0))


def _check_acc(op, graph, bias: np.ndarray, wide: bool = False) -> int:
    """Accumulator checks of a dense/conv op (int32, or int64 for int16 activations); returns the bias in
    accumulator units (int64)."""
    acc = op.acc_fmt
    x = graph.tensor(op.inputs[0])
    prod_frac = _frac(x.fmt) + _frac(op.weight_fmt)
    if _frac(acc) != prod_frac:
        raise Unsupported(f"accumulator {acc} has {_frac(acc)} fractional bits, the products {prod_frac}")
    bshift = prod_frac - _frac(op.bias_fmt)
    if bshift < 0:
        raise Unsupported(f"bias format {op.bias_fmt} is finer than the accumulator {acc}")
    b = np.asarray(bias, dtype=object) * (1 << bshift)
    bits = 64 if wide else 32
    top = (1 << (bits - 1)) - 1
    if any(not -top - 1 <= int(v) <= top for v in b.tolist()):
        raise Unsupported(f"a bias does not fit int{bits}")
    in_off = int(getattr(op, "input_offset", 0) or 0)
    bound = _acc_bound(np.asarray(op.weight), b, x.fmt.raw_min, x.fmt.raw_max, in_off)
    exact = bound <= top and acc.raw_min <= -bound and bound <= acc.raw_max
    wraps_like_c = acc.width == bits and acc.signed and getattr(acc, "overflow", "") == "WRAP"
    if not (exact or wraps_like_c):
        raise Unsupported(
            f"accumulator {acc} may overflow (bound {bound}) differently from CMSIS-NN's wrapping int{bits}"
        )
    return np.asarray(b.astype(np.int64))


def _mac_epilogue(op, graph, bias: np.ndarray, wide: bool = False) -> Epilogue:
    """Requantisation of a dense/conv accumulator: a fused dyadic Requantize (``dyadic_s64`` for int16
    activations), or a fixed-point cast."""
    acc_t = graph.tensor(op.output)
    c = _only_consumer(graph, op.output)
    want = "dyadic_s64" if wide else "dyadic"
    if c is not None and c.kind == "requantize" and c.mode in ("dyadic", "dyadic_s64") and c.mode != want:
        raise Unsupported(f"requantize {c.name!r} mode {c.mode!r}: {'int16' if wide else 'int8'} kernels use {want}")
    if c is not None and c.kind == "requantize" and c.mode == want:
        if acc_t.fmt != op.acc_fmt:
            xf = graph.tensor(op.inputs[0]).fmt
            bnd = _acc_bound(
                np.asarray(op.weight), bias, xf.raw_min, xf.raw_max, int(getattr(op, "input_offset", 0) or 0)
            )
            if _frac(acc_t.fmt) != _frac(op.acc_fmt) or not (acc_t.fmt.raw_min <= -bnd and bnd <= acc_t.fmt.raw_max):
                raise Unsupported(f"accumulator tensor {acc_t.name!r} ({acc_t.fmt}) is not the exact int32 sum")
        yf = graph.tensor(c.output).fmt
        lo = yf.raw_min if c.act_min is None else int(c.act_min)
        hi = yf.raw_max if c.act_max is None else int(c.act_max)
        out, lo, hi, fused = _fuse_clamps(graph, c.output, lo, hi)
        mult = np.asarray(c.multiplier, dtype=np.int64)
        shift = np.asarray(c.shift, dtype=np.int64)
        single = None if wide else bool(c.single_rounding)
        return Epilogue(mult, shift, int(c.out_offset), lo, hi, out, [c, *fused], single)
    # fixed-point graph: the op's own output cast acc -> y by k fractional bits
    yf = acc_t.fmt
    fy = _fixed_frac(yf)
    if fy is None or type(yf).__name__ != "FixedFormat":
        raise Unsupported(f"output {acc_t.name!r} ({yf}) is neither a dyadic-requantized accumulator nor fixed point")
    if isinstance(storage_of(yf), str):
        raise Unsupported(f"output {acc_t.name!r} ({yf}) is wider than 16 bits and not followed by a dyadic requantize")
    k = _frac(op.acc_fmt) - fy
    if not -29 <= k <= 32:
        raise Unsupported(f"output cast shifts by {k} bits; CMSIS-NN shifts lie in [-31, 30]")
    adjust, single = 0, None
    if k > 0:
        if yf.rounding == "TRN":
            adjust = -(1 << (k - 1))
        elif yf.rounding != "RND":
            raise Unsupported(f"output rounding {yf.rounding} of {yf} has no CMSIS-NN requantisation (RND, TRN do)")
        single = True  # one rounding step: exactly RND with m = 2**30
    xf = graph.tensor(op.inputs[0]).fmt
    bnd = _acc_bound(np.asarray(op.weight), bias + adjust, xf.raw_min, xf.raw_max, 0)
    if k < 0 and bnd << -k > I32_MAX:
        raise Unsupported(f"output cast shifts left by {-k} bits and may overflow int32")
    lo, hi = yf.raw_min, yf.raw_max
    if not _is_sat(yf):
        top = (bnd + (1 << max(k, 1) - 1)) >> k if k > 0 else bnd << -k
        if top > hi or -top < lo:
            raise Unsupported(f"output {acc_t.name!r} ({yf}) may wrap; CMSIS-NN saturates")
    out, lo, hi, fused = _fuse_clamps(graph, op.output, lo, hi)
    one = np.array([1 << 30], dtype=np.int64)
    return Epilogue(one, np.array([1 - k], dtype=np.int64), 0, lo, hi, out, fused, single, adjust)


def _check_weights(op, lo: int = -128, hi: int = 127) -> None:
    w = np.asarray(op.weight)
    if w.size and (w.min() < lo or w.max() > hi):
        raise Unsupported(f"weights lie in [{w.min()}, {w.max()}], outside int8")


def _weight_bits(op) -> int:
    w = np.asarray(op.weight)
    wf = op.weight_fmt
    if getattr(wf, "width", 8) <= 4 and (not w.size or (w.min() >= -8 and w.max() <= 7)):
        return 4
    return 8


def _act_suffix(graph, x: str, y: str, name: str) -> str:
    sx, sy = storage(graph, x), storage(graph, y)
    if sx.nbytes != sy.nbytes:
        raise Unsupported(f"input {x!r} is {sx.ctype} but output {y!r} is {sy.ctype}; CMSIS-NN kernels keep the type")
    return "s16" if sx.nbytes == 2 else "s8"


def _mac_layer(op, graph, func_base: str, geometry: dict, macs: int) -> Layer:
    _check_weights(op)
    x = op.inputs[0]
    wide = storage(graph, x).nbytes == 2
    bias = _check_acc(op, graph, np.asarray(op.bias), wide)
    ep = _mac_epilogue(op, graph, bias, wide)
    sfx = _act_suffix(graph, x, ep.output, op.name)
    wbits = _weight_bits(op)
    in_off = int(getattr(op, "input_offset", 0) or 0)
    if sfx == "s16":
        wbits = 8
        if in_off or ep.out_offset:
            raise Unsupported("int16 kernels take no input/output offsets (symmetric int16 activations)")
        if func_base == "depthwise_conv_wrapper":
            raise Unsupported("int16 depthwise convolution is not in the portable runtime")
    elif wbits == 4:
        sfx = "s4"
    if func_base == "fully_connected" and sfx != "s8" and ep.multiplier is not None and len(ep.multiplier) > 1:
        # no per-channel s4/s16 fully connected kernel: the same sums as a 1x1 convolution on a 1x1xN input
        func_base = "convolve_wrapper"
        geometry = dict(geometry, cin=geometry["n"], h=1, w=1, cout=geometry["m"], kh=1, kw=1, ho=1, wo=1,
                        stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1))  # fmt: skip
    sx, sy = storage(graph, x), storage(graph, ep.output)
    params = dict(
        geometry,
        weight=np.asarray(op.weight, dtype=np.int64),
        bias=(bias + ep.bias_adjust).astype(np.int64),
        multiplier=ep.multiplier,
        shift=ep.shift,
        input_offset=in_off - sx.offset,
        output_offset=ep.out_offset + sy.offset,
        act_min=ep.act_min + sy.offset,
        act_max=ep.act_max + sy.offset,
        weight_bits=wbits,
    )
    if not wide and any(not I32_MIN <= int(v) <= I32_MAX for v in params["bias"].tolist()):
        raise Unsupported("a bias does not fit int32")
    spatial = () if op.kind == "dense" else (0,)
    return Layer(
        f"arm_{func_base}_{sfx}",
        op.kind,
        [op, *ep.ops],
        [x],
        ep.output,
        macs,
        params,
        single_rounding=ep.single_rounding,
        spatial_inputs=spatial,
    )


def dense(op, graph) -> Layer:
    """IR ``dense`` (+ requantize + clamps) -> ``arm_fully_connected_s8`` (per-tensor multiplier) or
    ``arm_fully_connected_per_channel_s8``; int4 weights -> ``arm_fully_connected_s4``; int16 activations ->
    ``arm_fully_connected_s16``. Per-channel s4/s16 (no such fully connected kernel) -> the same sums as a 1x1
    ``arm_convolve_wrapper_s4/_s16`` on a 1x1xN input. Kernel [M][N] (= OHWI with H = W = 1)."""
    m, n = op.weight.shape
    lay = _mac_layer(op, graph, "fully_connected", {"m": m, "n": n}, m * n)
    if lay.func == "arm_fully_connected_s8" and len(lay.params["multiplier"]) > 1:
        lay.func = "arm_fully_connected_per_channel_s8"
    return lay


def _conv_layer(op, graph, cin, h, w, kh, kw, stride, padding, dilation) -> Layer:
    cout = op.weight.shape[0]
    y = graph.tensor(op.output).shape
    ho, wo = (y[1], y[2]) if len(y) == 3 else (1, y[1])
    groups = int(op.groups)
    geom = dict(
        cin=cin, h=h, w=w, cout=cout, kh=kh, kw=kw, ho=ho, wo=wo, stride=stride, padding=padding, dilation=dilation
    )
    if groups == 1:
        base, macs = "convolve_wrapper", cout * ho * wo * cin * kh * kw
    elif groups == cin:
        base, macs = "depthwise_conv_wrapper", cout * ho * wo * kh * kw
        geom["ch_mult"] = cout // cin
    else:
        raise Unsupported(f"grouped convolution (groups={groups}, neither 1 nor Cin={cin}) has no CMSIS-NN kernel")
    return _mac_layer(op, graph, base, geom, macs)


def conv2d(op, graph) -> Layer:
    """IR ``conv2d`` (+ requantize + clamps) -> ``arm_convolve_wrapper_s8`` (groups 1, OHWI weights) or
    ``arm_depthwise_conv_wrapper_s8`` (groups = Cin, 1HWC weights); int4 weights -> the ``_s4`` wrappers."""
    cin, h, w = graph.tensor(op.inputs[0]).shape
    _, _, kh, kw = op.weight.shape
    return _conv_layer(op, graph, cin, h, w, kh, kw, tuple(op.stride), tuple(op.padding), tuple(op.dilation))


def conv1d(op, graph) -> Layer:
    """IR ``conv1d`` -> the ``conv2d`` kernels with H = 1 (input (C, L) is NHWC with H = 1)."""
    cin, length = graph.tensor(op.inputs[0]).shape
    _, _, k = op.weight.shape
    s = op.stride[0] if isinstance(op.stride, (tuple, list)) else op.stride
    p = tuple(op.padding) if isinstance(op.padding, (tuple, list)) else (op.padding, op.padding)
    d = op.dilation[0] if isinstance(op.dilation, (tuple, list)) else op.dilation
    return _conv_layer(op, graph, cin, 1, length, 1, k, (1, int(s)), (0, 0, int(p[0]), int(p[1])), (1, int(d)))


def _pool_geom(op, graph) -> dict:
    x = graph.tensor(op.inputs[0]).shape
    y = graph.tensor(op.output).shape
    if len(x) == 2:
        return dict(
            c=x[0], h=1, w=x[1], kh=1, kw=op.kernel[0], ho=1, wo=y[1], stride=(1, op.stride[0]),
            padding=(0, 0, op.padding[0], op.padding[1]),
        )  # fmt: skip
    return dict(
        c=x[0], h=x[1], w=x[2], kh=op.kernel[0], kw=op.kernel[1], ho=y[1], wo=y[2], stride=tuple(op.stride),
        padding=tuple(op.padding),
    )  # fmt: skip


def maxpool(op, graph) -> Layer:
    """IR ``maxpool`` (+ clamps) -> ``arm_max_pool_s8`` (NHWC; padded positions never win, as the IR)."""
    x, y = op.inputs[0], op.output
    xf, yf = graph.tensor(x).fmt, graph.tensor(y).fmt
    sx = storage(graph, x)
    if _fixed_frac(xf) != _fixed_frac(yf) and not (type(xf).__name__ == type(yf).__name__ == "IntFormat"):
        raise Unsupported(f"input format {xf} and output format {yf} differ in scale; the kernel copies values")
    lo, hi = sx.raw_min, sx.raw_max
    if lo < yf.raw_min or hi > yf.raw_max:
        if not _is_sat(yf):
            raise Unsupported(f"output {yf} may wrap the maximum; CMSIS-NN saturates")
        lo, hi = max(lo, yf.raw_min), min(hi, yf.raw_max)
    out, lo, hi, fused = _fuse_clamps(graph, y, lo, hi)
    so = storage(graph, out)
    if so.offset != sx.offset or so.nbytes != sx.nbytes:
        raise Unsupported(f"input storage ({sx.ctype}{sx.offset:+d}) and output storage differ; the kernel copies")
    g = _pool_geom(op, graph)
    sfx = "s16" if sx.nbytes == 2 else "s8"
    g.update(act_min=lo + so.offset, act_max=hi + so.offset)
    return Layer(f"arm_max_pool_{sfx}", op.kind, [op, *fused], [x], out, 0, g, spatial_inputs=(0,))


def _clamp_range(op, graph, y: str) -> tuple[int, int]:
    yf = graph.tensor(y).fmt
    lo = yf.raw_min if getattr(op, "act_min", None) is None else int(op.act_min)
    hi = yf.raw_max if getattr(op, "act_max", None) is None else int(op.act_max)
    return lo, hi


def avgpool(op, graph) -> Layer:
    """IR ``avgpool`` with ``mode="cmsis"`` (+ clamps) -> ``arm_avgpool_s8`` (NHWC; mean of the valid
    window elements rounded half away from zero). The ``recip`` mode (fixed-point reciprocal) is refused."""
    if getattr(op, "mode", "recip") != "cmsis":
        raise Unsupported("avgpool mode 'recip' (fixed-point reciprocal) has no CMSIS-NN kernel; use mode='cmsis'")
    x = op.inputs[0]
    sx = storage(graph, x)
    if sx.offset != 0:
        raise Unsupported(f"input storage offset {sx.offset}: the kernel's rounding needs raw = storage")
    lo, hi = _clamp_range(op, graph, op.output)
    out, lo, hi, fused = _fuse_clamps(graph, op.output, lo, hi)
    so = storage(graph, out)
    if so.offset != 0 or so.nbytes != sx.nbytes:
        raise Unsupported("input and output storage differ; the kernel keeps the storage")
    g = _pool_geom(op, graph)
    g.update(act_min=lo, act_max=hi)
    sfx = "s16" if sx.nbytes == 2 else "s8"
    return Layer(f"arm_avgpool_{sfx}", op.kind, [op, *fused], [x], out, 0, g, spatial_inputs=(0,))


def _elementwise(op, graph, func: str, params: dict, offsets: tuple[str, ...]) -> Layer:
    a, b = op.inputs
    sa, sb = storage(graph, a), storage(graph, b)
    if not sa.nbytes == sb.nbytes == 1:
        raise Unsupported("int16 element-wise ops are not emitted (int8 only)")
    lo, hi = _clamp_range(op, graph, op.output)
    out, lo, hi, fused = _fuse_clamps(graph, op.output, lo, hi)
    so = storage(graph, out)
    if so.nbytes != 1:
        raise Unsupported(f"output {out!r} is not int8")
    params = dict(params)
    params["in1_offset"] = int(getattr(op, offsets[0])) - sa.offset
    params["in2_offset"] = int(getattr(op, offsets[1])) - sb.offset
    params.update(
        out_mult=int(op.out_multiplier),
        out_shift=int(op.out_shift),
        output_offset=int(op.out_offset) + so.offset,
        act_min=lo + so.offset,
        act_max=hi + so.offset,
        count=graph.tensor(a).size,
    )
    return Layer(func, op.kind, [op, *fused], [a, b], out, 0, params, inplace=True,
                 single_rounding=bool(op.single_rounding))  # fmt: skip


def add_dyadic(op, graph) -> Layer:
    """IR ``add_dyadic`` (+ clamps) -> ``arm_elementwise_add_s8`` (element order is irrelevant; in place)."""
    p = dict(
        in1_mult=int(op.input1_multiplier),
        in1_shift=int(op.input1_shift),
        in2_mult=int(op.input2_multiplier),
        in2_shift=int(op.input2_shift),
        left_shift=int(op.left_shift),
    )
    return _elementwise(op, graph, "arm_elementwise_add_s8", p, ("input1_offset", "input2_offset"))


def mul_dyadic(op, graph) -> Layer:
    """IR ``mul_dyadic`` (+ clamps) -> ``arm_elementwise_mul_s8`` (in place)."""
    return _elementwise(op, graph, "arm_elementwise_mul_s8", {}, ("input1_offset", "input2_offset"))


def view(op, graph) -> Layer:
    """IR ``flatten`` / ``reshape`` -> no code: the output names the input's storage (layout tracked)."""
    sx, sy = storage(graph, op.inputs[0]), storage(graph, op.output)
    if graph.tensor(op.inputs[0]).fmt != graph.tensor(op.output).fmt and (sx != sy):
        raise Unsupported("a view may not change the storage of its tensor")
    return Layer("view", op.kind, [op], [op.inputs[0]], op.output)


def clamp(op, graph) -> Layer:
    """IR ``relu`` / ``clip`` / ``requantize(cast)`` that is a pure clamp -> an in-place clamp loop
    (``hwq_clamp_s8``), used when it cannot be fused into the producing kernel's activation bounds."""
    x = op.inputs[0]
    sx = storage(graph, x)
    if op.kind == "requantize" and op.mode != "cast":
        raise Unsupported("a dyadic requantize must follow a dense or convolution (fused into its kernel)")
    fx, fy = _fixed_frac(graph.tensor(x).fmt), _fixed_frac(graph.tensor(op.output).fmt)
    if fx is None or fx != fy:
        raise Unsupported("only a clamp with equal input and output scales maps to CMSIS-NN (a real cast does not)")
    probe = _fuse_clamps_single(graph, op, sx.raw_min, sx.raw_max)
    if probe is None:
        raise Unsupported("the output cast may wrap or change the scale; CMSIS-NN clamps only")
    lo, hi = probe
    so = storage(graph, op.output)
    if so.offset != sx.offset or so.nbytes != sx.nbytes:
        raise Unsupported("input and output storage differ; a clamp loop keeps the storage")
    sfx = "s16" if sx.nbytes == 2 else "s8"
    params = dict(act_min=lo + so.offset, act_max=hi + so.offset, count=graph.tensor(x).size)
    return Layer(f"hwq_clamp_{sfx}", op.kind, [op], [x], op.output, 0, params, inplace=True)


def patch_quant(op, graph) -> Layer:
    """IR ``patch_quant`` -> ``hwq_patch_pack_s8`` (``mcu/target/hwq_patch_pack.c``): the int8 NHWC map is stored
    as per-patch b-bit codes in a packed arena buffer (``packed_bytes``); ``mcu.lower`` inserts
    ``hwq_patch_unpack_s8`` before the first kernel that reads it, since no CMSIS-NN kernel reads sub-8-bit
    activations. Values are storage units (``base`` and the clamp shifted by the storage offset)."""
    from hwq.ir.ops.patch_quant import packed_bytes

    x = op.inputs[0]
    if op.output in graph.outputs:
        raise Unsupported("its output is a graph output (the caller reads int8); pack only between kernels")
    sx = storage(graph, x)
    if sx.nbytes != 1:
        raise Unsupported(f"input {x!r} is {sx.ctype}; packing takes int8 storage")
    c, h, w = graph.tensor(x).shape
    yf = graph.tensor(op.output).fmt
    params = dict(
        c=c, h=h, w=w, rows=int(op.grid[0]), cols=int(op.grid[1]), bits=[int(b) for b in op.bits],
        shifts=op.shift_list(), base=op.base_raw(graph) + sx.offset, act_min=int(yf.raw_min) + sx.offset,
        act_max=int(yf.raw_max) + sx.offset, packed_bytes=packed_bytes((c, h, w), tuple(op.grid), op.bits),
    )  # fmt: skip
    return Layer("hwq_patch_pack_s8", op.kind, [op], [x], op.output, 0, params, spatial_inputs=(0,))


def _fuse_clamps_single(graph, op, lo, hi):
    class _G:  # the clamp chain rule applied to this one op
        tensors = graph.tensors
        outputs = ()

        @staticmethod
        def tensor(n):
            return graph.tensor(n)

        @staticmethod
        def consumers(n):
            return [op] if n == op.inputs[0] else []

    out, nlo, nhi, fused = _fuse_clamps(_G, op.inputs[0], lo, hi)
    return (nlo, nhi) if fused else None


#: the MCU backend's registry (hwq.backend.OpRegistry): op kind -> function(op, graph) -> Layer, which raises
#: Unsupported with the reason; ``supports`` below is every entry's capability check.
REGISTRY = OpRegistry("mcu", error=McuEmitError, label="the MCU emitter")

#: op kinds that are fused into the preceding kernel when they follow one
FUSABLE = ("requantize", "relu", "clip")


def layer_for(op, graph) -> Layer:
    """The Layer computing ``op`` (with what it fuses); Unsupported naming no op (the caller adds it)."""
    entry = REGISTRY.get(op.kind)
    if entry is None:
        raise Unsupported(REGISTRY.supports(op, graph))
    return entry.impl(op, graph)


def fused_into(op, graph):
    """The anchor op whose kernel absorbs ``op`` (a fused requantize/clamp), or None."""
    if op.kind not in FUSABLE:
        return None
    prod = graph.producer(op.inputs[0])
    seen = 0
    while prod is not None and seen < 64:
        seen += 1
        if prod.kind in REGISTRY and prod.kind not in FUSABLE and prod.kind not in ("flatten", "reshape"):
            try:
                lay = layer_for(prod, graph)
            except Unsupported:
                return None
            return prod if op in lay.ops else None
        if prod.kind not in FUSABLE:
            return None
        prod = graph.producer(prod.inputs[0])
    return None


def _supports(op, graph) -> str | None:
    try:
        if fused_into(op, graph) is not None:
            return None
        layer_for(op, graph)
    except Unsupported as e:
        return str(e)
    return None


for _kind, _fn in (
    ("dense", dense),
    ("conv2d", conv2d),
    ("conv1d", conv1d),
    ("maxpool", maxpool),
    ("avgpool", avgpool),
    ("add_dyadic", add_dyadic),
    ("mul_dyadic", mul_dyadic),
    ("flatten", view),
    ("reshape", view),
    ("relu", clamp),
    ("clip", clamp),
    ("requantize", clamp),
    ("patch_quant", patch_quant),
):
    REGISTRY.add(_kind, _fn, supports=_supports, fused=_kind in FUSABLE, view=_fn is view)

#: op kind -> implementation (the registry's entries, for callers that want a plain dict)
KERNELS: dict[str, Callable] = {k: REGISTRY.entry(k).impl for k in REGISTRY.kinds()}


def supports(op, graph) -> str | None:
    """None when the MCU backend emits ``op`` (alone or fused into its producer's kernel), else the
    reason (one line). Formats are checked too (every tensor needs int8/int16 storage)."""
    return REGISTRY.supports(op, graph)
