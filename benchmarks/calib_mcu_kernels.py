"""Calibration data of ``hwq.cost.mcu``: exact QEMU instruction counts of many shapes per runtime kernel.

For each kernel (conv s8/s4/s16, depthwise s8/s4, fully connected s8/per-channel s8/s4/s16, max/avg pool
s8/s16, element-wise add/mul s8) the script draws random small layer shapes (seeded), writes ONE program per
kernel and CPU that calls the kernel once per shape, each call preceded by ``HWQ_PROFILE_MARK`` (the C source
of a call is ``benchmarks/bench_mcu_kernels.py``'s), builds it with ``mcu/target/rules.mk`` and counts the
executed instructions of every call under QEMU (``hwq.sim.mcurun.profile_layers``: mps2-an386 Cortex-M4,
mps3-an547 Cortex-M55). One build per kernel keeps the run to a few minutes. Every shape is tagged
``fit`` or ``holdout`` (every third shape is held out); ``hwq.cost.mcu.calibrate`` fits the per-kernel
formulas on the ``fit`` rows only and ``tests/cost/test_mcu_calibration.py`` checks the held-out rows.

Usage: ``python benchmarks/calib_mcu_kernels.py [--cpus cortex-m4,cortex-m55] [--only conv_s8,...]
[--out tests/data/mcu_kernel_calib.json] [--write-targets]`` (``--write-targets`` also refits and rewrites the
``[instructions]`` coefficients of ``hwq/cost/targets/cortex-m4.toml`` / ``cortex-m55.toml``).
``--report`` prints the held-out table of the stored data (no QEMU run); ``--check-model DIR`` compares
``hwq.cost.mcu`` with the QEMU counts of ``hwq verify mcu DIR --target cortex-m4|cortex-m55`` (DIR/verify.json).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_mcu_kernels as bench  # noqa: E402

from hwq.sim import mcurun  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "data" / "mcu_kernel_calib.json"

# kernel -> (bench kind, element type, extra fixed params)
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
N_SHAPES = {"conv_s8": 30, "conv_s4": 30, "conv_s16": 21, "depthwise_s8": 21, "depthwise_s4": 21, "fc_s8": 21,
            "fc_s4": 21, "fc_per_channel_s8": 15, "fc_s16": 12, "max_pool_s8": 21, "avgpool_s8": 21,
            "max_pool_s16": 15, "avgpool_s16": 15, "conv_s4_big": 18, "depthwise_s4_big": 15,
            "fc_s4_big": 12}  # fmt: skip


def random_shape(kernel: str, rng) -> dict:
    """A random small layer shape for ``kernel`` (bench_mcu_kernels parameter names)."""
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
    """One C file calling the kernel once per shape (marks before each call and after the last)."""
    kind, _ = KERNELS[kernel]
    head, bodies, n_in, n_out, ct = "", [], 1, 1, "int8_t"
    for i, p in enumerate(shapes):
        src, ni, no, ct, _ = bench.program(kind, p, rng)
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
    """Turn bench's per-tensor fully connected call into arm_fully_connected_per_channel_s8."""
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
    """Instruction counts {cpu: [count per shape]} of one multi-call program."""
    rng = np.random.default_rng(seed)
    src, n_in, n_out, ct = program_source(kernel, shapes, rng)
    folder = cache / kernel
    bench.write_case(folder, src, n_in, n_out, ct)
    lo, hi = (-32768, 32768) if ct == "int16_t" else (-128, 128)
    x = rng.integers(lo, hi, n_in).astype(np.int16 if ct == "int16_t" else np.int8)
    res = {}
    for cpu in cpus:
        work = Path(tempfile.mkdtemp(dir=cache))
        x.tofile(work / "inputs.bin")
        prog, _ = mcurun.build(folder, cpu, single=False, profile=True, cache_dir=cache)
        counts = mcurun.profile_layers(prog, cpu, work)["layer_instructions"]
        if len(counts) != len(shapes) + 1:
            raise RuntimeError(f"{kernel} on {cpu}: {len(counts)} marks for {len(shapes)} calls")
        res[cpu] = [int(c) for c in counts[: len(shapes)]]
        shutil.rmtree(work, ignore_errors=True)
    return res


def holdout_report(path: Path) -> str:
    """Markdown table: held-out % error of the target files' formulas vs the stored QEMU counts."""
    from hwq.cost.mcu import kernel_instructions, shape_from_bench
    from hwq.cost.targets import load_target

    kernels = json.loads(Path(path).read_text())["kernels"]
    groups = {
        "int8 weights (conv, depthwise, fc, fc per-channel)": ("conv_s8", "depthwise_s8", "fc_s8", "fc_per_channel_s8"),
        "int4 weights (conv, depthwise, fc)": ("conv_s4", "depthwise_s4", "fc_s4"),
        "int4 weights, nibble path (> 1 kB of weights)": ("conv_s4_big", "depthwise_s4_big", "fc_s4_big"),
        "int16 activations (conv, fc)": ("conv_s16", "fc_s16"),
        "pool s8/s16, add/mul s8": ("max_pool_s8", "avgpool_s8", "max_pool_s16", "avgpool_s16", "add_s8", "mul_s8"),
    }
    lines = ["| CPU | kernels | held-out shapes | median error | max error |", "|---|---|---:|---:|---:|"]
    for cpu in ("cortex-m4", "cortex-m55"):
        coefs, every = load_target(cpu)["instructions"], []
        for name, ks in groups.items():
            errs = [
                abs(
                    100.0
                    * (kernel_instructions(k, shape_from_bench(k, r["shape"]), coefs) / r["instructions"][cpu] - 1)
                )
                for k in ks
                for r in kernels.get(k, [])
                if r["split"] == "holdout"
            ]
            every += errs
            if errs:
                lines.append(f"| {cpu} | {name} | {len(errs)} | {np.median(errs):.2f} % | {max(errs):.2f} % |")
        lines.append(f"| {cpu} | all | {len(every)} | {np.median(every):.2f} % | {max(every):.2f} % |")
    return "\n".join(lines)


def model_report(emit_dir: Path) -> str:
    """Per-layer and total ``hwq.cost.mcu`` estimate vs the QEMU counts in ``emit_dir/verify.json``."""
    from hwq.cost.mcu import mcu
    from hwq.ir.serialize import load

    extra = json.loads((emit_dir / "verify.json").read_text())["extra"]
    cpu = extra["target"]
    est = mcu(load(emit_dir / "graph.json"), cpu)
    lines = [f"{emit_dir.name} on {cpu}:"]
    for row, got in zip(est["layers"], extra["layer_instructions"]):
        lines.append(f"  {row['func']:<38} estimate {row['instructions']:>9,}  QEMU {got:>9,}  "
                     f"{100 * (row['instructions'] / got - 1):+6.2f} %")  # fmt: skip
    t, q = est["total"]["instructions"], extra["total_instructions"]
    lines.append(f"  total{'':<33} estimate {t:>9,}  QEMU {q:>9,}  {100 * (t / q - 1):+6.2f} %")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpus", default="cortex-m4,cortex-m55")
    ap.add_argument("--only", default="", help="comma-separated kernels (default: all)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--write-targets", action="store_true")
    ap.add_argument("--report", action="store_true", help="print the held-out table of --out and exit")
    ap.add_argument("--check-model", default="", help="'hwq emit mcu' folder verified on QEMU: estimate vs counts")
    args = ap.parse_args(argv)
    if args.report or args.check_model:
        print(model_report(Path(args.check_model)) if args.check_model else holdout_report(Path(args.out)))
        return 0
    cpus = [c for c in args.cpus.split(",") if c]
    only = [k for k in args.only.split(",") if k] or list(KERNELS)
    gcc = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    qemu = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {"kernels": {}}
    data.update(compiler=f"{gcc}, -O2 (mcu/target/rules.mk)", qemu=qemu, runtime="mcu/runtime (hwq portable C99)")
    cache = Path(tempfile.mkdtemp(prefix="hwq-calib-mcu-"))
    t0 = time.perf_counter()
    try:
        for ki, kernel in enumerate(only):
            rng = np.random.default_rng(args.seed + ki)
            shapes = [random_shape(kernel, rng) for _ in range(N_SHAPES.get(kernel, 9))]
            counts = measure_kernel(kernel, shapes, cpus, cache, args.seed + 100 + ki)
            rows = [
                {"shape": {k: v for k, v in s.items()}, "split": "holdout" if i % 3 == 2 else "fit"}
                | {"instructions": {c: counts[c][i] for c in cpus}}
                for i, s in enumerate(shapes)
            ]
            data["kernels"][kernel] = rows
            print(f"{kernel:<18} {len(rows)} shapes  {time.perf_counter() - t0:6.0f} s", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=0) + "\n")
    tmp.replace(out)
    print(f"wrote {out}")
    if args.write_targets:
        from hwq.cost.mcu import calibrate_targets

        calibrate_targets(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
