"""Whole trained models: ``hwq.cost.mcu`` instructions and flash against QEMU and the linker, per Cortex-M.

Trains the digits examples in the CMSIS-NN profile (``examples/{mlp,cnn}_cmsis_{int8_ptq,int4w_qat}.toml``,
a few seconds each; ``--runs DIR`` reuses ``DIR/<name>/graph.json`` when present), emits each with ``hwq emit
mcu``, runs it on QEMU for every CPU (``hwq.sim.verify``: ``--vectors`` vectors compared bit for bit with
``hwq.ir.run``, then one traced vector for exact instruction counts) and prints the estimate beside the
count and the model's linked flash (``mcurun.model_flash_bytes``) beside the flash estimate.

The CNNs are also emitted as patch programs (``--patch-plans``, default ``2x2,2x2:cache,4x4``: grid and
halo of ``hwq emit mcu -O patches=... -O halo=...``) and linked for every CPU: ``hwq.cost.mcu(graph, cpu,
patches=..., halo=...)``'s flash beside the link (the Cortex-M4 figure is also ``mcu.json``'s) and its
instructions beside QEMU's (every program also runs ``--vectors`` vectors bit for bit).

Usage: ``python benchmarks/mcu_whole_models.py [--cpus cortex-m4,cortex-m7,cortex-m55] [--vectors 20]
[--patch-plans 2x2,2x2:cache,4x4] [--runs DIR] [--json OUT]`` (needs arm-none-eabi-gcc and qemu-system-arm).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["mlp_cmsis_int8_ptq", "cnn_cmsis_int8_ptq", "mlp_cmsis_int4w_qat", "cnn_cmsis_int4w_qat"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpus", default="cortex-m4,cortex-m7,cortex-m55")
    ap.add_argument("--vectors", type=int, default=20)
    ap.add_argument("--patch-plans", default="2x2,2x2:cache,4x4", help="CNN patch programs (GRID[:HALO], comma list)")
    ap.add_argument("--runs", default=None, help="folder of trained runs (default: a temporary folder)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            print(f"{tool} not found", file=sys.stderr)
            return 2
    from hwq.cost import mcu
    from hwq.ir.serialize import load
    from hwq.mcu import emit
    from hwq.sim.verify import verify

    cpus = [c for c in args.cpus.split(",") if c]
    runs = Path(args.runs or tempfile.mkdtemp(prefix="hwq-mcu-models-"))
    rows, bad = [], 0
    print(
        "| model (examples/*.toml) | CPU | instructions: estimate | QEMU | error | flash: estimate | linked | error |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in MODELS:
        run = runs / name
        if not (run / "graph.json").exists():
            cmd = [sys.executable, "-m", "hwq.cli", "train", "--config", str(ROOT / "examples" / f"{name}.toml"),
                   "--out", str(run)]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True)
        graph = load(run / "graph.json")
        folder = run / "mcu"
        if folder.exists():
            shutil.rmtree(folder)
        emit(graph, folder)
        for cpu in cpus:
            r = verify("mcu", folder, vectors=args.vectors, seed=3, target=cpu)
            bad += r.mismatches
            est = mcu(graph, cpu)["total"]
            got, linked = r.extra["total_instructions"], r.extra["model_flash_bytes"]
            row = {"model": name, "cpu": cpu, "vectors": r.vectors, "mismatches": r.mismatches,
                   "instructions_estimate": est["instructions"], "instructions_qemu": got,
                   "flash_estimate": est["flash_bytes"], "flash_linked": linked}  # fmt: skip
            rows.append(row)
            ins, fl = est["instructions"], est["flash_bytes"]
            print(
                f"| {name} | {cpu} | {ins:,} | {got:,} | {100 * (ins / got - 1):+.2f} % "
                f"| {fl:,} | {linked:,} | {100 * (fl / linked - 1):+.2f} % |",
                flush=True,
            )
    print(f"{len(rows)} runs, {bad} mismatching vectors")
    plans = [p.split(":") for p in args.patch_plans.split(",") if p]
    if plans:
        from hwq.sim.mcurun import model_flash_bytes

        print(
            "\n| model | patch plan | CPU | instructions: estimate | QEMU | error | flash: estimate | linked | error |"
        )
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for name in [m for m in MODELS if m.startswith("cnn")] if plans else []:
        graph = load(runs / name / "graph.json")
        for plan in plans:
            opts = {"patches": plan[0], "halo": plan[1] if len(plan) > 1 else "recompute"}
            folder = runs / name / f"mcu_{plan[0]}_{opts['halo']}"
            if folder.exists():
                shutil.rmtree(folder)
            emit(graph, folder, **opts)
            planner = json.loads((folder / "mcu.json").read_text())["memory"]["flash_bytes"]
            for cpu in cpus:
                r = verify("mcu", folder, vectors=args.vectors, seed=3, target=cpu)
                bad += r.mismatches
                total = mcu(graph, cpu, **opts)["total"]
                est, linked = total["flash_bytes"], model_flash_bytes(folder, cpu)
                ins, got = total["instructions"], r.extra["total_instructions"]
                assert cpu != "cortex-m4" or est == planner, (est, planner)
                rows.append({"model": name, "cpu": cpu, "patch_plan": opts, "mismatches": r.mismatches,
                             "instructions_estimate": ins, "instructions_qemu": got,
                             "flash_estimate": est, "flash_linked": linked})  # fmt: skip
                e_ins, e_fl = 100 * (ins / got - 1), 100 * (est / linked - 1)
                print(f"| {name} | {plan[0]} {opts['halo']} | {cpu} | {ins:,} | {got:,} | {e_ins:+.2f} % | {est:,} | "
                      f"{linked:,} | {e_fl:+.2f} % |")  # fmt: skip
    if plans:
        print(f"patch programs: {bad} mismatching vectors in all")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
