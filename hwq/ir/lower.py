"""Lower a model of ``hwq.nn`` layers to the hardware IR: integer weights, exact formats.

``lower(model, example_input)`` traces the model with ``torch.fx`` (hwq.nn layers are leaves), runs the
example through it for the shapes, and emits one IR op per layer, in execution order:

    QInput                  -> the graph input tensor (its format is the input quantiser's)
    QLinear                 -> dense       (weight/bias raw integers, lossless accumulator)
    QConv1d / QConv2d       -> conv1d / conv2d (BatchNorm folded into weight and bias)
    QBatchNorm              -> batchnorm   (per-channel scale and shift integers)
    QReLU / QReLU6          -> relu / clip (lo 0, hi 6)
    QAdd / operator.add     -> add
    QMaxPool / QAvgPool1d/2d-> maxpool / avgpool (exact window sum, IR reciprocal)
    QGlobalAvgPool          -> global_avgpool (+ reshape to (C, 1[, 1]) with keepdim)
    QFlatten / torch.flatten-> flatten
    nn.Dropout / Identity   -> nothing

Anything else raises ``LoweringError`` naming the module (or function) and its type. Plain torch layers
must first be converted with ``hwq.nn.quantize_model(model, config)`` (or pass ``config=`` here); the
error says whether ``quantize_model`` can convert the layer.

``hwq.ir.lower(model, x)`` is this module's ``lower`` function. The module object is itself callable (it
calls ``lower``), so the expression works both before and after anything imports the submodule
``hwq.ir.lower`` (which replaces the package attribute ``hwq.ir.lower`` with the module).
The emulator (``hwq.nn.emulate_raw``) and ``hwq.ir.run`` of the result agree bit for bit.
"""

from __future__ import annotations

import operator
import sys

import numpy as np
import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from hwq.io import unique_identifiers
from hwq.nn import layers as L
from hwq.nn.quantizers import Quantizer

from .graph import OPS, Graph, GraphError
from .ops import Dense, ReLU


class LoweringError(GraphError):
    """A model that cannot be lowered; the message names the module or function."""


_PASS_THROUGH = (nn.Dropout, nn.Identity)
_LEAF_TYPES = (
    L.QInput,
    L.QLinear,
    L._QConvNd,
    L.QBatchNorm,
    L.QReLU,
    L.QReLU6,
    L.QAdd,
    L.QAvgPool2d,
    L.QGlobalAvgPool,
    L.QMaxPool2d,
    L.QMaxPool1d,
    L.QFlatten,
    Quantizer,
)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, _LEAF_TYPES) or super().is_leaf_module(m, qualname)


def _need_op(kind: str, what: str):
    cls = OPS.get(kind)
    if cls is None:
        raise LoweringError(f"{what}: the IR has no {kind!r} op in this version of hwq (known: {sorted(OPS)})")
    return cls


class _Lowerer:
    def __init__(self, model: nn.Module, gm: fx.GraphModule, name: str) -> None:
        self.model, self.gm = model, gm
        self.graph = Graph(name, [], [])
        self.env: dict[str, str] = {}  # fx node name -> IR tensor name
        names = [n.target if n.op == "call_module" else n.name for n in gm.graph.nodes]
        self.ids = unique_identifiers([str(n).replace(".", "_") for n in names], prefix="t")
        self._id_of = dict(zip([n.name for n in gm.graph.nodes], [self.ids[str(x).replace(".", "_")] for x in names]))

    # -- helpers
    def shape(self, node: fx.Node) -> tuple[int, ...]:
        meta = node.meta.get("tensor_meta")
        if meta is None:
            raise LoweringError(f"node {node.name!r}: no shape recorded (does it return a single tensor?)")
        return tuple(int(s) for s in meta.shape[1:])

    def src(self, node: fx.Node, arg, what: str) -> str:
        if not isinstance(arg, fx.Node) or arg.name not in self.env:
            raise LoweringError(f"{what}: input {arg} is not a lowered tensor (is the model input quantised?)")
        return self.env[arg.name]

    def new_tensor(self, node: fx.Node, fmt) -> str:
        name = self._id_of[node.name]
        self.graph.add_tensor(name, self.shape(node), fmt)
        self.env[node.name] = name
        return name

    # -- per module type
    def module(self, node: fx.Node, mod: nn.Module) -> None:
        what = f"module {node.target!r} ({type(mod).__name__})"
        if isinstance(mod, _PASS_THROUGH):
            self.env[node.name] = self.src(node, node.args[0], what)
            return
        if isinstance(mod, L.QInput):
            arg = node.args[0]
            if not (isinstance(arg, fx.Node) and arg.op == "placeholder"):
                raise LoweringError(f"{what}: QInput must be applied to a model input")
            name = self.new_tensor(node, mod.q.fmt())
            self.graph.inputs.append(name)
            return
        x = self.src(node, node.args[0], what)
        xf = self.graph.tensor(x).fmt
        if isinstance(mod, L.QLinear):
            w, b = mod.quantized_params()
            wf = mod.weight_q.fmt()
            bf = mod.bias_q.fmt() if mod.bias_q is not None else wf
            wraw = mod.weight_q.to_raw(mod.weight)
            braw = mod.bias_q.to_raw(mod.bias) if mod.bias_q is not None else np.zeros(mod.out_features, np.int64)
            del w, b
            y = self.new_tensor(node, mod.out_q.fmt())
            op = Dense(self._id_of[node.name], [x], y, wraw, braw, wf, bf, mod.acc_fmt(xf))
            self.graph.add_op(op)
            return
        if isinstance(mod, L._QConvNd):
            self.conv(node, mod, x, xf, what)
            return
        if isinstance(mod, L.QReLU):
            y = self.new_tensor(node, mod.out_q.fmt())
            self.graph.add_op(ReLU(self._id_of[node.name], [x], y))
            return
        if isinstance(mod, L.QReLU6):
            cls = _need_op("clip", what)
            hi = 6 * 2.0**xf.frac_bits
            if hi != int(hi):
                raise LoweringError(f"{what}: 6 is not a value of the input format {xf}, so ReLU6 cannot clamp to it")
            y = self.new_tensor(node, mod.out_q.fmt())
            self.graph.add_op(cls(self._id_of[node.name], [x], y, lo=0, hi=int(hi)))
            return
        if isinstance(mod, (L.QFlatten, nn.Flatten)):
            self.flatten(node, x, what)
            return
        if isinstance(mod, (nn.MaxPool2d, nn.MaxPool1d)):  # plain max pooling keeps the format too
            self.maxpool(node, mod, x, xf, what)
            return
        if isinstance(mod, L.QAvgPool2d):  # and QAvgPool1d
            self.avgpool(node, mod, x, what)
            return
        if isinstance(mod, L.QGlobalAvgPool):
            self.global_avgpool(node, mod, x, what)
            return
        if isinstance(mod, L.QBatchNorm):
            self.batchnorm(node, mod, x, what)
            return
        if isinstance(mod, L.QAdd):
            xb = self.src(node, node.args[1], what)
            self.add(node, [x, xb], mod.out_q.fmt(), what)
            return
        raise LoweringError(f"{what}: not supported by hwq.ir.lower{_hint(mod)}")

    def conv(self, node, mod: L._QConvNd, x: str, xf, what: str) -> None:
        kind = "conv2d" if mod.dims == 2 else "conv1d"
        cls = _need_op(kind, what)
        c = mod.conv
        w, b = mod.folded_float_params()
        wraw = mod.weight_q.to_raw(w)
        wf = mod.weight_q.fmt()
        if mod.bias_q is not None and b is not None:
            braw, bf = mod.bias_q.to_raw(b), mod.bias_q.fmt()
        else:
            braw, bf = np.zeros(c.out_channels, np.int64), wf
        if isinstance(c.padding, str):
            raise LoweringError(f"{what}: string padding {c.padding!r} is not supported; give integers")
        y = self.new_tensor(node, mod.out_q.fmt())
        if mod.dims == 2:
            ph, pw = c.padding
            geom = dict(stride=tuple(c.stride), padding=(ph, ph, pw, pw), dilation=tuple(c.dilation))
        else:
            geom = dict(stride=int(c.stride[0]), padding=(c.padding[0], c.padding[0]), dilation=int(c.dilation[0]))
        if c.padding_mode != "zeros":
            raise LoweringError(f"{what}: padding_mode {c.padding_mode!r} is not supported (zeros only)")
        kw = dict(weight=wraw, bias=braw, weight_fmt=wf, bias_fmt=bf, acc_fmt=mod.acc_fmt(xf), groups=int(c.groups))
        kw.update(geom)
        self.graph.add_op(cls(self._id_of[node.name], [x], y, **_fit_fields(cls, kw, what)))

    def flatten(self, node, x: str, what: str) -> None:
        cls = _need_op("flatten", what)
        y = self.new_tensor(node, self.graph.tensor(x).fmt)
        self.graph.add_op(cls(self._id_of[node.name], [x], y))

    def maxpool(self, node, mod, x: str, xf, what: str) -> None:
        cls = _need_op("maxpool", what)
        nd = 2 if isinstance(mod, nn.MaxPool2d) else 1
        if _pair(mod.dilation, nd) != (1,) * nd or mod.ceil_mode:
            raise LoweringError(f"{what}: only undilated, floor-mode max pooling is supported")
        k = _pair(mod.kernel_size, nd)
        s = _pair(mod.stride or mod.kernel_size, nd)
        pad = tuple(p for v in _pair(mod.padding, nd) for p in (v, v))
        y = self.new_tensor(node, xf)
        self.graph.add_op(cls(self._id_of[node.name], [x], y, kernel=k, stride=s, padding=pad))

    def avgpool(self, node, mod: L.QAvgPool2d, x: str, what: str) -> None:
        cls = _need_op("avgpool", what)
        from hwq.formats import FixedFormat

        xf = self.graph.tensor(x).fmt
        nd = mod.dims
        n = mod.kernel_size**nd
        top = L._signed_int_bits(xf) + max(n - 1, 0).bit_length() + 1
        acc = FixedFormat(top + xf.frac_bits, top, True, "TRN", "WRAP")  # holds every window sum exactly
        recip, r = mod.reciprocal()
        y = self.new_tensor(node, mod.out_q.fmt())
        k = (mod.kernel_size,) * nd
        s = (mod.stride,) * nd
        self.graph.add_op(
            cls(
                self._id_of[node.name],
                [x],
                y,
                kernel=k,
                stride=s,
                padding=(0, 0) * nd,
                acc_fmt=acc,
                recip=recip,
                recip_frac_bits=r,
            )
        )

    def global_avgpool(self, node, mod: L.QGlobalAvgPool, x: str, what: str) -> None:
        cls = _need_op("global_avgpool", what)
        from hwq.formats import FixedFormat
        from hwq.ir.ops._pool import reciprocal

        xt = self.graph.tensor(x)
        if len(xt.shape) not in (2, 3):
            raise LoweringError(f"{what}: input must be (C, L) or (C, H, W), got {xt.shape}")
        n = int(np.prod(xt.shape[1:]))
        top = L._signed_int_bits(xt.fmt) + max(n - 1, 0).bit_length() + 1
        acc = FixedFormat(top + xt.fmt.frac_bits, top, True, "TRN", "WRAP")  # holds every channel sum exactly
        recip, r = reciprocal(n)
        fmt = mod.out_q.fmt()
        op_name = self._id_of[node.name]
        if not mod.keepdim:
            y = self.new_tensor(node, fmt)
            self.graph.add_op(cls(op_name, [x], y, acc_fmt=acc, recip=recip, recip_frac_bits=r))
            return
        flat = f"{op_name}_mean"
        self.graph.add_tensor(flat, (xt.shape[0],), fmt)
        self.graph.add_op(cls(flat, [x], flat, acc_fmt=acc, recip=recip, recip_frac_bits=r))
        y = self.new_tensor(node, fmt)
        self.graph.add_op(_need_op("reshape", what)(op_name, [flat], y))

    def batchnorm(self, node, mod: L.QBatchNorm, x: str, what: str) -> None:
        cls = _need_op("batchnorm", what)
        bn = mod.bn
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
        kw = dict(
            scale=mod.scale_q.to_raw(scale),
            bias=mod.shift_q.to_raw(shift),
            scale_fmt=mod.scale_q.fmt(),
            bias_fmt=mod.shift_q.fmt(),
        )
        y = self.new_tensor(node, mod.out_q.fmt())
        self.graph.add_op(cls(self._id_of[node.name], [x], y, **kw))

    def add(self, node, xs: list[str], fmt, what: str) -> None:
        cls = _need_op("add", what)
        y = self.new_tensor(node, fmt)
        self.graph.add_op(cls(self._id_of[node.name], xs, y))

    def function(self, node: fx.Node) -> None:
        what = f"function {getattr(node.target, '__name__', node.target)!r} (node {node.name!r})"
        t = node.target
        if t in (torch.flatten,) or (node.op == "call_method" and t in ("flatten",)):
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            if start != 1:
                raise LoweringError(f"{what}: only flatten from dim 1 (keeping the batch) is supported")
            self.flatten(node, self.src(node, node.args[0], what), what)
            return
        if node.op == "call_method" and t in ("view", "reshape") and len(self.shape(node)) == 1:
            self.flatten(node, self.src(node, node.args[0], what), what)
            return
        if node.op == "call_method" and t in ("size", "dim"):
            return
        if t in (operator.add, torch.add) or (node.op == "call_method" and t == "add"):
            raise LoweringError(f"{what}: a bare tensor add has no output format; use hwq.nn.QAdd")
        raise LoweringError(f"{what}: not supported by hwq.ir.lower")


def _hint(mod: nn.Module) -> str:
    """What to do about a module lowering does not take: convert it, or it has no hwq.nn equivalent."""
    from hwq.nn.convert import SUPPORTED, SUPPORTED_LAYERS

    if not type(mod).__module__.startswith("torch.nn"):
        return "; build the model from hwq.nn layers (see hwq.nn)"
    adaptive = isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d))
    size = getattr(mod, "output_size", None)
    if adaptive and any(s != 1 for s in (size if isinstance(size, (tuple, list)) else (size,))):
        return f"; only output size 1 (global average pooling) is supported, got {size}"
    if isinstance(mod, SUPPORTED):
        return (
            "; it is a plain torch layer: convert the model with hwq.nn.quantize_model(model, quant_config, x) "
            "first (or pass config= to lower)"
        )
    return f"; hwq.nn has no quantised equivalent of {type(mod).__name__} (quantize_model converts {SUPPORTED_LAYERS})"


#: container classes whose name says nothing about the model (the graph is then called ``model``)
_GENERIC_NAMES = {"Sequential", "ModuleList", "ModuleDict", "Module", "GraphModule"}


def default_name(model: nn.Module) -> str:
    """The graph name ``lower`` uses without ``name=``: the model's class name, or ``model`` for a generic
    container such as ``nn.Sequential`` (the name becomes the Verilog top ``hwq_<name>``, the HLS top ...)."""
    n = type(model).__name__
    return "model" if n in _GENERIC_NAMES else n


def _check_quantised(model: nn.Module) -> None:
    """Refuse a plain float model up front, naming the first layer hwq.nn cannot convert, if any."""
    if any(isinstance(m, (L.QInput, Quantizer)) for m in model.modules()):
        return
    for n, m in model.named_modules():
        if next(m.children(), None) is None and not isinstance(m, _PASS_THROUGH):
            hint = _hint(m)
            if "no quantised equivalent" in hint or "only output size" in hint:
                raise LoweringError(f"module {n!r} ({type(m).__name__}): not supported by hwq.ir.lower{hint}")
    raise LoweringError(
        f"model {type(model).__name__}: a plain float model (no hwq.nn.QInput); convert it with "
        "hwq.nn.quantize_model(model, quant_config, x) first, or pass config= to lower"
    )


def _pair(v, n: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * n


def _fit_fields(cls, kw: dict, what: str) -> dict:
    """Keep the attributes the IR op class defines; fail naming the op if a needed one is missing."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    out = {k: v for k, v in kw.items() if k in names}
    for k, v in kw.items():
        if k not in names and not _is_default(k, v):
            raise LoweringError(f"{what}: the IR {cls.kind!r} op has no attribute {k!r} (value {v})")
    return out


def _is_default(k: str, v) -> bool:
    if k == "groups":
        return v == 1
    if k == "dilation":
        return all(d == 1 for d in v)
    if k == "padding":
        return all(p == 0 for p in v)
    return False


def lower(model: nn.Module, example_input: torch.Tensor, name: str | None = None, config: dict | None = None) -> Graph:
    """Trace ``model`` (hwq.nn layers) and return the validated IR graph.

    example_input: one batch (batch first, float, real values) used for shapes only. name: the graph
    name (it names the generated top: Verilog ``hwq_<name>``, HLS function, MCU files); default
    ``default_name(model)``, the model's class name, or ``model`` for an ``nn.Sequential``. config: when
    given, plain torch layers are first converted with ``hwq.nn.quantize_model(model, config,
    example_input)``. Raises ``LoweringError`` naming the first unsupported module or function.
    """
    if config is not None:
        from hwq.nn.convert import quantize_model

        model = quantize_model(model, config, example_input)
    if hasattr(model, "lower_to_ir"):  # a model that lowers itself (hwq.nn.cmsis.CmsisNet)
        return model.lower_to_ir(example_input, name or default_name(model))
    _check_quantised(model)
    was_training = model.training
    model.eval()
    try:
        tracer = _Tracer()
        try:
            g = tracer.trace(model)
        except Exception as e:  # noqa: BLE001 - fx errors are user-facing here
            raise LoweringError(f"model {type(model).__name__}: torch.fx cannot trace it: {e}") from None
        gm = fx.GraphModule(model, g)
        with torch.no_grad():
            ShapeProp(gm).propagate(example_input)
        low = _Lowerer(model, gm, name or default_name(model))
        outputs: list[str] = []
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                continue
            if node.op == "get_attr":
                raise LoweringError(f"node {node.name!r}: direct use of parameter {node.target!r} is not supported")
            if node.op == "call_module":
                low.module(node, gm.get_submodule(node.target))
            elif node.op in ("call_function", "call_method"):
                low.function(node)
            elif node.op == "output":
                res = node.args[0]
                res = res if isinstance(res, (tuple, list)) else [res]
                for r in res:
                    outputs.append(low.src(node, r, "model output"))
        low.graph.outputs = outputs
        if not low.graph.inputs:
            raise LoweringError("model: no QInput layer found; the first layer must be an hwq.nn.QInput")
        low.graph.meta["lowered_from"] = type(model).__name__
        low.graph.validate()
        return low.graph
    finally:
        model.train(was_training)


class _CallableModule(type(sys)):
    """The type of this module: calling it calls ``lower`` (see the module docstring)."""

    def __call__(self, model: nn.Module, example_input: torch.Tensor, name: str | None = None, config=None) -> Graph:
        return lower(model, example_input, name=name, config=config)


sys.modules[__name__].__class__ = _CallableModule
