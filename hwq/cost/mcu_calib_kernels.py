"""Instruction calibration of a Cortex-M target (``hwq cost calibrate``, ``hwq.cost.mcu_calibrate``).

For every runtime kernel (``KERNELS``) ``N_SHAPES`` random small layer shapes (seeded), one program per kernel
that calls it once per shape behind ``HWQ_PROFILE_MARK`` markers (``hwq.mcu.kernel_calls``), run once under
QEMU on the CPU's board (``hwq.sim.mcurun.TARGETS``) and counted exactly from the translation-block trace;
every third shape is held out, the per-kernel formulas (``hwq.cost.mcu_formulas``) are least-squares fits on
the others, and ``write_instructions`` replaces a target file's ``[instructions]`` tables.
"""

from __future__ import annotations

import datetime as _dt
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from .mcu_formulas import fit_kernel, kernel_instructions, shape_from_bench
from .targets import replace_tables, target_path

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


class McuCalibrationError(RuntimeError):
    """A tool is missing, a build failed or the target cannot be calibrated; the message names it."""


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
