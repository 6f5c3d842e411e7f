"""Dispatch of ``hwq verify``: each target has a runner returning the produced output integers.

A runner is ``run_<target>(out_dir, graph, inputs_raw, **kw) -> (outputs, extra)``: ``inputs_raw`` maps
input names to raw integer arrays (batch first); ``outputs`` is a list of raw integer arrays, one per
graph output in graph order; ``extra`` a JSON-ready dict of target figures (build time, cycles, ...).
``verify`` draws random representable input vectors of each input format, runs the interpreter and the
target, compares every integer, and writes ``DIR/verify.json``. Vectors are always row-major here, whatever
the target's stream form (the RTL runner packs pixel-streamed inputs into several beats per vector and
reassembles the outputs).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hwq.io import atomic_write
from hwq.ir.random_graph import random_inputs  # re-exported: sim.verify.random_inputs

RUNNERS = {"hls": "hwq.sim.csim:run_csim", "rtl": "hwq.sim.rtlsim:run_rtl", "mcu": "hwq.sim.mcurun:run_mcu"}


@dataclass
class Mismatch:
    vector: int
    output: str
    index: int
    expected: int
    got: int


@dataclass
class VerifyReport:
    target: str
    vectors: int
    mismatches: int
    first: list[Mismatch] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def detail_lines(self) -> list[str]:
        return [
            f"mismatch: vector {m.vector}, output {m.output}[{m.index}]: expected {m.expected}, got {m.got}"
            for m in self.first
        ]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=int) + "\n"


def compare(graph, expected: list[np.ndarray], got: list[np.ndarray], keep: int = 10):
    """Count mismatching vectors (a vector mismatches if any output integer differs) and list the first."""
    bad_vectors = np.zeros(expected[0].shape[0], dtype=bool)
    first: list[Mismatch] = []
    for name, e, g in zip(graph.outputs, expected, got):
        e = np.asarray(e).reshape(e.shape[0], -1)
        g = np.asarray(g).reshape(e.shape[0], -1)
        diff = e != g
        bad_vectors |= diff.any(axis=1)
        for v, i in zip(*np.nonzero(diff)):
            if len(first) < keep:
                first.append(Mismatch(int(v), name, int(i), int(e[v, i]), int(g[v, i])))
    return int(bad_vectors.sum()), first


def verify(target: str, out_dir, /, vectors: int = 2000, seed: int = 0, **kw) -> VerifyReport:
    """Build and run the emitted ``target`` sources in ``out_dir`` and compare with the interpreter.

    ``kw`` goes to the runner (e.g. ``target="cortex-m4"`` for mcu; hence target/out_dir are positional)."""
    from hwq.ir import run
    from hwq.ir.serialize import load

    out_dir = Path(out_dir)
    graph = load(out_dir / "graph.json")
    mod_name, fn_name = RUNNERS[target].split(":")
    runner = getattr(importlib.import_module(mod_name), fn_name)
    inputs = random_inputs(graph, vectors, seed)
    expected = run(graph, inputs).outputs()
    got, extra = runner(out_dir, graph, inputs, **{k: v for k, v in kw.items() if v is not None})
    mismatches, first = compare(graph, expected, got)
    report = VerifyReport(target, vectors, mismatches, first, extra or {})
    atomic_write(out_dir / "verify.json", report.to_json())
    return report
