"""The MCU flash estimate (``hwq.mcu.plan``: weight bytes + a per-kernel code table) against linked builds.

Emits models of the CMSIS-NN profile (``hwq.mcu.random_models``: random graphs of 1-5 layers with
convolutions, depthwise, int4 weights, pools, residual add/mul and dense heads, and int16 ones), links
each model with the portable runtime for Cortex-M4, M7 and M55 (``arm-none-eabi-gcc -O2`` with the emitted
Makefile's architecture flags and rounding macro, ``-ffunction-sections -Wl,--gc-sections`` from the
model's ``*_run`` entry: the model as it lands in a firmware, without harness or startup code), and
compares ``arm-none-eabi-size`` text + data with the planner's ``flash_weight_bytes + flash_code_bytes``
and with ``hwq.cost.mcu``'s figure (the target file's ``[flash]`` table from ``benchmarks/calib_mcu_flash.py``,
whose run-call fit used two of every three of these models). The weight bytes are exact
(``tests/mcu/test_plan_mcu.py``); the planner's code bytes are the Cortex-M4 ``[flash]`` table's since
session 12 (a fixed table of kernel sizes plus a cost per call before).

Usage: ``python benchmarks/mcu_flash_check.py [--models 60] [--jobs 2] [--json OUT]`` (needs
arm-none-eabi-gcc).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwq.sim.mcurun import ARCH_FLAGS as ARCH  # noqa: E402
from hwq.sim.mcurun import model_flash_bytes  # noqa: E402


def graphs(n: int) -> list:
    """``n`` models: the calibration's random CMSIS graphs (``hwq.cost.mcu_calibrate.flash_models``)."""
    from hwq.cost.mcu_calibrate import flash_models

    return flash_models(n)


def measure(job: tuple) -> int:
    """Link one emitted model for one CPU (``sim.mcurun.model_flash_bytes``); its text + data bytes."""
    folder, cpu = job
    return model_flash_bytes(folder, cpu, elf=f"{folder}/{cpu}.elf")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if not shutil.which("arm-none-eabi-gcc"):
        print("arm-none-eabi-gcc not found (Debian: apt-get install gcc-arm-none-eabi)", file=sys.stderr)
        return 2
    from hwq.cost import mcu
    from hwq.mcu import emit
    from hwq.mcu.plan import plan_memory

    rows = []
    with tempfile.TemporaryDirectory(prefix="hwq-flash-") as root:
        for k, g in enumerate(graphs(args.models)):
            folder = f"{root}/m{k}"
            emit(g, folder)
            plan = plan_memory(g)
            rows.append(
                {
                    "model": g.name,
                    "folder": folder,
                    "estimate": plan.flash_weight_bytes + plan.flash_code_bytes,
                    "cost": {cpu: mcu(g, cpu)["total"]["flash_bytes"] for cpu in ARCH},
                }
            )
        jobs = [(r["folder"], cpu) for r in rows for cpu in ARCH]
        with ProcessPoolExecutor(args.jobs) as ex:
            sizes = dict(zip(jobs, ex.map(measure, jobs)))
    report = {}
    for cpu in ARCH:
        err = np.array([100 * (r["estimate"] / sizes[(r["folder"], cpu)] - 1) for r in rows])
        a = np.abs(err)
        cerr = np.array([100 * (r["cost"][cpu] / sizes[(r["folder"], cpu)] - 1) for r in rows])
        ca = np.abs(cerr)
        report[cpu] = {
            "models": len(rows),
            "median_abs_error_pct": round(float(np.median(a)), 2),
            "min_error_pct": round(float(err.min()), 1),
            "max_error_pct": round(float(err.max()), 1),
            "within_1pct": int((a <= 1.0).sum()),
            "cost_mcu": {
                "median_abs_error_pct": round(float(np.median(ca)), 2),
                "min_error_pct": round(float(cerr.min()), 1),
                "max_error_pct": round(float(cerr.max()), 1),
                "within_1pct": int((ca <= 1.0).sum()),
            },
            "rows": [
                {
                    "model": r["model"],
                    "planner": r["estimate"],
                    "cost_mcu": r["cost"][cpu],
                    "linked": sizes[(r["folder"], cpu)],
                }
                for r in rows
            ],
        }
        c = report[cpu]["cost_mcu"]
        print(
            f"{cpu}: {len(rows)} models, flash vs linked text+data: planner |error| median "
            f"{report[cpu]['median_abs_error_pct']} %, range {report[cpu]['min_error_pct']} .. "
            f"{report[cpu]['max_error_pct']} %, within 1 %: {report[cpu]['within_1pct']}/{len(rows)}; hwq.cost.mcu "
            f"median {c['median_abs_error_pct']} %, range {c['min_error_pct']} .. {c['max_error_pct']} %, "
            f"within 1 %: {c['within_1pct']}/{len(rows)}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
