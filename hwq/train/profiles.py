"""Run configs of quantisation profiles, built in code: ``cmsis_config`` for a per-layer int8/int4 choice in
the CMSIS-NN profile (``hwq.nn.cmsis``), as ``hwq explore`` and ``hwq flow`` use it.

It lives in ``hwq.train`` (not ``hwq.nn``) because it builds and validates a run config: ``hwq.nn`` does
not import ``hwq.train``.
"""

from __future__ import annotations

import copy

from hwq.nn.cmsis import CALIBRATORS, PROFILE, CmsisError, _check_layers

from .config import ConfigError, resolve_config


def cmsis_config(
    layer_weights: dict[str, str], base: dict | None = None, mode: str = "ptq", single_rounding: bool = False
) -> dict:
    """A run config (as ``hwq.train.train_from_config`` / ``hwq train --config`` take) for a per-layer int8/int4
    weight choice in the CMSIS-NN profile: int8 activations with zero points, int32 biases, dyadic
    requantisation, ``int<8,narrow>`` or ``int<4,narrow>`` per-channel weights as ``layer_weights`` says.

    layer_weights: ``{layer: "int8" | "int4"}`` (layer names of ``mac_layer_names`` / ``hwq.nn.convert.layer_plan``,
    e.g. ``{"fc1": "int4", "fc2": "int8", "fc3": "int8"}``; layers not named get int8). base: an existing
    config whose ``name``, ``model``, ``data``, ``train`` and ``ptq`` sections are kept (its ``quant`` and
    ``mode`` are replaced; ``ptq.gptq`` / ``ptq.bias_correction`` are switched off, the profile has neither;
    without a ``ptq`` section the MSE calibrator is used, as in ``examples/*_cmsis_*.toml``). mode: ``"ptq"``
    (calibration only) or ``"qat"`` (calibration, then ``train.qat_epochs`` of fine-tuning).
    single_rounding: the CMSIS-NN build flag ``CMSIS_NN_USE_SINGLE_ROUNDING``.

    The config is validated (layer names against the model) before it is returned; raises ``CmsisError``
    naming the key (``quant.layers.fc9: unknown layer; ...``). The graph it trains lowers to CMSIS-NN
    kernels only (``hwq emit mcu``, ``hwq verify mcu``).
    """
    if not isinstance(layer_weights, dict):
        got = type(layer_weights).__name__
        raise CmsisError(f"layer_weights: expected a dict {{layer: 'int8' | 'int4'}}, got {got}")
    if mode not in ("ptq", "qat"):
        raise CmsisError(f"mode: expected 'ptq' or 'qat', got {mode!r}")
    if not isinstance(single_rounding, bool):
        raise CmsisError(f"single_rounding: must be True or False, got {single_rounding!r}")
    layers = _check_layers(dict(layer_weights), "quant.layers")
    base = copy.deepcopy(base or {})
    if not isinstance(base, dict):
        raise CmsisError(f"base: expected a config dict, got {type(base).__name__}")
    cfg: dict = {k: base[k] for k in ("model", "data", "train", "ptq") if k in base}
    ptq = dict(cfg.get("ptq") or {"calibrator": "mse"})
    if ptq.get("calibrator", "minmax") not in CALIBRATORS:
        ptq["calibrator"] = "mse"  # e.g. the fixed-point "output" calibrator: not in this profile
    for k in ("gptq", "bias_correction"):
        ptq.pop(k, None)
    cfg["ptq"] = ptq
    arch = (cfg.get("model") or {}).get("arch", "mlp")
    tag_ = "-".join(f"{n}w{w[3:]}" for n, w in layers.items()) or "int8"
    cfg["name"] = f"{base.get('name', arch)}-cmsis-{tag_}-{mode}"
    cfg["mode"] = mode
    cfg["quant"] = {
        "profile": PROFILE,
        "weights": "int8",
        "activations": "int8",
        "single_rounding": single_rounding,
        "layers": {n: {"weights": w} for n, w in layers.items()},
    }
    try:
        resolve_config(cfg)
    except ConfigError as e:
        raise CmsisError(str(e)) from None
    return cfg
