"""Mutation table of the exported benches (issue 16): flip one bias constant in the emitted Verilog, N times.

For each mutation k (``tests.rtl.test_bench_export.mutate``: one bit of one accumulator bias constant,
spread over every layer) the plain Verilog bench (Icarus) and the exported cocotb bench (Icarus, run
from a copy of the folder with ``import hwq`` blocked) are run; a row says whether each bench failed and
the plain bench's first mismatch line. Prints a markdown table.

    python scripts/mutation_table.py [--graph cnn|mlp4] [--mutations 20] [--vectors 30]
"""

from __future__ import annotations

import argparse
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
    a = ap.parse_args()
    killed_plain = killed_cocotb = 0
    with tempfile.TemporaryDirectory(prefix="hwq-mutation-") as tmp:
        tmp = Path(tmp)
        base = _emit(a.graph, tmp / "base", a.vectors)
        ok, log = run_plain_bench(base / "tb", "icarus")
        print(f"unmutated {a.graph}, {a.vectors} vectors: plain bench {'PASS' if ok else 'FAIL'}\n")
        if not ok:
            print(log[-3000:], file=sys.stderr)
            return 2
        blocker = make_blocker(tmp / "blocker")
        print(
            "| # | mutation (file:line: constant) | plain Verilog bench | cocotb bench | first mismatch (plain bench) |"
        )
        print("|---|---|---|---|---|")
        for k in range(a.mutations):
            d = tmp / f"m{k}"
            shutil.copytree(base, d)
            what = mutate(d, k)
            ok, log = run_plain_bench(d / "tb", "icarus")
            first = next((ln for ln in log.splitlines() if ln.startswith(("TB MISMATCH", "TB FAIL"))), "")
            first = re.sub(r"^TB MISMATCH: ", "", first)
            summary = next((ln for ln in log.splitlines() if ln.startswith("TB FAIL")), "PASS")
            killed_plain += not ok
            if a.no_cocotb:
                cocotb = "-"
            else:
                rc = run_cocotb_isolated(d / "tb", blocker).returncode
                killed_cocotb += rc != 0
                cocotb = "FAIL" if rc != 0 else "PASS (survived)"
            plain = summary.replace("TB ", "") if not ok else "PASS (survived)"
            print(f"| {k} | `{what}` | {plain} | {cocotb} | {first} |", flush=True)
            shutil.rmtree(d)
    n = a.mutations
    print(f"\nkilled: plain bench {killed_plain}/{n}" + ("" if a.no_cocotb else f", cocotb bench {killed_cocotb}/{n}"))
    return 0 if killed_plain == n and (a.no_cocotb or killed_cocotb == n) else 1


if __name__ == "__main__":
    raise SystemExit(main())
