"""Mutation table of the exported benches (issue 16): flip one bias constant in the emitted Verilog, N times.

For each mutation k (``tests.rtl.test_bench_export.mutate``: one bit of one accumulator bias constant,
spread over every layer) the plain Verilog bench (Icarus) and the exported cocotb bench (Icarus, run
from a copy of the folder with ``import hwq`` blocked) are run; a row says whether each bench failed,
the layer each bench's first-mismatch report names as the first to diverge (plain bench: the
``TB FIRST DIVERGING LAYER`` line; cocotb bench: ``tb_report.json``) against the mutated layer (the
layer whose module file holds the constant), and the plain bench's first mismatch line. Prints a markdown
table; ``--out FILE`` also writes it (with the command) to FILE.

    python scripts/mutation_table.py [--graph cnn|mlp4|mlp] [--mutations 20] [--vectors 30] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwq.rtl.bench import run_plain_bench  # noqa: E402
from tests.rtl.test_bench_export import _emit, make_blocker, mutate, run_cocotb_isolated  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graph", default="cnn", choices=["cnn", "mlp4", "mlp"])
    ap.add_argument("--mutations", type=int, default=20)
    ap.add_argument("--vectors", type=int, default=30)
    ap.add_argument("--no-cocotb", action="store_true", help="plain Verilog bench only")
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    a = ap.parse_args()
    killed_plain = killed_cocotb = named_plain = named_cocotb = 0
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hwq-mutation-") as tmp:
        tmp = Path(tmp)
        base = _emit(a.graph, tmp / "base", a.vectors)
        ok, log = run_plain_bench(base / "tb", "icarus")
        print(f"unmutated {a.graph}, {a.vectors} vectors: plain bench {'PASS' if ok else 'FAIL'}\n")
        if not ok:
            print(log[-3000:], file=sys.stderr)
            return 2
        blocker = make_blocker(tmp / "blocker")
        rows += [
            "| # | mutation (file:line: constant) | mutated layer | plain Verilog bench | layer named (plain) "
            "| cocotb bench | layer named (cocotb) | first mismatch (plain bench) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        print("\n".join(rows))
        for k in range(a.mutations):
            d = tmp / f"m{k}"
            shutil.copytree(base, d)
            what = mutate(d, k)
            layer = mutated_layer(d, what.split(":")[0])
            ok, log = run_plain_bench(d / "tb", "icarus")
            first = next((ln for ln in log.splitlines() if ln.startswith(("TB MISMATCH", "TB FAIL"))), "")
            first = re.sub(r"^TB MISMATCH: ", "", first)
            summary = next((ln for ln in log.splitlines() if ln.startswith("TB FAIL")), "PASS")
            diverged = re.search(r"^TB FIRST DIVERGING LAYER: (\S+)", log, re.M)
            plain_layer = diverged.group(1) if diverged else "-"
            killed_plain += not ok
            named_plain += plain_layer == layer
            if a.no_cocotb:
                cocotb = cocotb_layer = "-"
            else:
                rc = run_cocotb_isolated(d / "tb", blocker).returncode
                killed_cocotb += rc != 0
                cocotb = "FAIL" if rc != 0 else "PASS (survived)"
                cocotb_layer = _cocotb_layer(d / "tb" / "tb_report.json")
                named_cocotb += cocotb_layer == layer
            plain = summary.replace("TB ", "") if not ok else "PASS (survived)"
            row = (
                f"| {k} | `{what}` | {layer} | {plain} | {_mark(plain_layer, layer)} | {cocotb} "
                f"| {_mark(cocotb_layer, layer)} | {first} |"
            )
            rows.append(row)
            print(row, flush=True)
            shutil.rmtree(d)
    n = a.mutations
    total = f"killed: plain bench {killed_plain}/{n}, mutated layer named {named_plain}/{n}" + (
        "" if a.no_cocotb else f"; cocotb bench {killed_cocotb}/{n}, mutated layer named {named_cocotb}/{n}"
    )
    print("\n" + total)
    if a.out:
        from hwq.io import atomic_write

        cmd = "python scripts/mutation_table.py " + " ".join(sys.argv[1:])
        atomic_write(
            a.out,
            f"# Mutation table: {a.graph}, {n} mutations, {a.vectors} vectors (Icarus)\n\n"
            f"Command: `{cmd}`\n\n" + "\n".join(rows) + f"\n\n{total}\n",
        )
    named_all = named_plain == n and (a.no_cocotb or named_cocotb == n)
    return 0 if killed_plain == n and (a.no_cocotb or killed_cocotb == n) and named_all else 1


def mutated_layer(out_dir: Path, file_name: str) -> str:
    """The ``rtl.json`` layer whose module file (``<module>.v`` or ``<module>_*.v``) is ``file_name``."""
    m = json.loads((out_dir / "rtl.json").read_text())
    stem = file_name.removesuffix(".v")
    hits = [ly for ly in m["layers"] if stem == ly["module"] or stem.startswith(ly["module"] + "_")]
    return max(hits, key=lambda ly: len(ly["module"]))["name"] if hits else "?"


def _cocotb_layer(report: Path) -> str:
    try:
        d = json.loads(report.read_text()).get("first_diverging_layer") or {}
    except (OSError, ValueError):
        return "-"
    return d.get("layer", "-")


def _mark(named: str, want: str) -> str:
    return f"{named} ✓" if named == want else f"{named} ✗"


if __name__ == "__main__":
    raise SystemExit(main())
