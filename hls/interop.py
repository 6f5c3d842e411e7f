"""hls4ml interop: the same network as an hls4ml model, with the IR's exact per-layer precisions.

``to_hls4ml(graph, output_dir)`` builds an equivalent ``torch.nn.Sequential`` (the IR's integer weights
as exact float64 values), converts it with hls4ml's PyTorch front end (Vitis backend, io_parallel,
Latency strategy) with a per-layer precision configuration taken from the IR, and compiles it with
hls4ml's own C++ emulation (g++, the ap_types headers). ``compare_with_interpreter`` runs both on the
same raw inputs and reports mismatches per layer (hls4ml's trace against the interpreter's trace).

Layer mapping (chains of these ops, one input, one output, fixed-point formats):

    IR op / tensor        hls4ml layer         precisions set
    graph input           Input 'input_1'      result = input format
    dense                 Dense (Linear)       weight, bias, accum = acc_fmt, result = output format
    conv2d                Conv2D (Conv2d)      weight, bias, accum = acc_fmt, result (groups 1, dilation 1,
                                               symmetric padding)
    maxpool               Pooling2D            result = output format (2-D, no padding)
    relu                  Activation relu      result = output format
    flatten               Reshape (Flatten)    result = output format (= input format)
    reshape               (no layer)           only between 1-D tensors

hls4ml's 'ChannelsLastConversion: full' keeps the model's input and flatten order channels-first, as the
IR; its traces of spatial layers are channels-last and are transposed back for the comparison.

Both compute Dense as ``acc = (accum_t)bias; acc += (accum_t)(x*w) in input order; y = (result_t)acc``
and ReLU as ``(result_t)(x > 0 ? x : 0)``, so with these precisions the outputs are equal bit for bit
(proven by tests/hls/test_hls4ml.py). hls4ml writes weights as decimal text with F decimals, which is
exact for weights with F fractional bits; the weight type's modes are irrelevant for exact values.
hls4ml imports torch and hls4ml lazily; the rest of hwq.hls does not need them.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from hwq.io import sanitize_identifier

from .cpp import HLSEmitError, fixed_type

#: op kinds with an hls4ml counterpart in this bridge
SUPPORTED = ("dense", "relu", "conv2d", "maxpool", "flatten", "reshape")


def _precision(fmt, what: str) -> str:
    if getattr(fmt, "kind", None) != "fixed":
        raise HLSEmitError(f"{what}: format {fmt} has no hls4ml precision in this bridge (fixed point only)")
    return fixed_type(fmt).replace(" ", "")


def _check(graph) -> None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise HLSEmitError(f"graph {graph.name!r}: the hls4ml bridge needs one input and one output")
    prev = graph.inputs[0]
    for op in graph.ops:
        if op.kind not in SUPPORTED:
            raise HLSEmitError(
                f"op {op.name!r} (kind {op.kind!r}) has no hls4ml counterpart in this bridge; supported: "
                f"{', '.join(SUPPORTED)}"
            )
        if op.inputs != [prev]:
            raise HLSEmitError(f"op {op.name!r} ({op.kind}): the hls4ml bridge needs a chain of layers")
        prev = op.output
    if prev != graph.outputs[0]:
        raise HLSEmitError(f"graph {graph.name!r}: the output is not the last op's output")


def torch_model(graph):
    """The equivalent torch.nn.Sequential (float64, exact weights) and the IR op of each module name."""
    import torch

    _check(graph)
    modules: OrderedDict = OrderedDict()
    op_of: dict[str, object] = {}
    used: set[str] = {"input_1"}
    for op in graph.ops:
        if op.kind == "reshape":
            if len(graph.tensor(op.inputs[0]).shape) != 1 or len(graph.tensor(op.output).shape) != 1:
                raise HLSEmitError(f"op {op.name!r} (reshape): the hls4ml bridge only passes 1-D reshapes")
            continue
        name = sanitize_identifier(op.name, "layer")
        while name in used:
            name += "_"
        used.add(name)
        if op.kind == "dense":
            m, n = op.weight.shape
            lin = torch.nn.Linear(n, m, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(op.weight_fmt.from_raw(op.weight)))
                lin.bias.copy_(torch.from_numpy(op.bias_fmt.from_raw(op.bias)))
            modules[name] = lin
        elif op.kind == "conv2d":
            pt, pb, pl, pr = (int(v) for v in op.padding)
            if int(op.groups) != 1 or tuple(op.dilation) != (1, 1) or pt != pb or pl != pr:
                raise HLSEmitError(
                    f"op {op.name!r} (conv2d): the hls4ml bridge needs groups 1, dilation 1 and symmetric padding"
                )
            cout, cin, kh, kw = op.weight.shape
            conv = torch.nn.Conv2d(cin, cout, (kh, kw), stride=tuple(op.stride), padding=(pt, pl), dtype=torch.float64)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(op.weight_fmt.from_raw(op.weight)))
                conv.bias.copy_(torch.from_numpy(op.bias_fmt.from_raw(op.bias)))
            modules[name] = conv
        elif op.kind == "maxpool":
            if len(op.kernel) != 2 or any(int(p) for p in op.padding):
                raise HLSEmitError(f"op {op.name!r} (maxpool): the hls4ml bridge needs a 2-D pool without padding")
            modules[name] = torch.nn.MaxPool2d(tuple(op.kernel), tuple(op.stride))
        elif op.kind == "flatten":
            modules[name] = torch.nn.Flatten()
        else:
            modules[name] = torch.nn.ReLU()
        op_of[name] = op
    return torch.nn.Sequential(modules), op_of


def hls4ml_config(graph, model, op_of, strategy: str = "Latency", trace: bool = False) -> dict:
    """hls4ml configuration (granularity 'name') with every precision taken from the IR."""
    import hls4ml

    x = graph.tensor(graph.inputs[0])
    cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=x.shape, granularity="name", backend="Vitis")
    cfg["Model"]["Strategy"] = strategy
    layers = cfg["LayerName"]
    layers["input_1"]["Precision"] = {"result": _precision(x.fmt, f"input {x.name!r}")}
    for name, op in op_of.items():
        out = graph.tensor(op.output).fmt
        prec = {"result": _precision(out, f"op {op.name!r} output")}
        if op.kind in ("dense", "conv2d"):
            prec.update(
                weight=_precision(op.weight_fmt, f"op {op.name!r} weight"),
                bias=_precision(op.bias_fmt, f"op {op.name!r} bias"),
                accum=_precision(op.acc_fmt, f"op {op.name!r} accumulator"),
            )
        layers[name]["Precision"] = prec
        layers[name]["Trace"] = trace
    return cfg


def to_hls4ml(graph, output_dir, *, strategy: str = "Latency", trace: bool = False, compile: bool = True):
    """Convert ``graph`` to an hls4ml model in ``output_dir`` (Vitis backend, io_parallel) and compile it.

    Returns the hls4ml ModelGraph; ``model.hwq_layers`` maps hls4ml layer names to IR ops.
    """
    import hls4ml

    model, op_of = torch_model(graph)
    cfg = hls4ml_config(graph, model, op_of, strategy, trace)
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        model,
        hls_config=cfg,
        output_dir=str(Path(output_dir)),
        project_name=sanitize_identifier(graph.name, "net"),
        backend="Vitis",
        io_type="io_parallel",
    )
    if compile:
        hls_model.compile()
    hls_model.hwq_layers = op_of
    hls_model.hwq_trace = bool(trace)
    return hls_model


def predict_raw(graph, hls_model, inputs_raw: dict) -> np.ndarray:
    """hls4ml's C++ emulation on raw inputs: exact real values in, raw integers of the output out."""
    x = graph.tensor(graph.inputs[0])
    real = np.ascontiguousarray(x.fmt.from_raw(inputs_raw[graph.inputs[0]]).reshape(-1, x.size), dtype=np.float64)
    y = np.asarray(hls_model.predict(real), dtype=np.float64)
    out = graph.tensor(graph.outputs[0])
    return out.fmt.to_raw(y.reshape(-1, *out.shape))


def compare_with_interpreter(graph, hls_model, inputs_raw: dict) -> dict[str, int]:
    """Mismatching vectors per layer: hls4ml's trace against the interpreter's trace, in graph order; the
    key ``'output'`` compares the final outputs from ``predict``. ``hls_model`` must come from
    ``to_hls4ml(graph, dir, trace=True)`` (per-layer traces); otherwise ValueError says so."""
    from hwq.ir import run

    if not getattr(hls_model, "hwq_trace", True) or not hasattr(hls_model, "hwq_layers"):
        raise ValueError(
            "compare_with_interpreter: the hls4ml model has no per-layer traces; "
            "build it with hwq.hls.to_hls4ml(graph, output_dir, trace=True)"
        )
    ref = run(graph, inputs_raw, trace=True).raw
    x = graph.tensor(graph.inputs[0])
    real = np.ascontiguousarray(x.fmt.from_raw(inputs_raw[graph.inputs[0]]).reshape(-1, x.size), dtype=np.float64)
    out = {}
    _, traces = hls_model.trace(real)
    for name, op in hls_model.hwq_layers.items():
        if name not in traces:
            continue
        t = graph.tensor(op.output)
        arr = np.asarray(traces[name], dtype=np.float64)
        if len(t.shape) == 3:  # hls4ml holds spatial tensors channels-last
            c, h, w = t.shape
            arr = arr.reshape(-1, h, w, c).transpose(0, 3, 1, 2)
        got = t.fmt.to_raw(arr.reshape(-1, *t.shape))
        want = ref[op.output]
        out[f"{op.name} ({op.kind})"] = int(
            (got.reshape(len(got), -1) != want.reshape(len(want), -1)).any(axis=1).sum()
        )
    got = predict_raw(graph, hls_model, inputs_raw)
    want = ref[graph.outputs[0]]
    out["output"] = int((got.reshape(len(got), -1) != want.reshape(len(want), -1)).any(axis=1).sum())
    return out
