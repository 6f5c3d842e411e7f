"""Import a QONNX file (the format Brevitas, FINN and hls4ml exchange) as hwq IR, exactly.

QONNX adds a ``Quant(x, scale, zero_point, bit_width)`` node (attributes ``signed``, ``narrow``,
``rounding_mode``) to standard ONNX: ``q = clamp(round(x / scale) + zero_point)``, output
``scale * (q - zero_point)``. ``from_qonnx(path)`` maps, node by node in the file's (topological) order:

    Quant of the graph input                -> the graph input (its integers are the input raws)
    Quant of an initializer                 -> quantised constant (weights, biases)
    Quant of an activation                  -> requantize (cast)
    Gemm / MatMul (+ Add of a constant)     -> dense (bias folded)
    Conv (+ Add of a constant)              -> conv1d / conv2d
    Relu                                    -> relu
    MaxPool                                 -> maxpool
    Flatten (axis 1) / Reshape to (N, -1)   -> flatten
    Add of two activations                  -> add
    Identity                                -> nothing

Every Quant must be a fixed-point grid (power-of-two scale, zero point 0) and every layer's float32
sums exact (``hwq.interop.builder``); anything else is refused naming the ONNX node.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .builder import GraphBuilder, InteropError, UniformQuant, fixed_format, power_of_two_exponent

_ROUNDING = {"ROUND": "round", "FLOOR": "floor", "ROUND_TO_ZERO": "round_to_zero"}


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InteropError("the onnx package is not installed: pip install 'hwq[interop]' (or onnx)") from e
    return onnx, numpy_helper


def _attrs(node) -> dict:
    onnx, _ = _onnx()
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


class _Const:
    """A constant: float values, and for quantised constants the integers and per-channel scales."""

    def __init__(self, values: np.ndarray, ints: np.ndarray | None = None, scales: np.ndarray | None = None):
        self.values, self.ints, self.scales = values, ints, scales


def _quantise_const(values: np.ndarray, q: UniformQuant, scales: np.ndarray, what: str) -> _Const:
    """Integers of a constant under a Quant node, exactly (power-of-two scales divide exactly)."""
    s = np.asarray(scales, dtype=np.float64)
    for v in np.unique(s):
        power_of_two_exponent(float(v), what + " scale")
    y = np.asarray(values, dtype=np.float64) / s
    if q.rounding == "round":
        r = np.round(y)  # ties to even, as QONNX's reference (numpy) execution
    elif q.rounding == "floor":
        r = np.floor(y)
    else:
        r = np.trunc(y)
    if q.signed:
        lo = -(2 ** (q.bits - 1)) + (1 if q.narrow else 0)
        hi = 2 ** (q.bits - 1) - 1
    else:
        lo, hi = 0, 2**q.bits - 1
    ints = np.clip(r, lo, hi).astype(np.int64)
    return _Const(ints * s, ints, s)


def from_qonnx(model, name: str | None = None):
    """Build the hwq IR graph of a QONNX model (a path or an ``onnx.ModelProto``); validated ``Graph``.

    Raises ``InteropError`` naming the first node that cannot be represented exactly.
    """
    onnx, numpy_helper = _onnx()
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.is_file():
            raise InteropError(f"{path}: no such QONNX file")
        try:
            model = onnx.load(str(path))
        except Exception as e:  # noqa: BLE001 - protobuf raises various errors on a corrupt file
            raise InteropError(f"{path}: not a readable ONNX file ({type(e).__name__}: {e})") from None
        default_name = path.stem
    else:
        default_name = model.graph.name or "qonnx_model"
    g = model.graph
    consts: dict[str, _Const] = {i.name: _Const(numpy_helper.to_array(i).astype(np.float64)) for i in g.initializer}
    for node in g.node:  # Constant nodes are constants too
        if node.op_type == "Constant":
            consts[node.output[0]] = _Const(numpy_helper.to_array(node.attribute[0].t).astype(np.float64))
    shapes = _input_shapes(g, consts)
    b = GraphBuilder(name or default_name)
    env: dict[str, str] = {}
    pending_bias: dict[str, tuple] = {}

    def act(tname: str, what: str) -> str:
        if tname not in env:
            raise InteropError(f"{what}: input {tname!r} is not a quantised activation (is there a Quant before it?)")
        return env[tname]

    for node in g.node:
        what = f"node {node.name or node.output[0]!r} ({node.op_type})"
        op = node.op_type
        a = _attrs(node)
        if op == "Constant":
            continue
        if op == "Quant":
            x, scale_n, zp_n, bits_n = node.input[:4]
            for n in (scale_n, zp_n, bits_n):
                if n not in consts:
                    raise InteropError(f"{what}: scale, zero point and bit width must be constants")
            scale = consts[scale_n].values
            zp = consts[zp_n].values
            if np.any(zp != 0):
                raise InteropError(f"{what}: zero point {zp.ravel()[:4]} is not 0")
            bits = float(consts[bits_n].values.reshape(-1)[0])
            rounding = a.get("rounding_mode", "ROUND").upper()
            if rounding not in _ROUNDING:
                raise InteropError(f"{what}: rounding_mode {rounding!r} is not supported")
            q = UniformQuant(bits, bool(a.get("signed", 1)), bool(a.get("narrow", 0)), 1.0, 0.0, _ROUNDING[rounding])
            if x in consts:
                consts[node.output[0]] = _quantise_const(consts[x].values, q, scale, what)
                continue
            if scale.size != 1:
                raise InteropError(f"{what}: per-channel activation scales are not supported")
            q = UniformQuant(bits, q.signed, q.narrow, float(scale.reshape(-1)[0]), 0.0, q.rounding)
            fmt = fixed_format(q, what)
            if x in shapes and x not in env:
                env[node.output[0]] = b.input(x, shapes[x], fmt)
            else:
                env[node.output[0]] = b.quant(node.output[0], act(x, what), fmt)
            continue
        if op == "Identity":
            src = node.input[0]
            if src in consts:
                consts[node.output[0]] = consts[src]
            else:
                env[node.output[0]] = act(src, what)
            continue
        if op in ("Gemm", "MatMul"):
            x = act(node.input[0], what)
            w = _weight(consts, node.input[1], what)
            ints, scales = w.ints, w.scales
            if op == "Gemm":
                if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                    raise InteropError(f"{what}: only Gemm with transA=0, alpha=beta=1 is supported")
                if not a.get("transB", 0):
                    ints, scales = ints.T, _transpose_scales(scales)
            else:
                ints, scales = ints.T, _transpose_scales(scales)
            bias = _bias(consts, node.input[2], what) if len(node.input) > 2 and node.input[2] else None
            pending_bias[node.output[0]] = (
                "dense",
                x,
                ints,
                _channel_scales(scales, ints.shape[0], what),
                bias,
                a,
                what,
            )
            continue
        if op == "Conv":
            x = act(node.input[0], what)
            w = _weight(consts, node.input[1], what)
            bias = _bias(consts, node.input[2], what) if len(node.input) > 2 and node.input[2] else None
            pending_bias[node.output[0]] = (
                "conv",
                x,
                w.ints,
                _channel_scales(w.scales, w.ints.shape[0], what),
                bias,
                a,
                what,
            )
            continue
        if op == "Add" and any(i in pending_bias for i in node.input) and any(i in consts for i in node.input):
            lin = next(i for i in node.input if i in pending_bias)
            cst = next(i for i in node.input if i in consts)
            kind, x, ints, scales, bias, la, lwhat = pending_bias.pop(lin)
            if bias is not None:
                raise InteropError(f"{what}: a second bias after a biased layer is not supported")
            bvals = consts[cst].values.reshape(-1)
            pending_bias[node.output[0]] = (kind, x, ints, scales, bvals, la, lwhat)
            continue
        # any other node consumes finished layers: emit the pending ones it reads
        for i in node.input:
            if i in pending_bias:
                env[i] = _emit_layer(b, i, pending_bias.pop(i))
        if op == "Relu":
            env[node.output[0]] = b.relu(node.output[0], act(node.input[0], what))
        elif op == "MaxPool":
            env[node.output[0]] = _maxpool(b, node.output[0], act(node.input[0], what), a, what)
        elif op == "Flatten":
            if a.get("axis", 1) != 1:
                raise InteropError(f"{what}: only axis=1 is supported")
            env[node.output[0]] = b.flatten(node.output[0], act(node.input[0], what))
        elif op == "Reshape":
            x = act(node.input[0], what)
            target = consts.get(node.input[1])
            if target is None or list(target.values.astype(int).ravel())[1:] not in ([-1], [int(np.prod(b.shape(x)))]):
                raise InteropError(f"{what}: only a reshape to (batch, -1) is supported")
            env[node.output[0]] = b.flatten(node.output[0], x)
        elif op == "Add":
            env[node.output[0]] = b.add(node.output[0], act(node.input[0], what), act(node.input[1], what))
        else:
            raise InteropError(f"{what}: not supported by the QONNX importer")
    for out in g.output:
        if out.name in pending_bias:
            env[out.name] = _emit_layer(b, out.name, pending_bias.pop(out.name))
        b.output(act(out.name, f"graph output {out.name!r}"))
    graph = b.finish()
    graph.meta["imported_from"] = "qonnx"
    return graph


def _input_shapes(g, consts) -> dict[str, tuple[int, ...]]:
    out = {}
    for i in g.input:
        if i.name in consts:
            continue
        dims = [d.dim_value for d in i.type.tensor_type.shape.dim]
        if len(dims) < 2 or any(d <= 0 for d in dims[1:]):
            raise InteropError(f"graph input {i.name!r}: needs a static shape (batch, ...), got {dims}")
        out[i.name] = tuple(int(d) for d in dims[1:])
    return out


def _weight(consts, name: str, what: str) -> _Const:
    w = consts.get(name)
    if w is None or w.ints is None:
        raise InteropError(f"{what}: weights {name!r} must be a Quant of a constant (a quantised initializer)")
    return w


def _bias(consts, name: str, what: str) -> np.ndarray:
    c = consts.get(name)
    if c is None:
        raise InteropError(f"{what}: bias {name!r} must be a constant")
    return c.values.reshape(-1)


def _transpose_scales(scales: np.ndarray) -> np.ndarray:
    s = np.asarray(scales)
    return s.T if s.ndim == 2 else s


def _channel_scales(scales: np.ndarray, cout: int, what: str) -> np.ndarray:
    """Per-output-channel scales (weights are (Cout, ...) here) from a broadcastable scale array."""
    s = np.asarray(scales, dtype=np.float64)
    if s.size == 1:
        return np.full(cout, float(s.reshape(-1)[0]))
    flat = s.reshape(s.shape[0], -1) if s.ndim > 1 else s.reshape(-1, 1)
    if flat.shape[0] != cout or np.any(flat != flat[:, :1]):
        raise InteropError(f"{what}: weight scales must be per tensor or per output channel")
    return flat[:, 0]


def _emit_layer(b: GraphBuilder, name: str, pending: tuple) -> str:
    kind, x, ints, scales, bias, a, what = pending
    if kind == "dense":
        if len(b.shape(x)) != 1:
            raise InteropError(f"{what}: a Gemm/MatMul input must be 1-D per sample, got {b.shape(x)}")
        return b.dense(name, x, ints, scales, bias, what=what)
    nd = ints.ndim - 2
    pads = a.get("pads", [0] * (2 * nd))
    pad_pairs = tuple((int(pads[i]), int(pads[i + nd])) for i in range(nd))
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise InteropError(f"{what}: auto_pad {a['auto_pad']!r} is not supported; give explicit pads")
    stride = tuple(int(v) for v in a.get("strides", [1] * nd))
    dil = tuple(int(v) for v in a.get("dilations", [1] * nd))
    return b.conv(name, x, ints, scales, bias, stride, pad_pairs, dil, int(a.get("group", 1)), what=what)


def _maxpool(b: GraphBuilder, name: str, x: str, a: dict, what: str) -> str:
    nd = len(a["kernel_shape"])
    if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1] * nd)):
        raise InteropError(f"{what}: only undilated, floor-mode max pooling is supported")
    pads = a.get("pads", [0] * (2 * nd))
    return b.maxpool(
        name,
        x,
        tuple(int(k) for k in a["kernel_shape"]),
        tuple(int(s) for s in a.get("strides", [1] * nd)),
        tuple((int(pads[i]), int(pads[i + nd])) for i in range(nd)),
    )
