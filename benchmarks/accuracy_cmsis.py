"""Accuracy of the CMSIS-NN profile (README, "CMSIS-NN profile"): digits test split, mean of 3 seeds.

For each model (MLP 64-64-32-10, small CNN) and seed the float reference model is trained once and each
CMSIS-NN example config (``examples/<arch>_cmsis_*.toml``) quantises that same float model: int8 PTQ,
int8 QAT, int4-weight QAT, int16-activation PTQ. Accuracies are those of the exact integer model (the
emulator's integer path, equal to ``hwq.ir.run`` of the lowered graph). Run from the repository root:

    python benchmarks/accuracy_cmsis.py [--seeds 0 1 2] [--json out.json]

Prints a markdown table of mean accuracies (percent) and the differences to float.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy_table  # noqa: E402  (the shared measurement and table printer)

COLUMNS = [
    ("cmsis_int8_ptq", "int8 PTQ (MSE)"),
    ("cmsis_int8_qat", "int8 QAT"),
    ("cmsis_int4w_qat", "int4 weights QAT"),
    ("cmsis_int16a_ptq", "int16 activations PTQ"),
]
MODELS = [("mlp", "MLP 64-64-32-10"), ("cnn", "CNN 2x(conv3x3-BN-ReLU-maxpool)")]


def main() -> int:
    """The table of ``accuracy_table.py`` (same measurement and printing) for the CMSIS-NN columns."""
    return accuracy_table.main(COLUMNS, MODELS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
