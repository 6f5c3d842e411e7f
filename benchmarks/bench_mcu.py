"""The MCU backend end to end: generated model vs bare kernel calls (QEMU instructions), planner SRAM/flash vs a
naive plan, TFLite Micro's greedy order and the measured program, host run time vs the interpreter.

Models: ``conv16`` (16x16x8 int8 -> 16 filters 3x3 pad 1, per-channel requantisation; 294,912 MACs) and the
digits CNN in the CMSIS-NN profile (``examples/cnn_cmsis_int8_ptq.toml``, trained here unless ``--cnn-ir``
names its graph.json).

- instructions: ``hwq.sim.mcurun`` (QEMU ``mps2-an386`` Cortex-M4 / ``mps3-an547`` Cortex-M55, exact counts
  between the generated ``HWQ_PROFILE_MARK`` calls, one vector). "bare" is the same folder with the model
  function reduced to its kernel calls: no scratch-size checks, no status checks, no layout copies (what a
  hand-written sequence of CMSIS-NN calls would execute); the ratio is generated / bare.
- memory: the planner's arena (``hwq.mcu.plan_memory``) beside every-tensor-its-own-buffer (naive) and
  TFLite Micro's greedy placement of the same buffers; the measured figures are the program's ``.bss`` arena
  (``HWQ_MODEL_ARENA_BYTES``), the QEMU stack high-water mark, and ``.text``/``.data`` of the whole ELF
  (harness and newlib included) beside the planner's flash figure (const data + code estimate).
- host: the generated code built with gcc -O2, run on N vectors (one process, file I/O included), beside
  ``hwq.ir.run`` on the same N vectors (batched numpy).

Usage: ``python benchmarks/bench_mcu.py [--cpus cortex-m4,cortex-m55] [--vectors 2000] [--cnn-ir G]
[--json F]``. The portable runtime is plain C (no DSP/MVE paths): its instruction counts are not the real
CMSIS-NN's (REFERENCE.md: 843,576 on M4 and 183,682 on M55 for the conv16 kernel); both are printed.
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

from hwq.formats import FixedFormat, parse
from hwq.ir import run
from hwq.ir.graph import Graph
from hwq.ir.ops import Conv2d, Requantize
from hwq.ir.random_graph import random_inputs
from hwq.ir.serialize import load
from hwq.mcu import emit, plan_memory
from hwq.sim import mcurun

ROOT = Path(__file__).resolve().parent.parent
REAL_CMSIS_CONV = {"cortex-m4": 843_576, "cortex-m55": 183_682}


def conv16() -> Graph:
    """int8 16x16x8 -> conv 3x3 pad 1 -> 16 channels, per-channel dyadic requantisation (CMSIS-NN style)."""
    rng = np.random.default_rng(0)
    acc = FixedFormat(32, 32, True, "TRN", "WRAP")
    g = Graph("conv16", ["x"], ["y"])
    g.add_tensor("x", (8, 16, 16), "int<8,scale=0.02,zp=-3>")
    g.add_tensor("acc", (16, 16, 16), acc)
    g.add_tensor("y", (16, 16, 16), "int<8,scale=0.05,zp=5>")
    w = rng.integers(-127, 128, size=(16, 8, 3, 3), dtype=np.int64)
    b = rng.integers(-5000, 5000, size=(16,), dtype=np.int64)
    op = Conv2d("conv", ["x"], "acc", w, b, parse("int<8,narrow>"), parse("int<32>"), acc, (1, 1), (1, 1, 1, 1))
    op.input_offset = 3
    g.add_op(op)
    m = rng.integers(1 << 30, (1 << 31) - 1, size=(16,), dtype=np.int64)
    g.add_op(Requantize("rq", ["acc"], "y", "dyadic", m, np.full(16, -9, dtype=np.int64), False, 5, None, None))
    g.validate()
    return g


def digits_cnn(work: Path, ir: str | None) -> Graph:
    """The digits CNN in the CMSIS-NN profile (int8 PTQ): ``--cnn-ir`` or trained now with hwq train."""
    if ir:
        return load(ir)
    out = work / "cnn_run"
    cfg = ROOT / "examples" / "cnn_cmsis_int8_ptq.toml"
    subprocess.run(["hwq", "train", "--config", str(cfg), "--out", str(out), "--force"], check=True,
                   capture_output=True, timeout=1800)  # fmt: skip
    return load(out / "graph.json")


def bare_copy(src: Path, dst: Path) -> None:
    """The emitted folder with the model function reduced to its CMSIS-NN calls (see the module docstring)."""
    shutil.copytree(src, dst)
    for c in dst.glob("hwq_*.c"):
        if c.name.endswith("_weights.c"):
            continue
        t = c.read_text()
        t = re.sub(r"        if \(\w+_get_buffer_size\([^)]*\) > a->ctx\.size\) \{\n[^\n]*\n        \}\n", "", t)
        t = re.sub(r"const arm_cmsis_nn_status st = ", "(void)", t)
        t = re.sub(r"        if \(st != ARM_CMSIS_NN_SUCCESS\) \{\n[^\n]*\n        \}\n", "", t)
        t = re.sub(r"HWQ_NOINLINE static void hwq_(chw_to_hwc|hwc_to_chw)_s(8|16)\(.*?\n\}\n", "", t, flags=re.S)
        t = re.sub(r"(?m)^ +hwq_(chw_to_hwc|hwc_to_chw)_s(8|16)\([^;]*;\n", "", t)
        t = re.sub(r"(?m)^ +const hwq_(chw_to_hwc|hwc_to_chw)_s(8|16)_args \*const a = &\w+;\n", "", t)
        pat = r"/\* step \d+ \(layout copy\): hwq_(chw_to_hwc|hwc_to_chw)_s(8|16) \*/\nstatic const .*?\n\};\n"
        t = re.sub(pat, "", t, flags=re.S)
        t = t.replace("    (void)in;\n", "    (void)in;\n    (void)out;\n")
        c.write_text(t)


def instructions(folder: Path, graph, cpu: str) -> dict:
    inputs = random_inputs(graph, 1, 0)
    _, extra = mcurun.run_mcu(folder, graph, inputs, target=cpu, profile=True)
    return extra


def bench_model(name: str, graph, cpus, vectors: int, work: Path) -> dict:
    gen = work / name
    emit(graph, gen, command=f"python benchmarks/bench_mcu.py ({name})")
    bare = work / f"{name}_bare"
    bare_copy(gen, bare)
    plan = plan_memory(graph)
    row = {
        "model": name,
        "macs": int(json.loads((gen / "mcu.json").read_text())["macs"]),
        "arena_bytes": plan.arena_bytes,
        "tflm_bytes": plan.tflm_bytes,
        "naive_bytes": plan.naive_bytes,
        "lower_bound": plan.lower_bound,
        "io_bytes": plan.io_bytes,
        "flash_planner": plan.flash_weight_bytes + plan.flash_code_bytes,
        "flash_weights": plan.flash_weight_bytes,
        "cpus": {},
    }
    for cpu in cpus:
        g = instructions(gen, graph, cpu)
        b = instructions(bare, graph, cpu)
        row["cpus"][cpu] = {
            "generated": g["total_instructions"],
            "bare": b["total_instructions"],
            "ratio": g["total_instructions"] / max(b["total_instructions"], 1),
            "layers": g.get("layer_instructions"),
            "stack_bytes": g.get("stack_bytes"),
            "measured_arena": g.get("arena_bytes"),
            "text_bytes": g.get("text_bytes"),
            "data_bytes": g.get("data_bytes"),
            "bss_bytes": g.get("bss_bytes"),
        }
    inputs = random_inputs(graph, vectors, 1)
    _, extra = mcurun.run_mcu(gen, graph, inputs, target="host")
    t0 = time.perf_counter()
    run(graph, inputs)
    row["interp_s"] = time.perf_counter() - t0
    row["host_s"] = extra["run_s"]
    row["vectors"] = vectors
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpus", default="cortex-m4,cortex-m55")
    ap.add_argument("--vectors", type=int, default=2000)
    ap.add_argument("--cnn-ir", default=None, help="graph.json of a trained CMSIS-profile digits CNN")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    cpus = [c for c in args.cpus.split(",") if c]
    work = Path(tempfile.mkdtemp(prefix="bench_mcu_"))
    try:
        rows = [bench_model("conv16", conv16(), cpus, args.vectors, work)]
        rows.append(bench_model("digits_cnn", digits_cnn(work, args.cnn_ir), cpus, args.vectors, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| model | CPU | generated instr | bare kernel calls | ratio | real CMSIS-NN kernel | stack B |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        for cpu, c in r["cpus"].items():
            real = f"{REAL_CMSIS_CONV[cpu]:,}" if r["model"] == "conv16" else "-"
            print(f"| {r['model']} | {cpu} | {c['generated']:,} | {c['bare']:,} | {c['ratio']:.4f} | {real} | "
                  f"{c['stack_bytes']} |")  # fmt: skip
    print()
    print("| model | MACs | arena (hwq) | TFLM greedy | naive | lower bound | in+out | measured .bss arena | "
          "flash planner (weights+code est.) | ELF .text+.data (M4, with harness) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        m4 = r["cpus"].get("cortex-m4") or next(iter(r["cpus"].values()), {})
        elf = (m4.get("text_bytes") or 0) + (m4.get("data_bytes") or 0)
        print(f"| {r['model']} | {r['macs']:,} | {r['arena_bytes']:,} | {r['tflm_bytes']:,} | {r['naive_bytes']:,} | "
              f"{r['lower_bound']:,} | {r['io_bytes']:,} | {m4.get('measured_arena')} | {r['flash_planner']:,} "
              f"({r['flash_weights']:,}+{r['flash_planner'] - r['flash_weights']:,}) | {elf:,} |")  # fmt: skip
    print()
    print("| model | vectors | generated C on host (s) | hwq.ir.run (s) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['vectors']} | {r['host_s']:.3f} | {r['interp_s']:.3f} | "
              f"{r['interp_s'] / max(r['host_s'], 1e-9):.1f}x |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
