"""Flash calibration of a Cortex-M target (``hwq cost calibrate``, ``hwq.cost.mcu_calibrate``).

Every kernel the MCU backend calls is linked alone from its entry point (with the ``*_get_buffer_size`` the
run function calls before it), in both rounding builds, and ``arm-none-eabi-nm -S`` gives the symbols it
keeps; random CMSIS-profile models (``flash_models``) and patch programs (``emit_patch_models``) are emitted
and linked alone from their run entry (``hwq.sim.mcurun.model_flash_bytes``). A model's code is the union of
its kernels' symbols, the model file's helpers and ``run_base + run_call[kernel]`` per call (``fit_flash``);
a patch program adds its geometry tables (exact) and its loop (``fit_patch_flash``), each fitted by
non-negative least squares on two of every three programs, the third held out. ``write_flash`` replaces a
target file's ``[flash]`` tables.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from hwq.mcu.plan import flash_code_bytes

from .mcu_calib_kernels import McuCalibrationError
from .targets import replace_tables

DEFAULT_MODELS = 90


def error_summary(err_pct: list[float]) -> dict:
    """Held-out figures of signed % errors: median |error|, min, max, how many within 1 %."""
    err = np.asarray(err_pct, dtype=float)
    a = np.abs(err)
    return {
        "median_abs_error_pct": round(float(np.median(a)), 2),
        "min_error_pct": round(float(err.min()), 2),
        "max_error_pct": round(float(err.max()), 2),
        "within_1pct": f"{int((a <= 1.0).sum())}/{len(a)}",
    }


def flash_models(n: int) -> list:
    """``n`` random CMSIS-profile models (seeded): 1-5 layers (every third with a dense head), every tenth int16."""
    from hwq.mcu.random_models import random_cmsis_graph, s16_graph

    out = []
    for seed in range(n):
        if seed % 10 == 9:
            out.append(s16_graph(seed, conv=bool(seed % 20 == 9), name=f"s16_{seed}"))
        else:
            out.append(random_cmsis_graph(1000 + seed, n_layers=1 + seed % 5, dense=True if seed % 3 == 0 else None))
    return out


def link_model(job: tuple) -> int:
    """Text + data bytes of one emitted model linked alone for one CPU (``job``: (folder, cpu)); the ELF is
    kept as ``folder/<cpu>.elf``."""
    from hwq.sim.mcurun import model_flash_bytes

    folder, cpu = job
    return model_flash_bytes(folder, cpu, elf=f"{folder}/{cpu}.elf")


def kept_symbols(elf: str) -> dict[str, int]:
    """{symbol: bytes} of the text and read-only / data symbols an ELF keeps (``arm-none-eabi-nm -S``)."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", elf], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "TtRrDd":
            syms[parts[3]] = int(parts[1], 16)
    return syms


def kernel_sets(folder: str, cpu: str, entries: list[str], single_rounding: bool) -> dict[str, dict[str, int]]:
    """{kernel entry: {symbol: bytes}} of each entry linked alone (with the ``*_get_buffer_size`` function the
    run function calls before it) from the runtime sources of the emitted ``folder``, in one rounding build."""
    from hwq.mcu.cgen import scratch_size_function
    from hwq.sim.mcurun import ARCH_FLAGS

    sources = sorted(str(p) for p in Path(folder, "cmsis_nn", "Source").glob("*.c"))
    sources += [str(p) for p in Path(folder, "target").glob("hwq_patch_pack.c")]
    rounding = ["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if single_rounding else []
    out = {}
    for e in entries:
        elf = f"{folder}/k_{cpu}_{int(single_rounding)}_{e}.elf"
        size_fn = scratch_size_function(e)
        keep = [f"-Wl,--undefined={size_fn}"] if size_fn else []
        cmd = [
            "arm-none-eabi-gcc", *ARCH_FLAGS[cpu], "-O2", "-std=c99", *rounding, "-ffunction-sections",
            "-fdata-sections", "-nostartfiles", "-Wl,--gc-sections", f"-Wl,-e,{e}", *keep,
            f"-I{folder}/cmsis_nn/Include", f"-I{folder}/target", f"-I{folder}", *sources, "-o", elf,
        ]  # fmt: skip
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            out[e] = kept_symbols(elf)
    return out


def kernel_bytes(sets: dict[str, dict[str, int]], funcs) -> int:
    """Bytes of the union of the kernels' kept symbols (a helper two kernels share counts once)."""
    union: dict[str, int] = {}
    for f in funcs:
        union.update(sets.get(f, {}))
    return sum(union.values())


def helper_bytes(elf: str, helpers: set[str]) -> dict[str, int]:
    """{helper: bytes} of the model file's own static helpers (layout copies, clamp) in a linked model."""
    syms = kept_symbols(elf)
    return {h: syms[h] for h in helpers if h in syms}


def emit_flash_models(root: str, n_models: int) -> list[dict]:
    """Emit ``flash_models(n_models)`` under ``root``; one dict per model: k, name, folder, calls (Counter of
    runtime functions), single (rounding build), weights (flash bytes of its constants)."""
    from hwq.mcu import emit
    from hwq.mcu.lower import lower
    from hwq.mcu.plan import plan_program

    models = []
    for k, g in enumerate(flash_models(n_models)):
        folder = f"{root}/m{k}"
        emit(g, folder)
        prog = lower(g)
        models.append({"k": k, "name": g.name, "folder": folder, "calls": Counter(s.func for s in prog.steps),
                       "single": int(prog.single_rounding),
                       "weights": int(plan_program(prog).flash_weight_bytes)})  # fmt: skip
    return models


def fit_flash(models: list[dict], sizes: dict, cpu: str) -> tuple[dict, dict]:
    """(``[flash]`` table, held-out report) of ``cpu`` from emitted ``models`` (``emit_flash_models``) and their
    linked sizes ``{(folder, cpu): bytes}``."""
    from scipy.optimize import nnls

    from hwq.mcu.cgen import _SUPPORT_HELPERS
    from hwq.mcu.plan import CODE_BYTES

    sets = {r: kernel_sets(models[0]["folder"], cpu, sorted(CODE_BYTES), bool(r)) for r in (0, 1)}
    helpers: dict[str, int] = {}
    for m in models:
        for h, n in helper_bytes(f"{m['folder']}/{cpu}.elf", set(_SUPPORT_HELPERS) & set(m["calls"])).items():
            if helpers.setdefault(h, n) != n:
                raise McuCalibrationError(f"{cpu}: helper {h} is {n} bytes in {m['name']}, {helpers[h]} elsewhere")
    funcs = sorted({f for m in models for f in m["calls"]})
    rows = []
    for m in models:
        linked = sizes[(m["folder"], cpu)]
        fixed = kernel_bytes(sets[m["single"]], m["calls"]) + sum(helpers.get(f, 0) for f in m["calls"])
        rows.append(m | {"linked": linked, "run": linked - m["weights"] - fixed})
    train = [r for r in rows if r["k"] % 3 != 2]
    seen = {f for r in train for f in r["calls"]}
    for r in rows:  # a model whose kernel no fitted model calls is fitted, not held out
        if r["k"] % 3 == 2 and set(r["calls"]) - seen:
            train.append(r)
            seen |= set(r["calls"])
    fitted = {r["k"] for r in train}
    x = np.array([[1.0] + [float(r["calls"].get(f, 0)) for f in funcs] for r in train])
    coef, _ = nnls(x, np.array([float(r["run"]) for r in train]))
    table = {
        "run_base": round(float(coef[0]), 1),
        "run_call": {f: round(float(c), 1) for f, c in zip(funcs, coef[1:])},
        "helpers": dict(sorted(helpers.items())),
        "kernels": {e: dict(sorted(s.items())) for e, s in sets[0].items()},
        "kernels_single_rounding": {e: dict(sorted(s.items())) for e, s in sets[1].items()},
    }
    est = {r["name"]: r["weights"] + flash_code_bytes(table, list(r["calls"].elements()), bool(r["single"]))
           for r in rows}  # fmt: skip
    held = [r for r in rows if r["k"] not in fitted]
    err = [100 * (est[r["name"]] / r["linked"] - 1) for r in held]
    report = {
        "fit_models": len(train),
        "held_out_models": len(held),
        **error_summary(err),
        "max_abs_error_bytes": int(max(abs(est[r["name"]] - r["linked"]) for r in held)),
        "held_out": [
            {
                "model": r["name"],
                "calls": dict(r["calls"]),
                "single_rounding": bool(r["single"]),
                "linked": r["linked"],
                "estimate": est[r["name"]],
            }
            for r in held
        ],  # fmt: skip
        "flash": {k: v for k, v in table.items() if not k.startswith("kernels")},
    }
    return table, report


#: (grid, halo) of the patch programs the flash calibration links, cycled over the models
PATCH_PLANS = (("2x2", "recompute"), ("3x3", "rows"), ("2x2", "cache"), ("4x4", "recompute"), ("3x3", "cache"))


def emit_patch_models(root: str, n_models: int) -> list[dict]:
    """Emit up to ``n_models`` patch programs (``hwq emit mcu -O patches=RxC -O halo=H``, ``PATCH_PLANS``) of
    random CMSIS graphs with a convolution stage and of MobileNetV2-style inverted residual stages under
    ``root``; one dict per program: k, name, folder, pp (the ``PatchProgram`` the emitter built), weights (const
    bytes with the geometry tables)."""
    from hwq.mcu import emit
    from hwq.mcu.kernels import McuEmitError
    from hwq.mcu.lower import lower
    from hwq.mcu.patch.models import inverted_residual_stage
    from hwq.mcu.patch.plan import mcu_split_points
    from hwq.mcu.patch.search import choose_plan
    from hwq.mcu.random_models import random_cmsis_graph

    models, seed = [], 0
    while len(models) < n_models and seed < 4 * n_models:
        if seed % 4 == 3:  # MobileNetV2-style: residual add and depthwise inside the stage
            g = inverted_residual_stage(12 + seed % 5, 10 + seed % 3, seed, seed % 8 == 7, name=f"irstage{seed}")
        else:
            g = random_cmsis_graph(3000 + seed, kinds=["conv", "depthwise", "maxpool", "avgpool", "add", "mul"],
                                   n_layers=2 + seed % 3, dense=seed % 2 == 0)  # fmt: skip
        grid, halo = PATCH_PLANS[seed % len(PATCH_PLANS)]
        prog = lower(g)
        points = mcu_split_points(prog)  # every other program splits at a given point: longer stages too
        split = "auto" if seed % 2 == 0 or not points else points[(seed // 2) % len(points)]
        seed += 1
        try:
            pp = choose_plan(prog, patches=grid, split=split, halo=halo)[0].pp
        except McuEmitError:
            continue  # no stage this grid can split
        folder = f"{root}/p{len(models)}"
        emit(g, folder, patches=grid, halo=halo, split=split)
        models.append({"k": len(models), "name": f"{g.name}_{split}_{grid}_{halo}", "folder": folder, "pp": pp,
                       "weights": int(pp.plan.flash_weight_bytes)})  # fmt: skip
    return models


def fit_patch_flash(models: list[dict], sizes: dict, cpu: str, table: dict) -> tuple[dict, dict]:
    """({"patch": ``[flash.patch]`` table, "helpers": patch helper sizes}, held-out report) of ``cpu``: the patch
    loop's code fitted
    (non-negative least squares on two of every three programs) as ``base + patch[feature]`` per
    ``patch_code_features`` count, on what a program's link leaves after its const bytes (weights and
    geometry tables), the run function's calls after the stage, the kernels' union and the patch helpers."""
    from scipy.optimize import nnls

    from hwq.mcu.patch.plan import PATCH_COPY_ROWS, PATCH_GATHER, patch_code_features, patch_flash_code_bytes

    helpers: dict[str, int] = {}
    for m in models:
        for h, n in helper_bytes(f"{m['folder']}/{cpu}.elf", {PATCH_GATHER, PATCH_COPY_ROWS}).items():
            if helpers.setdefault(h, n) != n:
                raise McuCalibrationError(
                    f"{cpu}: patch helper {h} is {n} bytes in {m['name']}, {helpers[h]} elsewhere"
                )
    base_table = table | {"helpers": table["helpers"] | helpers, "patch": {"base": 0.0}}
    feats = [patch_code_features(m["pp"]) for m in models]
    names = sorted({k for f in feats for k in f})
    loop = [sizes[(m["folder"], cpu)] - m["weights"] - patch_flash_code_bytes(m["pp"], base_table) for m in models]
    train = [i for i in range(len(models)) if i % 3 != 2]
    x = np.array([[1.0] + [float(feats[i].get(n, 0)) for n in names] for i in train])
    coef, _ = nnls(x, np.array([float(loop[i]) for i in train]))
    patch = {"base": round(float(coef[0]), 1)} | {n: round(float(c), 1) for n, c in zip(names, coef[1:])}
    full = base_table | {"patch": patch}
    held = [i for i in range(len(models)) if i % 3 == 2]
    est = {i: models[i]["weights"] + patch_flash_code_bytes(models[i]["pp"], full) for i in range(len(models))}
    err = [100 * (est[i] / sizes[(models[i]["folder"], cpu)] - 1) for i in held]
    report = {
        "fit_programs": len(train),
        "held_out_programs": len(held),
        **error_summary(err),
        "held_out": [
            {"program": models[i]["name"], "linked": sizes[(models[i]["folder"], cpu)], "estimate": est[i]}
            for i in held
        ],  # fmt: skip
    }
    return {"patch": patch, "helpers": helpers}, report


def measure_flash(
    cpus: list[str], n_models: int = DEFAULT_MODELS, jobs: int | None = None, log=print, n_patch: int | None = None
) -> dict:
    """``{cpu: ([flash] table, held-out report)}`` from ``n_models`` random models and ``n_patch`` (default half
    of ``n_models``) patch programs linked for every CPU of ``cpus`` (``jobs`` parallel links, default
    the core count); the report's ``patch`` part is the patch programs' held-out figures."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-nm", "arm-none-eabi-size"):
        if shutil.which(tool) is None:
            raise McuCalibrationError(f"{tool} not found on PATH (Debian: apt-get install gcc-arm-none-eabi)")
    out = {}
    with tempfile.TemporaryDirectory(prefix="hwq-flashcal-") as root:
        t0 = time.perf_counter()
        models = emit_flash_models(root, n_models)
        patch_models = emit_patch_models(root, n_models // 2 if n_patch is None else n_patch)
        log(
            f"  emitted {len(models)} random models, {len(patch_models)} patch programs  "
            f"{time.perf_counter() - t0:5.0f} s"
        )
        link_jobs = [(m["folder"], cpu) for m in models + patch_models for cpu in cpus]
        with ProcessPoolExecutor(jobs or os.cpu_count() or 1) as ex:
            sizes = dict(zip(link_jobs, ex.map(link_model, link_jobs)))
        log(f"  linked {len(link_jobs)} model builds  {time.perf_counter() - t0:5.0f} s")
        for cpu in cpus:
            table, report = fit_flash(models, sizes, cpu)
            if len(patch_models) >= 6:
                part, report["patch"] = fit_patch_flash(patch_models, sizes, cpu, table)
                table = table | {"helpers": dict(sorted((table["helpers"] | part["helpers"]).items())),
                                 "patch": part["patch"]}  # fmt: skip
            out[cpu] = (table, report)
            log(f"  {cpu}: kernels linked alone, run-function fit  {time.perf_counter() - t0:5.0f} s")
    return out


def flash_text(table: dict) -> str:
    """The ``[flash]`` tables of a target file."""
    lines = [
        "[flash]",
        "# code bytes = run_base + run_call[kernel] per call (the generated run function and the call's const",
        "# argument object) + the model file's helpers + the union of the kept symbols of every kernel used in",
        "# the model's rounding variant (hwq.cost.mcu_calibrate: arm-none-eabi-gcc -O2, gc-sections)",
        f"run_base = {table['run_base']}",
        "[flash.run_call]",
        *(f'"{f}" = {v}' for f, v in sorted(table["run_call"].items())),
        "[flash.helpers]",
        *(f'"{f}" = {v}' for f, v in sorted(table["helpers"].items())),
    ]
    if table.get("patch"):
        lines += [
            "[flash.patch]",
            "# the patch loop's code (mcu.patch.plan.patch_flash_code_bytes): base + one price per",
            "# patch_code_features count (substep kinds, kernel families, halo cache copies, per-row calls)",
            *(f'"{k}" = {v}' for k, v in table["patch"].items()),
        ]
    for key in ("kernels", "kernels_single_rounding"):
        for e, syms in sorted(table[key].items()):
            lines.append(f'[flash.{key}."{e}"]')
            lines += [f'"{s}" = {n}' for s, n in syms.items()]
    return "\n".join(lines) + "\n"


def write_flash(path, table: dict) -> None:
    """Replace the ``[flash]`` tables of the target file ``path`` (atomically; other tables kept)."""
    from hwq.io import atomic_write

    path = Path(path)
    atomic_write(path, replace_tables(path.read_text(), "flash", flash_text(table)))
