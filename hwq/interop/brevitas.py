"""Import a Brevitas QAT model as hwq IR, exactly.

``from_brevitas(model, example_input)`` runs the model once on ``example_input`` with forward hooks on
its layers, reads every quantiser (scale, zero point, bit width, signedness, narrow range, rounding)
from Brevitas's own quant tensors and proxies, and builds the IR with ``hwq.interop.builder``:

    QuantIdentity (first)         -> the graph input (its act quantiser's integers are the input raws)
    QuantIdentity (later)         -> requantize (cast)
    QuantLinear / QuantConv1d/2d  -> dense / conv1d / conv2d (input_quant and output_quant as casts;
                                     quantised or exactly representable bias)
    QuantReLU / nn.ReLU           -> relu (cast to the act quantiser's format)
    QuantEltwiseAdd               -> add (input and output quantisers as casts)
    nn.MaxPool1d/2d               -> maxpool
    nn.Flatten                    -> flatten
    nn.Dropout, nn.Identity       -> nothing

Exactness: every quantiser must be a fixed-point grid (power-of-two scale, zero point 0), and each
layer's float32 sums must be exact (``builder.check``); anything else is refused naming the module.
``brevitas_reference(model, graph, x)`` returns Brevitas's own input and output integers for a batch,
for a bit-for-bit comparison with ``hwq.ir.run``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .builder import GraphBuilder, InteropError, UniformQuant, fixed_format

_ROUND_IMPLS = {"RoundSte": "round", "FloorSte": "floor", "RoundToZeroSte": "round_to_zero"}


def _brevitas():
    try:
        import brevitas.nn as qnn
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InteropError("Brevitas is not installed: pip install 'hwq[interop]' (or brevitas)") from e
    return qnn


def _rounding(proxy, what: str) -> str:
    """The rounding of a Brevitas quantiser: the float-to-int impl of its integer quantiser."""
    found = [
        type(m).__name__
        for n, m in proxy.named_modules()
        if n.endswith("int_quant.float_to_int_impl") or n == "float_to_int_impl"
    ]
    if not found:
        raise InteropError(f"{what}: cannot find the quantiser's rounding (no int_quant.float_to_int_impl)")
    name = found[0]
    if name not in _ROUND_IMPLS:
        raise InteropError(f"{what}: rounding {name} is not supported (known: {', '.join(_ROUND_IMPLS)})")
    return _ROUND_IMPLS[name]


def _scalar(t, what: str, field: str) -> float:
    v = torch.as_tensor(t).detach().reshape(-1)
    if v.numel() == 0 or not torch.all(v == v[0]):
        raise InteropError(f"{what}: per-channel {field} on an activation is not supported")
    return float(v[0])


def _act_format(qt, proxy, what: str):
    """The FixedFormat of an activation quantiser, from the quant tensor it produced and its proxy."""
    uq = UniformQuant(
        bits=int(_scalar(qt.bit_width, what, "bit width")),
        signed=bool(qt.signed),
        narrow=bool(getattr(proxy, "is_narrow_range", False)),
        scale=_scalar(qt.scale, what, "scale"),
        zero_point=_scalar(qt.zero_point, what, "zero point"),
        rounding=_rounding(proxy, what),
    )
    return fixed_format(uq, what)


def _enabled(proxy) -> bool:
    return proxy is not None and bool(getattr(proxy, "is_quant_enabled", False))


class _Recorder:
    """Forward hooks on the model's layers: the calls in execution order, with their inputs/outputs."""

    def __init__(self, model: nn.Module) -> None:
        qnn = _brevitas()
        self.known = (
            qnn.QuantIdentity,
            qnn.QuantLinear,
            qnn.QuantConv1d,
            qnn.QuantConv2d,
            qnn.QuantReLU,
            qnn.QuantEltwiseAdd,
            nn.ReLU,
            nn.MaxPool1d,
            nn.MaxPool2d,
            nn.Flatten,
            nn.Dropout,
            nn.Identity,
        )
        self.calls: list[tuple[str, nn.Module, tuple, object]] = []
        self.handles = []
        skip_under: list[str] = []
        for name, mod in model.named_modules():
            if any(name.startswith(p + ".") for p in skip_under):
                continue
            if isinstance(mod, self.known):
                skip_under.append(name)
                self.handles.append(mod.register_forward_hook(self._hook(name or type(mod).__name__)))
            elif not list(mod.children()) and name:
                raise InteropError(f"module {name!r} ({type(mod).__name__}): not supported by the Brevitas importer")

    def _hook(self, name: str):
        def hook(mod, inputs, output):
            self.calls.append((name, mod, tuple(inputs), output))

        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def from_brevitas(model: nn.Module, example_input: torch.Tensor, name: str | None = None):
    """Build the hwq IR graph of a Brevitas model (see the module docstring); validated ``Graph``.

    example_input: one float batch (batch first); it fixes shapes and lets Brevitas compute its scales.
    Raises ``InteropError`` naming the first module that cannot be represented exactly.
    """
    qnn = _brevitas()
    was_training = model.training
    model.eval()
    rec = _Recorder(model)
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        rec.close()
        model.train(was_training)
    gname = name or (type(model).__name__ if type(model) is not nn.Sequential else "brevitas_model")
    b = GraphBuilder(gname)
    env: dict[int, str] = {}  # id(tensor or quant tensor) -> IR tensor
    keep = []  # keep every recorded object alive so that ids stay unique

    def src(obj, what: str) -> str:
        if id(obj) in env:
            return env[id(obj)]
        if obj is example_input:
            raise InteropError(f"{what}: the model input must pass through a QuantIdentity (or input_quant) first")
        raise InteropError(f"{what}: its input comes from an operation the importer cannot see (a function call in "
                           "forward?); use modules (nn.Flatten, QuantEltwiseAdd) for every step")  # fmt: skip

    for path, mod, inputs, output in rec.calls:
        keep.append((inputs, output))
        what = f"module {path!r} ({type(mod).__name__})"
        # IR names: the module path, with the layer type in front of a bare Sequential index ('1' -> 'linear_1')
        lname = f"{type(mod).__name__.removeprefix('Quant').lower()}_{path}" if path.split(".")[-1].isdigit() else path
        x_obj = inputs[0] if inputs else None
        if isinstance(mod, (nn.Dropout, nn.Identity)):
            env[id(output)] = src(x_obj, what)
            continue
        if isinstance(mod, qnn.QuantIdentity):
            if not _enabled(mod.act_quant):
                env[id(output)] = src(x_obj, what)
                continue
            fmt = _act_format(output, mod.act_quant, what)
            if id(x_obj) not in env and x_obj is example_input:
                env[id(output)] = b.input(lname, tuple(example_input.shape[1:]), fmt)
            else:
                env[id(output)] = b.quant(lname, src(x_obj, what), fmt)
            continue
        if isinstance(mod, (qnn.QuantLinear, qnn.QuantConv1d, qnn.QuantConv2d)):
            env[id(output)] = _layer(b, qnn, lname, mod, x_obj, output, example_input, env, src, what)
            continue
        if isinstance(mod, (qnn.QuantReLU, nn.ReLU)):
            x = src(x_obj, what)
            proxy = getattr(mod, "act_quant", None)
            fmt = _act_format(output, proxy, what) if _enabled(proxy) else None
            env[id(output)] = b.relu(lname, x, fmt)
            continue
        if isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d)):
            env[id(output)] = _maxpool(b, lname, mod, src(x_obj, what), what)
            continue
        if isinstance(mod, nn.Flatten):
            if mod.start_dim != 1 or mod.end_dim != -1:
                raise InteropError(f"{what}: only Flatten(start_dim=1, end_dim=-1) is supported")
            env[id(output)] = b.flatten(lname, src(x_obj, what))
            continue
        if isinstance(mod, qnn.QuantEltwiseAdd):
            xa, xb = (src(o, what) for o in inputs[:2])
            if _enabled(getattr(mod, "input_quant", None)):
                raise InteropError(f"{what}: an input quantiser on QuantEltwiseAdd is not supported")
            proxy = getattr(mod, "output_quant", None)
            fmt = _act_format(output, proxy, what) if _enabled(proxy) else None
            env[id(output)] = b.add(lname, xa, xb, fmt)
            continue
        raise InteropError(f"{what}: not supported by the Brevitas importer")  # pragma: no cover
    if not rec.calls:
        raise InteropError(f"model {gname!r}: no supported Brevitas layer was called")
    final = rec.calls[-1][3]
    b.output(src(final, "model output"))
    graph = b.finish()
    graph.meta["imported_from"] = f"brevitas {_version()}"
    return graph


def _version() -> str:
    import brevitas

    return getattr(brevitas, "__version__", "?")


def _layer(b: GraphBuilder, qnn, lname, mod, x_obj, output, example_input, env, src, what) -> str:
    """Dense/conv with its input quantiser, quantised weights and bias, and output quantiser."""
    if _enabled(mod.input_quant):
        qin = mod.input_quant(x_obj)
        fmt = _act_format(qin, mod.input_quant, what + " input_quant")
        if x_obj is example_input and id(x_obj) not in env:
            x = b.input(lname + "_in", tuple(example_input.shape[1:]), fmt)
        else:
            x = b.quant(lname + "_in", src(x_obj, what), fmt)
        x_qt = qin
    else:
        x = src(x_obj, what)
        x_qt = x_obj
    qw = mod.quant_weight()
    zp = torch.as_tensor(qw.zero_point).detach()
    if torch.any(zp != 0):
        raise InteropError(f"{what}: weight zero point is not 0 (asymmetric weights have no fixed-point form)")
    w_ints = qw.int().detach().cpu().numpy().astype(np.int64)
    w_scales = torch.as_tensor(qw.scale).detach().cpu().double().reshape(-1).numpy()
    bias = None
    if mod.bias is not None:
        if _enabled(mod.bias_quant):
            try:
                qb = mod.bias_quant(mod.bias, x_qt, qw)
            except Exception as e:  # noqa: BLE001 - Brevitas raises RuntimeError without the input scale
                raise InteropError(
                    f"{what}: cannot quantise the bias ({e}); is the layer's input a quant tensor?"
                ) from None
            bias = torch.as_tensor(getattr(qb, "value", qb)).detach().cpu().double().numpy()
        else:
            bias = mod.bias.detach().cpu().double().numpy()
    if isinstance(mod, qnn.QuantLinear):
        y = b.dense(lname, x, w_ints, w_scales, bias, what=what)
    else:
        nd = 2 if isinstance(mod, qnn.QuantConv2d) else 1
        if isinstance(mod.padding, str) or getattr(mod, "padding_mode", "zeros") != "zeros":
            raise InteropError(f"{what}: only integer zero padding is supported")
        pads = tuple((int(p), int(p)) for p in _tuple(mod.padding, nd))
        stride, dilation = _tuple(mod.stride, nd), _tuple(mod.dilation, nd)
        y = b.conv(lname, x, w_ints, w_scales, bias, stride, pads, dilation, mod.groups, what=what)
    if _enabled(mod.output_quant):
        fmt = _act_format(output, mod.output_quant, what + " output_quant")
        y = b.quant(lname + "_out", y, fmt)
    return y


def _tuple(v, n: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * n


def _maxpool(b: GraphBuilder, lname, mod, x: str, what: str) -> str:
    nd = len(b.shape(x)) - 1
    if getattr(mod, "ceil_mode", False) or _tuple(getattr(mod, "dilation", 1), nd) != (1,) * nd:
        raise InteropError(f"{what}: only undilated, floor-mode max pooling is supported")
    k = _tuple(mod.kernel_size, nd)
    s = _tuple(mod.stride or mod.kernel_size, nd)
    p = tuple((v, v) for v in _tuple(mod.padding, nd))
    return b.maxpool(lname, x, k, s, p)


def brevitas_reference(model: nn.Module, graph, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Brevitas's own integers for a float batch ``x``: (input raws of the graph's input format,
    output raws of the graph's output format), both int64; ValueError if an output is off the grid.

    The input raws are what the model's first quantiser produces; the output raws are Brevitas's
    float32 outputs times 2**F_out, which are integers when the import is exact.
    """
    from fractions import Fraction

    model.eval()
    first: list = []

    def grab(mod, inputs, output):
        if not first:
            first.append(output)

    mods = [m for m in model.modules() if hasattr(m, "act_quant") or hasattr(m, "input_quant")]
    handle = None
    for m in mods:
        if hasattr(m, "act_quant") and _enabled(m.act_quant):
            handle = m.act_quant.register_forward_hook(grab)
            break
        if hasattr(m, "input_quant") and _enabled(m.input_quant):
            handle = m.input_quant.register_forward_hook(grab)
            break
    with torch.no_grad():
        out = model(x)
    if handle is not None:
        handle.remove()
    fin = graph.tensor(graph.inputs[0]).fmt
    fout = graph.tensor(graph.outputs[0]).fmt
    qin = first[0] if first else x
    vin = torch.as_tensor(getattr(qin, "value", qin)).detach().double().cpu().numpy()
    vout = torch.as_tensor(getattr(out, "value", out)).detach().double().cpu().numpy()

    def raws(v: np.ndarray, frac: int, what: str) -> np.ndarray:
        r = v * float(2**frac)
        if not np.all(r == np.round(r)):
            bad = v.ravel()[np.nonzero(r.ravel() != np.round(r.ravel()))[0][0]]
            raise ValueError(f"{what} value {Fraction(float(bad))} is not on the 2**-{frac} grid")
        return r.astype(np.int64)

    return raws(vin, fin.frac_bits, "input"), raws(vout, fout.frac_bits, "output")
