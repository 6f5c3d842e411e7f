"""Flash of patch programs that no ``[flash.patch]`` fit contains: ``-O input=stream`` and per-patch packs.

The patch-loop flash prices (``hwq cost calibrate``, ``benchmarks/calib_mcu_flash.py``) are fitted on
programs that gather their input from the caller's array and paste their stage output. This script emits two
other kinds of program from the MobileNetV2-style test stage (``hwq.mcu.patch.models.inverted_residual_stage``,
sizes 14x12 .. 17x15, seeds 300+):

- ``stream``: ``-O input=stream``. The loop calls the user's ``hwq_<model>_read_input_window`` where a gather
  would be. The link leaves that callback out, because it is the user's code (``model_flash_bytes``), and the
  estimate prices its call site as a gather (``patch_flash_code_bytes``).
- ``pack``: a ``patch_quant`` of random per-patch bits on a split's output (``with_patch_quant``). The loop then
  packs each output patch (``hwq_patch_pack_s8``).

Each program is linked alone for every CPU (``hwq.sim.mcurun.model_flash_bytes``). Its ``hwq.cost.mcu`` flash
estimate, with the same ``-O`` options, is printed beside the link.

Usage: ``python benchmarks/mcu_stream_pack_flash.py [--json OUT]`` (needs arm-none-eabi-gcc; about 30 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

import numpy as np

from hwq.cost import mcu as mcu_cost
from hwq.mcu import emit
from hwq.mcu.patch.models import inverted_residual_stage, with_patch_quant
from hwq.sim.mcurun import model_flash_bytes

CPUS = ("cortex-m4", "cortex-m7", "cortex-m55")
#: (grid, halo, split) of the stream programs (split "auto": the planner's choice)
STREAM_PLANS = (("2x2", "cache", "conv110"), ("3x3", "recompute", "auto"), ("4x4", "recompute", "conv102"),
                ("2x2", "rows", "dw106"), ("3x3", "cache", "add126"))  # fmt: skip
#: (grid, halo, split, the split's int8 output tensor) of the pack programs
PACK_PLANS = (("2x2", "cache", "conv110", "t111"), ("3x3", "recompute", "dw106", "t107"),
              ("2x2", "recompute", "conv102", "t103"), ("3x3", "rows", "conv2", "t3"))  # fmt: skip


def programs() -> list[tuple[str, object, dict]]:
    """(name, graph, emit options) of every program, deterministic."""
    out = []
    for k, (grid, halo, split) in enumerate(STREAM_PLANS):
        g = inverted_residual_stage(14 + k % 4, 12 + k % 4, 300 + k, name=f"irs_stream{k}")
        out.append((g.name, g, {"patches": grid, "halo": halo, "split": split, "input": "stream"}))
    for k, (grid, halo, split, tensor) in enumerate(PACK_PLANS):
        rng = np.random.default_rng(k)
        rows, cols = (int(v) for v in grid.split("x"))
        bits = [int(b) for b in rng.integers(1, 8, rows * cols)]
        bits[int(rng.integers(0, rows * cols))] = 8
        shifts = [int(rng.integers(0, 9 - b)) for b in bits]
        g = with_patch_quant(inverted_residual_stage(16, 14, seed=k), tensor, (rows, cols), bits, shifts)
        out.append((f"irs_pack{k}", g, {"patches": grid, "halo": halo, "split": split}))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    rows = []
    print("| program | options | CPU | estimate | linked | error |\n| --- | --- | --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="hwq-streampack-") as root:
        for name, g, opts in programs():
            folder = f"{root}/{name}"
            emit(g, folder, **opts)
            for cpu in CPUS:
                est = mcu_cost(g, cpu, **opts)["total"]["flash_bytes"]
                linked = model_flash_bytes(folder, cpu)
                err = round(100 * (est / linked - 1), 2)
                rows.append({"program": name, "options": opts, "cpu": cpu, "estimate": est, "linked": linked,
                             "error_pct": err})  # fmt: skip
                text = " ".join(f"{k}={v}" for k, v in opts.items())
                print(f"| {name} | {text} | {cpu} | {est:,} | {linked:,} | {err:+.2f} % |", flush=True)
    for kind in ("stream", "pack"):
        for cpu in CPUS:
            e = [r["error_pct"] for r in rows if kind in r["program"] and r["cpu"] == cpu]
            print(f"{kind} {cpu}: {len(e)} programs, {min(e):+.2f} .. {max(e):+.2f} %")
    if args.json:
        from hwq.io import atomic_write

        atomic_write(args.json, json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
