"""``hwq cost calibrate``: fit an FPGA target's LUT coefficients against yosys and report held-out accuracy.

Design set (``design_set``, 112 designs): single-layer graphs in every format family the Verilog emitter
takes (weights fixed 8/6/4-bit, CSD k=2, power-of-two, integer and minifloat e4m3; fixed-point
activations), Dense layers 8 to 128 inputs wide and streamed Conv2d/Conv1d layers, with pipeline depths
0 to 3, each followed by a saturating cast and a ReLU; 12 shapes with a signed 8-bit input (``SHAPES``,
``FORMATS``) and 4 narrow-input Dense shapes (``NARROW_SHAPES``: 3-5-bit unsigned inputs, as a ReLU feeds
the next layer, and a 4-bit signed one) with low-bit weights (``NARROW_FORMATS``: fixed 2/3/4-bit, CSD
k=2, power of two, integer, minifloat e2m1). Shapes x formats = groups of equal shape and different
formats. ``FIT_SIZE`` (12) designs, one per shape with rotating formats (never minifloat) except the
shapes in ``FIT_SKIP``, are fitted; every other design is held out. Designs are built with the
emitter's default adder style (``balanced``), features and synthesis alike.

Synthesis: yosys (the target's ``[synth] script``), at most ``jobs`` processes at once (default: the core
count) at low CPU priority, each synthesising a batch of up to 6 designs (``BATCH_FORMS``: the cell
library and techmap files are parsed once per batch), each result cached as JSON by the emitted Verilog
(comments removed) + script + yosys version under ``HWQ_COST_CACHE`` or ``<system temp>/hwq-cost-cache``,
and under a second key by design (IR, options) that ``strict=False`` (``--allow-stale``) uses when only
the Verilog's form changed. Fit: non-negative least squares of the LUT features on relative error
(``scipy.optimize.nnls``), one CARRY factor. The bit-operations proxy (one coefficient: LUTs per
effective bit-operation = non-zero CSD digits x input width, summed) is fitted on the same designs.
Report: Spearman rank correlation overall and within every equal-shape group (with each group's yosys
LUT spread and the pairs it orders beyond the model's median error), median and 90th percentile absolute
percentage error, for the model and the proxy; a scatter plot (log axes); yosys CPU seconds.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .fpga import LUT_FEATURES, coefficient_vector, design_vector, layer_carry, layer_ff
from .rtl_dag import fifo_cells
from .rtl_plan import plan_rtl
from .targets import load_target, save_target, target_path

FIT_SIZE = 12
#: weight formats, one per family: fixed (3 widths), CSD (k=2), power of two, integer, minifloat (e4m3)
FORMATS = ["fixed<8,1>", "fixed<6,1>", "fixed<4,1>", "csd<8,1,2>", "pow2<8,1>", "fixed<5,5>", "float<4,3>"]
#: the fitted design of shape s has format FORMATS[s % FIT_ROTATION]: the minifloat designs are all held out
FIT_ROTATION = 6
#: (kind, input shape, outputs/channels, kernel, pipeline)
SHAPES = [
    ("dense", (8,), 8, 0, 1),
    ("dense", (16,), 6, 0, 0),
    ("dense", (32,), 4, 0, 2),
    ("dense", (64,), 2, 0, 1),
    ("dense", (128,), 1, 0, 3),
    ("dense", (24,), 8, 0, 2),
    ("dense", (12,), 12, 0, 1),
    ("dense", (48,), 3, 0, 0),
    ("conv2d", (2, 6, 6), 4, 3, 1),
    ("conv2d", (4, 5, 5), 2, 3, 2),
    ("conv1d", (4, 12), 4, 3, 1),
    ("conv1d", (8, 10), 2, 3, 0),
]
#: narrow-input shapes (kind, input shape, outputs/channels, kernel, pipeline, input format): the 3-5-bit
#: unsigned inputs a ReLU layer feeds its successor in a trained low-bit network, and a narrow signed one,
#: each with the low-bit weight formats of ``NARROW_FORMATS``
NARROW_SHAPES = [
    ("dense", (64,), 8, 0, 1, "ufixed<3,2>"),
    ("dense", (32,), 6, 0, 2, "ufixed<5,1>"),
    ("dense", (48,), 4, 0, 0, "ufixed<4,4>"),
    ("dense", (24,), 8, 0, 1, "fixed<4,2>"),
]
#: low-bit weight formats of the narrow-input shapes, one per family: fixed (2, 3 and 4 bits), CSD (k=2),
#: power of two, integer, minifloat (e2m1)
NARROW_FORMATS = ["fixed<2,0>", "fixed<3,1>", "fixed<4,1>", "csd<6,1,2>", "pow2<4,1>", "fixed<3,3>", "float<2,1>"]
#: shapes (indices into ``SHAPES + NARROW_SHAPES``) that have no fitted design: the fit set stays at
#: ``FIT_SIZE`` designs while two narrow-input shapes have one
FIT_SKIP = {6, 7, 14, 15}


def cache_dir() -> Path:
    """Synthesis cache folder: ``$HWQ_COST_CACHE`` or ``<system temp>/hwq-cost-cache``."""
    d = Path(os.environ.get("HWQ_COST_CACHE") or Path(tempfile.gettempdir()) / "hwq-cost-cache")
    d.mkdir(parents=True, exist_ok=True)
    return d


def make_design(
    kind: str, in_shape: tuple, outs: int, kernel: int, w_fmt: str, seed: int = 0, x_fmt: str = "fixed<8,3>"
):
    """One calibration graph: ``kind`` (dense/conv1d/conv2d) layer of random full-range ``w_fmt`` weights
    (input ``x_fmt``, default ``fixed<8,3>``; lossless WRAP accumulator) then a saturating cast to
    ``fixed<8,3,RND,SAT>`` and a ReLU to ``ufixed<6,3,RND,SAT>``."""
    from hwq.formats import FixedFormat, parse
    from hwq.ir import Conv1d, Conv2d, Dense, Graph, ReLU

    rng = np.random.default_rng(seed)
    wf, bf, xf = parse(w_fmt), parse("fixed<8,3>"), parse(x_fmt)
    tag = "" if x_fmt == "fixed<8,3>" else f"_{x_fmt}"
    name = re.sub(r"[^0-9a-z]+", "_", f"{kind}_{'x'.join(map(str, in_shape))}_{outs}_{w_fmt}{tag}").strip("_")
    g = Graph(name, ["x"], [])
    g.add_tensor("x", in_shape, xf)
    if kind == "dense":
        w_shape, y_shape, cls, geom = (outs, in_shape[0]), (outs,), Dense, {}
    elif kind == "conv2d":
        c, h, wd = in_shape
        w_shape, y_shape, cls = (outs, c, kernel, kernel), (outs, h, wd), Conv2d
        geom = {"padding": (1, 1, 1, 1)}
    else:
        c, ln = in_shape
        w_shape, y_shape, cls, geom = (outs, c, kernel), (outs, ln - kernel + 1), Conv1d, {}
    raw = rng.integers(wf.raw_min, wf.raw_max + 1, size=w_shape)
    w = np.asarray(wf.cast_raw(raw, wf.frac_bits), dtype=np.int64)
    b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(outs,))
    flat = w.reshape(outs, -1)
    frac = xf.frac_bits + wf.frac_bits
    x_max = max(abs(xf.raw_min), abs(xf.raw_max))
    bound = int(np.abs(flat).sum(axis=1).max()) * x_max + (int(np.abs(b).max()) << max(0, frac - 3))
    width = bound.bit_length() + 2
    acc = FixedFormat(width, width - frac, True)
    g.add_tensor("y", y_shape, "fixed<8,3,RND,SAT>")
    g.add_op(cls("layer", ["x"], "y", weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc, **geom))
    g.add_tensor("r", y_shape, "ufixed<6,3,RND,SAT>")
    g.add_op(ReLU("relu", ["y"], "r"))
    g.outputs = ["r"]
    g.validate()
    return g


def design_set() -> list[dict]:
    """The calibration designs: dicts with ``graph``, ``pipeline``, ``group`` (shape key), ``format``,
    ``fit`` (True for the <= 12 designs the coefficients are fitted on)."""
    out = []
    shapes = [(*sh, "fixed<8,3>", FORMATS) for sh in SHAPES] + [(*sh, NARROW_FORMATS) for sh in NARROW_SHAPES]
    for s, (kind, shape, outs, kernel, pipe, x_fmt, formats) in enumerate(shapes):
        x_tag = "" if x_fmt == "fixed<8,3>" else f" {x_fmt}"
        for f, fmt in enumerate(formats):
            g = make_design(kind, shape, outs, kernel, fmt, seed=17 * s + f, x_fmt=x_fmt)
            out.append(
                {
                    "graph": g,
                    "pipeline": pipe,
                    "group": f"{kind} {'x'.join(map(str, shape))}->{outs} p{pipe}{x_tag}",
                    "format": fmt,
                    "input": x_fmt,
                    "fit": f == s % FIT_ROTATION and s not in FIT_SKIP and len([d for d in out if d["fit"]]) < FIT_SIZE,
                }
            )
    return out


def yosys_version() -> str:
    """``yosys -V`` output (first line), or raises ToolMissing."""
    from hwq.rtl.tools import ToolMissing

    exe = shutil.which("yosys")
    if not exe:
        raise ToolMissing("yosys not found: install it (Debian: apt-get install yosys) to calibrate FPGA targets")
    return subprocess.run([exe, "-V"], capture_output=True, text=True).stdout.strip().splitlines()[0]


def count_cells(cells: dict, synth: dict) -> dict:
    """LUT/FF/CARRY/DSP/BRAM totals from yosys cell counts using the target's ``[synth]`` patterns."""
    out = {}
    for key in ("lut", "ff", "carry", "dsp", "bram"):
        pat = re.compile(synth[key])
        out[key.upper()] = sum(n for c, n in cells.items() if pat.fullmatch(c))
    return out


def _cache_path(verilog: str, script: str, version: str, cache: str) -> Path:
    """Cache file of one synthesis: hash of the emitted Verilog (every file, by name), script, yosys version.
    Keyed on the Verilog, not the IR, so a change of the emitter never returns a stale count."""
    key = hashlib.sha256(f"{verilog}\n{script}\n{version}".encode()).hexdigest()[:24]
    return Path(cache) / f"v-{key}.json"


_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def _design_cache_path(ir_text: str, pipeline: int, adders: str, script: str, version: str, cache: str) -> Path:
    """Second cache key of one synthesis: the design itself (IR text, pipeline, adder style), script, yosys
    version. Used only when the Verilog key misses and stale results are allowed (``strict=False``): the
    emitter's text changes often without changing the netlist (a comment, a declaration style)."""
    key = hashlib.sha256(f"{ir_text}\n{pipeline}\n{adders}\n{script}\n{version}".encode()).hexdigest()[:24]
    return Path(cache) / f"d-{key}.json"


def _verilog_text(folder: str) -> str:
    """All ``*.v`` files of an emitted folder (not the bench) in name order, with their names, comments and
    blank lines removed (a new header line or comment of the emitter does not invalidate the cache)."""
    parts = []
    for f in sorted(Path(folder).glob("*.v")):
        lines = [ln.rstrip() for ln in _COMMENT.sub("", f.read_text()).splitlines()]
        parts.append(f"{f.name}\n" + "\n".join(ln for ln in lines if ln.strip()))
    return "\n".join(parts)


_NICED = False


def _child_cpu() -> float:
    """User + system CPU seconds of the finished child processes of this process."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


#: batch form of a target's synthesis command: (cell library reads [+ passes], the command's ``-run`` range
#: after its own reading and hierarchy steps). One yosys process then synthesises several designs: every
#: design's top is flattened on its own, the other modules are deleted, and every pass of the script runs
#: per module, as in a separate run, but the cell library and the techmap files are parsed once per batch
#: instead of once per design (about 30 % of the yosys CPU time of these designs). FF and CARRY equal a
#: separate run; LUTs do not always: abc's result depends on net order, and the batch a design lands in moves
#: its LUT count (by up to 17 % on the 112-design set: xc7 ``conv2d 4x5x5->2 p2`` pow2<8,1> 840 LUTs in its
#: calibration batch, 718 alone and in another batch; see README, issue 11).
BATCH_FORMS = {
    "synth_xilinx": (
        "read_verilog -lib -specify +/xilinx/cells_sim.v; read_verilog -lib +/xilinx/cells_xtra.v", "-run prepare:"
    ),
    "synth_ice40": ("read_verilog -D ICE40_HX -lib -specify +/ice40/cells_sim.v", "-run flatten:"),
}  # fmt: skip


def _split_stat(text: str) -> dict[str, dict[str, int]]:
    """Cell counts per module ({module: {cell type: n}}) of a yosys ``stat`` over several modules."""
    from hwq.rtl.tools import parse_stat

    out = {}
    parts = re.split(r"^=== (\S+) ===$", text, flags=re.M)
    for name, body in zip(parts[1::2], parts[2::2]):
        out[name] = parse_stat(body)
    return out


def _batch_synth(folders: list[str], script: str, timeout: float = 7200) -> list[dict]:
    """Synthesise several emitted folders in one yosys process (``BATCH_FORMS``); falls back to one run per
    folder (``rtl.tools.synth_report``) when the script has no batch form. Returns one report per folder:
    {"LUT", "FF", "CARRY", "DSP", "cells", "script"} (LUT/FF/CARRY/DSP by ``synth_report``'s rules)."""
    from hwq.rtl.tools import run_yosys, sources, synth_report

    word = script.split()[0]
    if word not in BATCH_FORMS or len(folders) == 1:
        return [synth_report(f, script=script) for f in folders]
    lib, run = BATCH_FORMS[word]
    texts: dict[str, str] = {}
    reads, tops = [], []
    for f in folders:
        top, files = sources(f)
        tops.append(top)
        for path in files:
            txt = path.read_text()
            if path.name in texts:
                if texts[path.name] != txt:  # two designs with different primitives of one name: no batch
                    return [synth_report(x, script=script) for x in folders]
                continue
            texts[path.name] = txt
            reads.append(str(Path(path).resolve()))
    text = (
        f"read_verilog {' '.join(reads)}; hierarchy -check; proc; flatten; "
        f"setattr -mod -set hwq_calibration_top 1 {' '.join(tops)}; delete A:hwq_calibration_top %n; "
        f"select -clear; {lib}; {script} {run}; tee -o /dev/stdout stat"
    )
    exe = shutil.which("yosys")
    p = run_yosys([exe, "-q", "-p", text], timeout)
    if p.returncode != 0:
        raise RuntimeError(f"yosys failed on the batch {', '.join(tops)}: {(p.stderr or p.stdout).strip()[-2000:]}")
    per = _split_stat(p.stdout)
    out = []
    for top in tops:
        cells = per.get(top)
        if cells is None:
            raise RuntimeError(f"yosys batch: no statistics for {top}")
        out.append(
            {
                "LUT": sum(n for c, n in cells.items() if re.fullmatch(r"LUT\d|\$lut|SB_LUT4", c)),
                "FF": sum(n for c, n in cells.items() if c.startswith("FD") or "DFF" in c),
                "CARRY": sum(n for c, n in cells.items() if c.startswith("CARRY") or c == "SB_CARRY"),
                "DSP": sum(n for c, n in cells.items() if c.startswith("DSP") or c == "$mul" or c.startswith("$__MUL")),
                "cells": dict(sorted(cells.items())),
                "script": script,
            }
        )
    return out


def _synth_batch_job(job: tuple) -> list[dict]:
    """Worker: emit a batch of designs, look each one's Verilog up in the cache, synthesise the others
    together (at low CPU priority); returns one report per design ({} when ``cached_only`` and missing)."""
    global _NICED
    from hwq.io import atomic_write
    from hwq.ir.serialize import loads
    from hwq.rtl import emit

    items, script, version, cache, adders, cached_only, strict = job
    if not _NICED:
        try:
            os.nice(10)  # a shared machine: calibration yields to interactive work
        except OSError:
            pass
        _NICED = True
    reps: list[dict] = [{} for _ in items]
    with tempfile.TemporaryDirectory(prefix="hwq-cost-") as root:
        todo = []
        for k, (text, pipeline) in enumerate(items):
            d = Path(root) / f"d{k}"
            emit(loads(text), d, pipeline=pipeline, adders=adders, tb_vectors=0)
            path = _cache_path(_verilog_text(d), script, version, cache)
            alias = _design_cache_path(text, pipeline, adders, script, version, cache)
            if path.exists():
                reps[k] = json.loads(path.read_text()) | {"cached": True}
                if not alias.exists():
                    atomic_write(alias, path.read_text())
            elif not strict and alias.exists():
                reps[k] = json.loads(alias.read_text()) | {"cached": True, "stale_verilog": True}
            elif not cached_only:
                todo.append((k, d, path, alias))
        if todo:
            t0, c0 = time.perf_counter(), _child_cpu()
            got = _batch_synth([str(d) for _, d, _, _ in todo], script)
            wall, cpu = time.perf_counter() - t0, _child_cpu() - c0
            for (k, _, path, alias), rep in zip(todo, got):
                rep["seconds"] = wall / len(todo)  # the batch's time shared equally
                rep["cpu_seconds"] = cpu / len(todo)
                rep["batch"] = len(todo)
                atomic_write(path, json.dumps(rep))
                atomic_write(alias, json.dumps(rep))
                reps[k] = rep
    return reps


def synthesise(
    designs: list[dict],
    target: dict,
    jobs: int | None = None,
    adders: str | None = None,
    cached_only: bool = False,
    log=None,
    batch: int = 6,
    strict: bool = True,
) -> list[dict]:
    """Cell counts of every design (at most ``jobs`` yosys processes at once, default the core count, each
    synthesising up to ``batch`` designs; cached by Verilog hash); adds ``measured`` {LUT, FF, CARRY, DSP,
    BRAM} (cells) and ``synth_seconds`` to each. The fitted designs go first. ``cached_only``: synthesise
    nothing, return only the designs found in the cache. ``log``: called with one line per finished batch.
    ``strict`` False: a design whose emitted Verilog is not in the cache but which was synthesised from an
    earlier emitter text (same IR, options, script) reuses that result, marked ``stale_verilog``."""
    from hwq.ir.serialize import dumps

    from .rtl_model import emitter_default_adders

    adders = adders or emitter_default_adders()
    version = yosys_version()
    script = target["synth"]["script"]
    order = sorted(range(len(designs)), key=lambda i: not designs[i]["fit"])
    groups = [order[i : i + batch] for i in range(0, len(order), max(1, batch))]
    work = [
        (
            [(dumps(designs[i]["graph"]), designs[i]["pipeline"]) for i in grp],
            script, version, str(cache_dir()), adders, cached_only, strict,
        )
        for grp in groups
    ]  # fmt: skip
    jobs = jobs or max(1, os.cpu_count() or 1)
    reps: dict[int, dict] = {}
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        for grp, rs in zip(groups, ex.map(_synth_batch_job, work)):
            new = []
            for i, r in zip(grp, rs):
                reps[i] = r
                if r and not r.get("cached"):
                    new.append(f"{designs[i]['group']} {designs[i]['format']} {r.get('LUT')} LUT")
            if log and new:
                cpu = sum(reps[i].get("cpu_seconds", 0) for i in grp if reps[i] and not reps[i].get("cached"))
                log(f"  synthesised {len(new)} ({cpu:.0f} s yosys CPU): " + "; ".join(new))
    kept = []
    for i, d in enumerate(designs):
        r = reps.get(i)
        if not r:
            continue
        d["measured"] = count_cells(r["cells"], target["synth"])
        d["synth_seconds"] = 0.0 if r.get("cached") else r.get("seconds", 0.0)
        d["synth_seconds_first"] = r.get("seconds", 0.0)
        d["synth_cpu_seconds_first"] = r.get("cpu_seconds", 0.0)
        d["stale_verilog"] = bool(r.get("stale_verilog"))
        kept.append(d)
    return kept


def bitops(graph) -> float:
    """Effective bit-operations of a graph: sum over weights of (non-zero CSD digits x input width)."""
    from .legacy import csd_digit_count

    total = 0.0
    for op in graph.ops:
        w = getattr(op, "weight", None)
        if isinstance(w, np.ndarray) and w.dtype != object:
            total += float(csd_digit_count(w).sum()) * graph.tensor(op.inputs[0]).fmt.width
    return total


def featurise(designs: list[dict], adders: str | None = None) -> None:
    """Adds ``features`` (list of LayerFeatures), ``vector`` (LUT feature sums) and ``bitops`` to each design."""
    for d in designs:
        d["features"] = plan_rtl(d["graph"], pipeline=d["pipeline"], adders=adders)
        d["vector"] = design_vector(d["features"])
        d["bitops"] = bitops(d["graph"])


def fit(designs: list[dict], target: dict) -> dict:
    """Fitted coefficients (dict) from the ``fit`` designs: LUT coefficients by NNLS on relative error
    (features never seen in the fit set keep the target's value), a CARRY factor, and the proxy's
    LUTs per bit-operation."""
    from scipy.optimize import nnls

    fitset = [d for d in designs if d["fit"]]
    X = np.array([d["vector"] for d in fitset])
    y = np.array([d["measured"]["LUT"] for d in fitset], dtype=float)
    prior = coefficient_vector(target)
    fixed = set(target.get("model", {}).get("fixed", []))
    seen = X.any(axis=0) & np.array([k not in fixed for k in LUT_FEATURES])
    base = X[:, ~seen] @ prior[~seen]
    A = X[:, seen] / y[:, None]
    coef_seen, _ = nnls(A, (y - base) / y)
    coef = prior.copy()
    coef[seen] = coef_seen
    out = {k: round(float(c), 5) for k, c in zip(LUT_FEATURES, coef)}
    co = target.get("coefficients", {})
    carry_key = "carry_per_bit" if "carry_per_bit" in co else "carry_per_block"
    tmp = {"coefficients": {carry_key: 1.0}}
    pred_c = np.array([sum(layer_carry(f, tmp) for f in d["features"]) for d in fitset])
    meas_c = np.array([d["measured"]["CARRY"] for d in fitset], dtype=float)
    out[carry_key] = round(float((pred_c @ meas_c) / max(pred_c @ pred_c, 1e-9)), 5)
    b = np.array([d["bitops"] for d in fitset])
    out["proxy_lut_per_bitop"] = round(float(np.exp(np.mean(np.log(y / b)))), 6)
    return out


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    if len(a) < 2 or np.all(np.asarray(a) == a[0]) or np.all(np.asarray(b) == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def accuracy(designs: list[dict], key: str, tie: float | None = None) -> dict:
    """Held-out accuracy of predictions ``d[key]`` against ``d["measured"]["LUT"]``: Spearman overall, the
    lowest and mean Spearman within the equal-shape groups (the goal metric), median and p90 absolute
    percentage error, and per group: designs, yosys LUT spread ((max - min) / min, %), Spearman, and the
    pairs of the group ordered correctly among those whose yosys LUTs differ by more than ``tie`` % (default:
    this model's median error): a pair closer than the model's typical error is a tie the model cannot be
    expected to order; ``pairs_ordered`` sums them over all groups."""
    held = [d for d in designs if not d["fit"]]
    p = np.array([d[key] for d in held], dtype=float)
    m = np.array([d["measured"]["LUT"] for d in held], dtype=float)
    err = np.abs(p - m) / m * 100
    tie = float(np.median(err)) if tie is None else tie
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(held):
        groups.setdefault(d["group"], []).append(i)
    per_group = []
    good = total = 0
    for g, ix in groups.items():
        if len(ix) < 2:
            continue
        ok = n = 0
        for a in range(len(ix)):
            for b in range(a + 1, len(ix)):
                i, j = ix[a], ix[b]
                if abs(m[i] - m[j]) / min(m[i], m[j]) * 100 <= tie:
                    continue
                n += 1
                ok += (p[i] - p[j]) * (m[i] - m[j]) > 0
        good, total = good + ok, total + n
        per_group.append(
            {
                "group": g,
                "designs": len(ix),
                "lut_spread": round(float((m[ix].max() - m[ix].min()) / m[ix].min() * 100), 1),
                "spearman": round(_spearman(p[ix], m[ix]), 3),
                "pairs_ordered": f"{ok}/{n}",
            }
        )
    vals = [g["spearman"] for g in per_group if not np.isnan(g["spearman"])]
    return {
        "designs": len(held),
        "spearman": round(_spearman(p, m), 4),
        "spearman_within_min": round(min(vals), 4) if vals else None,
        "spearman_within_mean": round(float(np.mean(vals)), 4) if vals else None,
        "median_ape": round(float(np.median(err)), 2),
        "p90_ape": round(float(np.percentile(err, 90)), 2),
        "tie_percent": round(tie, 2),
        "pairs_ordered": f"{good}/{total}",
        "groups": per_group,
    }


def predict(designs: list[dict], coefs: dict, target: dict) -> None:
    """Adds ``pred_lut``, ``pred_ff``, ``pred_carry`` (model) and ``proxy_lut`` to each design."""
    cv = np.array([coefs.get(k, 0.0) for k in LUT_FEATURES])
    tgt = {"coefficients": coefs}
    for d in designs:
        d["pred_lut"] = float(d["vector"] @ cv)
        fifo = fifo_cells(d["features"], target)  # iCE40: layer-DAG FIFOs in block RAM (chains: 0)
        d["pred_ff"] = sum(layer_ff(f, target) + ff for f, (ff, _) in zip(d["features"], fifo))
        d["pred_carry"] = sum(layer_carry(f, tgt) for f in d["features"])
        d["proxy_lut"] = coefs["proxy_lut_per_bitop"] * d["bitops"]


def plot(designs: list[dict], path: Path, title: str) -> Path:
    """Scatter plot (log axes) of predicted vs synthesised LUTs, model and proxy, held-out designs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    held = [d for d in designs if not d["fit"]]
    fitd = [d for d in designs if d["fit"]]
    fig, ax = plt.subplots(figsize=(5.2, 5.0), dpi=110)
    m = [d["measured"]["LUT"] for d in held]
    ax.scatter(m, [d["proxy_lut"] for d in held], s=14, marker="x", c="tab:gray", label="bit-ops proxy (held out)")
    ax.scatter(m, [d["pred_lut"] for d in held], s=16, c="tab:blue", label="hwq.cost model (held out)")
    ax.scatter(
        [d["measured"]["LUT"] for d in fitd], [d["pred_lut"] for d in fitd], s=22, facecolors="none",
        edgecolors="tab:red", label="fit designs",
    )  # fmt: skip
    lo = min(m + [d["pred_lut"] for d in held]) * 0.8
    hi = max(m + [d["pred_lut"] for d in held]) * 1.25
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import LogLocator, ScalarFormatter

    for axis in (ax.xaxis, ax.yaxis):  # plain numbers at 1-2-5 steps: log minor labels overlap
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("yosys LUTs")
    ax.set_ylabel("predicted LUTs")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def calibrate(
    target: str,
    out_file=None,
    plot_path=None,
    jobs: int | None = None,
    log=print,
    adders: str | None = None,
    cached_only: bool = False,
    fit_only: bool = False,
    strict: bool = True,
) -> dict:
    """Calibrate FPGA ``target`` (name or .toml): synthesise the design set, fit on <= 12 designs, write the
    coefficients with date, yosys version and data sizes into the target file (``out_file``; default:
    the packaged file), plot to ``plot_path`` when given. Returns the report dict (accuracy of model and
    proxy on the held-out designs, exactness of FF counts, wall time). ``adders``: the emitter's adder-graph
    style the designs are built with (features and synthesis alike). ``cached_only``: fit and report on
    the designs already synthesised (cache), without running yosys (a partial set is reported as such).
    ``fit_only``: synthesise only the <= 12 fitted designs; the held-out report uses the held-out designs
    found in the cache (a re-fit after an emitter change costs 12 syntheses). ``strict`` False: reuse a
    design's synthesis from an earlier emitter text when its current Verilog is not cached (``synthesise``);
    the report counts them (``stale_verilog``)."""
    t0 = time.perf_counter()
    tgt = load_target(target)
    name = tgt["target"]["name"]
    if tgt["target"].get("kind") != "fpga":
        raise ValueError(f"hwq cost calibrate: target {name!r} is not an FPGA target (MCU calibration is not built)")
    from .rtl_model import emitter_default_adders

    adders = adders or emitter_default_adders()
    designs = design_set()
    log(
        f"calibrate {name}: {len(designs)} designs ({sum(d['fit'] for d in designs)} fitted), "
        f"yosys on {jobs or os.cpu_count()} cores"
    )
    featurise(designs, adders)
    if fit_only and not cached_only:
        fitted = synthesise([d for d in designs if d["fit"]], tgt, jobs, adders, False, log=log, strict=strict)
        held = synthesise([d for d in designs if not d["fit"]], tgt, jobs, adders, True, log=log, strict=strict)
        designs = fitted + held
    else:
        designs = synthesise(designs, tgt, jobs, adders, cached_only, log=log, strict=strict)
    if sum(d["fit"] for d in designs) < 2 or len(designs) < 4:
        raise ValueError(f"hwq cost calibrate {name}: too few synthesised designs ({len(designs)}) to fit")
    coefs = fit(designs, tgt)
    predict(designs, coefs, tgt)
    model = accuracy(designs, "pred_lut")
    proxy = accuracy(designs, "proxy_lut", tie=model["tie_percent"])
    ff_exact = sum(int(round(d["pred_ff"])) == d["measured"]["FF"] for d in designs)
    ff_err = [abs(d["pred_ff"] - d["measured"]["FF"]) / max(d["measured"]["FF"], 1) * 100 for d in designs]
    carry_err = [abs(d["pred_carry"] - d["measured"]["CARRY"]) / max(d["measured"]["CARRY"], 1) * 100 for d in designs]
    wall = time.perf_counter() - t0
    report = {
        "target": name,
        "model": model,
        "proxy": proxy,
        "ff_exact": f"{ff_exact}/{len(designs)}",
        "ff_median_ape": round(float(np.median(ff_err)), 2),
        "carry_median_ape": round(float(np.median(carry_err)), 2),
        "dsp_all_zero": all(d["measured"]["DSP"] == 0 for d in designs),
        "wall_seconds": round(wall, 1),
        "synth_seconds": round(sum(d["synth_seconds"] for d in designs), 1),
        "synthesised_now": sum(d["synth_seconds"] > 0 for d in designs),
        "stale_verilog": sum(d["stale_verilog"] for d in designs),
        "synth_cpu_seconds_all": round(sum(d.get("synth_cpu_seconds_first", 0.0) for d in designs), 1),
        "designs": [
            {
                "group": d["group"],
                "format": d["format"],
                "fit": d["fit"],
                "measured": d["measured"],
                "pred_lut": round(d["pred_lut"], 1),
                "proxy_lut": round(d["proxy_lut"], 1),
                "pred_ff": d["pred_ff"],
            }
            for d in designs
        ],
    }
    tgt = dict(tgt)
    tgt["coefficients"] = coefs | {"calibrated": True}
    tgt["calibration"] = {
        "date": _dt.date.today().isoformat(),
        "tool": yosys_version(),
        "script": tgt["synth"]["script"],
        "adders": adders,
        "fit_designs": sum(d["fit"] for d in designs),
        "held_out_designs": model["designs"],
        "spearman": model["spearman"],
        "spearman_within_min": model["spearman_within_min"],
        "median_ape": model["median_ape"],
        "p90_ape": model["p90_ape"],
        "proxy_spearman": proxy["spearman"],
        "proxy_median_ape": proxy["median_ape"],
        "proxy_p90_ape": proxy["p90_ape"],
        "ff_exact": report["ff_exact"],
        "wall_seconds": report["wall_seconds"],
    }
    dest = Path(out_file) if out_file else target_path(name)
    save_target(tgt, dest)
    report["target_file"] = str(dest)
    if plot_path:
        title = (
            f"{name}: held-out {model['designs']} designs, model Spearman {model['spearman']}, "
            f"median {model['median_ape']} %\nproxy Spearman {proxy['spearman']}, median {proxy['median_ape']} %"
        )
        report["plot"] = str(plot(designs, Path(plot_path), title))
    return report
