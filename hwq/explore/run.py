"""``explore()``: the whole mixed-precision search behind ``hwq explore`` (see ``hwq/explore/__init__.py``)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from hwq.io import atomic_write, prepare_out_dir

from . import costs as C
from .evaluate import Context, Evaluator, Executor, config_key, cpu_workers, fingerprint
from .ilp import InfeasibleBudget, sweep
from .nsga import initial_population, run_nsga2
from .pareto import nondominated, plot, table, write_csv, write_json
from .sensitivity import hessian_traces, spearman
from .space import Choice, Space, build_space

#: uniform-precision baselines: name -> (weight, act bits, result bits)
BASELINES = {
    "fixed8": ("fixed<8>", 8, 12),
    "fixed6": ("fixed<6>", 6, 12),
    "fixed4": ("fixed<4>", 4, 8),
    "csd1": ("csd<1>", 8, 12),
    "csd2": ("csd<2>", 8, 12),
    "csd3": ("csd<3>", 8, 12),
    "e4m3": ("e4m3", 8, 12),
    "e2m1": ("e2m1", 8, 12),
}
MCU_BASELINES = {"int8": ("int8", 8, 16), "int4": ("int4", 8, 16)}
REFERENCE = ("fixed<16>", 16, 16)  # "unquantised" setting of the other layers in one-layer sensitivity
MCU_REFERENCE = ("int8", 8, 16)  # the CMSIS-NN profile's widest weights (MCU targets)
#: pareto.json's name of each FPGA cost model (``hwq.explore.costs.FPGA_MODELS``)
_FPGA_MODEL_NAMES = {"fast": "hwq.cost.fpga(exact=False)", "exact": "hwq.cost.fpga", "proxy": "5.4 LUT/adder"}


class ExploreError(ValueError):
    """A user error of ``hwq explore`` (bad budget, space, target); one line naming the culprit."""


def _model_layers(model) -> tuple[list[str], dict[str, str | None]]:
    from torch import nn

    from hwq.nn.convert import layer_plan

    plan = layer_plan(model)
    layers, act = [], {}
    for i, (name, m, _) in enumerate(plan):
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            layers.append(name)
            nxt = plan[i + 1][1] if i + 1 < len(plan) else None
            act[name] = plan[i + 1][0] if isinstance(nxt, (nn.ReLU, nn.ReLU6)) else None
    return layers, act


def _splits(cfg: dict, val_fraction: float):
    from sklearn.model_selection import train_test_split

    from hwq.data import load_digits_split

    d = load_digits_split(image=cfg["model"].get("arch") == "cnn", seed=cfg["data"].get("split_seed", 0))
    xf, xv, yf, yv = train_test_split(
        d.x_train, d.y_train, test_size=val_fraction, random_state=cfg["data"].get("split_seed", 0), stratify=d.y_train
    )
    return {
        "x_fit": np.ascontiguousarray(xf),
        "y_fit": yf,
        "x_val": np.ascontiguousarray(xv),
        "y_val": yv,
        "x_test": d.x_test,
        "y_test": d.y_test,
    }


def _float_model(cfg: dict, data: dict, cache: Path, progress: bool):
    import hashlib

    import torch

    from hwq.train.config import build_float_model
    from hwq.train.loop import accuracy, fit

    key = hashlib.sha256(
        json.dumps({"model": cfg["model"], "train": cfg["train"], "data": cfg["data"]}, sort_keys=True).encode()
    )
    path = cache / f"float-{key.hexdigest()[:16]}.pt"
    model = build_float_model(cfg)
    if path.exists():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    else:
        t = cfg["train"]
        torch.manual_seed(t["seed"])
        model = build_float_model(cfg)
        fit(
            model,
            data["x_fit"],
            data["y_fit"],
            t["epochs"],
            t["batch_size"],
            t["lr"],
            t["seed"],
            progress=progress,
            desc="float",
        )
        import io

        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        atomic_write(path, buf.getvalue())
    model.eval()
    return model, accuracy(model, data["x_test"], data["y_test"])


def _replace(config: tuple[Choice, ...], li: int, **kw) -> tuple[Choice, ...]:
    c = list(config)
    d = c[li].as_dict() | kw
    c[li] = Choice(d["weight"], d["act"], d["acc"])
    return tuple(c)


def _r(x: float, nd: int = 4) -> float | None:
    """``x`` rounded to ``nd`` decimals; None when it is not finite (an undefined correlation), so that
    pareto.json stays strict JSON."""
    return float(round(float(x), nd)) if np.isfinite(float(x)) else None


def explore(
    config: dict | None,
    out_dir,
    target: str = "xc7",
    budgets: str | list[str] | None = None,
    space: dict | None = None,
    seed: int = 0,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    resume: bool = False,
    force: bool = False,
    objective: str = "measured",
    ilp_budgets: int = 25,
    pop_size: int = 24,
    generations: int = 8,
    refine_epochs: int = 2,
    max_refine: int = 24,
    refine_ranks: int = 2,
    precise: str = "chosen",
    probes: int = 64,
    val_fraction: float = 0.2,
    fpga_cost: str = "fast",
    refine_cost: str = "exact",
    progress: str | bool = True,
    log=print,
) -> dict:
    """Mixed-precision Pareto search of a run config's model on a target; writes ``out_dir``/pareto.json,
    pareto.csv, pareto.png, chosen/graph.json, chosen/config.json, timing.json; returns the pareto.json
    document. ``refine_ranks``: how many non-dominated layers of the PTQ search (validation accuracy) are
    QAT-refined, at most ``max_refine`` points besides the baselines. ``precise``: which refined points
    also get the calibrated cost model's figures (``calibrated_costs``; slow): "none", "chosen" (default)
    or "front" (front and baselines). ``fpga_cost``: the FPGA search candidates' LUT model, "fast"
    (``hwq.cost.fpga(exact=False)``), "exact" (``hwq.cost.fpga``, slow) or "proxy" (5.4 LUTs per adder of
    ``hwq.cost.graph_cost``); ``refine_cost``: the model of the QAT-refined points, on which the final front
    and the chosen point are taken (default "exact"), see ``hwq.explore.costs``. Accuracies in percent,
    costs as ``hwq.explore.costs`` names them. Raises ExploreError (or ConfigError, SpaceError, TargetError,
    all ValueErrors) naming the bad input."""
    import torch

    from hwq.train.config import resolve_config

    from .space import SpaceError

    t_start = time.perf_counter()
    timing: dict[str, float] = {}
    kind = C.target_kind(target)
    bud = C.parse_budgets(budgets, target)
    if objective not in ("measured", "hessian"):
        raise ExploreError(f"--objective {objective}: expected measured or hessian")
    for flag, val in (("--fpga-cost", fpga_cost), ("--refine-cost", refine_cost)):
        if val not in C.FPGA_MODELS:
            raise ExploreError(f"{flag} {val}: expected {' or '.join(C.FPGA_MODELS)}")
    user = dict(config or {})
    user.setdefault("ptq", {}).setdefault("calibrator", "mse")
    cfg = resolve_config(user)
    cfg["train"]["seed"] = int(seed)
    out = Path(out_dir)
    if resume:
        out.mkdir(parents=True, exist_ok=True)
    else:
        prepare_out_dir(out, force)
        if (out / "cache").exists():
            shutil.rmtree(out / "cache")
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    data = _splits(cfg, val_fraction)
    fm, float_acc = _float_model(cfg, data, cache, progress == "bar" or (progress is True and sys.stderr.isatty()))
    layers, act_layer = _model_layers(fm)
    try:
        sp: Space = build_space(layers, act_layer, kind, space)
    except SpaceError as e:
        raise ExploreError(str(e)) from None
    if kind == "mcu":  # candidates are CMSIS-NN profile models: int8/int4 weights, int8 activations
        for n in layers:
            bad = [w for w in sp.options[n]["weight"] if w not in ("int8", "int4")]
            if bad or sp.options[n]["act"] != [8]:
                what = f"weight {bad[0]}" if bad else f"act {sp.options[n]['act']}"
                raise ExploreError(
                    f"space layer {n}: {what} not available on {target} (CMSIS-NN profile: weight int8 or int4, act 8)"
                )
    gen = np.random.default_rng(seed)
    cal = gen.permutation(len(data["x_fit"]))[: cfg["ptq"]["samples"]]
    data["x_cal"] = np.ascontiguousarray(data["x_fit"][np.sort(cal)])
    state = {k: v.detach().numpy().copy() for k, v in fm.state_dict().items()}
    ctx = Context(
        cfg, state, data, layers, act_layer, target, extra={"fpga_model": fpga_cost, "refine_model": refine_cost}
    )
    fp_extra = {"val_fraction": val_fraction, "seed": seed} | ({"profile": "cmsis-nn"} if kind == "mcu" else {})
    if kind == "fpga":
        fp_extra["fpga_cost"] = fpga_cost
        if refine_cost != fpga_cost:
            fp_extra["refine_cost"] = refine_cost
    fp_extra["cost_model"] = cost_model_hash()
    ctx.fingerprint = fingerprint(cfg, state, target, fp_extra)
    timing["float_model_s"] = time.perf_counter() - t0
    objs = ["luts"] if kind == "fpga" else ["instructions", "flash"]
    objs += [b for b in sorted(bud) if b not in objs]
    primary = objs[0]
    log(
        f"explore: {cfg['name']} on {target}: layers {', '.join(layers)}; {sp.size():,} configurations; "
        f"float accuracy {float_acc:.2f}%"
    )
    ex = Executor(ctx, executor, workers or cpu_workers(), address)
    ev = Evaluator(ctx, ex, cache, progress)
    try:
        return _search(locals())
    finally:
        ex.close()


def _search(v: dict) -> dict:
    import hwq

    (sp, ev, ctx, cfg, kind, bud, objs, primary, layers, log, timing, out) = (
        v["sp"], v["ev"], v["ctx"], v["cfg"], v["kind"], v["bud"], v["objs"], v["primary"], v["layers"], v["log"],
        v["timing"], v["out"],
    )  # fmt: skip
    sources: dict[str, set] = {}
    recs: dict[str, dict] = {}

    def add(records, configs, src):
        for r, c in zip(records, configs):
            recs[r["key"]] = r
            if sp.contains(c) or src == "baseline":
                sources.setdefault(r["key"], set()).add(src)

    # 1. uniform configurations: baselines and the per-layer cost table
    t0 = time.perf_counter()
    triples = uniform_configs(sp)
    uni = [sp.uniform(*t) for t in triples]
    base_tab = BASELINES if kind == "fpga" else MCU_BASELINES
    bases = {name: sp.uniform(*b) for name, b in base_tab.items()}
    urec = ev.run(uni + list(bases.values()), "ptq", desc="uniform configurations")
    add(urec[: len(uni)], uni, "uniform")
    add(urec[len(uni) :], list(bases.values()), "baseline")
    by_uniform = dict(zip(triples, urec))
    timing["uniform_s"] = time.perf_counter() - t0

    # 2. sensitivity: one layer at a time (measured) and Hutchinson traces
    t0 = time.perf_counter()
    sn = sensitivity(sp, ev, v["fm"], kind, v["probes"], v["seed"])
    sens_doc = sn["doc"]
    timing["sensitivity_s"] = time.perf_counter() - t0

    # 3. ILP sweep over the primary cost (other budgets fixed)
    t0 = time.perf_counter()
    try:
        sols, levels, times, choices = ilp_front(
            sp, sn, by_uniform, kind, primary, bud, v["ilp_budgets"], v["objective"]
        )
    except InfeasibleBudget as e:
        raise ExploreError(str(e)) from None
    timing["ilp_solve_max_s"] = max(times) if times else 0.0
    timing["ilp_sweep_s"] = time.perf_counter() - t0
    ilp_cfgs = [tuple(choices[n][j] for n, j in zip(layers, s)) for s in sols]
    t0 = time.perf_counter()
    add(ev.run(ilp_cfgs, "ptq", desc="ILP solutions"), ilp_cfgs, "ilp")
    timing["ilp_eval_s"] = time.perf_counter() - t0

    # 4. NSGA-II, seeded with the best (by non-dominated rank) of the uniform configurations of the space, the
    # baselines and the ILP solutions; genes ranked by cost
    t0 = time.perf_counter()
    done = [(tuple(Choice(**c) for c in recs[k]["config"]), recs[k]) for k in sorted(sources)]
    init = initial_population(sp, done, objs, bud, v["pop_size"])
    order = gene_order(sp, by_uniform, primary)
    nsga_keys: set = set()

    def score(genes):
        cfgs = [sp.decode(g) for g in genes]
        rs = ev.run(cfgs, "ptq", desc="NSGA-II generation")
        add(rs, cfgs, "nsga2")
        nsga_keys.update(r["key"] for r in rs)
        return rs

    if v["generations"] > 0 and v["pop_size"] > 0:
        run_nsga2(sp, score, objs, bud, v["pop_size"], v["generations"], v["seed"], init, order=order)
    timing["nsga2_s"] = time.perf_counter() - t0

    # 5. search front (validation PTQ accuracy), refined by QAT; final front on test accuracy
    t0 = time.perf_counter()
    keys = sorted(sources)
    feas = {k: all(recs[k]["costs"][b] <= lim for b, lim in bud.items()) for k in keys}
    fk = [k for k in keys if feas[k]]
    vec = [tuple([100 - recs[k]["val_accuracy"]] + [recs[k]["costs"][o] for o in objs]) for k in fk]
    nd = dict(zip(fk, nondominated(vec))) if fk else {}
    # the PTQ validation front is noisy (a few hundred images; QAT moves points), so the next non-dominated
    # layers (``refine_ranks``) are refined too, up to ``max_refine`` points spread over the primary cost
    front = _refine_set(fk, vec, v["refine_ranks"], v["max_refine"], lambda k: (recs[k]["costs"][primary], k))
    base_keys = {name: config_key(ctx.fingerprint, c, "ptq") for name, c in bases.items()}
    to_refine = list(dict.fromkeys(front + list(base_keys.values())))
    cfg_of = {k: tuple(Choice(**c) for c in recs[k]["config"]) for k in to_refine}
    qrec = ev.run([cfg_of[k] for k in to_refine], "qat", v["refine_epochs"], desc="QAT refinement")
    refined = dict(zip(to_refine, qrec))
    rk = [k for k in to_refine if all(refined[k]["costs"][b] <= lim for b, lim in bud.items())]
    rvec = [tuple([100 - refined[k]["test_accuracy"]] + [refined[k]["costs"][o] for o in objs]) for k in rk]
    rnd = dict(zip(rk, nondominated(rvec))) if rk else {}
    final = [k for k in rk if rnd[k]]
    timing["refine_s"] = time.perf_counter() - t0
    if not final:
        raise ExploreError("no refined configuration meets the budgets (the estimate moved after QAT); relax them")
    best = max(refined[k]["test_accuracy"] for k in final)
    if bud:
        chosen = min(final, key=lambda k: (-refined[k]["test_accuracy"], refined[k]["costs"][primary], k))
    else:
        chosen = min(
            (k for k in final if refined[k]["test_accuracy"] >= best - 1.0),
            key=lambda k: (refined[k]["costs"][primary], -refined[k]["test_accuracy"], k),
        )

    # 6. calibrated cost model for the chosen point (and the refined front and baselines on request)
    t0 = time.perf_counter()
    want = {"none": [], "chosen": [chosen], "front": list(dict.fromkeys([chosen, *final, *base_keys.values()]))}
    if v["precise"] not in want:
        raise ExploreError(f"--precise {v['precise']}: expected none, chosen or front")
    precise = {}
    for k in want[v["precise"]]:
        path = ev.cache_dir / f"calibrated-{k}-{v['refine_epochs']}.json"
        if path.exists():
            precise[k] = json.loads(path.read_text())
            continue
        from hwq.ir.serialize import loads

        precise[k] = C.calibrated(loads(refined[k]["graph"]), v["target"])
        atomic_write(path, json.dumps(precise[k], sort_keys=True))
    timing["calibrated_cost_s"] = time.perf_counter() - t0

    # 7. documents
    bname = {k: n for n, k in base_keys.items()}
    points = []
    for k in keys:
        r = recs[k]
        p = {
            "id": k[:16],
            "config": r["config"],
            "source": sorted(sources[k]),
            "baseline": bname.get(k),
            "val_accuracy": _r(r["val_accuracy"]),
            "val_loss": _r(r["val_loss"], 6),
            "costs": {c: _r(x) for c, x in r["costs"].items()},
            "feasible": feas[k],
            "dominated_search": not nd.get(k, False),
            "refined": None,
        }
        if k in refined:
            q = refined[k]
            p["refined"] = {
                "epochs": v["refine_epochs"],
                "test_accuracy": _r(q["test_accuracy"]),
                "val_accuracy": _r(q["val_accuracy"]),
                "costs": {c: _r(x) for c, x in q["costs"].items()},
                "dominated": not rnd.get(k, False),
            }
            if k in precise:
                p["refined"]["calibrated_costs"] = precise[k]
        points.append(p)
    points.sort(key=lambda p: (p["costs"][primary], -p["val_accuracy"], p["id"]))
    by_id = {p["id"]: p for p in points}
    comparison = {}
    fin_ids = {k[:16] for k in final}
    for name, k in base_keys.items():
        b = by_id[k[:16]]["refined"]
        cands = [
            by_id[i]["refined"]
            for i in fin_ids
            if by_id[i]["baseline"] is None and by_id[i]["refined"]["costs"][primary] <= b["costs"][primary]
        ]
        top = max(cands, key=lambda q: q["test_accuracy"]) if cands else None
        comparison[name] = {
            "test_accuracy": b["test_accuracy"],
            primary: b["costs"][primary],
            "best_front_accuracy_at_or_below_cost": top["test_accuracy"] if top else None,
            "gain_points": _r(top["test_accuracy"] - b["test_accuracy"]) if top else None,
        }
    doc = {
        "hwq_version": hwq.__version__,
        "model": cfg["name"],
        "target": v["target"],
        "kind": kind,
        "seed": v["seed"],
        "objectives": ["accuracy", *objs],
        "budgets": bud,
        "search_objective": v["objective"],
        "cost_model": "hwq.cost.mcu"
        if kind == "mcu"
        else {"search": _FPGA_MODEL_NAMES[v["fpga_cost"]], "refined": _FPGA_MODEL_NAMES[v["refine_cost"]]},
        "space": sp.as_dict(),
        "space_size": sp.size(),
        "float_accuracy": _r(v["float_acc"]),
        "splits": {k: int(len(ctx.data[f"y_{k}"])) for k in ("fit", "val", "test")},
        "evaluations": {
            "ptq": len({r["key"] for r in recs.values()}),
            "nsga2": len(nsga_keys),
            "qat": len(refined),
        },
        "ilp": {"budgets": [_r(b, 2) for b in levels], "solutions": len(sols), "distinct": len(set(map(tuple, sols)))},
        "sensitivity": sens_doc,
        "baselines": {n: k[:16] for n, k in base_keys.items()},
        "comparison": comparison,
        "front": [k[:16] for k in sorted(final, key=lambda k: (refined[k]["costs"][primary], k))],
        "chosen": chosen[:16],
        "points": points,
    }
    write_json(out / "pareto.json", doc)
    write_csv(out / "pareto.csv", points, layers, list(C.COSTS[kind]))
    plot(out / "pareto.png", points, objs, chosen[:16], f"{cfg['name']} on {v['target']}: accuracy vs cost")
    atomic_write(out / "chosen" / "graph.json", refined[chosen]["graph"])
    atomic_write(
        out / "chosen" / "config.json", json.dumps(refined[chosen]["run_config"], indent=1, sort_keys=True) + "\n"
    )
    timing["total_s"] = time.perf_counter() - v["t_start"]
    timing["evaluations_computed"] = ev.computed
    atomic_write(
        out / "timing.json", json.dumps({k: _r(x, 3) for k, x in timing.items()}, indent=1, sort_keys=True) + "\n"
    )
    log(table(points, primary, objs, chosen[:16]))
    ch = by_id[chosen[:16]]
    log(
        f"explore: {doc['evaluations']['ptq']} PTQ evaluations, {len(refined)} QAT refinements, "
        f"{ev.computed} computed in this run; front {len(final)} points; chosen {ch['id']}: "
        f"test accuracy {ch['refined']['test_accuracy']:.2f}%, {primary} {ch['refined']['costs'][primary]:,.0f}; "
        f"wrote {out}/pareto.json, pareto.csv, pareto.png, chosen/graph.json ({timing['total_s']:.0f} s)"
    )
    cal = ch["refined"].get("calibrated_costs")
    if cal:
        log(f"explore: chosen point, calibrated cost model: {json.dumps(cal, sort_keys=True)}")
    return doc


def cost_model_hash() -> str:
    """sha256 (16 hex digits) of ``hwq.cost``'s source and target files: part of the evaluation cache key, so
    that a changed cost model is never answered from the cache of an earlier one."""
    import hashlib

    import hwq.cost

    root = Path(hwq.cost.__file__).parent
    h = hashlib.sha256()
    for f in sorted([*root.glob("*.py"), *root.glob("targets/*.toml")]):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _refine_set(keys: list, vecs: list, ranks: int, limit: int, sort_key) -> list:
    """The candidates to refine: the first ``ranks`` non-dominated layers of ``vecs`` (minimisation vectors
    of ``keys``), best layer first, each spread evenly over ``sort_key`` when the ``limit`` cuts it."""
    left = list(zip(keys, vecs))
    out: list = []
    for _ in range(max(1, ranks)):
        if not left or len(out) >= limit:
            break
        nd = nondominated([x for _, x in left])
        layer = sorted((k for (k, _), d in zip(left, nd) if d), key=sort_key)
        left = [(k, x) for (k, x), d in zip(left, nd) if not d]
        room = limit - len(out)
        if len(layer) > room:
            idx = np.unique(np.round(np.linspace(0, len(layer) - 1, room)).astype(int))
            layer = [layer[i] for i in idx]
        out += layer
    return out


def sensitivity(
    sp: Space, ev: Evaluator, fm, kind: str, probes: int, seed: int, by_uniform: dict | None = None
) -> dict:
    """Per-layer sensitivity of a space (see ``hwq.explore.sensitivity``): the measured validation-loss change
    of one layer's option at a time (every other layer at the reference; dimensions with a single option
    are not measured: they cannot change a decision) and the Hutchinson trace per layer, cached. With
    ``by_uniform`` (the uniform configurations' records) weight formats are not measured: their squared
    weight errors are read from those records and only the Hessian objective ``omega`` ranks them. Returns
    ``{"measured": {layer: {dim: {option: nats}}}, "omega": {layer: {weight: nats}}, "doc": {...},
    "evaluations": distinct PTQ evaluations asked for, "keys": their cache keys}``."""
    layers, ctx = sp.layers, ev.ctx
    ref = sp.uniform(*(MCU_REFERENCE if kind == "mcu" else REFERENCE))
    jobs, where = [ref], [None]
    for li, n in enumerate(layers):
        for d in ("weight", "act", "acc"):
            if d == "act" and not sp.act_layer.get(n):
                continue
            opts = sp.options[n][d]
            if (len(opts) == 1 and d != "weight") or (d == "weight" and by_uniform is not None):
                continue
            for o in opts:
                jobs.append(_replace(ref, li, **{d: o}))
                where.append((n, d, o))
    srec = ev.run(jobs, "ptq", desc="sensitivity")
    ref_loss = srec[0]["val_loss"]
    measured = {n: {"weight": {}, "act": {}, "acc": {}} for n in layers}
    wsq = {n: {} for n in layers}
    for w, r in zip(where[1:], srec[1:]):
        n, d, o = w
        measured[n][d][str(o)] = r["val_loss"] - ref_loss
        if d == "weight":
            wsq[n][o] = r["weight_sq_error"][n]
    if by_uniform is not None:
        for (w, _, _), r in sorted(by_uniform.items(), key=str):
            for n in layers:
                if w in sp.options[n]["weight"]:
                    wsq[n].setdefault(w, r["weight_sq_error"][n])
    for n in layers:  # unmeasured single options: no change
        for d in ("act", "acc"):
            for o in sp.options[n][d]:
                measured[n][d].setdefault(str(o), 0.0)
    hpath = ev.cache_dir / f"hessian-{ctx.fingerprint[:16]}-{probes}.json"
    if hpath.exists():
        traces = json.loads(hpath.read_text())
    else:
        d = ctx.data
        traces = hessian_traces(fm, d["x_fit"][:512], d["y_fit"][:512], layers, probes, seed)
        atomic_write(hpath, json.dumps(traces, sort_keys=True))
    omega = {n: {w: traces[n]["average"] * wsq[n][w] for w in sp.options[n]["weight"]} for n in layers}
    pairs_h = [omega[n][w] for n in layers for w in sp.options[n]["weight"]]
    if by_uniform is not None:  # no measurement to compare with
        for n in layers:
            measured[n]["weight"] = {w: float("nan") for w in sp.options[n]["weight"]}
    pairs_m = [measured[n]["weight"][w] for n in layers for w in sp.options[n]["weight"]]
    common = [w for w in sp.options[layers[0]]["weight"] if all(w in sp.options[n]["weight"] for n in layers)]
    per_fmt = {w: spearman([omega[n][w] for n in layers], [measured[n]["weight"][w] for n in layers]) for w in common}
    finite = [x for x in per_fmt.values() if np.isfinite(x)]
    doc = {
        "reference": dict(zip(("weight", "act", "acc"), MCU_REFERENCE if kind == "mcu" else REFERENCE)),
        "reference_val_loss": _r(ref_loss, 6),
        "hessian_trace": {n: {k: _r(x, 6) for k, x in t.items()} for n, t in traces.items()},
        "measured_loss_change": {
            n: {d: {k: _r(x, 6) for k, x in t.items()} for d, t in m.items()} for n, m in measured.items()
        },
        "hessian_objective": {n: {k: _r(x, 6) for k, x in o.items()} for n, o in omega.items()},
        "spearman_all_pairs": _r(spearman(pairs_h, pairs_m)),
        "spearman_layers_per_format": {k: _r(x) for k, x in per_fmt.items()},
        "spearman_layers_mean": _r(float(np.mean(finite))) if finite else None,
        "spearman_layer_rank": _r(
            spearman(
                [traces[n]["average"] for n in layers],
                [float(np.mean(list(measured[n]["weight"].values()))) for n in layers],
            )
        ),
    }
    keys = {r["key"] for r in srec}
    return {"measured": measured, "omega": omega, "doc": doc, "evaluations": len(keys), "keys": keys}


def ilp_front(
    sp: Space,
    sn: dict,
    by_uniform: dict,
    kind: str,
    primary: str,
    bud: dict,
    levels: int,
    objective: str = "measured",
    fill: int | None = None,
):
    """The ILP sweep (``hwq.explore.ilp.sweep``) of a space: per layer and choice, the sensitivity (measured,
    or the Hessian objective for the weight part) and the per-layer costs of the uniform configuration with
    that choice (``by_uniform[(weight, act, acc)]``); ``levels`` budgets on a geometric grid, then at most
    ``fill`` (default ``levels``) gap-filling solves. Returns (solutions as choice indices, budgets, solve
    seconds, choices per layer). Raises InfeasibleBudget."""
    layers = sp.layers
    acts = sorted({a for n in layers for a in sp.options[n]["act"]})
    measured, omega = sn["measured"], sn["omega"]
    choices = {n: sp.choices(n) for n in layers}
    sens, ctab = [], {k: [] for k in C.COSTS[kind]}
    for n in layers:
        s = []
        for ch in choices[n]:
            wpart = omega[n][ch.weight] if objective == "hessian" else measured[n]["weight"][ch.weight]
            s.append(wpart + measured[n]["acc"][str(ch.acc)] + (measured[n]["act"][str(ch.act)] if ch.act else 0.0))
        sens.append(np.array(s))
        for k in ctab:
            ctab[k].append(
                np.array(
                    [
                        by_uniform[(ch.weight, ch.act or acts[0], ch.acc)]["layer_costs"][n].get(k, 0)
                        for ch in choices[n]
                    ]
                )
            )
    sols, budgets, times = sweep(sens, ctab, primary, bud, levels, C.AGGREGATE, fill=levels if fill is None else fill)
    return sols, budgets, times, choices


def uniform_configs(sp: Space) -> list[tuple]:
    """(weight, act, acc) triples of every uniform configuration over the union of the layers' options."""
    layers = sp.layers
    ws = sorted({w for n in layers for w in sp.options[n]["weight"]}, key=str)
    acts = sorted({a for n in layers for a in sp.options[n]["act"]})
    accs = sorted({c for n in layers for c in sp.options[n]["acc"]})
    return [(w, a, c) for w in ws for a in acts for c in accs]


def gene_order(sp: Space, by_uniform: dict, primary: str) -> list[list[int]]:
    """Per NSGA-II gene (``Space.dims``), its option indices from cheapest to dearest in ``primary`` (the
    layer's cost in the uniform configuration with that option; widths by value)."""
    out = []
    for n, d, k in sp.dims():
        opts = sp.options[n][d]
        if d == "weight":

            def cost(i, n=n, opts=opts):
                rs = [r for (w, _, _), r in by_uniform.items() if w == opts[i]]
                return (min(r["layer_costs"][n].get(primary, 0) for r in rs) if rs else 0, i)

            out.append(sorted(range(k), key=cost))
        else:
            out.append(sorted(range(k), key=lambda i, opts=opts: (opts[i], i)))
    return out


def seed_configs(
    sp: Space,
    ev: Evaluator,
    fm,
    kind: str,
    probes: int = 64,
    seed: int = 0,
    ilp_budgets: int = 25,
    objective: str = "measured",
    ilp_fill: int | None = None,
) -> tuple[list[tuple], int, dict]:
    """The explorer's seeds of the evolutionary search, without baselines or budgets: the uniform
    configurations inside the space and the ILP sweep's solutions (``objective`` "measured": weight formats
    measured one layer at a time; "hessian": ranked by the Hessian objective, not measured; ``ilp_fill``: the
    sweep's gap-filling solves, default as many as ``ilp_budgets``, 0 for the grid alone). Returns
    (configs, PTQ evaluations of configurations outside the space that were needed, the uniform records).
    """
    primary = C.COSTS[kind][0]
    triples = uniform_configs(sp)
    uni = [sp.uniform(*t) for t in triples]
    by_uniform = dict(zip(triples, ev.run(uni, "ptq", desc="uniform configurations")))
    outside = {r["key"] for t, r in by_uniform.items() if not sp.contains(sp.uniform(*t))}
    sn = sensitivity(sp, ev, fm, kind, probes, seed, by_uniform if objective == "hessian" else None)
    sols, _, _, choices = ilp_front(sp, sn, by_uniform, kind, primary, {}, ilp_budgets, objective, ilp_fill)
    ilp = [tuple(choices[n][j] for n, j in zip(sp.layers, s)) for s in sols]
    cfgs = list(dict.fromkeys([u for u in uni if sp.contains(u)] + ilp))
    return cfgs, len(outside | (sn["keys"] - {r["key"] for r in by_uniform.values()})), by_uniform
