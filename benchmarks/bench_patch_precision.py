"""Per-patch mixed precision (QuantMCU-style, ``patch_quant``) on digits CNNs trained here: accuracy on the digits
test split, planner arena, measured QEMU Cortex-M4 stack and instructions, with vs without the op, beside
QuantMCU's reported 2.2x computation (BitOPs) reduction.

Models (``hwq.train.models``, trained in float here on the first 1,137 digits training images: Adam, 40 epochs,
seed ``--seed`` (default 0), then the CMSIS-NN profile with minmax PTQ on 512 of those images): ``rescnn``
(conv1 -> residual block -> ...: the conv1 map is read by the block's first conv and, after the block, by its
add, so it is held across the block) and ``cnn`` (conv1 -> pool1 -> ...: the map is read once, right away).
The op goes after conv1 (the first conv stage, 8x8x8 int8 = 512 B).

Variants per grid: ``int8`` (no op), ``searched`` (``hwq.nn.patch_precision.select_patch_bits`` on 1,737 calibration
images built from the training split only -- the 300 held-out training images plus a noisy copy of all 1,437
training images, ``calibration_set`` -- never the test split; error-based: a Lagrangian trade of packed bytes
against the output error (KL divergence from the 8-bit model's softmax) per patch and width, keeping the
least-memory assignment whose *prediction flips* against the 8-bit model have a one-sided 95 % Clopper-Pearson upper
bound within ``--tolerance`` (default 0.5 %; a flip bounds an image lost), then a greedy refinement; memory measured
as the planner's arena with the op, so the op is dropped when it saves less than 16 B of arena for its pack + unpack
instructions), ``searched-300`` (the session-5 criterion, for contrast: images lost on the 300 held-out training
images -- never trained on -- within the tolerance, no bound; test accuracy only), ``uniform4`` and ``uniform2``
(every patch 4 / 2 bits at the full-range step, for contrast). For each: test accuracy (360 images, the integer
emulator, equal to hwq.ir.run), packed bytes, planner arena; for ``int8`` and ``searched`` also the host build on
1,000 vectors (mismatches vs hwq.ir.run) and QEMU Cortex-M4 on 20 vectors (mismatches, stack high-water mark,
instructions of the whole run and of the pack/unpack steps).

"readers' BitOPs ratio" is QuantMCU's metric applied to the layers that read the map: 8 / (element-weighted mean
activation bits) -- what sub-8-bit activation kernels could save in those layers. Stock CMSIS-NN has none, so hwq
unpacks to int8: the measured instructions go up, not down.

``--loop``: instead, per-patch precision *inside the patch loop* (``hwq emit mcu -O patches=RxC``): the
MobileNetV2-style test stage (``mcu.patch.models.inverted_residual_stage(16, 14)``, random weights: memory and
instructions only, accuracy is the digits table's) split after its strided depthwise conv (64x4x4 int8 map), each
patch packed at its bits as it is computed; measured on QEMU Cortex-M4 against the same patch plan in int8 and the
layer-by-layer program with and without the op.

Usage: ``python benchmarks/bench_patch_precision.py [--quick] [--no-qemu] [--loop] [--md FILE]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hwq.data.digits import load_digits_split
from hwq.ir.ops.patch_quant import packed_bytes, patch_elements
from hwq.mcu import emit, plan_memory
from hwq.nn.cmsis import calibrate, cmsis_from_float
from hwq.nn.patch_precision import insert_patch_quant, select_patch_bits
from hwq.sim.verify import verify
from hwq.train import models
from hwq.train.loop import fit

ROOT = Path(__file__).resolve().parent.parent
QUANTMCU = (
    "QuantMCU (Tao et al., DATE 2024, arXiv 2401.13714): 2.2x fewer BitOPs on average than patch-based "
    "inference, about 1.5x lower latency"
)


#: digits training images held out for the bit search (not trained on, not used by PTQ)
HELD_OUT = 300


def trained(arch: str, epochs: int, seed: int = 0):
    """Float-trained digits ``arch`` (torch and training seed ``seed``) -> CMSIS-NN profile (int8), minmax PTQ on
    512 training images; the last ``HELD_OUT`` training images are left out of both."""
    split = load_digits_split(image=True)
    n = len(split.x_train) - HELD_OUT
    torch.manual_seed(seed)
    build = {"cnn": models.digits_cnn, "rescnn": models.digits_rescnn}[arch]
    m = fit(build(), split.x_train[:n].astype(np.float32), split.y_train[:n].astype(np.int64), epochs, 64, 1e-2, seed)
    net = cmsis_from_float(m, {"weights": "int8", "activations": "int8", "single_rounding": False})
    calibrate(net, torch.as_tensor(split.x_train[:512]).float(), "minmax")
    return net.eval(), split


def arena_of(net, grid, ex, int8_arena: int):
    """``(bits, shifts) -> planned arena bytes`` of ``net`` with the op after conv1 (all 8 bits: no op)."""

    def arena(bits, shifts) -> int:
        if all(b == 8 for b in bits):
            return int8_arena
        g = insert_patch_quant(net, "conv1", grid, bits, shifts).eval().lower_to_ir(ex, "search")
        return plan_memory(g).arena_bytes

    return arena


def accuracy(net, x, y) -> float:
    """Top-1 accuracy (fraction) of the integer emulator of ``net`` on float inputs ``x``, labels ``y``."""
    q, _ = net.int_forward(x)
    return float((q.argmax(1) == y).double().mean())


#: noise levels tried for the calibration copies, in units of the training images' pixel standard deviation
NOISE_SIGMAS = (0.1, 0.2, 0.3, 0.4, 0.5)


def calibration_set(net, split, seed: int = 0):
    """The search's calibration images (never the test split): the ``HELD_OUT`` held-out training images as they
    are, plus one copy of all 1,437 training images with Gaussian pixel noise. The trained-on images alone are
    too easy (the int8 model is right on all of them, and flips there under-estimate flips on unseen images);
    the noise level is the smallest of ``NOISE_SIGMAS`` at which the int8 model's accuracy on the noisy copies
    falls to its accuracy on the held-out images (difficulty matched on training data only). Returns
    (x float, y int64, a one-line description)."""
    held_x = torch.as_tensor(split.x_train[-HELD_OUT:]).float()
    held_y = torch.as_tensor(split.y_train[-HELD_OUT:]).long()
    acc_h = accuracy(net, held_x, held_y)
    noise = np.random.default_rng(seed).normal(0.0, 1.0, split.x_train.shape)
    y = torch.as_tensor(split.y_train).long()
    std = float(split.x_train.std())
    for sigma in NOISE_SIGMAS:
        xn = torch.as_tensor(split.x_train + sigma * std * noise).float()
        acc_n = accuracy(net, xn, y)
        if acc_n <= acc_h:
            break
    info = (f"{HELD_OUT} held-out training images (int8 accuracy {_pct(acc_h)}) + {len(y)} training images with"
            f" Gaussian pixel noise sigma {sigma} x pixel std (int8 accuracy {_pct(acc_n)})")  # fmt: skip
    return torch.cat([held_x, xn]), torch.cat([held_y, y]), info


def test_flips(net, pn, x, y) -> tuple[int, int]:
    """(images whose class differs between ``net`` and ``pn``, images ``net`` gets right and ``pn`` wrong)."""
    p8, p = net.int_forward(x)[0].argmax(1), pn.int_forward(x)[0].argmax(1)
    return int((p8 != p).sum()), int(((p8 == y) & (p != y)).sum())


def measure(g, workdir: Path, qemu: bool) -> dict:
    """Host (1,000 vectors) and QEMU Cortex-M4 (20 vectors) runs of graph ``g``."""
    d = workdir / g.name
    emit(g, d)
    host = verify("mcu", d, vectors=1000, seed=5)
    out = {"host_vectors": host.vectors, "host_mismatches": host.mismatches}
    if qemu:
        r = verify("mcu", d, vectors=20, seed=6, target="cortex-m4")
        mj = json.loads((d / "mcu.json").read_text())
        layers = r.extra["layer_instructions"]
        funcs = [s["function"] for s in mj["layers"]]
        pq = sum(n for f, n in zip(funcs, layers) if f.startswith("hwq_patch_"))
        out.update(
            qemu_vectors=r.vectors,
            qemu_mismatches=r.mismatches,
            stack_bytes=r.extra["stack_bytes"],
            bss_bytes=r.extra["bss_bytes"],
            instructions=r.extra["total_instructions"],
            pack_unpack_instructions=pq,
        )
    return out


def readers_bitops_ratio(shape, grid, bits) -> float:
    """8 / element-weighted mean of the per-patch bits (1.0 for an all-8-bit map)."""
    n = patch_elements(shape, grid)
    return 8 * sum(n) / sum(e * b for e, b in zip(n, bits))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 epochs, 2x2 grid only")
    ap.add_argument("--no-qemu", action="store_true", help="skip the QEMU Cortex-M4 runs")
    ap.add_argument("--archs", default="rescnn,cnn", help="comma-separated: rescnn, cnn")
    ap.add_argument("--grids", default=None, help="comma-separated RxQ grids (default 2x2,4x4; --quick: 2x2)")
    ap.add_argument("--loop", action="store_true", help="per-patch precision inside the patch loop (QEMU)")
    ap.add_argument("--tolerance", type=float, default=0.005, help="calibration images lost (fraction; 0.005 = 0.5 pp)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default 40; --quick: 10)")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--confidence", type=float, default=0.95, help="Clopper-Pearson confidence of the flip bound")
    ap.add_argument("--no-old", action="store_true", help="skip the searched-300 (session-5 criterion) contrast")
    ap.add_argument("--md", default=str(ROOT / "benchmarks" / "results" / "patch_precision.md"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    qemu = not a.no_qemu and shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")
    if a.loop:
        text = loop_table()
        print(text)
        if a.md:
            Path(a.md).write_text(text)
        return 0
    epochs = a.epochs or (10 if a.quick else 40)
    grids = [(2, 2)] if a.quick else [(2, 2), (4, 4)]
    if a.grids:
        grids = [tuple(int(v) for v in g.split("x")) for g in a.grids.split(",")]
    rows, logs = [], []
    work = Path(tempfile.mkdtemp(prefix="bench_pq."))
    t0 = time.perf_counter()
    try:
        for arch in a.archs.split(","):
            net, split = trained(arch, epochs, a.seed)
            xt, yt = torch.as_tensor(split.x_test).float(), torch.as_tensor(split.y_test).long()
            xc, yc, info = calibration_set(net, split)  # training images only; the test split stays untouched
            logs.append(f"{arch} calibration: {info}")
            xh = torch.as_tensor(split.x_train[-HELD_OUT:]).float()
            yh = torch.as_tensor(split.y_train[-HELD_OUT:]).long()
            ex = xt[:1]
            g0 = net.lower_to_ir(ex, f"{arch}_int8")
            base = {"arch": arch, "grid": "-", "variant": "int8 (no op)", "bits": "8", "map_bytes": 512,
                    "test_acc": accuracy(net, xt, yt), "arena": plan_memory(g0).arena_bytes}  # fmt: skip
            base.update(measure(g0, work, qemu))
            rows.append(base)
            for grid in grids:
                t = time.perf_counter()
                memory = arena_of(net, grid, ex, base["arena"])
                ch = select_patch_bits(net, "conv1", xc, yc, grid, tolerance=a.tolerance, criterion="flips",
                                       confidence=a.confidence, memory=memory)  # fmt: skip
                search_s = time.perf_counter() - t
                logs.append(f"{arch} {grid[0]}x{grid[1]}: {ch.evaluations} evaluations, {search_s:.1f} s")
                logs += [f"  {line}" for line in ch.log]
                npatch = grid[0] * grid[1]
                chs = {"searched": ch}
                variants = [("searched", ch.bits, ch.shifts)]
                if not a.no_old:
                    old = select_patch_bits(net, "conv1", xh, yh, grid, tolerance=a.tolerance, criterion="lost",
                                            confidence=None, memory=memory)  # fmt: skip
                    logs.append(f"{arch} {grid[0]}x{grid[1]} searched-300 (images lost on 300 held out, no bound):")
                    logs += [f"  {line}" for line in old.log]
                    chs["searched-300"] = old
                    variants.append(("searched-300", old.bits, old.shifts))
                variants += [
                    ("uniform4", (4,) * npatch, (4,) * npatch),
                    ("uniform2", (2,) * npatch, (6,) * npatch),
                ]
                for name, bits, shifts in variants:
                    # every patch at 8 bits: the search dropped the op, so the model is the int8 one
                    no_op = all(b == 8 for b in bits)
                    pn = net if no_op else insert_patch_quant(net, "conv1", grid, bits, shifts).eval()
                    g = pn.lower_to_ir(ex, f"{arch}_{name.replace('-', '_')}_{grid[0]}x{grid[1]}")
                    row = {
                        "arch": arch, "grid": f"{grid[0]}x{grid[1]}", "variant": name,
                        "bits": " ".join(f"{b}/{k}" for b, k in zip(bits, shifts)),
                        "map_bytes": packed_bytes((8, 8, 8), grid, bits), "test_acc": accuracy(pn, xt, yt),
                        "arena": plan_memory(g).arena_bytes,
                        "readers_bitops_ratio": readers_bitops_ratio((8, 8, 8), grid, bits),
                    }  # fmt: skip
                    row["test_flips"], row["test_lost"] = test_flips(net, pn, xt, yt)
                    if name in chs:
                        c = chs[name]
                        row["calib_acc"] = (c.calib_accuracy_8bit, c.calib_accuracy)
                        row["calib_lost"] = c.calib_lost
                        row["calib_n"], row["calib_flips"] = c.calib_images, round(c.calib_flips * c.calib_images)
                        row["calib_bound"], row["criterion"] = c.calib_bound, c.criterion
                    if name == "searched":
                        row["search_s"] = round(search_s, 1)
                        row.update(measure(g, work, qemu))
                    rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(rows, logs, time.perf_counter() - t0, bool(qemu), a.quick)
    print(text)
    if a.md:
        Path(a.md).parent.mkdir(parents=True, exist_ok=True)
        Path(a.md).write_text(text)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1, default=str) + "\n")
    return 0


def _cell(r: dict):
    def g(k: str, fmt: str = "{:,}") -> str:
        return fmt.format(r[k]) if k in r else "-"

    return g


def _pct(v) -> str:
    return f"{100 * v:.1f} %"


#: (label, grid, bits per patch, shifts per patch) of the loop section; the maps of the 64x4x4 depthwise output
LOOP_MAPS = (
    ("4x4 grid, 4 bits", (4, 4), (4,) * 16, (4,) * 16),
    ("4x4 grid, 2 bits", (4, 4), (2,) * 16, (6,) * 16),
    ("4x4 grid, mixed 8/4/2 (outer ring 2, inner 4, one 8)", (4, 4),
     (2, 2, 2, 2, 2, 8, 4, 2, 2, 4, 4, 2, 2, 2, 2, 2), (6, 6, 6, 6, 6, 0, 4, 6, 6, 4, 4, 6, 6, 6, 6, 6)),
    ("2x2 grid, 4 bits", (2, 2), (4,) * 4, (4,) * 4),
)  # fmt: skip


def loop_table() -> str:
    """QEMU Cortex-M4 figures of per-patch precision inside the patch loop (module docstring, ``--loop``)."""
    from hwq.mcu.patch.models import inverted_residual_stage, with_patch_quant

    t0 = time.perf_counter()
    st = inverted_residual_stage(16, 14, seed=0)
    work = Path(tempfile.mkdtemp(prefix="bench_pq_loop."))

    def q(g, name, **opts) -> dict:
        d = work / name
        emit(g, d, **opts)
        r = verify("mcu", d, vectors=20, seed=6, target="cortex-m4")
        man = json.loads((d / "mcu.json").read_text())
        return {"name": name, "mism": r.mismatches, "vectors": r.vectors, "arena": r.extra["arena_bytes"],
                "stack": r.extra["stack_bytes"], "instr": r.extra["total_instructions"],
                "fused": "patch_quant" in man.get("patch", {})}  # fmt: skip

    rows = []
    try:
        rows.append(("layer by layer, int8", q(st, "layer_int8")))
        for grid in sorted({m[1] for m in LOOP_MAPS}, reverse=True):
            rows.append((f"patch loop {grid[0]}x{grid[1]}, int8", q(st, f"loop_{grid[0]}x{grid[1]}",
                         patches=f"{grid[0]}x{grid[1]}", split="dw106", halo="recompute")))  # fmt: skip
        for i, (label, grid, bits, shifts) in enumerate(LOOP_MAPS):
            g = with_patch_quant(st, "t107", grid, bits, shifts)
            rows.append((f"layer by layer + patch_quant ({label})", q(g, f"layer_pq{i}")))
            opts = dict(patches=f"{grid[0]}x{grid[1]}", split="dw106", halo="recompute")
            rows.append((f"patch loop {grid[0]}x{grid[1]}, packed in the loop ({label})", q(g, f"loop_pq{i}", **opts)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = rows[0][1]
    out = [
        "# Per-patch precision inside the patch loop (QEMU Cortex-M4)",
        "",
        "Command: `python benchmarks/bench_patch_precision.py --loop` "
        f"({time.perf_counter() - t0:.0f} s wall, 2 shared cores). Model: `inverted_residual_stage(16, 14)` (stem,"
        " strided inverted residual, residual block, head; random int8 weights), split after `dw106` (its output"
        " t107 is 64x4x4 int8 = 1,024 B), halo recompute; the patch_quant op on t107. QEMU mps2-an386, 20 vectors"
        " each (mismatches vs hwq.ir.run), arena as the running program reports it, stack high-water mark,"
        " instructions of the whole inference.",
        "",
        "| program | mism. | arena B | stack B | arena + stack vs layer int8 | instructions | vs layer int8 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, r in rows:
        tot, tot0 = r["arena"] + r["stack"], base["arena"] + base["stack"]
        out.append(f"| {label}{' (fused)' if r['fused'] else ''} | {r['mism']} / {r['vectors']} | {r['arena']:,} |"
                   f" {r['stack']:,} | {tot - tot0:+,} B ({tot / tot0:.3f}x) | {r['instr']:,} |"
                   f" {r['instr'] / base['instr']:.3f}x |")  # fmt: skip
    return "\n".join(out) + "\n"


def summary(rows) -> str:
    """Searched maps vs int8 per model and grid: calibration flips and their bound, arena and measured SRAM (QEMU
    .bss + stack) saved, measured instructions changed, test flips and accuracy change (percentage points)."""
    out = [
        "Searched maps vs int8 (same model): calibration images and flips against the 8-bit model (the judged"
        " rate: its 95 % upper bound for `searched`, the images lost for `searched-300`), SRAM saved (planner"
        " arena; QEMU: .bss + stack high-water mark), instructions (QEMU, whole inference), test split (360"
        " images) flips, images lost and accuracy change.",
        "",
        "| model | grid | variant | calib images | calib flips / lost | judged rate | arena saved B |"
        " QEMU SRAM saved B | instructions | test flips / lost | test acc change |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    base = {r["arch"]: r for r in rows if r["grid"] == "-"}
    for r in rows:
        if r["variant"] not in ("searched", "searched-300"):
            continue
        b = base[r["arch"]]
        sram = instr = "-"
        if "bss_bytes" in r and "bss_bytes" in b:
            sram = f"{(b['bss_bytes'] + b['stack_bytes']) - (r['bss_bytes'] + r['stack_bytes']):,}"
            instr = f"{r['instructions'] / b['instructions']:.3f}x ({r['instructions'] - b['instructions']:+,})"
        d = 100 * (r["test_acc"] - b["test_acc"])
        lost = round(r.get("calib_lost", 0.0) * r.get("calib_n", 0))
        out.append(f"| {r['arch']} | {r['grid']} | {r['variant']} | {r.get('calib_n', '-')} |"
                   f" {r.get('calib_flips', '-')} / {lost} | {_pct(r.get('calib_bound', 0.0))} |"
                   f" {b['arena'] - r['arena']:,} | {sram} | {instr} | {r['test_flips']} / {r['test_lost']} |"
                   f" {d:+.1f} pp |")  # fmt: skip
    return "\n".join(out)


def table(rows, logs, seconds: float, qemu: bool, quick: bool) -> str:
    """The markdown result table."""
    head = [
        "# Per-patch mixed precision (patch_quant) on the digits CNNs",
        "",
        "Command: `" + " ".join(["python", "benchmarks/bench_patch_precision.py", *sys.argv[1:]]) + "`"
        f" ({seconds:.0f} s on 2 cores). Map: the conv1 output, 8x8x8 int8 (512 B); bits as `b/k` per patch"
        " (b bits, step 2^k), row-major. `searched`: bits chosen on 1,737 calibration images from the training"
        " split only (300 held out + a noisy copy of all 1,437, see the log) by the error-based search"
        " (`select_patch_bits`: output KL error against planned arena bytes;"
        " tolerance: the one-sided 95 % Clopper-Pearson upper bound of the prediction flips against the 8-bit"
        " model <= `--tolerance`). `searched-300`: the session-5 criterion (images lost on the 300 held-out"
        " training images <= `--tolerance`, no bound). Test accuracy: digits test split (360 images), integer"
        " emulator"
        " (= hwq.ir.run). Arena: hwq's planner (`plan_memory`). Host: 1,000 vectors vs hwq.ir.run."
        + (
            " QEMU: Cortex-M4 (mps2-an386), 20 vectors, exact instruction counts, stack high-water mark."
            if qemu
            else " QEMU not run."
        ),  # fmt: skip
        "",
        "| model | grid | variant | map bytes | test acc | test flips | arena B | host mism. | QEMU mism. | stack B |"
        " instructions | pack+unpack instr. | readers' BitOPs ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        g = _cell(r)
        head.append(
            f"| {r['arch']} | {r['grid']} | {r['variant']} | {r['map_bytes']:,} | {_pct(r['test_acc'])} | "
            f"{r.get('test_flips', 0)} | {r['arena']:,} | {g('host_mismatches')} / {g('host_vectors')} | "
            f"{g('qemu_mismatches')} | "
            f"{g('stack_bytes')} | {g('instructions')} | {g('pack_unpack_instructions')} | "
            f"{g('readers_bitops_ratio', '{:.2f}x')} |"
        )
    head += ["", summary(rows), "", "Searched maps (b/k per patch):", ""]
    for r in rows:
        if r["variant"] in ("searched", "searched-300"):
            c8, cs = r["calib_acc"]
            lost = _pct(r.get("calib_lost", 0.0))
            took = f", search {r['search_s']} s" if "search_s" in r else ""
            head.append(f"- {r['arch']} {r['grid']} {r['variant']}: `{r['bits']}` (calibration accuracy on"
                        f" {r['calib_n']} images {_pct(c8)} -> {_pct(cs)}, images lost {lost}, flips"
                        f" {r['calib_flips']}{took})")  # fmt: skip
    head += ["", f"Peer: {QUANTMCU}.", "", "Search log:", "", "```", *logs, "```", ""]
    return "\n".join(head)


if __name__ == "__main__":
    raise SystemExit(main())
