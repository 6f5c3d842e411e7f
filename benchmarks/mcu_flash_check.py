"""The MCU flash estimate (``hwq.mcu.plan``: weight bytes + a per-kernel code table) against a linked build.

For a few generated models, emits the C (``hwq.mcu.emit``), links the model and the portable runtime for a
Cortex-M4 with ``arm-none-eabi-gcc -O2 -ffunction-sections -Wl,--gc-sections`` from the model's ``*_run``
entry (no harness, no startup code), and compares ``arm-none-eabi-size`` text + data with the planner's
``flash_weight_bytes + flash_code_bytes``. The weight bytes are exact (``tests/mcu/test_plan_mcu.py``);
the code bytes are an estimate from measured kernel sizes (``mcu.plan.CODE_BYTES``, ``CALL_BYTES``).

Usage: ``python benchmarks/mcu_flash_check.py`` (needs arm-none-eabi-gcc).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from hwq.mcu import emit
    from hwq.mcu.plan import plan_memory
    from tests.mcu.graphs_c import conv_graph, dense_graph, random_cmsis_graph

    if not shutil.which("arm-none-eabi-gcc"):
        print("arm-none-eabi-gcc not found (Debian: apt-get install gcc-arm-none-eabi)", file=sys.stderr)
        return 2
    graphs = {
        "conv_graph(1)": conv_graph(1),
        "dense_graph(0, n=24, m=10)": dense_graph(0, n=24, m=10),
        "random_cmsis_graph(6)": random_cmsis_graph(6, kinds=["conv", "depthwise", "add"], dense=True),
    }
    arch = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2", "-std=c99"]
    with tempfile.TemporaryDirectory(prefix="hwq-flash-") as root:
        for k, (name, g) in enumerate(graphs.items()):
            d = f"{root}/m{k}"
            emit(g, d)
            plan = plan_memory(g)
            model = sorted(glob.glob(f"{d}/hwq_*.c"))
            ident = os.path.basename(next(f for f in model if not f.endswith("_weights.c")))[:-2]
            cmd = [
                "arm-none-eabi-gcc", *arch, "-ffunction-sections", "-fdata-sections", "-nostartfiles",
                "-Wl,--gc-sections", f"-Wl,-e,{ident}_run", f"-I{d}/cmsis_nn/Include", f"-I{d}", *model,
                *sorted(glob.glob(f"{d}/cmsis_nn/Source/*.c")), "-o", f"{d}/m.elf",
            ]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True)
            size = subprocess.run(["arm-none-eabi-size", f"{d}/m.elf"], capture_output=True, text=True, check=True)
            text, data = (int(x) for x in size.stdout.splitlines()[1].split()[:2])
            est = plan.flash_weight_bytes + plan.flash_code_bytes
            print(
                f"{name:28s} estimate {est:6d} B (weights {plan.flash_weight_bytes}, code {plan.flash_code_bytes})"
                f"  linked text+data {text + data:6d} B  {100 * (est / (text + data) - 1):+.1f} %"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
