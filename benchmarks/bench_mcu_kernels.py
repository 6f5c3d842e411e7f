"""Instructions per CMSIS-NN kernel call of hwq's portable runtime on QEMU Cortex-M4, Cortex-M7 and Cortex-M55.

For every kernel and shape in ``CASES`` the script writes a one-call program (random int8/int16 data,
random per-channel multipliers), builds it with ``mcu/target/rules.mk`` (arm-none-eabi-gcc -O2,
HWQ_PROFILE) for each CPU, runs one call in QEMU (``mps2-an386`` / ``mps2-an500`` / ``mps3-an547``) and counts
the executed
instructions exactly (``hwq.sim.mcurun``: QEMU's translation-block trace, checked in the tests against a
one-instruction-per-block trace). It also runs the same program on the host and checks that the outputs of
host and every QEMU CPU are byte-identical. Results go to ``mcu/target/kernel_counts_<cpu>.json`` (shape ->
instructions, MACs, instructions per MAC or per element), the data the MCU cost model fits its per-kernel
formulas to, and a table is printed beside the real CMSIS-NN's published counts for the reference conv
(REFERENCE.md: arm_convolve_s8 16x16x8 -> 16, 3x3: 843,576 instructions on M4, 183,682 on M55).

The runtime is plain C99 (no DSP/MVE intrinsics), so its counts are those of portable code compiled by gcc;
the real library's optimised paths are several times faster. Both are reported, never mixed.

Usage: ``python benchmarks/bench_mcu_kernels.py [--cpus cortex-m4,cortex-m7,cortex-m55] [--only conv_s8,...]
[--no-write] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hwq.mcu.kernel_calls import call_source, kernel_function, write_case
from hwq.sim import mcurun

OUT_DIR = Path(__file__).resolve().parent.parent / "mcu" / "target"
#: REFERENCE.md: real CMSIS-NN v7 arm_convolve_s8, 16x16x8 input, 16 3x3 filters, pad 1 (294,912 MACs).
REAL_CMSIS_CONV = {"cortex-m4": 843_576, "cortex-m55": 183_682}

# (name, kernel, params): conv/dw params h, w, cin, cout, k, stride, pad; fc: depth, out; pool: h, w, c, k, s;
# elementwise: n
CASES = [
    ("conv_s8", "conv", dict(h=16, w=16, cin=8, cout=16, k=3, stride=1, pad=1, t="s8")),
    ("conv_s8", "conv", dict(h=8, w=8, cin=8, cout=16, k=3, stride=1, pad=1, t="s8")),
    ("conv_s8", "conv", dict(h=16, w=16, cin=16, cout=16, k=1, stride=1, pad=0, t="s8")),
    ("conv_s8", "conv", dict(h=16, w=16, cin=8, cout=16, k=3, stride=2, pad=1, t="s8")),
    ("conv_s8", "conv", dict(h=28, w=28, cin=1, cout=8, k=5, stride=1, pad=2, t="s8")),
    ("conv_s4", "conv", dict(h=16, w=16, cin=8, cout=16, k=3, stride=1, pad=1, t="s4")),
    ("conv_s16", "conv", dict(h=16, w=16, cin=8, cout=16, k=3, stride=1, pad=1, t="s16")),
    ("depthwise_s8", "dw", dict(h=16, w=16, cin=16, mult=1, k=3, stride=1, pad=1, t="s8")),
    ("depthwise_s8", "dw", dict(h=16, w=16, cin=8, mult=2, k=3, stride=2, pad=1, t="s8")),
    ("depthwise_s4", "dw", dict(h=16, w=16, cin=16, mult=1, k=3, stride=1, pad=1, t="s4")),
    ("fc_s8", "fc", dict(depth=256, out=64, t="s8")),
    ("fc_s8", "fc", dict(depth=64, out=10, t="s8")),
    ("fc_s4", "fc", dict(depth=256, out=64, t="s4")),
    ("fc_s16", "fc", dict(depth=256, out=64, t="s16")),
    ("max_pool_s8", "pool", dict(h=16, w=16, c=16, k=2, s=2, t="s8", op="max")),
    ("avgpool_s8", "pool", dict(h=16, w=16, c=16, k=2, s=2, t="s8", op="avg")),
    ("avgpool_s8", "pool", dict(h=8, w=8, c=16, k=8, s=1, t="s8", op="avg")),
    ("max_pool_s16", "pool", dict(h=16, w=16, c=16, k=2, s=2, t="s16", op="max")),
    ("avgpool_s16", "pool", dict(h=16, w=16, c=16, k=2, s=2, t="s16", op="avg")),
    ("add_s8", "add", dict(n=4096, t="s8")),
    ("mul_s8", "mul", dict(n=4096, t="s8")),
]


def measure(folder: Path, cpus: list[str], inputs: np.ndarray, cache: Path) -> dict:
    """Instructions per CPU (one traced call) and the byte-identity of host and QEMU outputs."""
    res, outputs = {}, {}
    for target in ["host", *cpus]:
        work = Path(tempfile.mkdtemp(dir=cache))
        inputs.tofile(work / "inputs.bin")
        program, _ = mcurun.build(folder, target, single=False, profile=target != "host", cache_dir=cache)
        if target == "host":
            mcurun.run_program(program, target, work)
        else:
            prof = mcurun.profile_layers(program, target, work)
            res[target] = prof["layer_instructions"][0]
        outputs[target] = (work / "outputs.bin").read_bytes()
        shutil.rmtree(work, ignore_errors=True)
    same = all(v == outputs["host"] for v in outputs.values())
    return {"instructions": res, "host_equals_qemu": same}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpus", default="cortex-m4,cortex-m7,cortex-m55")
    ap.add_argument("--only", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--no-write", action="store_true", help="do not write mcu/target/kernel_counts_<cpu>.json")
    ap.add_argument("--json", default="", help="also write all results to this file")
    args = ap.parse_args(argv)
    cpus = [c for c in args.cpus.split(",") if c]
    only = {c for c in args.only.split(",") if c}
    for tool in ("make", "gcc", "arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            print(f"bench_mcu_kernels: {tool} not found", file=sys.stderr)
            return 2
    gcc = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    cache = Path(tempfile.mkdtemp(prefix="hwq-bench-mcu-"))
    rows = []
    t0 = time.perf_counter()
    try:
        for i, (name, kind, p) in enumerate(CASES):
            if only and name not in only:
                continue
            rng = np.random.default_rng(i)
            src, n_in, n_out, ct, macs = call_source(kind, p, rng)
            folder = cache / f"case{i}"
            write_case(folder, src, n_in, n_out, ct)
            lo, hi = (-32768, 32768) if ct == "int16_t" else (-128, 128)
            x = rng.integers(lo, hi, n_in).astype(np.int16 if ct == "int16_t" else np.int8)
            m = measure(folder, cpus, x, cache)
            unit = "elements" if kind in ("add", "mul") else ("window_taps" if kind == "pool" else "macs")
            shape = {k: v for k, v in p.items() if k not in ("t",)}
            rows.append({"case": name, "kernel": kernel_function(kind, p), "shape": shape, unit: macs, **m})
            counts = "  ".join(
                f"{c}: {m['instructions'][c]:>9,} ({m['instructions'][c] / macs:5.2f}/{unit[:-1]})" for c in cpus
            )
            print(f"{name:<14} {json.dumps(shape):<70} {counts}  host==qemu: {m['host_equals_qemu']}", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"\n{len(rows)} kernels in {time.perf_counter() - t0:.0f} s; compiler: {gcc}, -O2")
    ref = next(
        (
            r
            for r in rows
            if r["case"] == "conv_s8" and r["shape"]["h"] == 16 and r["shape"]["k"] == 3 and r["shape"]["stride"] == 1
        ),
        None,
    )
    if ref:
        print("\nreference conv 16x16x8 -> 16, 3x3, pad 1 (294,912 MACs):")
        print("| cpu | hwq portable C | real CMSIS-NN v7 (REFERENCE.md) | ratio |")
        print("|---|---:|---:|---:|")
        for c in cpus:
            ours, real = ref["instructions"][c], REAL_CMSIS_CONV.get(c)
            print(f"| {c} | {ours:,} | {real:,} | {ours / real:.2f}x |" if real else f"| {c} | {ours:,} | - | - |")
    if not args.no_write:
        for c in cpus:
            table = {
                "cpu": c,
                "runtime": "hwq portable C99 CMSIS-NN (mcu/runtime), not the optimised library",
                "compiler": f"{gcc}, -O2, rules.mk flags",
                "method": "QEMU 7.2 translation-block trace, exact executed-instruction count of one call",
                "real_cmsis_nn_reference": {"arm_convolve_s8 16x16x8->16 3x3": REAL_CMSIS_CONV.get(c)},
                "kernels": [
                    {k: v for k, v in r.items() if k not in ("instructions", "host_equals_qemu")}
                    | {"instructions": r["instructions"][c]}
                    for r in rows
                ],
            }
            path = OUT_DIR / f"kernel_counts_{c}.json"
            path.write_text(json.dumps(table, indent=1) + "\n")
            print(f"wrote {path.relative_to(OUT_DIR.parent.parent)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(r["host_equals_qemu"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
