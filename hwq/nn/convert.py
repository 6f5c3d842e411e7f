"""Convert a plain float torch model plus a format config into an ``hwq.nn`` model (no retraining).

Supported: ``nn.Sequential`` of Linear, Conv1d, Conv2d (a following BatchNorm is folded into the conv),
stand-alone BatchNorm1d/2d, ReLU, ReLU6, MaxPool1d/2d, AvgPool1d/2d (no padding), AdaptiveAvgPool1d/2d
with output size 1 (global average pooling, ``QGlobalAvgPool``), Flatten, Dropout, Identity. The float
weights are copied; each tensor gets the quantiser its spec describes (see ``hwq.nn.spec``).

Quant config (the ``[quant]`` table of a run config)::

    input  = "ufixed<8,1,RND_CONV,SAT>"   # the graph input format
    weight = {...}   bias = {...}          # every Linear / Conv
    preact = {...}                         # result of Linear / Conv / BatchNorm (before the activation)
    act    = {...}                         # result of ReLU / ReLU6 / AvgPool (made unsigned for ReLU)
    output = {...}                         # result of the last Linear / Conv (the model output)
    [quant.layers.<name>]                  # per-layer overrides of weight/bias/preact/act/output

``check_quant_config`` validates all of it (names and specs) before any training starts.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from . import layers as L
from .spec import SpecError, make_quantizer, normalize_spec

ROLES = ("weight", "bias", "preact", "act", "output")
_TOP_KEYS = {"input", "layers", *ROLES}
_LINEARISH = (nn.Linear, nn.Conv1d, nn.Conv2d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


#: the plain torch layers ``quantize_model`` converts (also named in error messages and lowering hints)
SUPPORTED = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Dropout,
    nn.Identity,
)
SUPPORTED_LAYERS = ", ".join(c.__name__ for c in SUPPORTED) + " (AdaptiveAvgPool with output size 1)"


def _one(v, what: str, name: str, m) -> int:
    """An int from an int or a tuple of equal ints (square pooling windows only)."""
    t = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if len(set(t)) != 1:
        raise SpecError(f"model layer {name!r}: {type(m).__name__} {what} {v} is not square; hwq pools k x k windows")
    return int(t[0])


def _avgpool(name: str, m, out_q):
    """QAvgPool1d/2d for an nn.AvgPool1d/2d without padding or ceil mode."""
    if m.ceil_mode or any(p != 0 for p in (m.padding if isinstance(m.padding, (tuple, list)) else (m.padding,))):
        raise SpecError(f"model layer {name!r}: {type(m).__name__} with padding or ceil_mode is not supported")
    k = _one(m.kernel_size, "kernel", name, m)
    s = _one(m.stride if m.stride is not None else m.kernel_size, "stride", name, m)
    cls = L.QAvgPool1d if isinstance(m, nn.AvgPool1d) else L.QAvgPool2d
    return cls(k, out_q, s)


def layer_plan(model: nn.Module) -> list[tuple[str, nn.Module, nn.Module | None]]:
    """(name, module, folded BatchNorm or None) for each child of a Sequential model, BN folded into convs."""
    if not isinstance(model, nn.Sequential):
        raise SpecError(
            f"model: quantize_model converts nn.Sequential models; {type(model).__name__} is not one "
            "(build it from hwq.nn layers instead)"
        )
    kids = list(model.named_children())
    plan = []
    i = 0
    while i < len(kids):
        name, m = kids[i]
        nxt = kids[i + 1][1] if i + 1 < len(kids) else None
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and isinstance(nxt, _BN):
            plan.append((name, m, nxt))
            i += 2
            continue
        plan.append((name, m, None))
        i += 1
    return plan


def check_quant_config(qcfg: dict, layer_names: list[str], where: str = "quant") -> None:
    """Validate a quant config against the model's layer names; raise SpecError naming the key."""
    if not isinstance(qcfg, dict):
        raise SpecError(f"{where}: expected a table")
    for k in qcfg:
        if k not in _TOP_KEYS:
            raise SpecError(f"{where}.{k}: unknown key; allowed: {', '.join(sorted(_TOP_KEYS))}")
    normalize_spec(qcfg.get("input", "ufixed<8,1,RND_CONV,SAT>"), f"{where}.input")
    for r in ROLES:
        if r in qcfg:
            normalize_spec(qcfg[r], f"{where}.{r}")
    per = qcfg.get("layers", {})
    if not isinstance(per, dict):
        raise SpecError(f"{where}.layers: expected a table of layer names")
    for lname, over in per.items():
        if lname not in layer_names:
            raise SpecError(f"{where}.layers.{lname}: unknown layer; the model's layers are {', '.join(layer_names)}")
        if not isinstance(over, dict):
            raise SpecError(f"{where}.layers.{lname}: expected a table")
        for r, spec in over.items():
            if r not in ROLES:
                raise SpecError(f"{where}.layers.{lname}.{r}: unknown key; allowed: {', '.join(ROLES)}")
            normalize_spec(spec, f"{where}.layers.{lname}.{r}")


_DEFAULTS = {
    "weight": {"kind": "fixed", "width": 8, "int_bits": "learn"},
    "bias": {"kind": "fixed", "width": 16, "int_bits": "learn"},
    "preact": {"kind": "fixed", "width": 12, "int_bits": "learn"},
    "act": {"kind": "fixed", "width": 8, "int_bits": "learn", "signed": False},
    "output": {"kind": "fixed", "width": 12, "int_bits": "learn"},
}


def _spec(qcfg: dict, name: str, role: str):
    over = qcfg.get("layers", {}).get(name, {})
    if role in over:
        return over[role], f"quant.layers.{name}.{role}"
    if role == "output" and "output" not in qcfg and "preact" in over:
        return over["preact"], f"quant.layers.{name}.preact"
    return qcfg.get(role, _DEFAULTS[role]), f"quant.{role}"


def quantize_model(model: nn.Module, qcfg: dict, example_input: torch.Tensor | None = None) -> nn.Sequential:
    """An ``hwq.nn`` copy of a float ``nn.Sequential`` model with the formats of ``qcfg``.

    The float parameters and BatchNorm statistics are copied (BN after a conv is folded into a
    ``QConv*(bn=True)``). Quantisers whose binary point is learned or calibrated are initialised by a
    min/max pass over ``example_input`` when given (else on the first batch they see).
    """
    plan = layer_plan(model)
    names = [n for n, _, _ in plan]
    check_quant_config(qcfg, names + [n for n, _, b in plan if b is not None])
    last = max((i for i, (_, m, _) in enumerate(plan) if isinstance(m, _LINEARISH)), default=-1)

    def q(name, role, signed=None):
        spec, where = _spec(qcfg, name, role)
        quant = make_quantizer(spec, where, signed=signed)
        quant.per_sample = role in ("preact", "act", "output")
        return quant

    inq = make_quantizer(qcfg.get("input", "ufixed<8,1,RND_CONV,SAT>"), "quant.input")
    inq.per_sample = True
    out: list[tuple[str, nn.Module]] = [("input", L.QInput(inq))]
    for i, (name, m, bn) in enumerate(plan):
        res_role = "output" if i == last else "preact"
        if isinstance(m, nn.Linear):
            bq = q(name, "bias") if m.bias is not None else None
            new = L.QLinear(m.in_features, m.out_features, q(name, "weight"), q(name, res_role), bq)
            with torch.no_grad():
                new.weight.copy_(m.weight)
                if m.bias is not None:
                    new.bias.copy_(m.bias)
        elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
            cls = L.QConv2d if isinstance(m, nn.Conv2d) else L.QConv1d
            has_b = m.bias is not None or bn is not None
            new = cls(
                m.in_channels,
                m.out_channels,
                m.kernel_size,
                q(name, "weight"),
                q(name, res_role),
                q(name, "bias") if has_b else None,
                stride=m.stride,
                padding=m.padding,
                dilation=m.dilation,
                groups=m.groups,
                bn=bn is not None,
                bn_eps=bn.eps if bn is not None else 1e-5,
                bn_momentum=(bn.momentum or 0.1) if bn is not None else 0.1,
            )
            with torch.no_grad():
                new.conv.weight.copy_(m.weight)
                if bn is not None:
                    new.bn.load_state_dict(bn.state_dict())
                    if m.bias is not None:  # fold the conv bias into the BN shift
                        new.bn.running_mean.sub_(m.bias)
                elif m.bias is not None:
                    new.conv.bias.copy_(m.bias)
        elif isinstance(m, _BN):
            new = L.QBatchNorm(m.num_features, q(name, "weight"), q(name, "bias"), q(name, "preact"), eps=m.eps)
            with torch.no_grad():
                new.bn.load_state_dict(m.state_dict())
        elif isinstance(m, nn.ReLU):
            new = L.QReLU(q(name, "act", signed=False))
        elif isinstance(m, nn.ReLU6):
            new = L.QReLU6(q(name, "act", signed=False))
        elif isinstance(m, nn.MaxPool2d):
            new = L.QMaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode)
        elif isinstance(m, nn.MaxPool1d):
            new = L.QMaxPool1d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode)
        elif isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
            new = _avgpool(name, m, q(name, "act"))
        elif isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            size = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,)
            if any(s != 1 for s in size):
                raise SpecError(
                    f"model layer {name!r}: {type(m).__name__}({m.output_size}) is not supported; only output size 1 "
                    "(global average pooling); use AvgPool with a fixed kernel otherwise"
                )
            new = L.QGlobalAvgPool(q(name, "act"), keepdim=True)
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1:
                raise SpecError(f"model layer {name!r}: only Flatten(start_dim=1) is supported")
            new = L.QFlatten()
        elif isinstance(m, (nn.Dropout, nn.Identity)):
            new = nn.Identity()
        else:
            raise SpecError(
                f"model layer {name!r}: {type(m).__name__} has no quantised equivalent in hwq.nn; "
                f"quantize_model converts {SUPPORTED_LAYERS}"
            )
        out.append((name, new))
    qm = nn.Sequential(OrderedDict(out))
    if example_input is not None:
        qm.eval()  # BN folded with the float running statistics
        with torch.no_grad():
            qm(example_input)  # min/max initialisation of every uninitialised quantiser
    return qm
