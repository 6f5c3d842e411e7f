"""``hwq cost calibrate --target cortex-m4|cortex-m7|cortex-m55``: measure a Cortex-M target and fit its tables.

Both measurements are of hwq's portable runtime (``mcu/runtime``) as ``mcu/target/rules.mk`` builds it
(``arm-none-eabi-gcc -O2`` with the CPU's architecture flags):

1. **Instructions** (needs ``qemu-system-arm``): for every runtime kernel (``KERNELS``: conv s8/s4/s16,
   depthwise s8/s4, fully connected s8/per-channel s8/s4/s16, max/avg pool s8/s16, the int4 nibble paths,
   element-wise add/mul s8) ``N_SHAPES`` random small layer shapes (seeded), one program per kernel that calls
   it once per shape behind ``HWQ_PROFILE_MARK`` markers (``hwq.mcu.kernel_calls``), run once under QEMU on
   the CPU's board (``hwq.sim.mcurun.TARGETS``: mps2-an386 M4, mps2-an500 M7, mps3-an547 M55) and counted
   exactly from the translation-block trace (``mcurun.profile_layers``). Every third shape is held out; the
   per-kernel formulas (``hwq.cost.mcu.kernel_features``: loop trips of the runtime's kernels) are least
   squares fits on the others (``hwq.cost.mcu.fit_kernel``).
2. **Flash** (needs ``arm-none-eabi-gcc`` and ``arm-none-eabi-nm``): every kernel the MCU backend calls is
   linked alone from its entry point (with the ``*_get_buffer_size`` the run function calls before it), in
   both rounding builds, and ``nm -S`` gives the symbols it keeps; ``models`` random CMSIS-profile models
   (``flash_models``) are emitted and linked alone from their run entry (``mcurun.model_flash_bytes``: the
   model as it lands in a firmware). A model's code is the union of its kernels' symbols, the model file's
   helpers (read from the linked models) and ``run_base + run_call[kernel]`` per call, fitted by
   non-negative least squares on two of every three models; the third are held out.

``calibrate_mcu`` writes the ``[instructions]`` and ``[flash]`` tables into the target file (the packaged
one, or ``out_file``) with the date, compiler and QEMU versions and the sample counts, keeping its other
tables, and returns the report (held-out errors per kernel group and of the flash estimate, wall time).
Without QEMU only the flash table is fitted, and the report says so. The whole run takes about 3 minutes
on 2 cores.
"""

from __future__ import annotations

import datetime as _dt
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .mcu import fit_kernel, flash_code_bytes, kernel_instructions, shape_from_bench
from .targets import load_target, replace_tables, target_path

#: kernel -> (``hwq.mcu.kernel_calls`` kind, element type)
KERNELS = {
    "conv_s8": ("conv", "s8"),
    "conv_s4": ("conv", "s4"),
    "conv_s16": ("conv", "s16"),
    "depthwise_s8": ("dw", "s8"),
    "depthwise_s4": ("dw", "s4"),
    "fc_s8": ("fc", "s8"),
    "fc_per_channel_s8": ("fc", "s8"),
    "fc_s4": ("fc", "s4"),
    "fc_s16": ("fc", "s16"),
    "max_pool_s8": ("pool", "s8"),
    "avgpool_s8": ("pool", "s8"),
    "max_pool_s16": ("pool", "s16"),
    "avgpool_s16": ("pool", "s16"),
    "conv_s4_big": ("conv", "s4"),  # filters over HWQ_S4_UNPACK_BYTES / 4: the nibble-by-nibble path
    "depthwise_s4_big": ("dw", "s4"),
    "fc_s4_big": ("fc", "s4"),
    "add_s8": ("add", "s8"),
    "mul_s8": ("mul", "s8"),
}
#: random shapes measured per kernel (default 9)
N_SHAPES = {"conv_s8": 30, "conv_s4": 30, "conv_s16": 21, "depthwise_s8": 21, "depthwise_s4": 21, "fc_s8": 21,
            "fc_s4": 21, "fc_per_channel_s8": 15, "fc_s16": 12, "max_pool_s8": 21, "avgpool_s8": 21,
            "max_pool_s16": 15, "avgpool_s16": 15, "conv_s4_big": 18, "depthwise_s4_big": 15,
            "fc_s4_big": 12}  # fmt: skip
#: held-out report groups (kernel names)
HOLDOUT_GROUPS = {
    "int8 weights (conv, depthwise, fc, fc per-channel)": ("conv_s8", "depthwise_s8", "fc_s8", "fc_per_channel_s8"),
    "int4 weights (conv, depthwise, fc)": ("conv_s4", "depthwise_s4", "fc_s4"),
    "int4 weights, nibble path (> 1 kB of weights)": ("conv_s4_big", "depthwise_s4_big", "fc_s4_big"),
    "int16 activations (conv, fc)": ("conv_s16", "fc_s16"),
    "pool s8/s16, add/mul s8": ("max_pool_s8", "avgpool_s8", "max_pool_s16", "avgpool_s16", "add_s8", "mul_s8"),
}
DEFAULT_SEED = 2026
DEFAULT_MODELS = 90


class McuCalibrationError(RuntimeError):
    """A tool is missing, a build failed or the target cannot be calibrated; the message names it."""


# ---------------------------------------------------------------------------------------------- instructions


def random_shape(kernel: str, rng) -> dict:
    """A random small layer shape for ``kernel`` (``hwq.mcu.kernel_calls`` parameter names)."""
    kind, t = KERNELS[kernel]
    if kernel == "conv_s4_big":
        k = int(rng.choice([1, 3, 5]))
        cin = {1: int(rng.integers(257, 400)), 3: int(rng.integers(29, 48)), 5: int(rng.integers(11, 20))}[k]
        h, w = int(rng.integers(k, k + 4)), int(rng.integers(k, k + 4))
        pad = int(rng.integers(0, k // 2 + 1))
        return dict(h=h, w=w, cin=cin, cout=int(rng.integers(1, 7)), k=k, stride=int(rng.choice([1, 2])), pad=pad, t=t)
    if kernel == "depthwise_s4_big":
        k = int(rng.choice([3, 5]))
        h, w = int(rng.integers(k, k + 4)), int(rng.integers(k, k + 4))
        cin = int(rng.integers(1024 // (k * k) + 1, 1024 // (k * k) + 40))
        return dict(
            h=h, w=w, cin=cin, mult=1, k=k, stride=int(rng.choice([1, 2])), pad=int(rng.integers(0, k // 2 + 1)), t=t
        )
    if kernel == "fc_s4_big":
        return dict(depth=int(rng.integers(1025, 1700)), out=int(rng.integers(1, 13)), t=t)
    if kind == "conv":
        k = int(rng.choice([1, 3, 5]))
        stride = int(rng.choice([1, 1, 2]))
        pad = int(rng.integers(0, k // 2 + 1))
        h = int(rng.integers(max(k, 3), 11))
        w = int(rng.integers(max(k, 3), 11))
        cin = int(rng.choice([1, 2, 3, 4, 8, 16]))
        cout = int(rng.integers(1, 19))
        if t == "s4":
            cin = min(cin, 1024 // (4 * k * k)) or 1
        return dict(h=h, w=w, cin=cin, cout=cout, k=k, stride=stride, pad=pad, t=t)
    if kind == "dw":
        k = int(rng.choice([3, 3, 5]))
        stride = int(rng.choice([1, 2]))
        pad = int(rng.integers(0, k // 2 + 1))
        h, w = int(rng.integers(k, 13)), int(rng.integers(k, 13))
        cin, mult = int(rng.integers(1, 21)), int(rng.choice([1, 1, 2]))
        return dict(h=h, w=w, cin=cin, mult=mult, k=k, stride=stride, pad=pad, t=t)
    if kind == "fc":
        depth = int(rng.integers(1, 400 if t != "s16" else 300))
        return dict(depth=depth, out=int(rng.integers(1, 70)), t=t)
    if kind == "pool":
        k = int(rng.choice([2, 2, 3, 4]))
        s = int(rng.choice([1, 2]))
        h, w = int(rng.integers(k, 13)), int(rng.integers(k, 13))
        return dict(h=h, w=w, c=int(rng.integers(1, 21)), k=k, s=s, t=t, op="max" if "max" in kernel else "avg")
    return dict(n=int(rng.integers(1, 3000)), t=t)


def program_source(kernel: str, shapes: list[dict], rng) -> tuple[str, int, int, str]:
    """One C file calling ``kernel`` once per shape (a profile mark before each call and after the last);
    returns (source, input elements, output elements, element C type)."""
    from hwq.mcu.kernel_calls import call_source

    kind, _ = KERNELS[kernel]
    bodies, n_in, n_out, ct = [], 1, 1, "int8_t"
    for i, p in enumerate(shapes):
        src, ni, no, ct, _ = call_source(kind, p, rng)
        if kernel == "fc_per_channel_s8":
            src = _per_channel(src, p["out"], rng)
        lines = src.split("\n")
        body = "\n".join(line for line in lines if not line.startswith("#include"))
        body = re.sub(r"\b(wt|bias|mult|shift|bd)\b", rf"\1_{i}", body)
        body = body.replace("int hwq_kernel_run(", f"static int k_{i}(").replace(
            f"static int k_{i}(const hwq_model_in_t *in, hwq_model_out_t *out);", ""
        )
        bodies.append(body)
        n_in, n_out = max(n_in, ni), max(n_out, no)
    head = '#include "hwq_model.h"\n#include "hwq_profile.h"\n#include "arm_nnfunctions.h"\n'
    calls = "".join(f"    r |= k_{i}(in, out);\n" for i in range(len(shapes)))
    main = (
        "int hwq_kernel_run(const hwq_model_in_t *in, hwq_model_out_t *out)\n{\n    int r = 0;\n"
        + calls
        + "    HWQ_PROFILE_MARK(99);\n    return r;\n}\n"
    )
    return head + "\n".join(bodies) + main, n_in, n_out, ct


def _per_channel(src: str, out_c: int, rng) -> str:
    """Turn a per-tensor fully connected call into ``arm_fully_connected_per_channel_s8``."""
    mult = ", ".join(str(int(v)) for v in rng.integers(1 << 30, 1 << 31, out_c))
    shift = ", ".join(str(int(v)) for v in rng.integers(-10, -6, out_c))
    src = re.sub(
        r"cmsis_nn_per_tensor_quant_params q = \{[^}]*\};",
        f"static int32_t mult[] = {{{mult}}};\n    static int32_t shift[] = {{{shift}}};\n"
        "    cmsis_nn_per_channel_quant_params q = {mult, shift};",
        src,
    )
    return src.replace("arm_fully_connected_s8(", "arm_fully_connected_per_channel_s8(")


def measure_kernel(kernel: str, shapes: list[dict], cpus: list[str], cache: Path, seed: int) -> dict:
    """Exact QEMU instruction counts ``{cpu: [count per shape]}`` of one multi-call program of ``kernel``."""
    from hwq.mcu.kernel_calls import write_case
    from hwq.sim import mcurun

    rng = np.random.default_rng(seed)
    src, n_in, n_out, ct = program_source(kernel, shapes, rng)
    folder = cache / kernel
    write_case(folder, src, n_in, n_out, ct)
    lo, hi = (-32768, 32768) if ct == "int16_t" else (-128, 128)
    x = rng.integers(lo, hi, n_in).astype(np.int16 if ct == "int16_t" else np.int8)
    res = {}
    for cpu in cpus:
        work = Path(tempfile.mkdtemp(dir=cache))
        x.tofile(work / "inputs.bin")
        prog, _ = mcurun.build(folder, cpu, single=False, profile=True, cache_dir=cache)
        counts = mcurun.profile_layers(prog, cpu, work)["layer_instructions"]
        if len(counts) != len(shapes) + 1:
            raise McuCalibrationError(f"{kernel} on {cpu}: {len(counts)} profile marks for {len(shapes)} calls")
        res[cpu] = [int(c) for c in counts[: len(shapes)]]
        shutil.rmtree(work, ignore_errors=True)
    return res


def tool_versions() -> dict:
    """First ``--version`` lines of arm-none-eabi-gcc and qemu-system-arm (empty when missing)."""
    out = {}
    for key, exe in (("compiler", "arm-none-eabi-gcc"), ("qemu", "qemu-system-arm")):
        path = shutil.which(exe)
        lines = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.splitlines() if path else []
        out[key] = lines[0] if lines else ""
    out["compiler"] = f"{out['compiler']}, -O2 (mcu/target/rules.mk)" if out["compiler"] else ""
    return out


def measure_instructions(cpus: list[str], seed: int = DEFAULT_SEED, only=None, log=print) -> dict:
    """QEMU-measured calls of every kernel (or those in ``only``) on ``cpus``: ``{"compiler", "qemu", "runtime",
    "kernels": {kernel: [{"shape", "split": "fit"|"holdout", "instructions": {cpu: count}}]}}``. Kernel
    ``i`` of ``KERNELS`` draws its shapes with seed ``seed + i`` (so one kernel can be re-measured alone)."""
    for tool in ("make", "arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            raise McuCalibrationError(f"{tool} not found on PATH: the instruction calibration builds and runs on QEMU")
    data = {"kernels": {}, **tool_versions(), "runtime": "mcu/runtime (hwq portable C99)", "seed": seed}
    cache = Path(tempfile.mkdtemp(prefix="hwq-calib-mcu-"))
    t0 = time.perf_counter()
    try:
        for ki, kernel in enumerate(KERNELS):
            if only and kernel not in only:
                continue
            rng = np.random.default_rng(seed + ki)
            shapes = [random_shape(kernel, rng) for _ in range(N_SHAPES.get(kernel, 9))]
            counts = measure_kernel(kernel, shapes, cpus, cache, seed + 100 + ki)
            data["kernels"][kernel] = [
                {"shape": dict(s), "split": "holdout" if i % 3 == 2 else "fit"}
                | {"instructions": {c: counts[c][i] for c in cpus}}
                for i, s in enumerate(shapes)
            ]
            log(f"  {kernel:<18} {len(shapes):>2} shapes on {', '.join(cpus)}  {time.perf_counter() - t0:5.0f} s")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return data


def fit_instructions(data: dict, cpu: str) -> tuple[dict, int]:
    """({kernel: coefficients}, calls fitted) from the ``fit`` rows of ``data`` measured on ``cpu``."""
    fits, n_fit = {}, 0
    for kernel, rows in data["kernels"].items():
        fr = [r for r in rows if r["split"] == "fit" and cpu in r["instructions"]]
        if fr:
            fits[kernel] = fit_kernel(kernel, fr, cpu)
            n_fit += len(fr)
    return fits, n_fit


def holdout_errors(data: dict, cpu: str, coefs: dict) -> dict[str, list[float]]:
    """{kernel: [% error of ``coefs`` (a target's ``[instructions]``) vs QEMU]} over the held-out rows."""
    out = {}
    for kernel, rows in data["kernels"].items():
        errs = []
        for r in rows:
            if r["split"] != "holdout" or cpu not in r["instructions"]:
                continue
            est = kernel_instructions(kernel, shape_from_bench(kernel, r["shape"]), coefs)
            if est is not None:
                errs.append(100.0 * (est - r["instructions"][cpu]) / r["instructions"][cpu])
        out[kernel] = errs
    return out


def holdout_rows(data: dict, cpu: str, coefs: dict) -> list[dict]:
    """Held-out summary per ``HOLDOUT_GROUPS`` group and overall: {group, shapes, median_pct, max_pct} (|error|)."""
    errs = holdout_errors(data, cpu, coefs)
    rows, every = [], []
    for name, kernels in HOLDOUT_GROUPS.items():
        e = [abs(x) for k in kernels for x in errs.get(k, [])]
        every += e
        if e:
            rows.append({"group": name, "shapes": len(e), "median_pct": round(float(np.median(e)), 2),
                         "max_pct": round(float(max(e)), 2)})  # fmt: skip
    if every:
        rows.append({"group": "all", "shapes": len(every), "median_pct": round(float(np.median(every)), 2),
                     "max_pct": round(float(max(every)), 2)})  # fmt: skip
    return rows


def instructions_text(old_text: str, fits: dict, n_fit: int, meta: dict) -> str:
    """The ``[instructions]`` tables of a target file: calibration notes, the family priors of the old
    ``[instructions]`` table (functions without a fitted formula use them) and one table per fitted kernel."""
    lines = [
        "[instructions]",
        "# Calibrated per-kernel formulas of hwq's portable runtime (mcu/runtime): instructions of one call =",
        "# sum(coef * feature) over hwq.cost.mcu.kernel_features (loop trips: pixels, 4-/1-channel blocks,",
        "# valid taps, inner MAC iterations, unpacked int4 weights, ...), least-squares fits to exact QEMU counts",
        f"# of {n_fit} calls ('fit' rows; every third shape is held out). Regenerate: hwq cost calibrate --target T",
        "# (or python benchmarks/calib_mcu_kernels.py --write-targets for the three packaged CPUs).",
        "calibrated = true",
        f'calibration_date = "{_dt.date.today().isoformat()}"',
        f'calibration_compiler = "{meta.get("compiler", "")}"',
        f'calibration_qemu = "{meta.get("qemu", "")}"',
        f"calibration_samples = {n_fit}",
    ]
    in_table = False
    for line in old_text.splitlines():  # keep the family priors (plain keys of the old [instructions] table)
        header = re.match(r"\[([^\]]+)\]\s*$", line)
        if header:
            in_table = header.group(1) == "instructions"
            continue
        key = line.split("=")[0].strip()
        if in_table and "=" in line and not line.startswith("#") and not key.startswith(("calibrat", "formulas_from")):
            lines.append(line)
    for kernel in sorted(fits):
        lines += ["", f"[instructions.{kernel}]", *(f"{k} = {v!r}" for k, v in fits[kernel].items())]
    return "\n".join(lines) + "\n"


def calibrate_targets(data_path, targets=("cortex-m4", "cortex-m7", "cortex-m55")) -> dict:
    """Fit every kernel of a calibration data file (``hwq.cost.mcu_calibrate.measure_instructions``, e.g.
    ``tests/data/mcu_kernel_calib.json``) on its ``fit`` rows and rewrite the ``[instructions]`` tables of the
    packaged ``hwq/cost/targets/<cpu>.toml`` (atomically; other tables kept). Returns {cpu: {kernel: coefs}}."""
    import json

    data = json.loads(Path(data_path).read_text())
    out = {}
    for cpu in targets:
        fits, n_fit = fit_instructions(data, cpu)
        if fits:
            write_instructions(target_path(cpu), fits, n_fit, data)
        out[cpu] = fits
    return out


def write_instructions(path, fits: dict, n_fit: int, meta: dict) -> None:
    """Replace the ``[instructions]`` tables of the target file ``path`` (atomically; other tables kept)."""
    from hwq.io import atomic_write

    path = Path(path)
    old = path.read_text()
    atomic_write(path, replace_tables(old, "instructions", instructions_text(old, fits, n_fit, meta)))


# ---------------------------------------------------------------------------------------------------- flash


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
    err = np.array([100 * (est[r["name"]] / r["linked"] - 1) for r in held])
    a = np.abs(err)
    report = {
        "fit_models": len(train),
        "held_out_models": len(held),
        "median_abs_error_pct": round(float(np.median(a)), 2),
        "min_error_pct": round(float(err.min()), 2),
        "max_error_pct": round(float(err.max()), 2),
        "max_abs_error_bytes": int(max(abs(est[r["name"]] - r["linked"]) for r in held)),
        "within_1pct": f"{int((a <= 1.0).sum())}/{len(a)}",
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
    err = np.array([100 * (est[i] / sizes[(models[i]["folder"], cpu)] - 1) for i in held])
    a = np.abs(err)
    report = {
        "fit_programs": len(train),
        "held_out_programs": len(held),
        "median_abs_error_pct": round(float(np.median(a)), 2),
        "min_error_pct": round(float(err.min()), 2),
        "max_error_pct": round(float(err.max()), 2),
        "within_1pct": f"{int((a <= 1.0).sum())}/{len(a)}",
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


# ------------------------------------------------------------------------------------------------ the command


def target_cpu(target: dict) -> str:
    """The CPU a target file describes (``[target] cpu``, else its name); checked against the CPUs the MCU
    build knows (``hwq.sim.mcurun.TARGETS``)."""
    from hwq.sim.mcurun import TARGETS

    name = target["target"].get("name", "?")
    cpu = target["target"].get("cpu", name)
    if cpu not in TARGETS or TARGETS[cpu][1] is None:
        known = ", ".join(t for t, (_, machine) in TARGETS.items() if machine)
        raise McuCalibrationError(
            f"target {name!r}: no Cortex-M build for CPU {cpu!r} (mcu/target/rules.mk knows {known}; set "
            "[target] cpu = one of them in the target file)"
        )
    return cpu


def calibrate_mcu(
    target,
    out_file=None,
    models: int = DEFAULT_MODELS,
    seed: int = DEFAULT_SEED,
    jobs: int | None = None,
    log=print,
    instructions: bool | None = None,
) -> dict:
    """Measure and fit the Cortex-M ``target`` (name or .toml): instruction formulas on QEMU (when
    ``qemu-system-arm`` is installed, or ``instructions=True`` to require it) and the flash table from
    ``models`` linked random models; writes both into ``out_file`` (default: the target's own file; a new
    ``out_file`` starts as a copy of it) and returns the report: {target, cpu, instructions: {fit_calls,
    holdout: [{group, shapes, median_pct, max_pct}], data} or {skipped: reason}, flash: {held-out figures},
    tools, wall_seconds, target_file}. Raises McuCalibrationError naming a missing tool or a failed step."""
    t0 = time.perf_counter()
    tgt = load_target(target)
    if tgt["target"].get("kind") != "mcu":
        raise McuCalibrationError(f"target {tgt['target'].get('name')!r} is not an MCU target")
    cpu = target_cpu(tgt)
    name = tgt["target"]["name"]
    src = Path(str(target)) if str(target).endswith(".toml") else target_path(name)
    dest = Path(out_file) if out_file else src
    if dest != src:
        from hwq.io import atomic_write

        atomic_write(dest, src.read_text())
    report: dict = {"target": name, "cpu": cpu, "tools": tool_versions()}
    run_qemu = instructions if instructions is not None else shutil.which("qemu-system-arm") is not None
    if run_qemu:
        log(f"calibrate {name}: instruction counts of {sum(N_SHAPES.get(k, 9) for k in KERNELS)} kernel calls on QEMU")
        data = measure_instructions([cpu], seed=seed, log=log)
        fits, n_fit = fit_instructions(data, cpu)
        write_instructions(dest, fits, n_fit, data)
        coefs = load_target(dest)["instructions"]
        report["instructions"] = {"fit_calls": n_fit, "holdout": holdout_rows(data, cpu, coefs), "data": data}
    else:
        report["instructions"] = {"skipped": "qemu-system-arm not found: the [instructions] tables are unchanged"}
        log(f"calibrate {name}: qemu-system-arm not found, instructions not measured (flash only)")
    log(f"calibrate {name}: flash of {models} random models linked with arm-none-eabi-gcc")
    table, flash_report = measure_flash([cpu], models, jobs, log)[cpu]
    write_flash(dest, table)
    report["flash"] = flash_report
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    report["target_file"] = str(dest)
    return report


def plot(report: dict, path) -> Path:
    """Scatter plots (log axes) of the held-out estimates against the measurements: instructions per kernel
    call (QEMU) and flash bytes per model (arm-none-eabi-size)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwq.io import atomic_write

    cpu = report["cpu"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    data = report["instructions"].get("data")
    ax = axes[0]
    if data:
        coefs = load_target(report["target_file"])["instructions"]
        for kernel, rows in data["kernels"].items():
            pts = [(r["instructions"][cpu], kernel_instructions(kernel, shape_from_bench(kernel, r["shape"]), coefs))
                   for r in rows if r["split"] == "holdout"]  # fmt: skip
            if pts:
                ax.scatter(*zip(*pts), s=12, label=kernel)
        ax.legend(fontsize=6, ncol=2)
        ax.set_title(f"{cpu}: held-out kernel calls, instructions")
    else:
        ax.set_title(f"{cpu}: instructions not measured (no QEMU)")
    fl = report["flash"]["held_out"]
    axes[1].scatter([r["linked"] for r in fl], [r["estimate"] for r in fl], s=14)
    axes[1].set_title(f"{cpu}: held-out models, flash bytes")
    for ax, unit in zip(axes, ("QEMU instructions", "arm-none-eabi-size text + data")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"measured ({unit})")
        ax.set_ylabel("estimate (hwq.cost.mcu)")
    fig.tight_layout()
    path = Path(path)
    with tempfile.NamedTemporaryFile(suffix=".png") as tmp:
        fig.savefig(tmp.name, dpi=110)
        plt.close(fig)
        atomic_write(path, Path(tmp.name).read_bytes())
    return path
