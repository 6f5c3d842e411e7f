"""``hwq trace RUN/graph.json [--input FILE] [--index K] [--against FILE.npz]``: per-tensor formats and
ranges from the golden interpreter, and the first tensor/element where another implementation differs.

--input: a ``.npy`` array (batch first; float values are quantised with the input format, integer
values are taken as raws) or a ``.npz`` with one array per graph input name. Without it, one random
vector of representable input values (``--seed``) is used. --index K keeps vector K only.
--against: an ``.npz`` of raw integer tensors by tensor name (e.g. dumped by a C-sim or RTL bench);
exits 1 when a tensor differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def register(sub) -> None:
    """Add the ``trace`` subcommand to the CLI's subparsers."""
    from hwq.cli import add_command

    p = add_command(
        sub,
        "trace",
        help="per-tensor formats and ranges; first mismatch against another implementation",
        description=__doc__,
        examples=[
            "hwq trace runs/mlp4/graph.json",
            "hwq trace runs/mlp4/graph.json --input x.npy --index 3 --against csim_dump.npz",
        ],
    )
    p.add_argument("graph", help="IR graph file (RUN/graph.json)")
    p.add_argument("--input", help=".npy (single-input graphs) or .npz by input name; batch first")
    p.add_argument("--index", type=int, default=None, help="use only vector K of the input batch")
    p.add_argument("--against", help=".npz of raw integer tensors by name from another implementation")
    p.add_argument("--seed", type=int, default=0, help="seed of the random vector used without --input")
    p.set_defaults(func=run)


def _load_inputs(graph, path: str | None, seed: int) -> dict:
    from hwq.cli import UserError

    if path is None:
        rng = np.random.default_rng(seed)
        out = {}
        for name in graph.inputs:
            t = graph.tensor(name)
            if hasattr(t.fmt, "random_raw"):
                out[name] = t.fmt.random_raw(rng, (1, *t.shape))
            else:
                out[name] = rng.integers(t.fmt.raw_min, t.fmt.raw_max, size=(1, *t.shape), endpoint=True)
        return out
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such input file")
    try:
        data = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UserError(f"{p}: not a readable .npy/.npz file ({e})") from None
    if isinstance(data, np.ndarray):
        if len(graph.inputs) != 1:
            raise UserError(f"{p}: graph {graph.name!r} has {len(graph.inputs)} inputs; give an .npz by input name")
        arr = data
        t = graph.tensor(graph.inputs[0])
        if arr.shape == t.shape:
            arr = arr[None]
        return {graph.inputs[0]: arr}
    missing = [n for n in graph.inputs if n not in data.files]
    if missing:
        raise UserError(f"{p}: no array for graph input(s) {missing}; it holds {data.files}")
    out = {}
    for n in graph.inputs:
        arr = data[n]
        out[n] = arr[None] if arr.shape == graph.tensor(n).shape else arr
    return out


def _select(arr: np.ndarray, graph, name: str, batch: int, index: int) -> np.ndarray:
    """Vector ``index`` of a dumped tensor that carries the same batch axis as the input."""
    if name in graph.tensors and arr.ndim > len(graph.tensor(name).shape) and arr.shape[0] == batch:
        return arr[index : index + 1]
    return arr


def run(args) -> int:
    """Run ``hwq trace``: 0 when no mismatch (or no --against), 1 on a mismatch."""
    from hwq.cli import UserError
    from hwq.ir.serialize import load
    from hwq.ir.trace import first_mismatch, format_stats, trace

    graph = load(args.graph)
    inputs = _load_inputs(graph, args.input, args.seed)
    batch = next(iter(inputs.values())).shape[0]
    if args.index is not None:
        if not 0 <= args.index < batch:
            raise UserError(f"--index {args.index} is outside the input batch of {batch} vectors")
        inputs = {k: v[args.index : args.index + 1] for k, v in inputs.items()}
    _, rows = trace(graph, inputs)
    n = next(iter(inputs.values())).shape[0]
    print(f"trace {graph.name}: {len(rows)} tensors, {n} vector{'s' if n != 1 else ''}")
    for line in format_stats(rows):
        print(line)
    if not args.against:
        return 0
    p = Path(args.against)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    try:
        data = np.load(p, allow_pickle=False)
        other = {k: data[k] for k in data.files}
    except (OSError, ValueError, AttributeError) as e:
        raise UserError(f"{p}: not a readable .npz of raw tensors ({e})") from None
    if args.index is not None:
        other = {k: _select(v, graph, k, batch, args.index) for k, v in other.items()}
    report = first_mismatch(graph, inputs, other)
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1
