"""``hwq calibrate``'s Python API: PTQ of a float model (built-in, from a checkpoint, or pickled)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from hwq.io import prepare_out_dir

from .config import ConfigError, build_float_model, resolve_config
from .loop import _data, accuracy, finish_run, quantize_from_float, train_float


def load_float_model(model: str, cfg: dict, progress: bool = False):
    """(float model, data split, float accuracy) for ``model`` = mlp | cnn | checkpoint | pickled .pt."""
    if model in ("mlp", "cnn"):
        if cfg["model"].get("arch", "mlp") != model:
            raise ConfigError(f"model.arch: config says {cfg['model'].get('arch')!r} but --model is {model!r}")
        return train_float(cfg, progress)
    path = Path(model)
    if not path.exists():
        raise ConfigError(f"--model {model}: no such file (expected mlp, cnn or a .pt file)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint
        raise ConfigError(f"--model {model}: cannot read it as a torch file: {e}") from None
    if isinstance(obj, dict) and "float_state" in obj:
        saved = obj["config"]
        cfg["model"] = saved["model"]
        fm = build_float_model(cfg)
        fm.load_state_dict(obj["float_state"])
    elif isinstance(obj, torch.nn.Module):
        fm = obj
    else:
        raise ConfigError(f"--model {model}: neither an hwq checkpoint nor a pickled nn.Module")
    fm.eval()
    data = _data(cfg)
    try:
        acc = accuracy(fm, data.x_test, data.y_test)
    except RuntimeError as e:
        raise ConfigError(f"--model {model}: does not accept digits inputs {data.x_test.shape[1:]}: {e}") from None
    return fm, data, acc


def calibrate_from_config(config: dict, model: str, out_dir, progress: bool = True, force: bool = False) -> dict:
    """PTQ: float model + config (``mode`` forced to "ptq") -> quantised model; writes the run outputs."""
    cfg = resolve_config({**config, "mode": "ptq"})
    out = prepare_out_dir(out_dir, force)
    started = time.time()
    torch.set_num_threads(1)
    fm, data, acc_f = load_float_model(model, cfg, progress)
    qm = quantize_from_float(cfg, fm, data, progress)
    return finish_run(cfg, fm, qm, data, acc_f, out, started)
