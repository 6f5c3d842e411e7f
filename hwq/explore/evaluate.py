"""Scoring one candidate configuration, and running many of them: in this process, in local worker
processes, or as Ray tasks, with every result cached by configuration hash.

A candidate is a tuple of ``Choice`` (one per searchable layer). Two stages:

- ``ptq``: convert the float model with the candidate's formats, calibrate (PTQ, the run config's
  calibrator), score on the validation split (accuracy in percent, mean cross-entropy loss), lower to the
  IR and estimate its costs. Also records each layer's squared weight-quantisation error (for the
  Hessian-weighted sensitivity).
- ``qat``: the same, then a short quantisation-aware fine-tune (``epochs`` on the fit split) and the
  accuracy on the test split; keeps the IR (``graph.json`` text) for the chosen point. FPGA costs come from
  ``ctx.extra["refine_model"]`` when set (explore: the exact calibrated model), else ``"fpga_model"``.

MCU targets (``cortex-m4``, ``cortex-m7``, ``cortex-m55``): a candidate's per-layer ``int8``/``int4``
weights build a CMSIS-NN profile model (``hwq.train.profiles.cmsis_config``: int8 activations with zero points,
int32 biases, dyadic requantisation; the ``act``/``acc`` choices are fixed by the profile), PTQ-calibrated
and, for ``qat``, fine-tuned in the profile; its IR is a CMSIS-NN graph (``hwq emit mcu`` accepts it) priced
by ``hwq.cost.mcu``.

Every evaluation is deterministic (one torch thread, seeded), so the result does not depend on the
executor or on the number of workers.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwq.io import atomic_write

from .space import Choice, weight_spec


@dataclass
class Context:
    """Everything a worker needs to score candidates (picklable; sent once per worker)."""

    cfg: dict  # resolved run config
    float_state: dict  # float model state dict (numpy arrays)
    data: dict  # x_fit, y_fit, x_val, y_val, x_test, y_test, x_cal
    layers: list[str]  # searchable layers
    act_layer: dict  # layer -> following activation layer or None
    target: str
    fingerprint: str = ""
    extra: dict = field(default_factory=dict)


def quant_config(base_quant: dict, layers: list[str], act_layer: dict, config: tuple[Choice, ...]) -> dict:
    """The run config's ``[quant]`` table with one ``quant.layers`` override per layer for ``config``:
    the weight format, the result format (fixed point, ``acc`` bits, calibrated binary point) and the
    following activation's format (unsigned fixed point, ``act`` bits)."""
    q = copy.deepcopy(base_quant)
    per = q.setdefault("layers", {})
    for i, (name, ch) in enumerate(zip(layers, config)):
        role = "output" if i == len(layers) - 1 else "preact"
        per.setdefault(name, {})["weight"] = weight_spec(ch.weight)
        per[name][role] = {"kind": "fixed", "width": int(ch.acc), "int_bits": "calibrate"}
        if act_layer.get(name) and ch.act is not None:
            per.setdefault(act_layer[name], {})["act"] = {
                "kind": "fixed",
                "width": int(ch.act),
                "int_bits": "calibrate",
                "signed": False,
            }
    return q


def config_key(fingerprint: str, config: tuple[Choice, ...], stage: str, epochs: int = 0) -> str:
    """The cache key (sha256 hex) of one evaluation."""
    payload = json.dumps(
        {"ctx": fingerprint, "config": [c.as_dict() for c in config], "stage": stage, "epochs": epochs},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _float_model(ctx: Context):
    import torch

    from hwq.train.config import build_float_model

    m = build_float_model(ctx.cfg)
    m.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in ctx.float_state.items()})
    m.eval()
    return m


def is_mcu(ctx: Context) -> bool:
    """True when the context's target is a microcontroller (candidates in the CMSIS-NN profile)."""
    from .costs import target_kind

    return target_kind(ctx.target) == "mcu"


def mcu_run_config(ctx: Context, config: tuple[Choice, ...], mode: str = "ptq", epochs: int = 0) -> dict:
    """The CMSIS-NN profile run config (``hwq.train.profiles.cmsis_config``) of an MCU candidate: per-layer
    ``int8``/``int4`` weights from the choices, the rest of the run config kept; ``mode="qat"`` records
    ``epochs`` as ``train.qat_epochs``."""
    from hwq.train.profiles import cmsis_config

    cfg = cmsis_config({n: ch.weight for n, ch in zip(ctx.layers, config)}, base=ctx.cfg, mode=mode)
    if mode == "qat":
        cfg["train"]["qat_epochs"] = int(epochs)
    return cfg


def _ptq_model(ctx: Context, config: tuple[Choice, ...]):
    import torch

    from hwq.nn.calibrate import calibrate
    from hwq.nn.convert import quantize_model

    fm = _float_model(ctx)
    if is_mcu(ctx):
        from hwq.nn.cmsis import calibrate as cmsis_calibrate
        from hwq.nn.cmsis import cmsis_from_float

        mcfg = mcu_run_config(ctx, config)
        p = mcfg["ptq"]
        qm = cmsis_from_float(fm, mcfg["quant"])
        return fm, cmsis_calibrate(qm, torch.from_numpy(ctx.data["x_cal"]), p["calibrator"], p["percentile"])
    qcfg = quant_config(ctx.cfg["quant"], ctx.layers, ctx.act_layer, config)
    xcal = torch.from_numpy(ctx.data["x_cal"])
    qm = quantize_model(fm, qcfg, xcal)
    p = ctx.cfg["ptq"]
    calibrate(qm, xcal, p["calibrator"], p["percentile"], reference=fm)
    return fm, qm


def _scores(model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F

    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(x)).float()
        loss = float(F.cross_entropy(out, torch.from_numpy(y)))
        acc = float((out.argmax(1).numpy() == y).mean() * 100.0)
    return acc, loss


def _weight_errors(fm, qm, layers: list[str]) -> dict[str, float]:
    import torch

    from hwq.nn.cmsis import CMac, CmsisNet

    out = {}
    if isinstance(qm, CmsisNet):  # fake-quantised weights against the (BatchNorm-folded) float ones
        macs = {m.name: m for m in qm.modules() if isinstance(m, CMac)}
        with torch.no_grad():
            for name in layers:
                m = macs[name]
                out[name] = float(((m.wq(m.weight) - m.weight) ** 2).sum())
        return out
    with torch.no_grad():
        for name in layers:
            q = getattr(qm, name)
            w = q.quantized_params()[0]
            ref = q.weight if isinstance(getattr(q, "weight", None), torch.Tensor) else q.conv.weight
            out[name] = float(((w - ref) ** 2).sum())
    return out


def evaluate(ctx: Context, config: tuple[Choice, ...], stage: str = "ptq", epochs: int = 0) -> dict:
    """Score one candidate (see the module docstring). Accuracies in percent, loss in nats, costs as
    ``hwq.explore.costs.estimate`` names them, seconds of wall time under ``seconds``."""
    import torch

    from hwq.ir.lower import lower
    from hwq.ir.serialize import dumps

    from .costs import estimate

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    fm, qm = _ptq_model(ctx, config)
    d = ctx.data
    rec: dict = {"config": [c.as_dict() for c in config], "stage": stage}
    if stage == "ptq":
        rec["val_accuracy"], rec["val_loss"] = _scores(qm, d["x_val"], d["y_val"])
        rec["weight_sq_error"] = _weight_errors(fm, qm, ctx.layers)
    else:
        from hwq.train.loop import fit

        t = ctx.cfg["train"]
        torch.manual_seed(t["seed"])
        fit(qm, d["x_fit"], d["y_fit"], epochs, t["batch_size"], t["lr"] * 0.5, t["seed"] + 1, quant_lr=t["quant_lr"])
        rec["epochs"] = epochs
        rec["val_accuracy"], rec["val_loss"] = _scores(qm, d["x_val"], d["y_val"])
        rec["test_accuracy"], rec["test_loss"] = _scores(qm, d["x_test"], d["y_test"])
    graph = lower(qm, torch.from_numpy(d["x_test"][:8]), name=ctx.cfg["name"])
    model = ctx.extra.get("fpga_model", "fast")
    if stage == "qat":  # refined points: the model the final front is taken on (explore's ``refine_cost``)
        model = ctx.extra.get("refine_model", model)
    totals, per = estimate(graph, ctx.target, model)
    rec["costs"] = totals
    rec["layer_costs"] = {n: per.get(n.replace(".", "_"), {}) for n in ctx.layers}
    if stage == "qat":
        rec["graph"] = dumps(graph)
        if is_mcu(ctx):
            rec["run_config"] = mcu_run_config(ctx, config, "qat", epochs)
        else:
            rec["run_config"] = {**ctx.cfg, "quant": quant_config(ctx.cfg["quant"], ctx.layers, ctx.act_layer, config)}
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    return rec


# ---------------------------------------------------------------------------------------------- executors

_WORKER_CTX: Context | None = None


def _init_worker(ctx: Context) -> None:
    global _WORKER_CTX
    import torch

    torch.set_num_threads(1)
    _WORKER_CTX = ctx


def _run_in_worker(args):
    config, stage, epochs = args
    return evaluate(_WORKER_CTX, config, stage, epochs)


class Progress:
    """Progress with ETA: a tqdm bar (``mode="bar"``), plain ``explore: <what> i/n, eta Ns`` lines on
    stderr (``"lines"``), or nothing (``"none"``). ``True`` picks the bar on a terminal, else lines."""

    def __init__(self, total: int, desc: str, mode: str | bool = True):
        if mode is True:
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.total, self.desc, self.mode, self.done = total, desc, (mode or "none") if total > 0 else "none", 0
        self.t0 = time.perf_counter()
        self.bar = None
        self.next_frac, self.last_line = 0.0, 0.0
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"explore: {desc}", leave=False, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        """Count ``n`` finished items."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        if self.mode != "lines":
            return
        now = time.perf_counter()
        frac = self.done / self.total
        if self.done == self.total or (frac >= self.next_frac and now - self.last_line >= 2.0):
            el = now - self.t0
            eta = el / self.done * (self.total - self.done)
            print(f"explore: {self.desc} {self.done}/{self.total}, eta {eta:.0f} s", file=sys.stderr, flush=True)
            self.next_frac, self.last_line = frac + 0.1, now

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()


class Executor:
    """Runs evaluations in order-preserving batches: ``workers`` local processes (1: this process), or
    Ray tasks (``kind="ray"``; ``address`` None starts a local Ray cluster)."""

    def __init__(self, ctx: Context, kind: str = "local", workers: int = 2, address: str | None = None):
        if kind not in ("local", "ray"):
            raise ValueError(f"--executor {kind}: unknown executor; expected local or ray")
        self.ctx, self.kind, self.workers, self.address = ctx, kind, max(1, int(workers)), address
        self._pool = None
        self._ray = None

    def _start(self):
        if self.kind == "local" and self.workers > 1 and self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker, initargs=(self.ctx,)
            )
        if self.kind == "ray" and self._ray is None:
            try:
                import ray
            except ImportError:
                raise ValueError("--executor ray: ray is not installed (pip install 'hwq[explore-ray]')") from None
            if not ray.is_initialized():
                kw = {"address": self.address} if self.address else {"num_cpus": self.workers}
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)

            @ray.remote(num_cpus=1)
            def _task(ctx, config, stage, epochs):
                return evaluate(ctx, config, stage, epochs)

            self._ray = (ray, _task, ray.put(self.ctx))

    def map(self, jobs: list[tuple], progress: Progress | None = None) -> list[dict]:
        """Evaluate ``(config, stage, epochs)`` jobs; results in job order."""
        if not jobs:
            return []
        self._start()
        results: list = [None] * len(jobs)
        if self.kind == "ray":
            ray, task, ref = self._ray
            pending = {task.remote(ref, *j): i for i, j in enumerate(jobs)}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for r in done:
                    results[pending.pop(r)] = ray.get(r)
                    if progress:
                        progress.update()
            return results
        if self._pool is None:
            for i, j in enumerate(jobs):
                results[i] = evaluate(self.ctx, *j)
                if progress:
                    progress.update()
            return results
        from concurrent.futures import as_completed

        futs = {self._pool.submit(_run_in_worker, j): i for i, j in enumerate(jobs)}
        for f in as_completed(futs):
            results[futs[f]] = f.result()
            if progress:
                progress.update()
        return results

    def close(self) -> None:
        """Stop the worker processes (Ray stays up if it was already running at an address)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._ray is not None:
            ray = self._ray[0]
            if not self.address:
                ray.shutdown()
            self._ray = None


class Evaluator:
    """Cached evaluation: ``cache_dir/<key>.json`` per evaluation; a cached result is never recomputed."""

    def __init__(self, ctx: Context, executor: Executor, cache_dir: Path, progress: str | bool = True):
        self.ctx, self.executor, self.cache_dir, self.progress = ctx, executor, Path(cache_dir), progress
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.computed = 0  # evaluations run (not from the cache) by this evaluator
        self.memo: dict[str, dict] = {}

    def _load(self, key: str) -> dict | None:
        if key in self.memo:
            return self.memo[key]
        p = self.cache_dir / f"{key}.json"
        if p.exists():
            try:
                rec = json.loads(p.read_text())
            except json.JSONDecodeError:
                return None  # a torn file from an interrupted run: recompute
            self.memo[key] = rec
            return rec
        return None

    def run(self, configs: list[tuple[Choice, ...]], stage: str = "ptq", epochs: int = 0, desc: str = "") -> list[dict]:
        """Records of ``configs`` (each with its ``key``), in order; duplicates and cached ones are free."""
        keys = [config_key(self.ctx.fingerprint, c, stage, epochs) for c in configs]
        todo: dict[str, tuple] = {}
        for k, c in zip(keys, configs):
            if k not in todo and self._load(k) is None:
                todo[k] = c
        if todo:
            bar = Progress(len(todo), desc or stage, self.progress)
            jobs = [(c, stage, epochs) for c in todo.values()]
            try:
                res = self.executor.map(jobs, bar)
            finally:
                bar.close()
            for k, rec in zip(todo, res):
                rec["key"] = k
                atomic_write(self.cache_dir / f"{k}.json", json.dumps(rec, sort_keys=True))
                self.memo[k] = rec
                self.computed += 1
        return [self._load(k) for k in keys]


def fingerprint(cfg: dict, float_state: dict, target: str, extra: dict) -> str:
    """Hash of everything an evaluation depends on besides the candidate."""
    import hwq

    h = hashlib.sha256()
    h.update(
        json.dumps({"cfg": cfg, "target": target, "extra": extra, "hwq": hwq.__version__}, sort_keys=True).encode()
    )
    for k in sorted(float_state):
        h.update(k.encode())
        h.update(np.ascontiguousarray(float_state[k]).tobytes())
    return h.hexdigest()


def cpu_workers() -> int:
    """Default number of local workers: the usable cores, at most 2 (small models; leave room)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(2, n))
