"""Calibrate the MCU flash model per CPU from linked builds (issue 11: flash within 1 % of
``arm-none-eabi-size``).

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
   (non-negative least squares) on two of every three random models (``benchmarks/mcu_flash_check.graphs``);
   the third are held out.

``--write-targets`` stores both in ``hwq/cost/targets/<cpu>.toml`` ``[flash]``, which ``hwq.cost.mcu``
uses for ``flash_code_bytes`` (the planner's table otherwise).

Usage: ``python benchmarks/calib_mcu_flash.py [--models 60] [--write-targets] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from mcu_flash_check import ARCH, graphs, measure  # noqa: E402

from hwq.mcu.cgen import _SUPPORT_HELPERS  # noqa: E402

#: the model file's own static helpers (``mcu.cgen``), each a function of its own (``HWQ_NOINLINE``)
HELPERS = set(_SUPPORT_HELPERS)


def kept_symbols(elf: str) -> dict[str, int]:
    """{symbol: bytes} of the text and read-only / data symbols an ELF keeps (``nm -S``)."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", elf], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "TtRrDd":
            syms[parts[3]] = int(parts[1], 16)
    return syms


def kernel_sets(folder: str, cpu: str, entries: list[str], single_rounding: bool) -> dict[str, dict[str, int]]:
    """{kernel entry: {symbol: bytes}} of each entry linked alone (with the ``*_get_buffer_size`` function the
    run function calls before it) from the runtime sources of ``folder``, in one rounding variant."""
    from hwq.mcu.cgen import scratch_size_function

    sources = sorted(str(p) for p in Path(folder, "cmsis_nn", "Source").glob("*.c"))
    sources += [str(p) for p in Path(folder, "target").glob("hwq_patch_pack.c")]
    rounding = ["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if single_rounding else []
    out = {}
    for e in entries:
        elf = f"{folder}/k_{cpu}_{int(single_rounding)}_{e}.elf"
        size_fn = scratch_size_function(e)
        keep = [f"-Wl,--undefined={size_fn}"] if size_fn else []
        cmd = [
            "arm-none-eabi-gcc", *ARCH[cpu], "-O2", "-std=c99", *rounding, "-ffunction-sections", "-fdata-sections",
            "-nostartfiles", "-Wl,--gc-sections", f"-Wl,-e,{e}", *keep, f"-I{folder}/cmsis_nn/Include",
            f"-I{folder}/target", f"-I{folder}", *sources, "-o", elf,
        ]  # fmt: skip
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            out[e] = kept_symbols(elf)
    return out


def kernel_bytes(sets: dict[str, dict[str, int]], funcs) -> int:
    """Bytes of the union of the kernels' kept symbols (shared helpers once)."""
    union: dict[str, int] = {}
    for f in funcs:
        union.update(sets.get(f, {}))
    return sum(union.values())


def helper_bytes(elf: str, helpers: set[str]) -> dict[str, int]:
    """{helper: bytes} of the model file's own static helpers (layout copies, clamp) in a linked model."""
    syms = kept_symbols(elf)
    return {h: syms[h] for h in helpers if h in syms}


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
    from concurrent.futures import ProcessPoolExecutor

    from hwq.mcu import emit
    from hwq.mcu.lower import lower
    from hwq.mcu.plan import CODE_BYTES, plan_program

    entries = sorted(CODE_BYTES)
    report = {}
    with tempfile.TemporaryDirectory(prefix="hwq-flashcal-") as root:
        models = []
        for k, g in enumerate(graphs(args.models)):
            folder = f"{root}/m{k}"
            emit(g, folder)
            prog = lower(g)
            calls = Counter(s.func for s in prog.steps)
            models.append({"k": k, "name": g.name, "folder": folder, "calls": calls,
                           "single": int(prog.single_rounding),
                           "weights": int(plan_program(prog).flash_weight_bytes)})  # fmt: skip
        jobs = [(m["folder"], cpu) for m in models for cpu in ARCH]
        with ProcessPoolExecutor(args.jobs) as ex:
            sizes = dict(zip(jobs, ex.map(measure, jobs)))
        for cpu in ARCH:
            sets = {r: kernel_sets(models[0]["folder"], cpu, entries, bool(r)) for r in (0, 1)}
            helpers: dict[str, int] = {}
            for m in models:
                for h, n in helper_bytes(f"{m['folder']}/{cpu}.elf", HELPERS & set(m["calls"])).items():
                    if helpers.setdefault(h, n) != n:
                        raise SystemExit(f"{cpu}: helper {h} is {n} bytes in {m['name']}, {helpers[h]} elsewhere")
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
            y = np.array([float(r["run"]) for r in train])
            from scipy.optimize import nnls

            coef, _ = nnls(x, y)
            table = {
                "run_base": round(float(coef[0]), 1),
                "run_call": {f: round(float(c), 1) for f, c in zip(funcs, coef[1:])},
                "helpers": dict(sorted(helpers.items())),
                "kernels": {e: dict(sorted(s.items())) for e, s in sets[0].items()},
                "kernels_single_rounding": {e: dict(sorted(s.items())) for e, s in sets[1].items()},
            }
            from hwq.cost.mcu import flash_code_bytes

            est = {r["name"]: r["weights"] + flash_code_bytes(table, list(r["calls"].elements()), bool(r["single"]))
                   for r in rows}  # fmt: skip
            held = [r for r in rows if r["k"] not in fitted]
            err = np.array([100 * (est[r["name"]] / r["linked"] - 1) for r in held])
            a = np.abs(err)
            report[cpu] = {
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
            print(
                f"{cpu}: run-function fit on {len(train)} models; held out {len(held)}: flash |error| median "
                f"{report[cpu]['median_abs_error_pct']} %, range {report[cpu]['min_error_pct']} .. "
                f"{report[cpu]['max_error_pct']} % (at most {report[cpu]['max_abs_error_bytes']} bytes), "
                f"within 1 %: {report[cpu]['within_1pct']}"
            )
            if args.write_targets:
                _write(cpu, table)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _write(cpu: str, table: dict) -> None:
    """Replace (or append) the ``[flash]`` tables of ``hwq/cost/targets/<cpu>.toml``."""
    path = ROOT / "hwq" / "cost" / "targets" / f"{cpu}.toml"
    kept, in_flash = [], False
    for line in path.read_text().splitlines():
        if re.match(r"\[[^\]]+\]\s*$", line):  # a table header: [flash...] tables are dropped
            in_flash = line.startswith("[flash")
        if not in_flash:
            kept.append(line)
    text = "\n".join(kept).rstrip("\n")
    lines = [
        "",
        "[flash]",
        "# code bytes = run_base + run_call[kernel] per call (the generated run function and the call's const",
        "# argument object) + the model file's helpers + the union of the kept symbols of every kernel used in",
        "# the model's rounding variant (benchmarks/calib_mcu_flash.py: arm-none-eabi-gcc -O2, gc-sections)",
        f"run_base = {table['run_base']}",
        "[flash.run_call]",
        *(f'"{f}" = {v}' for f, v in sorted(table["run_call"].items())),
        "[flash.helpers]",
        *(f'"{f}" = {v}' for f, v in sorted(table["helpers"].items())),
    ]
    for key in ("kernels", "kernels_single_rounding"):
        for e, syms in sorted(table[key].items()):
            lines.append(f'[flash.{key}."{e}"]')
            lines += [f'"{s}" = {n}' for s, n in syms.items()]
    path.write_text(text + "\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
