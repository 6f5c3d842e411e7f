"""Patch loops on QEMU Cortex-M4 for every split point x every grid 1x1..4x4 of the MobileNetV2-style test stage.

Issue 14 asks for the patch-based program to equal the layer-by-layer program and ``hwq.ir.run`` for every
grid and every split point on the host *and* on QEMU Cortex-M4. The host side runs in the test suite
(``tests/mcu/test_patch.py``, 240 plans x 1,000 vectors); a QEMU run per plan takes about 20 s, so the full
QEMU sweep lives here rather than in the suite. Each plan is emitted with ``hwq.mcu.emit`` into its own
folder and checked by ``hwq verify mcu --target cortex-m4`` (the same harness the CLI uses: firmware built
with arm-none-eabi-gcc, run on qemu-system-arm mps2-an386, every output byte compared with ``hwq.ir.run``).
Plans the planner refuses (a split it cannot cut with that grid) are listed as refused, with the reason.

    python benchmarks/qemu_patch_sweep.py --halo cache --vectors 100
    python benchmarks/qemu_patch_sweep.py --grids 1x1,1x3 --json A.json & ... --grids 1x2,1x4 --json B.json
    python benchmarks/qemu_patch_sweep.py --merge A.json B.json --json OUT.json    # one file of both halves
    python benchmarks/qemu_patch_sweep.py --precision --halo recompute,cache     # random per-patch precision
    python benchmarks/qemu_patch_sweep.py --target host ...                        # the same sweep with host gcc
Writes benchmarks/results/patch_qemu_sweep.json (one row per plan: vectors, mismatches, measured arena).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hwq.mcu.emit import emit
from hwq.mcu.kernels import McuEmitError
from hwq.mcu.lower import lower
from hwq.mcu.patch import mcu_split_points
from hwq.mcu.patch.models import inverted_residual_stage, with_patch_quant
from hwq.mcu.patch.plan import stage_units_of
from hwq.sim.verify import verify

GRIDS = [f"{r}x{c}" for r in range(1, 5) for c in range(1, 5)]
HALOS = ["recompute", "rows", "cache"]
RESULTS = Path(__file__).resolve().parent / "results" / "patch_qemu_sweep.json"


def _commit() -> str:
    """Short git commit of this checkout (``unknown`` outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent)  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def with_random_precision(stage, split: str, grid: str, seed: int):
    """``stage`` with a ``patch_quant`` of random per-patch bits (1..7, one patch of a multi-patch grid kept at
    8) and random steps on the output of split op ``split``, over ``grid`` (``RxC``): the generated loop packs
    each patch at its own bits, and ``hwq.ir.run`` models the per-patch formats."""
    import numpy as np

    units, _ = stage_units_of(lower(stage))
    tensor = next(u.output for u in units if u.name == split)
    r, c = (int(v) for v in grid.split("x"))
    rng = np.random.default_rng(seed)
    bits = [int(b) for b in rng.integers(1, 8, r * c)]
    if r * c > 1:
        bits[int(rng.integers(0, r * c))] = 8
    shifts = [int(rng.integers(0, 9 - b)) for b in bits]
    return with_patch_quant(stage, tensor, (r, c), bits, shifts)


def sweep(
    halos: list[str],
    vectors: int,
    work: Path,
    grids: list[str] = GRIDS,
    progress=None,
    precision: bool = False,
    target: str = "cortex-m4",
) -> list[dict]:
    """Emit and run every split x grid x halo plan of the test stage on ``target``; one dict per plan.
    ``progress(rows)`` is called after every plan (the command line writes the partial result file). With
    ``precision``, each plan's stage output carries random per-patch precision (``with_random_precision``,
    seeded by split and grid), packed inside the patch loop. ``target``: ``cortex-m4`` (QEMU) or ``host`` (gcc)."""
    stage = inverted_residual_stage(16, 14, seed=0)
    splits = mcu_split_points(lower(stage))
    cache = work / "cache"
    rows: list[dict] = []
    total = len(splits) * len(grids) * len(halos)
    for split in splits:
        for grid in grids:
            for halo in halos:
                out = work / f"{split}_{grid}_{halo}"
                row = {"split": split, "grid": grid, "halo": halo}
                t0 = time.perf_counter()
                graph = stage
                if precision:
                    graph = with_random_precision(
                        stage, split, grid, seed=splits.index(split) * 100 + GRIDS.index(grid)
                    )
                    row["bits"] = list(graph.op("pq").bits)
                try:
                    emit(graph, out, patches=grid, split=split, halo=halo)
                except McuEmitError as e:
                    row["refused"] = str(e)
                    rows.append(row)
                    print(f"[{len(rows)}/{total}] {split} {grid} {halo}: refused ({e})", flush=True)
                    if progress:
                        progress(rows)
                    continue
                rep = verify("mcu", out, vectors=vectors, target=target, cache_dir=cache)
                man = json.loads((out / "mcu.json").read_text())
                row.update(vectors=rep.vectors, mismatches=rep.mismatches,
                           arena_bytes_measured=rep.extra.get("arena_bytes"),
                           arena_bytes_planned=man["patch"]["arena_bytes"],
                           **({"packed_in_loop": "patch_quant" in man["patch"]} if precision else {}),
                           seconds=round(time.perf_counter() - t0, 1))  # fmt: skip
                rows.append(row)
                print(f"[{len(rows)}/{total}] {split} {grid} {halo}: {rep.vectors} vectors, "
                      f"{rep.mismatches} mismatches, arena {row['arena_bytes_measured']} B", flush=True)  # fmt: skip
                if progress:
                    progress(rows)
    return rows


def _write_json(path: Path, doc: dict) -> None:
    """Write ``doc`` to ``path`` atomically (a temporary sibling renamed into place)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def merge(parts: list[Path], out: Path) -> int:
    """Combine result files of one sweep split by ``--grids`` into ``out`` (rows in split, grid, halo order);
    exit 1 on a mismatch, 2 when a part is incomplete or the parts ran different vector counts."""
    docs = [json.loads(Path(p).read_text()) for p in parts]
    incomplete = [str(p) for p, d in zip(parts, docs) if not d.get("complete")]
    vectors = {d["vectors_per_plan"] for d in docs}
    if incomplete or len(vectors) != 1:
        print(f"cannot merge: incomplete {incomplete or 'none'}, vectors per plan {sorted(vectors)}", file=sys.stderr)
        return 2
    stage = inverted_residual_stage(16, 14, seed=0)
    order = {s: i for i, s in enumerate(mcu_split_points(lower(stage)))}
    rows = sorted((r for d in docs for r in d["rows"]),
                  key=lambda r: (order[r["split"]], GRIDS.index(r["grid"]), HALOS.index(r["halo"])))  # fmt: skip
    ran = [r for r in rows if "refused" not in r]
    summary = {
        "commits": sorted({d["commit"] for d in docs}),
        "commands": [d["command"] for d in docs],
        "merged_by": f"python benchmarks/qemu_patch_sweep.py --merge {' '.join(map(str, parts))} --json {out}",
        "target": docs[0]["target"],
        "complete": True,
        "plans_planned": sum(d["plans_planned"] for d in docs),
        "plans_run": len(ran),
        "plans_refused": len(rows) - len(ran),
        "vectors_per_plan": vectors.pop(),
        "per_patch_precision": docs[0].get("per_patch_precision", False),
        "mismatches": sum(r["mismatches"] for r in ran),
        "arena_equal_to_plan": sum(r["arena_bytes_measured"] == r["arena_bytes_planned"] for r in ran),
        "wall_s_per_part": [d["wall_s"] for d in docs],
        "python_cpu_s": round(sum(d["python_cpu_s"] for d in docs), 1),
        "load_average_at_end": [d["load_average"] for d in docs],
        "rows": rows,
    }
    _write_json(out, summary)
    print(f"{len(ran)} plans run, {summary['plans_refused']} refused, {summary['mismatches']} mismatches; "
          f"arena equal to plan on {summary['arena_equal_to_plan']}/{len(ran)}; {out}")  # fmt: skip
    return 1 if summary["mismatches"] else 0


def main(argv: list[str] | None = None) -> int:
    """Command line: run the sweep, write the JSON atomically, exit 1 on any mismatch."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--halo", default="cache", help="comma-separated halo modes (recompute,rows,cache)")
    ap.add_argument("--vectors", type=int, default=100, help="random vectors per plan")
    ap.add_argument("--grids", default=",".join(GRIDS), help="comma-separated RxC grids (default 1x1..4x4)")
    ap.add_argument("--json", type=Path, default=RESULTS, help="result file")
    ap.add_argument("--merge", type=Path, nargs="+", metavar="PART",
                    help="combine result files of runs split by --grids (run side by side) into --json")  # fmt: skip
    ap.add_argument("--precision", action="store_true",
                    help="random per-patch precision on each plan's stage output, packed in the loop")  # fmt: skip
    ap.add_argument("--target", default="cortex-m4", choices=["cortex-m4", "host"], help="where the programs run")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.json)
    halos = [h for h in args.halo.split(",") if h]
    t0, c0 = time.perf_counter(), time.process_time()
    planned = len(args.grids.split(",")) * len(halos) * 5  # the test stage has 5 split points
    args.json.parent.mkdir(parents=True, exist_ok=True)

    def write(rows: list[dict], complete: bool) -> dict:
        ran = [r for r in rows if "refused" not in r]
        summary = {
            "commit": _commit(),
            "command": "python benchmarks/qemu_patch_sweep.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "target": "cortex-m4 (qemu-system-arm mps2-an386)" if args.target == "cortex-m4" else "host (gcc)",
            "complete": complete,
            "plans_planned": planned,
            "plans_run": len(ran),
            "plans_refused": len(rows) - len(ran),
            "vectors_per_plan": args.vectors,
            "per_patch_precision": args.precision,
            "mismatches": sum(r["mismatches"] for r in ran),
            "arena_equal_to_plan": sum(r["arena_bytes_measured"] == r["arena_bytes_planned"] for r in ran),
            "wall_s": round(time.perf_counter() - t0, 1),
            "python_cpu_s": round(time.process_time() - c0, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "rows": rows,
        }
        _write_json(args.json, summary)
        return summary

    with tempfile.TemporaryDirectory(prefix="hwq_qemu_sweep_") as tmp:
        rows = sweep(
            halos,
            args.vectors,
            Path(tmp),
            args.grids.split(","),
            lambda r: write(r, False),
            args.precision,
            args.target,
        )
    summary = write(rows, True)
    ran = [r for r in rows if "refused" not in r]
    print(f"{len(ran)} plans run, {len(rows) - len(ran)} refused, {summary['mismatches']} mismatches; "
          f"arena equal to plan on {summary['arena_equal_to_plan']}/{len(ran)}; {args.json}")  # fmt: skip
    return 1 if summary["mismatches"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
