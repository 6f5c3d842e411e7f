"""``hwq verify {hls,rtl,mcu} DIR [--vectors N]``: build and simulate emitted sources, compare every
output integer with ``hwq.ir.run`` on ``DIR/graph.json``.

Ends with ``verify X: N vectors, M mismatches``, writes ``DIR/verify.json``, exits 0 only when M is 0.
"""

from __future__ import annotations

import json

from .emit import TARGETS


def register(sub) -> None:
    p = sub.add_parser("verify", help="simulate emitted sources and compare bit-exactly with the interpreter")
    p.add_argument("target", choices=TARGETS)
    p.add_argument("dir", help="folder written by 'hwq emit'")
    p.add_argument("--vectors", type=int, default=2000, help="number of random input vectors (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    p.add_argument("--simulator", default=None, help="rtl only: verilator (default) or icarus")
    p.set_defaults(func=run)


def run(args) -> int:
    from hwq.sim.verify import verify

    report = verify(args.target, args.dir, vectors=args.vectors, seed=args.seed, simulator=args.simulator)
    for line in report.detail_lines()[:20]:
        print(line)
    print(f"verify {args.target}: {report.vectors} vectors, {report.mismatches} mismatches")
    return 0 if report.mismatches == 0 and report.vectors > 0 else 1


def load_report(path) -> dict:
    """Read a verify.json written by ``hwq verify``."""
    with open(path) as f:
        return json.load(f)
