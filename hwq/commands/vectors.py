"""``hwq vectors --ir G --out FILE``: golden input and expected output vectors from the interpreter.

Inputs: ``--random N`` representable raws of each input format (``--seed``), or ``--from data.npy`` (one
input: an array batch-first, integers taken as raws, floats quantised with the input format; or an
``.npz`` by input name). ``--corners`` puts corner vectors first: all minimum, all maximum, all zero,
alternating minimum/maximum (both phases). Expected outputs are the interpreter's exact raw integers;
``--trace`` adds every intermediate tensor.

Formats (``--format``): ``npy`` writes FILE as an ``.npz`` archive, one int64 array ``(vectors, *shape)``
per tensor by name; ``txt`` / ``hex`` write one text file: ``#`` provenance lines, then per tensor a
``# tensor NAME role FORMAT shape (..)`` line and one line per vector of its row-major raws (decimal, or
two's complement hex of the format's width). The file is refused if it exists, unless ``--force``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

FORMATS = ("npy", "txt", "hex")


def register(sub) -> None:
    """Add the ``vectors`` subcommand to the CLI's subparsers."""
    from hwq.cli import add_command

    p = add_command(
        sub,
        "vectors",
        help="golden input/expected output vectors (and intermediate tensors) from the interpreter",
        description=__doc__,
        examples=[
            "hwq vectors --ir runs/mlp4/graph.json --out vectors.npz --random 1000",
            "hwq vectors --ir RUN/graph.json --out golden.hex --format hex --from data.npy --trace",
        ],
    )
    p.add_argument("--ir", required=True, help="IR graph file (RUN/graph.json)")
    p.add_argument("--out", required=True, help="output file (refused if it exists, unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--random", type=int, metavar="N", help="N random representable input vectors (default 100)")
    src.add_argument("--from", dest="from_file", metavar="FILE", help=".npy (one input) or .npz by input name")
    p.add_argument("--corners", action="store_true", help="first: all-min, all-max, zero, alternating vectors")
    p.add_argument(
        "--format", choices=FORMATS, default=None, help="npy (.npz archive), txt or hex (default: by suffix)"
    )
    p.add_argument("--trace", action="store_true", help="also every intermediate tensor")
    p.add_argument("--seed", type=int, default=0, help="seed of --random (default 0)")
    p.set_defaults(func=run)


def corner_inputs(graph) -> dict[str, np.ndarray]:
    """Corner vectors of each input format (raws, ``(5, *shape)``): all minimum, all maximum, all zero (the
    raw nearest 0), alternating minimum/maximum starting with each."""
    out = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        lo, hi = int(t.fmt.raw_min), int(t.fmt.raw_max)
        zero = min(max(0, lo), hi)
        alt = np.arange(int(np.prod(t.shape))) % 2
        rows = [
            np.full(t.shape, lo),
            np.full(t.shape, hi),
            np.full(t.shape, zero),
            np.where(alt == 0, lo, hi).reshape(t.shape),
            np.where(alt == 0, hi, lo).reshape(t.shape),
        ]
        out[name] = np.stack(rows).astype(np.int64)
    return out


def golden(graph, inputs: dict, trace: bool = False) -> dict[str, np.ndarray]:
    """Raw integers ``{tensor name: (vectors, *shape)}`` of the inputs and outputs (``trace``: every tensor)
    from ``hwq.ir.run`` on ``inputs`` (raws or floats by input name)."""
    from hwq.ir import run
    from hwq.ir.interpreter import quantize_inputs

    raws = quantize_inputs(graph, inputs)
    res = run(graph, raws, trace=trace)
    out = {n: np.asarray(raws[n]) for n in graph.inputs}
    names = [t for t in graph.tensors if t in res.raw] if trace else list(graph.outputs)
    for n in names:
        if n not in out:
            out[n] = np.asarray(res.raw[n])
    return out


def _role(graph, name: str) -> str:
    return "input" if name in graph.inputs else "output" if name in graph.outputs else "intermediate"


def render(graph, tensors: dict[str, np.ndarray], fmt: str, header: list[str]) -> bytes:
    """File bytes of ``tensors`` in ``fmt`` (npy: .npz archive; txt/hex: text blocks, see the module doc)."""
    if fmt == "npy":
        buf = io.BytesIO()
        np.savez(buf, **{n: np.asarray(a).astype(np.int64) for n, a in tensors.items()})
        return buf.getvalue()
    lines = [f"# {h}" for h in header]
    for name, arr in tensors.items():
        t = graph.tensor(name)
        flat = np.asarray(arr).reshape(arr.shape[0], -1)
        lines.append(f"# tensor {name} {_role(graph, name)} {t.fmt} shape {tuple(t.shape)}: {flat.shape[0]} vectors")
        if fmt == "hex":
            digits = (t.fmt.width + 3) // 4
            bits = np.asarray(t.fmt.to_bits(flat.astype(np.int64)))
            lines += [" ".join(f"{int(v):0{digits}x}" for v in row) for row in bits]
        else:
            lines += [" ".join(str(int(v)) for v in row) for row in flat]
    return ("\n".join(lines) + "\n").encode()


def run(args) -> int:
    """Run ``hwq vectors``: 0 on success."""
    import hwq
    from hwq.cli import UserError
    from hwq.commands.trace import _load_inputs
    from hwq.io import OutputExistsError, atomic_write
    from hwq.ir.random_graph import random_inputs
    from hwq.ir.serialize import load

    graph = load(args.ir)
    out = Path(args.out)
    fmt = args.format or {".npz": "npy", ".npy": "npy", ".hex": "hex"}.get(out.suffix, "txt")
    if out.exists() and not args.force:
        raise OutputExistsError(f"{out}: exists; pass --force to replace it")
    if out.is_dir():
        raise UserError(f"{out}: is a folder; --out names a file")
    if args.from_file:
        inputs = _load_inputs(graph, args.from_file, args.seed)
        source = f"from {Path(args.from_file).name}"
    else:
        n = 100 if args.random is None else args.random
        if n < 0:
            raise UserError(f"--random {n}: must be >= 0")
        inputs = random_inputs(graph, n, args.seed)
        source = f"{n} random (seed {args.seed})"
    if args.corners:
        corners = corner_inputs(graph)
        from hwq.ir.interpreter import quantize_inputs

        q = quantize_inputs(graph, inputs)
        inputs = {k: np.concatenate([corners[k], np.asarray(q[k], dtype=np.int64)]) for k in graph.inputs}
        source = f"5 corner + {source}"
    n_vec = next(iter(inputs.values())).shape[0]
    if n_vec == 0:
        raise UserError("no vectors: give --random N with N >= 1, --from a non-empty file, or --corners")
    tensors = golden(graph, inputs, args.trace)
    header = [
        f"Generated by hwq {hwq.__version__}: golden vectors of graph {graph.name!r} ({Path(args.ir).name}); "
        f"inputs: {source}; {n_vec} vectors; raw integers",
        "formats: " + ", ".join(f"{n} {graph.tensor(n).fmt}" for n in tensors),
    ]
    atomic_write(out, render(graph, tensors, fmt, header))
    print(f"vectors {graph.name}: {n_vec} vectors, {len(tensors)} tensors ({fmt}) -> {out}")
    return 0
