"""The co-design flow behind ``hwq flow``: explore, emit all three targets, verify each, one report.

``run_flow(out_dir, ...)`` runs, each stage writing into its own folder of ``out_dir`` so that any stage can
be re-run alone with its own subcommand:

1. ``explore-fpga/``: ``hwq explore`` on the FPGA target (default ``xc7``): per-layer formats (fixed,
   CSD, minifloat) against estimated LUTs; the chosen point's IR in ``explore-fpga/chosen/graph.json``;
2. ``explore-mcu/``: the same on the Cortex-M target (default ``cortex-m4``): int8/int4 weights per layer
   against estimated instructions (and flash, SRAM);
3. ``hls/``, ``rtl/``: HLS C++ and multiplier-free Verilog of the FPGA point, verified by g++ C-simulation
   and cocotb co-simulation (Icarus when installed, else Verilator); yosys synthesis when installed;
4. ``mcu/``: CMSIS-NN C of the MCU point, verified on the host (gcc) and, when arm-none-eabi-gcc and
   qemu-system-arm are installed, on a QEMU Cortex-M4 with exact per-layer instruction counts;
5. ``summary.json`` (keys ``accuracy``, ``formats``, ``pareto``, ``cost``, ``verify``, plus ``targets``,
   ``layers``, ``timings``) and ``report.html``.

With ``explore=False`` the flow trains one configuration per target instead (the config's for the FPGA,
the CMSIS-NN int8 profile of the same model for the MCU): faster, no Pareto front.

The chosen point of each front (the rule is stated in ``summary.json`` and the report) is the explorer's:
the cheapest point of the refined front whose test accuracy is within the explorer's tolerance of the best.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from pathlib import Path

#: what ``--targets`` accepts
TARGETS = ("hls", "rtl", "mcu")


class FlowError(ValueError):
    """A flow input that cannot be used (unknown target, bad option); the message names it."""


class _Stages:
    """Numbered stage lines (``[i/n] text``) and a one-line result as each stage ends; timings in seconds."""

    def __init__(self, n: int, log) -> None:
        self.n, self.i, self.log = n, 0, log
        self.timings: dict[str, float] = {}
        self._t0 = 0.0
        self._key = ""

    def start(self, key: str, text: str) -> None:
        self.i += 1
        self._key, self._t0 = key, time.perf_counter()
        self.log(f"[{self.i}/{self.n}] {text}")

    def done(self, result: str) -> None:
        dt = time.perf_counter() - self._t0
        self.timings[f"{self._key}_s"] = round(dt, 2)
        self.log(f"      {self._key}: {result} ({dt:.1f} s)")


def _tool(name: str) -> bool:
    return shutil.which(name) is not None


def _simulator(choice: str) -> str:
    if choice != "auto":
        return choice
    return "icarus" if _tool("iverilog") and _tool("vvp") else "verilator"


def _with_user_model(config: dict, model: str | None, data: str | None) -> dict:
    cfg = copy.deepcopy(config)
    if model:
        cfg.setdefault("model", {})["factory"] = model
        cfg.setdefault("name", "user-model")
    if data:
        cfg.setdefault("data", {})["loader"] = data
    return cfg


def mcu_config(config: dict) -> dict:
    """The CMSIS-NN int8 profile (PTQ, MSE calibration) of a run config's model, for ``explore=False``."""
    cfg = copy.deepcopy(config)
    cfg["name"] = f"{cfg.get('name', 'digits-mlp')}-cmsis-int8"
    cfg["mode"] = "ptq"
    cfg["quant"] = {"profile": "cmsis-nn", "weights": "int8", "activations": "int8", "single_rounding": False}
    cfg.setdefault("ptq", {})["calibrator"] = "mse"
    return cfg


def _front_points(doc: dict) -> list[dict]:
    """The refined front of a pareto.json document as report/summary points (test accuracy, costs)."""
    by_id = {p["id"]: p for p in doc.get("points", [])}
    out = []
    ids = list(doc.get("front", []))
    ids += [i for i in doc.get("baselines", {}).values() if i not in ids]
    base_name = {i: n for n, i in doc.get("baselines", {}).items()}
    for i in ids:
        p = by_id.get(i)
        if not p or not p.get("refined"):
            continue
        r = p["refined"]
        out.append(
            {
                "id": i,
                "label": base_name.get(i)
                or " ".join(
                    f"{c.get('weight')}" + (f"/a{c['act']}" if c.get("act") is not None else "") for c in p["config"]
                ),
                "baseline": base_name.get(i),
                "front": i in doc.get("front", []),
                "accuracy": r["test_accuracy"],
                "cost": r["costs"],
                "chosen": i == doc.get("chosen"),
                "formats": p["config"],
            }
        )
    return out


def _explore(config: dict, out: Path, target: str, budgets, seed: int, quick: bool, log) -> tuple[dict, Path]:
    from hwq.explore import explore

    kw = dict(generations=3, pop_size=12, refine_epochs=1, max_refine=8, ilp_budgets=12) if quick else {}
    doc = explore(
        config, out, target=target, budgets=budgets, seed=seed, force=True, progress=False, log=lambda s: None, **kw
    )
    return doc, out / "chosen" / "graph.json"


def _cmsis_point(config: dict, doc: dict, out: Path, rule: str) -> tuple[Path, float, str, str]:
    """The MCU graph of the explorer's chosen per-layer int8/int4 choice, in the CMSIS-NN profile.

    The explorer scores MCU candidates on a power-of-two emulation of int8/int4 weights; the graph the
    MCU backend builds is the CMSIS-NN profile's (per-channel real scales, zero points, dyadic
    requantisation), so the chosen per-layer weight choice is trained again in that profile (QAT) and its
    own test accuracy is reported. Returns (graph path, accuracy, rule, the per-layer choice as text)."""
    chosen = next((p for p in doc.get("points", []) if p["id"] == doc.get("chosen")), None)
    explored = out.parent / "explore-mcu" / "chosen" / "graph.json"
    if explored.is_file():  # the explorer already built it in the CMSIS-NN profile: take it as it is
        from hwq.ir.serialize import load
        from hwq.mcu import McuEmitError
        from hwq.mcu import lower as mcu_lower

        try:
            mcu_lower(load(explored))
            acc = chosen["refined"]["test_accuracy"] if chosen and chosen.get("refined") else None
            return explored, acc, rule, "the explorer's CMSIS-NN graph"
        except McuEmitError:
            pass
    layer_names = list((doc.get("space") or {}).keys())
    weights = {n: c.get("weight", "int8") for n, c in zip(layer_names, chosen["config"])} if chosen else {}
    try:
        from hwq.train.profiles import cmsis_config
    except ImportError:
        cmsis_config = None
    if cmsis_config is not None and weights and all(w in ("int4", "int8") for w in weights.values()):
        cfg = cmsis_config(weights, base=config, mode="qat")
        what = ", ".join(f"{n} {w}" for n, w in weights.items())
    else:
        cfg = mcu_config(config)
        what = "int8 everywhere"
    summary, gpath = _train(cfg, out)
    acc = summary["accuracy"]["quantized"]
    return gpath, acc, rule + f"; trained in the CMSIS-NN profile ({what})", what


def _train(config: dict, out: Path) -> tuple[dict, Path]:
    from hwq.train import train_from_config

    summary = train_from_config(config, out, force=True, progress=False)
    return summary, out / "graph.json"


def _accuracy_of(doc_or_summary: dict, explored: bool) -> float | None:
    if explored:
        ch = next((p for p in doc_or_summary.get("points", []) if p["id"] == doc_or_summary.get("chosen")), None)
        return ch["refined"]["test_accuracy"] if ch and ch.get("refined") else None
    return doc_or_summary.get("accuracy", {}).get("quantized")


def _verify(backend: str, folder: Path, vectors: int, seed: int, **kw) -> dict:
    from hwq.sim.verify import verify

    report = verify(backend, folder, vectors=vectors, seed=seed, **kw)
    return {"vectors": report.vectors, "mismatches": report.mismatches, **report.extra}


def _layer_format(graph, name: str) -> str:
    """Output format of the op (or tensor) a cost-model layer is named after; '' when there is none."""
    for op in graph.ops:
        if op.name == name or op.output == name:
            return str(graph.tensor(op.output).fmt)
    return str(graph.tensors[name].fmt) if name in graph.tensors else ""


def _per_layer(cost: dict, verify_results: dict, graphs: dict) -> dict:
    """Per-layer rows for the report: the cost model's estimate, and QEMU's measured instructions beside
    the MCU estimate when the flow ran a Cortex-M build."""
    rows: dict[str, list[dict]] = {}
    f = cost.get("fpga") or {}
    if f.get("layers") and "fpga" in graphs:
        rows["fpga (Verilog, estimate)"] = [
            {
                "layer": lay.get("name"),
                "op": "+".join(lay.get("ops", [])) or lay.get("style", ""),
                "format": _layer_format(graphs["fpga"], str(lay.get("name"))),
                **{k: v for k, v in lay.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
            }
            for lay in f["layers"]
        ]
    m = cost.get("mcu") or {}
    if m.get("layers") and "mcu" in graphs:
        also = (verify_results.get("mcu") or {}).get("also") or {}
        meas = next(iter(also.values()), {}).get("layer_instructions")  # the one QEMU CPU the flow ran
        out = []
        for i, lay in enumerate(m["layers"]):
            row = {
                "layer": lay.get("name"),
                "op": lay.get("func", ""),
                "format": _layer_format(graphs["mcu"], str(lay.get("name"))),
                "macs": lay.get("macs"),
                "instructions (estimate)": lay.get("instructions"),
            }
            if meas and len(meas) >= len(m["layers"]):  # QEMU counts one segment per call, then the return
                row["instructions (QEMU)"] = meas[i]
            out.append(row)
        rows["mcu (CMSIS-NN C)"] = out
    return rows


def qemu_cpu(mcu_target) -> str:
    """The Cortex-M CPU the flow runs its MCU build on in QEMU for the cost target ``mcu_target`` (a name or a
    target .toml): the target's own CPU (``[target] cpu``, else its name) when QEMU has a board for it
    (``hwq.sim.mcurun.TARGETS``: M4, M7, M55), else the Cortex-M4."""
    from hwq.cost.targets import load_target
    from hwq.sim.mcurun import TARGETS

    try:
        head = load_target(mcu_target)["target"]
        cpu = head.get("cpu", head.get("name"))
    except (ValueError, FileNotFoundError):
        cpu = str(mcu_target)
    return cpu if TARGETS.get(cpu, (None, None))[1] else "cortex-m4"


def run_flow(
    out_dir,
    *,
    config: dict | None = None,
    model: str | None = None,
    data: str | None = None,
    targets: tuple[str, ...] = TARGETS,
    explore: bool = True,
    fpga_target: str = "xc7",
    mcu_target: str = "cortex-m4",
    fpga_budget: str | None = None,
    mcu_budget: str | None = None,
    vectors: int = 2000,
    rtl_vectors: int = 1000,
    mcu_vectors: int = 2000,
    qemu_vectors: int = 100,
    simulator: str = "auto",
    synth: bool = True,
    seed: int = 0,
    quick: bool = False,
    command: str | None = None,
    log=print,
) -> dict:
    """Python API of ``hwq flow`` (see the module docstring): writes ``out_dir`` and returns the summary.

    config: run config (dict; None = built-in digits MLP); model/data: bring-your-own callable specs
    (``module:function`` or ``file.py:function``); targets: any of hls, rtl, mcu; vectors: HLS C-sim,
    rtl_vectors: RTL co-simulation, mcu_vectors: host run, qemu_vectors: QEMU run (each compared integer
    for integer with ``hwq.ir.run``); quick: a smaller search (tests). Every stage prints one line as it
    ends. The caller decides the exit status from ``summary["verify"]``.
    """
    from hwq.cost import flow_measured, summary_cost
    from hwq.io import atomic_write
    from hwq.ir.serialize import load
    from hwq.report import value_histograms, write_report
    from hwq.train.config import resolve_config

    out = Path(out_dir)
    for t in targets:
        if t not in TARGETS:
            raise FlowError(f"unknown target {t!r} in --targets; expected {', '.join(TARGETS)}")
    base = _with_user_model(config or {}, model, data)
    cfg = resolve_config(base)  # validates every key (ConfigError naming it) before any work
    want_fpga = any(t in targets for t in ("hls", "rtl"))
    want_mcu = "mcu" in targets
    n = want_fpga + want_mcu * (2 if explore else 1) + len(targets) + (1 if "rtl" in targets and synth else 0) + 1
    st = _Stages(n, log)
    summary: dict = {"name": cfg["name"], "accuracy": {}, "formats": {}, "pareto": {}, "targets": {}, "verify": {}}
    graphs: dict[str, object] = {}
    pareto_pngs: dict[str, Path] = {}

    if want_fpga:
        if explore:
            st.start("explore_fpga", f"explore {fpga_target}: per-layer formats against estimated LUTs")
            doc, gpath = _explore(base, out / "explore-fpga", fpga_target, fpga_budget, seed, quick, log)
            summary["accuracy"]["float"] = doc.get("float_accuracy")
            summary["pareto"]["fpga"] = _front_points(doc)
            pareto_pngs["fpga"] = out / "explore-fpga" / "pareto.png"
            acc = _accuracy_of(doc, True)
            rule = "explorer's choice: " + str(doc.get("chosen_rule", "cheapest refined front point near the best"))
            st.done(f"{len(summary['pareto']['fpga'])} points, chosen {doc['chosen']} at {acc:.2f} %")
        else:
            st.start("train_fpga", f"train {cfg['name']} ({cfg['mode']})")
            tsum, gpath = _train(base, out / "train-fpga")
            summary["accuracy"]["float"] = tsum["accuracy"]["float"]
            acc, rule = tsum["accuracy"]["quantized"], "the config's one configuration (no exploration)"
            st.done(f"accuracy float {tsum['accuracy']['float']:.2f} %, quantised {acc:.2f} %")
        graphs["fpga"] = load(gpath)
        summary["targets"]["fpga"] = {"target": fpga_target, "graph": str(gpath.relative_to(out)), "accuracy": acc,
                                      "rule": rule, "label": graphs["fpga"].name}  # fmt: skip
        summary["accuracy"]["quantized"] = acc
    if want_mcu:
        mcfg = base if explore else mcu_config(base)
        if explore:
            st.start("explore_mcu", f"explore {mcu_target}: int8/int4 weights per layer against instructions")
            doc, gpath = _explore(mcfg, out / "explore-mcu", mcu_target, mcu_budget, seed, quick, log)
            summary["accuracy"].setdefault("float", doc.get("float_accuracy"))
            summary["pareto"]["mcu"] = _front_points(doc)
            pareto_pngs["mcu"] = out / "explore-mcu" / "pareto.png"
            acc = _accuracy_of(doc, True)
            rule = "explorer's choice: " + str(doc.get("chosen_rule", "cheapest refined front point near the best"))
            st.done(f"{len(summary['pareto']['mcu'])} points, chosen {doc['chosen']} at {acc:.2f} %")
            st.start("mcu_point", "train the chosen MCU point in the CMSIS-NN profile (what the backend builds)")
            gpath, acc, rule, what = _cmsis_point(mcfg, doc, out / "train-mcu", rule)
            st.done(f"{what}: test accuracy {acc:.2f} %")
        else:
            st.start("train_mcu", f"train {mcfg['name']} (CMSIS-NN int8 profile, PTQ)")
            tsum, gpath = _train(mcfg, out / "train-mcu")
            summary["accuracy"].setdefault("float", tsum["accuracy"]["float"])
            acc, rule = tsum["accuracy"]["quantized"], "CMSIS-NN int8 profile of the config's model (no exploration)"
            st.done(f"quantised {acc:.2f} %")
        graphs["mcu"] = load(gpath)
        summary["targets"]["mcu"] = {"target": mcu_target, "graph": str(gpath.relative_to(out)), "accuracy": acc,
                                     "rule": rule, "label": graphs["mcu"].name}  # fmt: skip
        summary["accuracy"].setdefault("quantized", acc)

    main_graph = graphs.get("fpga") or graphs.get("mcu")
    summary["formats"] = {k: {t.name: str(t.fmt) for t in g.tensors.values()} for k, g in graphs.items()}
    verify_results: dict[str, dict] = {}
    for target in targets:
        import importlib

        g = graphs["mcu" if target == "mcu" else "fpga"]
        folder = out / target
        st.start(f"{target}", f"emit and verify {target}")
        emitter = importlib.import_module(f"hwq.{target}")
        if folder.exists():
            shutil.rmtree(folder)
        emitter.emit(g, folder, command=command or "hwq flow")
        if target == "hls":
            res = _verify("hls", folder, vectors, seed)
            res["tool"] = "g++"
        elif target == "rtl":
            sim = _simulator(simulator)
            res = _verify("rtl", folder, rtl_vectors, seed, simulator=sim)
            res["tool"] = sim
        else:
            res = _verify("mcu", folder, mcu_vectors, seed, target="host")
            res["tool"] = "gcc (host)"
            if _tool("arm-none-eabi-gcc") and _tool("qemu-system-arm"):
                cpu = qemu_cpu(mcu_target)
                q = _verify("mcu", folder, qemu_vectors, seed + 1, target=cpu)
                res["also"] = {cpu: q}
                res["qemu_cpu"] = cpu
                for k in ("total_instructions", "arena_bytes", "stack_bytes", "text_bytes", "data_bytes",
                          "model_flash_bytes"):  # fmt: skip
                    if q.get(k) is not None:
                        res[k] = q[k]
                # keep QEMU's mismatches visible in the headline figure too
                res["mismatches"] = res["mismatches"] + q["mismatches"]
                res["vectors"] = res["vectors"] + q["vectors"]
            else:
                res["also"] = {}
                log("      mcu: arm-none-eabi-gcc / qemu-system-arm not installed: host run only")
            # the QEMU figures live in the verify.json of the last run; keep the merged one
            atomic_write(folder / "verify.json", json.dumps({"target": "mcu", **res}, indent=1, default=int) + "\n")
        verify_results[target] = res
        log(f"verify {target}: {res['vectors']} vectors, {res['mismatches']} mismatches")
        st.done(f"{res['vectors']} vectors, {res['mismatches']} mismatches ({res['tool']})")

    measured = flow_measured(verify_results, out)
    if want_fpga and synth and "rtl" in targets:
        # the target's own calibrated yosys script and cell patterns, so the estimate and the measured figure
        # beside it count the same netlist
        from hwq.cost.calibrate import count_cells
        from hwq.cost.targets import load_target

        synth_cfg = load_target(fpga_target)["synth"]
        st.start("synth", f"yosys {synth_cfg['script']} of the Verilog (target {fpga_target})")
        if _tool("yosys"):
            from hwq.rtl import synth_report

            rep = synth_report(out / "rtl", script=synth_cfg["script"])
            rep.update(count_cells(rep["cells"], synth_cfg))
            measured["fpga"].update({"lut": rep.get("LUT"), "ff": rep.get("FF"), "carry": rep.get("CARRY"),
                                     "dsp": rep.get("DSP")})  # fmt: skip
            st.done(f"{rep.get('LUT'):,} LUT, {rep.get('FF'):,} FF, {rep.get('DSP')} DSP")
        else:
            st.done("yosys not installed: skipped")
    cost: dict = {}
    for key, g in graphs.items():
        part = summary_cost(
            g, fpga_target=fpga_target, mcu_target=mcu_target, measured={key: measured.get(key) or {}}
        ).get(key)
        cost[key] = part
    summary["cost"] = {"fpga": cost.get("fpga"), "mcu": cost.get("mcu")}
    summary["layers"] = _per_layer(summary["cost"], verify_results, graphs)
    summary["verify"] = {t: verify_results.get(t) for t in TARGETS}
    summary["timings"] = st.timings

    st.start("report", "summary.json and report.html")
    hist = _histograms(cfg, main_graph, value_histograms)
    links = {f"{t} project ({t}/)": f"{t}/" for t in targets}
    for k in ("fpga", "mcu"):
        if (out / f"explore-{k}" / "pareto.csv").exists():
            links[f"{k} Pareto points (CSV)"] = f"explore-{k}/pareto.csv"
    atomic_write(out / "summary.json", json.dumps(summary, indent=1, default=str) + "\n")
    write_report(
        out / "report.html", summary, main_graph, histograms=hist, pareto_pngs=pareto_pngs, links=links,
        command=command,
    )  # fmt: skip
    st.done(f"wrote {out / 'summary.json'} and {out / 'report.html'}")
    return summary


def _histograms(cfg: dict, graph, fn):
    """Value histograms of ``graph`` on (up to 500) test inputs of the config's data set."""
    import numpy as np

    from hwq.train.loop import _data

    try:
        data = _data(cfg)
    except Exception:  # noqa: BLE001 - the report is still written without histograms
        return []
    x = np.asarray(data.x_test[:500], dtype=np.float64)
    t = graph.tensor(graph.inputs[0])
    if tuple(x.shape[1:]) != tuple(t.shape):
        x = x.reshape(len(x), *t.shape)
    try:
        return fn(graph, {graph.inputs[0]: x})
    except Exception:  # noqa: BLE001 - e.g. an input format that floats cannot be quantised to
        return []
