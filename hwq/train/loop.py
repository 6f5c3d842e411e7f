"""Training, QAT, PTQ and the run outputs of ``hwq train`` / ``hwq calibrate``.

``train_from_config(config, out_dir)``: train the float reference model, convert it to ``hwq.nn`` with the
config's formats, then either fine-tune it quantisation-aware (``mode = "qat"``: learned binary points,
CSD digit schedule, optional bit-cost penalty) or calibrate it (``mode = "ptq"``); lower it to the IR,
check the IR interpreter against the emulator on the whole test split, and write

    DIR/model.pt      checkpoint: config, float and quantised state dicts
    DIR/graph.json    the IR (hwq.ir.serialize)
    DIR/summary.json  accuracy.float / accuracy.quantized, per-tensor formats, bit totals, exactness check
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwq.data import load_digits_split
from hwq.io import atomic_write, prepare_out_dir
from hwq.nn import emulate_raw, quantizers_of
from hwq.nn.calibrate import bias_correction, calibrate, gptq
from hwq.nn.convert import quantize_model
from hwq.nn.quantizers import CSDQuantizer, FixedQuantizer

from .config import build_float_model, resolve_config


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy (percent) of ``model`` in eval mode."""
    was = model.training
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    model.train(was)
    return float((pred == y).mean() * 100.0)


def _batches(n: int, bs: int, gen: torch.Generator):
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, bs):
        yield perm[i : i + bs]


def fit(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    quant_lr: float = 0.0,
    bit_penalty: float = 0.0,
    progress: bool = False,
    desc: str = "train",
    eval_xy: tuple[np.ndarray, np.ndarray] | None = None,
) -> nn.Module:
    """Adam + cross-entropy with a cosine learning rate. Quantiser parameters (learned binary points,
    widths, exponent biases) get ``quant_lr``. CSD quantisers follow a digit-count schedule: from their
    start digits down to the target over the first 60% of the epochs. ``bit_penalty`` adds
    ``bit_penalty * 1e-3 * sum(width * stored elements)`` over learned-width quantisers (stored bits in
    units of kbit: a weight tensor counts all its elements, an activation its elements per sample)."""
    if epochs == 0:
        return model
    gen = torch.Generator().manual_seed(seed)
    qparams = [p for q in quantizers_of(model).values() for p in q.parameters(recurse=False)]
    qids = {id(p) for p in qparams}
    others = [p for p in model.parameters() if id(p) not in qids]
    groups = [{"params": others, "lr": lr}]
    if qparams:
        groups.append({"params": qparams, "lr": quant_lr or lr})
    opt = torch.optim.Adam(groups)
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    csd = [q for q in quantizers_of(model).values() if isinstance(q, CSDQuantizer)]
    start_digits = {id(q): q.digits for q in csd}
    widths = [q for q in quantizers_of(model).values() if isinstance(q, FixedQuantizer) and q.learn_width]
    bar = _progress(range(epochs), progress, desc)
    for ep in bar:
        for q in csd:
            frac = min(ep / max(0.6 * epochs, 1), 1.0)
            q.digits = max(q.target_digits, round(start_digits[id(q)] - frac * (start_digits[id(q)] - q.target_digits)))
        model.train()
        tot, nb = 0.0, 0
        for idx in _batches(len(xt), batch_size, gen):
            out = model(xt[idx])
            loss = F.cross_entropy(out.float(), yt[idx])
            if bit_penalty and widths:
                loss = loss + bit_penalty * 1e-3 * sum(q.bit_cost() * q.stored_elements for q in widths)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach())
            nb += 1
        if progress and hasattr(bar, "set_postfix"):
            post = {"loss": f"{tot / max(nb, 1):.3f}"}
            if eval_xy is not None:
                post["acc"] = f"{accuracy(model, *eval_xy):.1f}"
            bar.set_postfix(post)
    for q in csd:
        q.digits = q.target_digits
    model.eval()
    return model


def tensor_formats(graph) -> dict[str, str]:
    """Per-tensor formats of a lowered graph: every IR tensor and each op's weight/bias/accumulator."""
    out = {name: str(t.fmt) for name, t in graph.tensors.items()}
    for op in graph.ops:
        for attr in ("weight_fmt", "bias_fmt", "acc_fmt"):
            f = getattr(op, attr, None)
            if f is not None:
                out[f"{op.name}.{attr.removesuffix('_fmt')}"] = str(f)
    return out


def bit_totals(model: nn.Module, graph) -> dict[str, int]:
    """Stored bits: weights (incl. biases) from the IR parameters, activations from the IR tensors."""
    wbits = 0
    for op in graph.ops:
        for attr, fattr in (("weight", "weight_fmt"), ("bias", "bias_fmt")):
            arr = getattr(op, attr, None)
            f = getattr(op, fattr, None)
            if arr is not None and f is not None:
                wbits += int(arr.size) * _stored_bits(model, op.name, attr, f)
    abits = sum(t.size * int(t.fmt.width) for t in graph.tensors.values())
    return {"weights": int(wbits), "activations": int(abits)}


def _stored_bits(model: nn.Module, op_name: str, attr: str, fmt) -> int:
    """Bits of a stored parameter: a minifloat's own width when its quantiser is one, else the format's."""
    for name, q in quantizers_of(model).items():
        layer, role = name.rsplit(".", 1) if "." in name else ("", name)
        if layer.replace(".", "_") == op_name and role == f"{attr}_q":
            return int(q.bits)
    return int(fmt.width)


def check_exact(model: nn.Module, graph, x: np.ndarray) -> dict:
    """Compare the emulator's raw outputs with ``hwq.ir.run`` on ``x``: vectors and mismatching vectors."""
    from hwq.ir import run

    emu = emulate_raw(model, x)
    ref = run(graph, x.astype(np.float64)).outputs()
    bad = np.zeros(len(x), dtype=bool)
    for e, r in zip(emu, ref):
        bad |= (e.reshape(len(x), -1) != np.asarray(r).reshape(len(x), -1)).any(axis=1)
    return {"vectors": int(len(x)), "mismatches": int(bad.sum())}


def _data(cfg: dict):
    if cfg["data"].get("loader"):  # bring your own data (hwq.train.user)
        from .config import ConfigError
        from .user import UserModelError, load_user_data

        try:
            return load_user_data(cfg["data"]["loader"], "data.loader")
        except UserModelError as e:
            raise ConfigError(str(e)) from None
    image = cfg["model"].get("arch") in ("cnn", "dscnn", "rescnn")
    return load_digits_split(image=image, seed=cfg["data"].get("split_seed", 0))


def train_float(cfg: dict, progress: bool = False):
    """Build and train the float reference model; returns (model, split, float accuracy)."""
    t = cfg["train"]
    torch.manual_seed(t["seed"])
    data = _data(cfg)
    model = build_float_model(cfg)
    fit(
        model,
        data.x_train,
        data.y_train,
        t["epochs"],
        t["batch_size"],
        t["lr"],
        t["seed"],
        progress=progress,
        desc="float",
        eval_xy=(data.x_test, data.y_test),
    )
    return model, data, accuracy(model, data.x_test, data.y_test)


def quantize_from_float(cfg: dict, float_model: nn.Module, data, progress: bool = False) -> nn.Module:
    """Convert, then QAT-fine-tune or PTQ-calibrate a float model as the config says."""
    t, p = cfg["train"], cfg["ptq"]
    gen = torch.Generator().manual_seed(t["seed"])
    calib_idx = torch.randperm(len(data.x_train), generator=gen)[: p["samples"]]
    xcal = torch.from_numpy(data.x_train[calib_idx.numpy()])
    if "profile" in cfg["quant"]:  # CMSIS-NN profile (hwq.nn.cmsis): calibrate, then optionally QAT
        from hwq.nn.cmsis import calibrate as cmsis_calibrate
        from hwq.nn.cmsis import cmsis_from_float

        qm = cmsis_calibrate(cmsis_from_float(float_model, cfg["quant"]), xcal, p["calibrator"], p["percentile"])
    else:
        qm = quantize_model(float_model, cfg["quant"], xcal)
    if "profile" in cfg["quant"] and cfg["mode"] == "ptq":
        return qm
    if cfg["mode"] == "ptq":
        calibrate(qm, xcal, p["calibrator"], p["percentile"], reference=float_model)
        if p["gptq"]:
            gptq(qm, xcal)
        if p["bias_correction"]:
            bias_correction(qm, xcal)
        if p["gptq"] or p["bias_correction"]:  # activations (and biases) see the new weights
            calibrate(qm, xcal, p["calibrator"], p["percentile"], reference=float_model, keep_weights=p["gptq"])
        return qm
    torch.manual_seed(t["seed"])
    fit(
        qm,
        data.x_train,
        data.y_train,
        t["qat_epochs"],
        t["batch_size"],
        t["lr"] * 0.5,
        t["seed"] + 1,
        quant_lr=t["quant_lr"],
        bit_penalty=t["bit_penalty"],
        progress=progress,
        desc="qat",
        eval_xy=(data.x_test, data.y_test),
    )
    return qm


def finish_run(cfg: dict, float_model, qmodel, data, acc_float: float, out_dir, started: float) -> dict:
    """Lower, check exactness, write graph.json, model.pt and summary.json; return the summary."""
    from hwq.ir.lower import lower
    from hwq.ir.serialize import dumps

    out_dir = Path(out_dir)
    example = torch.from_numpy(data.x_test[:8])
    graph = lower(qmodel, example, name=cfg["name"])
    acc_q = accuracy(qmodel, data.x_test, data.y_test)
    exact = check_exact(qmodel, graph, data.x_test)
    text = dumps(graph)
    atomic_write(out_dir / "graph.json", text)
    import io

    buf = io.BytesIO()
    torch.save({"config": cfg, "float_state": float_model.state_dict(), "quant_state": qmodel.state_dict()}, buf)
    atomic_write(out_dir / "model.pt", buf.getvalue())
    summary = {
        "name": cfg["name"],
        "mode": cfg["mode"],
        "accuracy": {"float": round(acc_float, 3), "quantized": round(acc_q, 3), "test_samples": int(len(data.y_test))},
        "formats": tensor_formats(graph),
        "bits": bit_totals(qmodel, graph),
        "emulator_vs_ir": exact,
        "seconds": round(time.time() - started, 2),
        "config": cfg,
    }
    atomic_write(out_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
    return summary


def train_from_config(config: dict | None, out_dir, progress: bool = True, force: bool = False) -> dict:
    """Python API of ``hwq train``: config (dict, None = built-in 4-bit digits MLP) -> summary dict.

    Validates the whole config first (ConfigError naming the key), refuses a non-empty ``out_dir``
    unless ``force``, trains, writes DIR/model.pt, DIR/graph.json, DIR/summary.json.
    """
    cfg = resolve_config(config)
    out = prepare_out_dir(out_dir, force)
    started = time.time()
    torch.set_num_threads(1)  # small models: one thread is fastest and leaves the other core free
    float_model, data, acc_f = train_float(cfg, progress)
    qmodel = quantize_from_float(cfg, float_model, data, progress)
    return finish_run(cfg, float_model, qmodel, data, acc_f, out, started)
