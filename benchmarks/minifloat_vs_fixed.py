"""Minifloat vs fixed point on FPGA LUTs: the digits MLP and CNN quantised post-training to e4m3 / e3m2 / e2m1
and to 8 / 6 / 4-bit fixed point (the comparison of minifloat PTQ on FPGAs, on hwq's own models).

One float model per architecture (``hwq calibrate --model mlp|cnn``, trained once, then reused through its
``model.pt``); every configuration quantises weights, pre-activations, activations and outputs to the same
element format (per-tensor exponent bias or binary point from the MSE calibrator; biases 16-bit fixed point;
input ``ufixed<5,1>`` as in examples/), then: test accuracy from ``hwq calibrate``'s summary, ``hwq emit rtl``
(multiplier-free Verilog, default options: PIPELINE 1, the CNN's conv/pool layers streamed one pixel per
beat; minifloat tensors travel as codes and are decoded into the fixed accumulators, ``rtl/minifloat.py``),
yosys LUT / FF / CARRY4 / DSP counts with ONE script for every row, the xc7 cost target's
(``hwq/cost/targets/xc7.toml`` ``[synth] script``: ``synth_xilinx -flatten -nosrl -noiopad -noclkbuf``, the
script the cost model was calibrated with), the xc7 cost-model LUT estimate (``hwq cost --target xc7``), and
(``--verify N``) ``hwq verify rtl`` with N vectors and random back-pressure, 0 mismatches expected.

Every stage is cached in ``WORK/<config>`` (``run/``, ``rtl/``, ``synth.json``, ``cost.json``, ``verify``):
a rerun only does what is missing, so the slow syntheses can be run one at a time (``--only``), and
``--no-synth`` builds everything else first. Synthesis time is recorded as yosys CPU seconds (user + sys of
the child process) beside wall seconds and the load average, the machine being shared.

Usage::

    python benchmarks/minifloat_vs_fixed.py --work /tmp/mfvf [--arch mlp|cnn] [--verify 1000] [--only e4m3,fixed8]
        [--no-synth] [--write benchmarks/results/minifloat_vs_fixed.md]

One run, no repetitions (synthesis counts are deterministic; accuracy is on the 360 held-out digits).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

MINIFLOATS = {"e4m3": "e4m3fn", "e3m2": "e3m2fn", "e2m1": "e2m1fn"}
FIXED = {"fixed8": 8, "fixed6": 6, "fixed4": 4}

MODEL = {
    "mlp": 'arch = "mlp"\nhidden = [64, 32]\n[train]\nepochs = 40\n',
    "cnn": 'arch = "cnn"\nchannels = [8, 16]\n[train]\nepochs = 30\n',
}
HEAD = """name = "{name}"
mode = "ptq"
[model]
{model}[ptq]
calibrator = "mse"
[quant]
input = "ufixed<5,1,RND_CONV,SAT>"
bias = {{ kind = "fixed", width = 16, int_bits = "calibrate" }}
"""


def config_text(key: str, arch: str = "mlp") -> str:
    """The run config (TOML) of configuration ``key`` (``e4m3``, ..., ``fixed4``) for model ``arch``."""
    text = HEAD.format(name=f"{arch}-{key}-ptq", model=MODEL[arch])
    if key in MINIFLOATS:
        f = f'{{ kind = "float", name = "{MINIFLOATS[key]}", bias = "calibrate" }}'
        return text + "".join(f"{t} = {f}\n" for t in ("weight", "preact", "act", "output"))
    w = FIXED[key]
    s = f'{{ kind = "fixed", width = {w}, int_bits = "calibrate" }}'
    u = f'{{ kind = "fixed", width = {w}, int_bits = "calibrate", signed = false }}'
    return text + f"weight = {s}\npreact = {s}\nact = {u}\noutput = {s}\n"


def run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` (the hwq CLI), its output appended to ``log``; return seconds; raise on failure."""
    t0 = time.perf_counter()
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        p = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - t0


def measure_per_product(key: str, work: Path) -> dict:
    """Row ``<fmt>-pp``: the graph of ``<fmt>`` (already measured) emitted with per-product significand x
    constant and exponent barrel shifts (``rtl.minifloat.PRODUCTS = "mantissa"``) and synthesised."""
    import hwq.rtl.minifloat as mf
    from hwq.ir.serialize import load
    from hwq.rtl import emit, synth_report

    base = json.loads((work / key[:-3] / "row.json").read_text())
    d = work / key
    d.mkdir(parents=True, exist_ok=True)
    mf.PRODUCTS = "mantissa"
    try:
        out = d / "rtl"
        out.mkdir(exist_ok=True)
        g = load(work / key[:-3] / "run" / "graph.json")
        emit(g, out, command="benchmarks/minifloat_vs_fixed.py (per-product minifloat products)", tb_vectors=0)
    finally:
        mf.PRODUCTS = "decode"
    row = dict(base, config=key, verify=None)
    row["verilog_bytes"] = sum(f.stat().st_size for f in out.glob("*.v"))
    row["adders"] = sum(lay["adders"] for lay in json.loads((out / "rtl.json").read_text())["layers"])
    rep = synth_report(out)
    row.update(LUT=rep["LUT"], FF=rep["FF"], CARRY=rep["CARRY"], DSP=rep["DSP"])
    (d / "row.json").write_text(json.dumps(row, indent=1) + "\n")
    return row


def xc7_script() -> str:
    """The yosys script of the xc7 cost target (``hwq/cost/targets/xc7.toml`` ``[synth] script``)."""
    import tomllib

    import hwq.cost

    text = (Path(hwq.cost.__file__).parent / "targets" / "xc7.toml").read_text()
    return tomllib.loads(text)["synth"]["script"]


def synthesise(rtl: Path, script: str, timeout: float, layer: str = "") -> dict:
    """yosys ``script`` on the emitted folder ``rtl`` (``hwq.rtl.synth_report``), or on its layer module
    ``layer`` alone (e.g. ``fc3``: the layer's file plus the shared helper modules, that module the top):
    LUT / FF / CARRY / DSP cell counts plus ``synth_cpu_s`` (yosys user + sys seconds), ``synth_wall_s`` and
    ``load`` (1-minute load average before and after)."""
    from hwq.rtl import synth_report
    from hwq.rtl.tools import sources

    top, files = sources(rtl)
    if layer:  # helper modules (hwq_skid_buffer, hwq_taps, ...) + the layer's own file
        mine = (f"{top}_{layer}", f"{top}_{layer}_datapath")
        files = [f for f in files if not f.stem.startswith(top) or f.stem in mine]
        top = f"{top}_{layer}"
    load0 = os.getloadavg()[0]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rep = synth_report(files=files, top=top, script=script, timeout=timeout)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    out = {k: rep[k] for k in ("LUT", "FF", "CARRY", "DSP")}
    out.update(script=script, synth_cpu_s=round(cpu, 1), synth_wall_s=round(wall, 1))
    out["load"] = [round(load0, 1), round(os.getloadavg()[0], 1)]
    return out


def estimate(graph: Path, out: Path, log: Path) -> dict:
    """The xc7 cost-model estimate of the emitted design (``hwq cost GRAPH --target xc7 --json``): LUT, FF,
    CARRY (whole network) as predicted before synthesis."""
    run(["hwq", "cost", str(graph), "--target", "xc7", "--json", str(out), "--force", "-q"], log)
    tot = json.loads(out.read_text()).get("total", {})
    return {k: tot.get(k.lower(), tot.get(k)) for k in ("LUT", "FF", "CARRY")}


def measure(
    key: str,
    work: Path,
    model: str,
    verify: int,
    simulator: str = "auto",
    arch: str = "mlp",
    script: str = "",
    synth: bool = True,
    timeout: float = 7200,
    layer: str = "",
) -> dict:
    """Calibrate, emit, estimate, synthesise (and verify) configuration ``key`` in ``work/key``, each stage
    cached there (``run/summary.json``, ``rtl/rtl.json``, ``cost.json``, ``synth.json``, ``rtl/verify.json``);
    return its row (``row.json``; synthesis figures None when ``synth`` is False and none are cached).
    ``layer`` (e.g. ``fc3``): adders, estimate and synthesis (``synth_<layer>.json``) of that layer alone."""
    if key.endswith("-pp"):
        return measure_per_product(key, work)

    d = work / key
    d.mkdir(parents=True, exist_ok=True)
    log = d / "log.txt"
    cfg = d / "config.toml"
    whole = layer == PER_LAYER  # per-layer sum: whole-network adders, estimate and latency
    one = "" if whole else layer
    text = config_text(key, arch)
    if not (d / "run" / "summary.json").exists() or not cfg.exists() or cfg.read_text() != text:
        cfg.write_text(text)
        run(["hwq", "calibrate", "--model", model, "--config", str(cfg), "--out", str(d / "run"), "--force", "-q"], log)
    summ = json.loads((d / "run" / "summary.json").read_text())
    if not (d / "rtl" / "rtl.json").exists():
        run(["hwq", "emit", "rtl", "--ir", str(d / "run" / "graph.json"), "--out", str(d / "rtl"), "--force"], log)
    manifest = json.loads((d / "rtl" / "rtl.json").read_text())
    row = {
        "model": arch,
        "config": key,
        "accuracy": summ["accuracy"]["quantized"],
        "float_accuracy": summ["accuracy"]["float"],
        "formats": {k: v for k, v in summ["formats"].items() if k.split(".")[0] in ("fc1", "conv1")},
        "verilog_bytes": sum(f.stat().st_size for f in (d / "rtl").glob("*.v")),
        "adders": sum(lay["adders"] for lay in manifest["layers"] if not one or lay["name"] == one),
        "layer": layer,
        "latency": manifest["latency"],  # cycles, first input beat to last output beat (rtl.timing)
        "styles": [lay["style"] for lay in manifest["layers"]],
    }
    cost = d / "cost.json"
    try:
        est = estimate(d / "run" / "graph.json", cost, log) if not cost.exists() else None
    except SystemExit:
        est = None
    if cost.exists():
        c = json.loads(cost.read_text())
        tot = next((x for x in c["layers"] if x.get("name") == one), {}) if one else c.get("total", {})
        est = {k: tot.get(k.lower(), tot.get(k)) for k in ("LUT", "FF", "CARRY")}
    row["estimate"] = est
    if one:  # the layer's own latency: 1 + (levels - 1) // PIPELINE cycles
        lay = next(x for x in manifest["layers"] if x["name"] == one)
        pipe = manifest.get("pipeline") or 0
        row["latency"] = 1 + (lay["levels"] - 1) // pipe if pipe > 0 else 1
    elif row["latency"] is None and cost.exists():  # streamed: the cost model's first-beat-to-result estimate
        lat = json.loads(cost.read_text())["total"].get("latency")
        row["latency"] = f"~{lat}" if lat is not None else None
    if layer == PER_LAYER:
        return per_layer(row, d, manifest, script, synth, timeout)
    sj = d / (f"synth_{layer}.json" if layer else "synth.json")
    if not sj.exists() and synth:
        rep = synthesise(d / "rtl", script or xc7_script(), timeout, layer)
        sj.write_text(json.dumps(rep, indent=1) + "\n")
    if sj.exists():
        row.update(json.loads(sj.read_text()))
    if verify and not (d / "rtl" / "verify.json").exists():
        cmd = ["hwq", "verify", "rtl", str(d / "rtl"), "--vectors", str(verify), "--backpressure", "0.3"]
        run([*cmd, "--simulator", simulator], log)
    if (d / "rtl" / "verify.json").exists():
        v = json.loads((d / "rtl" / "verify.json").read_text())
        row["verify"] = {"vectors": v["vectors"], "mismatches": v["mismatches"]}
    (d / (f"row_{layer}.json" if layer else "row.json")).write_text(json.dumps(row, indent=1) + "\n")
    return row


PER_LAYER = "per-layer"


def per_layer(row: dict, d: Path, manifest: dict, script: str, synth: bool, timeout: float) -> dict:
    """Row labelled "sum of per-layer syntheses": every layer module of ``d/rtl`` synthesised on its own
    (``synth_<layer>.json``, cached, smaller yosys problems than the whole design) and LUT / FF / CARRY / DSP
    and yosys CPU / wall seconds summed. The top module's own glue (the input/output skid buffers between
    layers) is not counted; compare with a whole-design row to see the error. Figures None until every
    layer is synthesised."""
    names = [lay["name"] for lay in manifest["layers"]]
    parts = []
    for name in names:
        sj = d / f"synth_{name}.json"
        if not sj.exists() and synth:
            rep = synthesise(d / "rtl", script or xc7_script(), timeout, name)
            sj.write_text(json.dumps(rep, indent=1) + "\n")
        if sj.exists():
            parts.append(json.loads(sj.read_text()))
    row["layer"] = PER_LAYER
    if len(parts) == len(names):
        for k in ("LUT", "FF", "CARRY", "DSP", "synth_cpu_s", "synth_wall_s"):
            row[k] = round(sum(p[k] for p in parts), 1) if k.startswith("synth") else sum(p[k] for p in parts)
        row["per_layer"] = {n: {k: p[k] for k in ("LUT", "FF", "CARRY", "synth_cpu_s")} for n, p in zip(names, parts)}
    (d / "row_per-layer.json").write_text(json.dumps(row, indent=1) + "\n")
    return row


def head_commit() -> str:
    """Short commit id of the hwq checkout (with ``+dirty`` when tracked files of the emitter and simulator,
    ``rtl/``, ``hwq/ir``, ``hwq/formats``, ``hwq/sim``, differ from it), for labelling designs emitted now."""
    root = Path(__file__).resolve().parent.parent
    sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", "rtl", "hwq/ir", "hwq/formats", "hwq/sim"]
    )
    return sha.stdout.strip() + ("+dirty" if dirty.returncode else "")


def _body(f: Path) -> list[str]:
    """The lines of a generated Verilog file without its ``//`` header comment (version, command)."""
    lines = f.read_text().splitlines()
    i = 0
    while i < len(lines) and lines[i].startswith("//"):
        i += 1
    return lines[i:]


def verify_fresh(key: str, work: Path, vectors: int, simulator: str, backpressure: float = 0.3) -> dict:
    """Re-emit configuration ``key``'s cached graph (``work/key/run/graph.json``) with the hwq of the current
    checkout into ``work/key/rtl_fresh`` and co-simulate it: ``hwq verify rtl --vectors N --backpressure
    0.3``. Returns (and caches in ``verify_fresh.json``; delete it and ``rtl_fresh`` to redo) the vectors,
    mismatches, simulator, the commit at emission (``rtl_fresh/commit.txt``), CPU and wall seconds of the
    verify run, and whether every ``.v`` file (header comment aside) is identical to the synthesised design in
    ``work/key/rtl``."""
    d = work / key
    vj = d / "verify_fresh.json"
    if vj.exists():
        return json.loads(vj.read_text())
    out = d / "rtl_fresh"
    log = d / "log.txt"
    if not (out / "commit.txt").exists():
        commit = head_commit()
        run(["hwq", "emit", "rtl", "--ir", str(d / "run" / "graph.json"), "--out", str(out), "--force"], log)
        (out / "commit.txt").write_text(commit + "\n")
    commit = (out / "commit.txt").read_text().strip()
    old = {f.name: f for f in (d / "rtl").glob("*.v")}
    new = {f.name: f for f in out.glob("*.v")}
    same = old.keys() == new.keys() and all(_body(old[n]) == _body(new[n]) for n in new)
    cmd = ["hwq", "verify", "rtl", str(out), "--vectors", str(vectors), "--backpressure", str(backpressure)]
    cmd += ["--simulator", simulator]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n" + p.stdout + p.stderr)
    v = json.loads((out / "verify.json").read_text()) if (out / "verify.json").exists() else {}
    res = {
        "commit": commit,
        "command": " ".join(cmd),
        "exit": p.returncode,
        "vectors": v.get("vectors"),
        "mismatches": v.get("mismatches"),
        "simulator": simulator,
        "backpressure": backpressure,
        "same_verilog_as_synthesised": same,
        "cpu_s": round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 1),
        "wall_s": round(wall, 1),
        "load": [round(load0, 1), round(os.getloadavg()[0], 1)],
        "last_line": (p.stdout.strip().splitlines() or [""])[-1],
    }
    vj.write_text(json.dumps(res, indent=1) + "\n")
    return res


def layer_products(work: Path, n_in: int = 32, n_out: int = 16, fmt: str = "e4m3fn") -> list[dict]:
    """One Dense layer (``n_in`` -> ``n_out``, random 8-bit weights, ``fmt`` in and out, exact accumulator)
    emitted with both minifloat product styles (``rtl.minifloat.PRODUCTS``: decode-once and per-product) and
    synthesised; returns one row per style (adders, LUT, FF, CARRY4)."""
    import numpy as np

    import hwq.rtl.minifloat as mf
    from hwq.formats import parse
    from hwq.ir.graph import Graph
    from hwq.ir.ops.dense import Dense
    from hwq.rtl import emit, synth_report

    rng = np.random.default_rng(0)
    g = Graph("mflayer", ["x"], ["y"])
    g.add_tensor("x", (n_in,), fmt)
    g.add_tensor("y", (n_out,), fmt)
    w = rng.integers(-127, 128, (n_out, n_in))
    g.add_op(
        Dense("fc", ["x"], "y", weight=w, bias=np.zeros(n_out, dtype=np.int64), weight_fmt=parse("fixed<8,1>"),
              bias_fmt=parse("fixed<8,1>"), acc_fmt=parse("fixed<40,16>"))
    )  # fmt: skip
    g.validate()
    rows = []
    for style in ("decode", "mantissa"):
        out = work / f"layer_{style}"
        out.mkdir(parents=True, exist_ok=True)
        mf.PRODUCTS = style
        try:
            emit(g, out, command="benchmarks/minifloat_vs_fixed.py --layer", tb_vectors=0)
        finally:
            mf.PRODUCTS = "decode"
        rep = synth_report(out)
        adders = sum(lay["adders"] for lay in json.loads((out / "rtl.json").read_text())["layers"])
        rows.append({"style": style, "shape": f"{n_in}x{n_out} {fmt}", "adders": adders, **{
            k: rep[k] for k in ("LUT", "FF", "CARRY", "DSP")}})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _n(v) -> str:
    """A count with thousands separators, or a dash when not measured."""
    return f"{v:,}" if isinstance(v, int) else ("-" if v is None else str(v))


def table(rows: list[dict]) -> str:
    """Markdown table of the measured rows (a dash where a figure was not measured)."""
    out = [
        "| model | config | layer | first layer weight / output formats | accuracy % | LUT | FF | CARRY4 | DSP |"
        " latency (cycles) | adders | xc7 estimate LUT | yosys CPU s | verify |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        f = r["formats"]
        wk = next((k for k in f if k.endswith(".weight")), "")
        fm = f"{f.get(wk, '')} / {f.get(wk[: -len('.weight')], '')}"
        v = r.get("verify")
        vt = f"{v['vectors']} vectors, {v['mismatches']} mismatches" if v else "not run"
        if v and v.get("commit"):
            same = "same Verilog" if v.get("same_verilog_as_synthesised") else "re-emitted Verilog differs"
            vt += f" ({v['simulator']}, {v['commit']}, {same})"
        est = (r.get("estimate") or {}).get("LUT")
        est_t = _n(round(est)) if isinstance(est, (int, float)) else "-"
        lay = "sum of per-layer syntheses" if r.get("layer") == PER_LAYER else r.get("layer") or "all"
        out.append(
            f"| {r.get('model', 'mlp')} | {r['config']} | {lay} | `{fm}` | {r['accuracy']:.2f} | "
            f"{_n(r.get('LUT'))} | "
            f"{_n(r.get('FF'))} | {_n(r.get('CARRY'))} | {_n(r.get('DSP'))} | {_n(r.get('latency'))} | "
            f"{_n(r['adders'])} | {est_t} | {_n(r.get('synth_cpu_s'))} | {vt} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="work folder (runs, Verilog, logs)")
    ap.add_argument("--arch", default="mlp", choices=sorted(MODEL), help="digits model (default mlp)")
    ap.add_argument("--only", default="", help="comma-separated subset of " + ", ".join([*MINIFLOATS, *FIXED]))
    ap.add_argument("--verify", type=int, default=0, help="hwq verify rtl vectors per minifloat design (0: skip)")
    ap.add_argument("--simulator", default="auto", help="hwq verify rtl --simulator (auto, icarus, verilator)")
    ap.add_argument("--script", default="", help="yosys script (default: the xc7 cost target's [synth] script)")
    ap.add_argument("--no-synth", action="store_true", help="skip syntheses not cached yet (table shows dashes)")
    ap.add_argument(
        "--synth-layer",
        default="",
        help=f"synthesise only this layer module (e.g. fc3), or '{PER_LAYER}': each "
        "layer module on its own, the row reporting their sum",
    )
    ap.add_argument(
        "--verify-fresh",
        type=int,
        default=0,
        help="re-emit each configuration's graph with this checkout and run "
        "hwq verify rtl with this many vectors (0: skip); compares the Verilog with the synthesised design",
    )
    ap.add_argument("--timeout", type=float, default=7200, help="yosys time-out per design, seconds")
    ap.add_argument("--write", default="", help="write the markdown table here")
    ap.add_argument("--layer", action="store_true", help="only the one-layer product-style comparison")
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.layer:
        layer_products(work)
        return 0
    keys = [k for k in args.only.split(",") if k] or [*MINIFLOATS, *FIXED]
    base = work / "float"
    if not (base / "run" / "model.pt").exists():
        base.mkdir(parents=True, exist_ok=True)
        (base / "config.toml").write_text(config_text("e4m3", args.arch))
        cmd = ["hwq", "calibrate", "--model", args.arch, "--config", str(base / "config.toml")]
        run([*cmd, "--out", str(base / "run"), "--force", "-q"], base / "log.txt")
    rows = []
    for k in keys:
        row = measure(
            k,
            work,
            str(base / "run" / "model.pt"),
            args.verify if k in MINIFLOATS else 0,
            args.simulator,
            args.arch,
            args.script,
            not args.no_synth,
            args.timeout,
            args.synth_layer,
        )
        if args.verify_fresh:
            row["verify"] = verify_fresh(k, work, args.verify_fresh, args.simulator)
        elif (work / k / "verify_fresh.json").exists():  # an earlier --verify-fresh run
            row["verify"] = json.loads((work / k / "verify_fresh.json").read_text())
        rows.append(row)
        print(json.dumps(row), flush=True)
    text = table(rows)
    print(text)
    if args.write:
        Path(args.write).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
