"""Run configs of ``hwq train`` / ``hwq calibrate``: defaults, loading (TOML or JSON), validation.

Every key is checked before any training starts; a ``ConfigError`` names the offending key. Layout::

    name = "digits-mlp-fixed4"
    mode = "qat"                       # "qat" (train float, then quantisation-aware fine-tuning) or "ptq"
    [model]  arch = "mlp", hidden = [64, 32]            # or arch = "cnn", channels = [8, 16], pool = "max"
    [data]   name = "digits", split_seed = 0
    [train]  epochs = 40, qat_epochs = 30, batch_size = 64, lr = 0.003, quant_lr = 0.03, seed = 0,
             bit_penalty = 0.0
    [ptq]    calibrator = "minmax", percentile = 99.99, bias_correction = false, gptq = false, samples = 512
    [quant]  see hwq.nn.convert (input / weight / bias / preact / act / output / layers.<name>)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from hwq.nn.calibrate import CALIBRATORS
from hwq.nn.convert import check_quant_config, layer_plan
from hwq.nn.spec import SpecError

from .models import digits_cnn, digits_mlp


class ConfigError(ValueError):
    """A bad run config; the message names the key."""


DEFAULT_CONFIG: dict = {
    "name": "digits-mlp-fixed4-learned",
    "mode": "qat",
    "model": {"arch": "mlp", "hidden": [64, 32]},
    "data": {"name": "digits", "split_seed": 0},
    "train": {
        "epochs": 40,
        "qat_epochs": 30,
        "batch_size": 64,
        "lr": 0.003,
        "quant_lr": 0.03,
        "seed": 0,
        "bit_penalty": 0.0,
    },
    "ptq": {"calibrator": "minmax", "percentile": 99.99, "bias_correction": False, "gptq": False, "samples": 512},
    "quant": {
        "input": "ufixed<5,1,RND_CONV,SAT>",
        "weight": {"kind": "fixed", "width": 4, "int_bits": "learn"},
        "bias": {"kind": "fixed", "width": 8, "int_bits": "learn"},
        "preact": {"kind": "fixed", "width": 8, "int_bits": "learn"},
        "act": {"kind": "fixed", "width": 4, "int_bits": "learn", "signed": False},
        "output": {"kind": "fixed", "width": 8, "int_bits": "learn"},
    },
}

_SECTIONS = {
    "name": str,
    "mode": str,
    "model": dict,
    "data": dict,
    "train": dict,
    "ptq": dict,
    "quant": dict,
}
_MODEL_KEYS = {"arch", "hidden", "channels", "pool", "factory"}
_TRAIN_KEYS = set(DEFAULT_CONFIG["train"])
_PTQ_KEYS = set(DEFAULT_CONFIG["ptq"])


def load_config(path) -> dict:
    """Read a TOML (``.toml``) or JSON config file; raises ConfigError naming the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        return json.loads(text)
    except Exception as e:  # noqa: BLE001 - parse errors of either format
        raise ConfigError(f"{path}: cannot parse config: {e}") from None


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k == "quant" and isinstance(v, dict):
            out[k] = {**out[k], **copy.deepcopy(v)}  # shallow: a role given replaces the default role
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_config(user: dict | None) -> dict:
    """The full config: defaults overlaid with ``user`` (each ``quant`` role given replaces the default's),
    validated. Raises ConfigError naming the first bad key."""
    user = user or {}
    if not isinstance(user, dict):
        raise ConfigError("config: expected a table at the top level")
    for k in user:
        if k not in _SECTIONS:
            raise ConfigError(f"{k}: unknown config key; allowed: {', '.join(sorted(_SECTIONS))}")
        if not isinstance(user[k], _SECTIONS[k]):
            raise ConfigError(f"{k}: expected a {_SECTIONS[k].__name__}, got {type(user[k]).__name__}")
    cfg = _merge(DEFAULT_CONFIG, user)
    if isinstance(user.get("quant"), dict) and "profile" in user["quant"]:
        cfg["quant"] = copy.deepcopy(user["quant"])  # a profile defines every format itself
    if "model" in user and user["model"].get("arch") in ("cnn", "dscnn", "rescnn") and "hidden" not in user["model"]:
        cfg["model"].pop("hidden", None)
    validate_config(cfg)
    return cfg


def _pos_int(where: str, v, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ConfigError(f"{where}: must be an integer >= {lo}, got {v!r}")
    return v


def _pos_num(where: str, v, zero_ok: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (v == 0 and not zero_ok):
        raise ConfigError(f"{where}: must be a {'non-negative' if zero_ok else 'positive'} number, got {v!r}")
    return float(v)


def build_float_model(cfg: dict):
    """The float reference model a config names."""
    m = cfg["model"]
    if m.get("factory"):  # bring your own model (hwq.train.user)
        from .user import UserModelError, build_user_model

        try:
            return build_user_model(m["factory"], "model.factory")
        except UserModelError as e:
            raise ConfigError(str(e)) from None
    arch = m.get("arch", "mlp")
    if arch == "mlp":
        hidden = m.get("hidden", [64, 32])
        if not isinstance(hidden, list) or not hidden:
            raise ConfigError(f"model.hidden: expected a non-empty list of layer sizes, got {hidden!r}")
        for i, h in enumerate(hidden):
            _pos_int(f"model.hidden[{i}]", h)
        return digits_mlp(tuple(hidden))
    if arch == "cnn":
        ch = m.get("channels", [8, 16])
        if not isinstance(ch, list) or len(ch) != 2:
            raise ConfigError(f"model.channels: expected two channel counts, got {ch!r}")
        for i, c in enumerate(ch):
            _pos_int(f"model.channels[{i}]", c)
        pool = m.get("pool", "max")
        if pool not in ("max", "avg", "stride"):
            raise ConfigError(f"model.pool: expected max, avg or stride, got {pool!r}")
        return digits_cnn(tuple(ch), pool=pool)
    if arch in ("dscnn", "rescnn"):  # depthwise-separable / residual digits CNNs (CMSIS-NN profile tests)
        ch = m.get("channels", [8, 16])
        if not isinstance(ch, list) or len(ch) != 2:
            raise ConfigError(f"model.channels: expected two channel counts, got {ch!r}")
        from .models import digits_dscnn, digits_rescnn

        return (digits_dscnn if arch == "dscnn" else digits_rescnn)(tuple(_pos_int("model.channels", c) for c in ch))
    raise ConfigError(f"model.arch: unknown architecture {arch!r}; expected mlp, cnn, dscnn or rescnn")


def validate_config(cfg: dict) -> None:
    """Check every key of a resolved config (raises ConfigError naming the key)."""
    if cfg["mode"] not in ("qat", "ptq"):
        raise ConfigError(f"mode: expected 'qat' or 'ptq', got {cfg['mode']!r}")
    for k in cfg["model"]:
        if k not in _MODEL_KEYS:
            raise ConfigError(f"model.{k}: unknown key; allowed: {', '.join(sorted(_MODEL_KEYS))}")
    if cfg["data"].get("name", "digits") != "digits" and not cfg["data"].get("loader"):
        raise ConfigError(f"data.name: unknown data set {cfg['data'].get('name')!r}; built in: digits")
    for k in cfg["data"]:
        if k not in ("name", "split_seed", "loader"):
            raise ConfigError(f"data.{k}: unknown key; allowed: name, split_seed, loader")
    _pos_int("data.split_seed", cfg["data"].get("split_seed", 0), 0)
    t = cfg["train"]
    for k in t:
        if k not in _TRAIN_KEYS:
            raise ConfigError(f"train.{k}: unknown key; allowed: {', '.join(sorted(_TRAIN_KEYS))}")
    _pos_int("train.epochs", t["epochs"], 0)
    _pos_int("train.qat_epochs", t["qat_epochs"], 0)
    _pos_int("train.batch_size", t["batch_size"])
    _pos_int("train.seed", t["seed"], 0)
    _pos_num("train.lr", t["lr"])
    _pos_num("train.quant_lr", t["quant_lr"], zero_ok=True)
    _pos_num("train.bit_penalty", t["bit_penalty"], zero_ok=True)
    p = cfg["ptq"]
    for k in p:
        if k not in _PTQ_KEYS:
            raise ConfigError(f"ptq.{k}: unknown key; allowed: {', '.join(sorted(_PTQ_KEYS))}")
    if p["calibrator"] not in CALIBRATORS:
        raise ConfigError(f"ptq.calibrator: unknown calibrator {p['calibrator']!r}; expected {', '.join(CALIBRATORS)}")
    if not isinstance(p["percentile"], (int, float)) or not 50 <= p["percentile"] <= 100:
        raise ConfigError(f"ptq.percentile: must be a number in 50..100, got {p['percentile']!r}")
    _pos_int("ptq.samples", p["samples"])
    for k in ("bias_correction", "gptq"):
        if not isinstance(p[k], bool):
            raise ConfigError(f"ptq.{k}: must be true or false, got {p[k]!r}")
    model = build_float_model(cfg)
    if "profile" in cfg["quant"]:
        _check_profile(cfg, model)
        return
    plan = layer_plan(model)
    names = [n for n, _, _ in plan]
    try:
        check_quant_config(cfg["quant"], names)
    except SpecError as e:
        raise ConfigError(str(e)) from None


def _check_profile(cfg: dict, model) -> None:
    """Validate a ``quant.profile`` config (only ``"cmsis-nn"`` exists) and its calibrator."""
    from hwq.nn.cmsis import CALIBRATORS as CMSIS_CALIBRATORS
    from hwq.nn.cmsis import PROFILE, CmsisError, check_options, cmsis_from_float

    if cfg["quant"]["profile"] != PROFILE:
        raise ConfigError(f"quant.profile: unknown profile {cfg['quant']['profile']!r}; expected {PROFILE!r}")
    if cfg["ptq"]["calibrator"] not in CMSIS_CALIBRATORS:
        raise ConfigError(
            f"ptq.calibrator: {cfg['ptq']['calibrator']!r} is not available in the {PROFILE} profile; "
            f"expected {', '.join(CMSIS_CALIBRATORS)}"
        )
    for k in ("gptq", "bias_correction"):
        if cfg["ptq"][k]:
            raise ConfigError(f"ptq.{k}: not available in the {PROFILE} profile")
    try:
        cmsis_from_float(model, check_options(cfg["quant"]))
    except CmsisError as e:
        raise ConfigError(str(e)) from None
