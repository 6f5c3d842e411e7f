"""Calibration data of ``hwq.cost.mcu``: exact QEMU instruction counts of many shapes per runtime kernel.

The measurement and the fit live in ``hwq.cost.mcu_calibrate`` (what ``hwq cost calibrate --target T`` runs
for one CPU); this script measures the three packaged CPUs in one run and keeps the data as
``tests/data/mcu_kernel_calib.json``, which the tests check the target files against.

For each kernel (conv s8/s4/s16, depthwise s8/s4, fully connected s8/per-channel s8/s4/s16, max/avg pool
s8/s16, the int4 nibble paths, element-wise add/mul s8) random small layer shapes (seeded), ONE program per
kernel that calls it once per shape behind ``HWQ_PROFILE_MARK`` (``hwq.mcu.kernel_calls``), built with
``mcu/target/rules.mk`` and counted per call under QEMU (``hwq.sim.mcurun.profile_layers``: mps2-an386
Cortex-M4, mps2-an500 Cortex-M7, mps3-an547 Cortex-M55); about a minute for the three CPUs. Every third
shape is held out; ``hwq.cost.mcu_calibrate.calibrate_targets`` fits the formulas on the others and
``tests/cost/test_mcu_calibration.py`` checks the held-out rows.

Usage: ``python benchmarks/calib_mcu_kernels.py [--cpus cortex-m4,cortex-m7,cortex-m55] [--only conv_s8,...]
[--out tests/data/mcu_kernel_calib.json] [--write-targets]`` (``--write-targets`` also refits and rewrites
the ``[instructions]`` tables of ``hwq/cost/targets/<cpu>.toml``). ``--report`` prints the held-out table of
the stored data (no QEMU run); ``--check-model DIR`` compares ``hwq.cost.mcu`` with the QEMU counts of
``hwq verify mcu DIR --target cortex-m4|cortex-m7|cortex-m55`` (DIR/verify.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hwq.cost.mcu_calibrate import KERNELS, holdout_rows, measure_instructions
from hwq.io import atomic_write

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "data" / "mcu_kernel_calib.json"


def holdout_report(path: Path) -> str:
    """Markdown table: held-out % error of the target files' formulas vs the stored QEMU counts."""
    from hwq.cost.targets import MCU_TARGETS, load_target

    data = json.loads(Path(path).read_text())
    seen = {c for rows in data["kernels"].values() for r in rows for c in r["instructions"]}
    cpus = [c for c in ("cortex-m4", "cortex-m7", "cortex-m55") if c in seen] + sorted(seen - set(MCU_TARGETS))
    lines = ["| CPU | kernels | held-out shapes | median error | max error |", "|---|---|---:|---:|---:|"]
    for cpu in cpus:
        for r in holdout_rows(data, cpu, load_target(cpu)["instructions"]):
            lines.append(f"| {cpu} | {r['group']} | {r['shapes']} | {r['median_pct']:.2f} % | {r['max_pct']:.2f} % |")
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
    ap.add_argument("--cpus", default="cortex-m4,cortex-m7,cortex-m55")
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
    only = [k for k in args.only.split(",") if k]
    unknown = set(only) - set(KERNELS)
    if unknown:
        print(f"unknown kernels: {', '.join(sorted(unknown))} (known: {', '.join(KERNELS)})", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    new = measure_instructions(cpus, seed=args.seed, only=only or None)
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() and only else {"kernels": {}}
    data.update({k: v for k, v in new.items() if k != "kernels"})
    data["kernels"].update(new["kernels"])
    atomic_write(out, json.dumps(data, indent=0) + "\n")
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")
    if args.write_targets:
        from hwq.cost.mcu_calibrate import calibrate_targets

        calibrate_targets(out, targets=tuple(cpus))
        print(holdout_report(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
