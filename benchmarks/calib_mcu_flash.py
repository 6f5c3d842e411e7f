"""Calibrate the MCU flash model per CPU from linked builds (issue 11: flash within 1 % of
``arm-none-eabi-size``): the three packaged CPUs in one run of ``hwq.cost.mcu_calibrate.measure_flash``
(what ``hwq cost calibrate --target T`` runs for one CPU, with its instruction counts).

Two parts, both measured with ``arm-none-eabi-gcc -O2 -ffunction-sections -fdata-sections
-Wl,--gc-sections`` and the emitted Makefile's architecture flags:

1. every runtime kernel the MCU backend calls (``mcu.plan.CODE_BYTES``'s names) is linked alone from its
   entry point (keeping the ``*_get_buffer_size`` function the run function calls before it), once per
   rounding variant (``CMSIS_NN_USE_SINGLE_ROUNDING`` changes the requantisation code);
   ``arm-none-eabi-nm -S`` gives the functions and constants it keeps, with their sizes. A model's
   kernels then cost the size of the union of those sets (a helper two kernels share counts once); the
   model file's own helpers (layout copies, clamp: never inlined) are read from the linked models;
2. the generated run function and its per-step ``static const`` argument objects (``mcu.cgen``: one object
   per call, so every call of a kernel compiles to the same loads): the linked model's text + data less
   the weights, the kernels' union and the helpers, fitted as ``base + sum over calls of call[kernel]``
   (non-negative least squares) on two of every three random models (``mcu_calibrate.flash_models``);
   the third are held out.

``--write-targets`` stores both in ``hwq/cost/targets/<cpu>.toml`` ``[flash]``, which ``hwq.cost.mcu``
uses for ``flash_code_bytes`` (the planner's table otherwise).

Usage: ``python benchmarks/calib_mcu_flash.py [--models 60] [--write-targets] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from hwq.cost.mcu_calibrate import measure_flash, write_flash
from hwq.cost.targets import target_path
from hwq.io import atomic_write

CPUS = ("cortex-m4", "cortex-m7", "cortex-m55")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--write-targets", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if not shutil.which("arm-none-eabi-gcc"):
        print("arm-none-eabi-gcc not found (Debian: apt-get install gcc-arm-none-eabi)", file=sys.stderr)
        return 2
    report = {}
    for cpu, (table, rep) in measure_flash(list(CPUS), args.models, args.jobs).items():
        report[cpu] = rep
        print(
            f"{cpu}: run-function fit on {rep['fit_models']} models; held out {rep['held_out_models']}: flash "
            f"|error| median {rep['median_abs_error_pct']} %, range {rep['min_error_pct']} .. "
            f"{rep['max_error_pct']} % (at most {rep['max_abs_error_bytes']} bytes), within 1 %: {rep['within_1pct']}"
        )
        if "patch" in rep:
            pr = rep["patch"]
            print(
                f"{cpu}: patch-loop fit on {pr['fit_programs']} patch programs; held out {pr['held_out_programs']}: "
                f"median {pr['median_abs_error_pct']} %, range {pr['min_error_pct']} .. {pr['max_error_pct']} %, "
                f"within 1 %: {pr['within_1pct']}"
            )
        if args.write_targets:
            write_flash(target_path(cpu), table)
    if args.json:
        atomic_write(Path(args.json), json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
