"""The flow report renders in a real browser: headless Chromium loads it, every plot decodes, titles show."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from hwq.ir.random_graph import random_graph
from hwq.report import value_histograms, write_report

from ..tools import require_tool

SUMMARY = {
    "accuracy": {"float": 96.48, "quantized": 96.11},
    "verify": {
        "hls": {"vectors": 2000, "mismatches": 0, "tool": "g++"},
        "rtl": {"vectors": 1000, "mismatches": 3, "tool": "icarus"},
    },
    "pareto": {"fpga": [{"label": "fixed8", "accuracy": 96.2, "cost": {"lut": 12000}, "chosen": True}]},
    "layers": {"fpga": [{"layer": "fc1", "op": "dense", "format": "fixed<8,3>", "lut_est": 100, "lut_synth": 97}]},
}


def _chromium() -> str:
    require_tool("chromium", "renders the flow report")
    return shutil.which("chromium")


def _report(tmp_path):
    graph = random_graph(5)
    rng = np.random.default_rng(0)
    t = graph.tensor(graph.inputs[0])
    x = rng.integers(t.fmt.raw_min, t.fmt.raw_max, size=(300, *t.shape), endpoint=True)
    hist = value_histograms(graph, {graph.inputs[0]: x})
    path = tmp_path / "report.html"
    write_report(path, SUMMARY, graph, histograms=hist, links={"HLS project": "hls/"}, command="hwq flow --out d")
    return path, hist


def test_report_sections_and_figures(tmp_path):
    path, hist = _report(tmp_path)
    text = path.read_text()
    assert len(hist) >= 2
    assert text.count("<img src='data:image/png;base64,") == len(hist)
    for title in ("Verification against the golden interpreter", "Pareto fronts", "Values against each format"):
        assert title in text
    assert "MISMATCH" in text and "bit-exact" in text  # the failing rtl row is shown as failing
    assert "hls/" in text and "hwq flow --out d" in text


def _browser_flags(tmp_path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]


def test_report_renders_in_headless_chromium(tmp_path):
    exe = _chromium()
    path, hist = _report(tmp_path)
    url = path.resolve().as_uri()
    dom = subprocess.run(
        [exe, *_browser_flags(tmp_path), "--dump-dom", url], capture_output=True, text=True, timeout=120
    ).stdout
    assert f'data-images-ok="{len(hist)}/{len(hist)}"' in dom, "not every embedded plot decoded in Chromium"
    assert "Verification against the golden interpreter" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [exe, *_browser_flags(tmp_path), "--hide-scrollbars", "--window-size=1100,1600", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
    )
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    assert float(img[..., :3].std()) > 0.05, "the screenshot is blank"
