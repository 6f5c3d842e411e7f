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


def load_vectors(graph, path) -> dict[str, np.ndarray]:
    """Raw input vectors ``{input name: (vectors, *shape) int64}`` from a vector file: ``.npy`` (the exported
    bench's ``tb/inputs.npy``: int64 raws of the single input), ``.npz`` (``hwq vectors``: one array per
    tensor name) or ``.hex`` (the exported bench's ``tb/inputs.hex``, decoded with the ``bench.json`` next
    to it). Raises ValueError naming the file when its shape does not fit the graph's input."""
    path = Path(path)
    in_t = graph.tensor(graph.inputs[0])
    if path.suffix == ".npz":
        with np.load(path) as d:
            missing = [n for n in graph.inputs if n not in d.files]
            if missing:
                raise ValueError(f"{path}: no array for input(s) {', '.join(missing)}")
            return {n: np.asarray(d[n], dtype=np.int64) for n in graph.inputs}
    if len(graph.inputs) != 1:
        raise ValueError(f"{path}: a .npy/.hex vector file holds one input; graph {graph.name!r} has several")
    if path.suffix == ".npy":
        x = np.load(path, allow_pickle=False)
    elif path.suffix == ".hex":
        from hwq.sim.rtlsim import unpack_beats

        cfg = json.loads((path.parent / "bench.json").read_text())
        words = [int(ln, 16) for ln in (ln.split("//")[0].strip() for ln in path.read_text().splitlines()) if ln]
        x = unpack_beats(words, cfg["in"])
    else:
        raise ValueError(f"{path}: unknown vector file type (use .npy, .npz or .hex)")
    x = np.asarray(x)
    if x.size % in_t.size or x.ndim < 1:
        raise ValueError(f"{path}: {x.shape} does not hold whole vectors of input {in_t.name!r} {tuple(in_t.shape)}")
    x = x.astype(np.int64).reshape(-1, *in_t.shape)
    lo, hi = in_t.fmt.raw_min, in_t.fmt.raw_max
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(f"{path}: raws outside input {in_t.name!r} {in_t.fmt} [{lo}, {hi}]")
    return {in_t.name: x}


def verify(target: str, out_dir, /, vectors: int = 2000, seed: int = 0, vectors_file=None, **kw) -> VerifyReport:
    """Build and run the emitted ``target`` sources in ``out_dir`` and compare with the interpreter.

    ``vectors``: a count of random vectors, or ``"auto"``: random plus directed vectors until every
    reachable coverage item is hit (``hwq.sim.coverage``; ``extra["coverage"]`` reports the items and how
    many plain random vectors hit the same ones).
    ``vectors_file``: the input vectors come from this file (``load_vectors``; e.g. an RTL bench's
    ``tb/inputs.npy``) instead of ``vectors`` random ones. On a mismatch ``extra["first_mismatch"]`` names
    the vector, output tensor and index, expected and actual raw and real values (the RTL bench adds the
    cycle and the first diverging layer).
    ``kw`` goes to the runner (e.g. ``target="cortex-m4"`` for mcu; hence target/out_dir are positional)."""
    from hwq.ir import run
    from hwq.ir.serialize import load

    out_dir = Path(out_dir)
    graph = load(out_dir / "graph.json")
    mod_name, fn_name = RUNNERS[target].split(":")
    runner = getattr(importlib.import_module(mod_name), fn_name)
    cov = None
    if vectors_file is not None:
        inputs = load_vectors(graph, vectors_file)
        vectors = int(next(iter(inputs.values())).shape[0])
    elif vectors == "auto":
        from hwq.sim.coverage import auto_vectors

        x, cov = auto_vectors(graph, seed=seed)
        inputs, vectors = {graph.inputs[0]: x}, len(x)
    else:
        inputs = random_inputs(graph, vectors, seed)
    expected = run(graph, inputs).outputs()
    got, extra = runner(out_dir, graph, inputs, **{k: v for k, v in kw.items() if v is not None})
    mismatches, first = compare(graph, expected, got)
    extra = dict(extra or {})
    if first and not extra.get("first_mismatch"):
        m, fmt = first[0], graph.tensor(first[0].output).fmt
        extra["first_mismatch"] = {
            "vector": m.vector,
            "tensor": m.output,
            "index": m.index,
            "expected_raw": m.expected,
            "got_raw": m.got,
            "expected_real": float(fmt.from_raw(np.asarray([m.expected]))[0]),
            "got_real": float(fmt.from_raw(np.asarray([m.got]))[0]),
        }
    try:
        extra["coverage"] = coverage_summary(graph, inputs, cov, seed)
    except Exception as e:  # coverage is a report: it never fails a verification
        extra["coverage"] = {"items": 0, "error": f"{type(e).__name__}: {e}"}
    if "stalls" in extra or "stage_stalls" in extra:  # the RTL bench's back-pressure items
        from hwq.sim.coverage import stall_items

        extra["coverage"]["stalls"] = stall_items(extra)
    report = VerifyReport(target, vectors, mismatches, first, extra)
    atomic_write(out_dir / "verify.json", report.to_json())
    return report


def coverage_summary(graph, inputs: dict, cov=None, seed: int = 0) -> dict:
    """``verify.json`` "coverage": the items ``inputs`` hit (``hwq.sim.coverage``); with ``cov`` (from
    ``--vectors auto``) also ``random_vectors_same_coverage``: how many plain random vectors hit the same
    items (capped at 20,000). Graphs with several inputs: {"items": 0}."""
    if len(graph.inputs) != 1:
        return {"items": 0}
    from hwq.sim.coverage import Coverage, items_of, random_vectors_to_cover

    auto = cov is not None
    if cov is None:
        cov = Coverage(graph, items_of(graph))
        cov.add(np.asarray(inputs[graph.inputs[0]]))
    out = cov.summary()
    out["missing"] = [it.key for it in cov.missing()]
    if auto and out["items"]:
        hit = {it.key for it in cov.items.values() if it.hits}
        n, got = random_vectors_to_cover(graph, hit, seed=seed + 7)
        out["random_vectors_same_coverage"] = n if hit <= got else None
    return out
