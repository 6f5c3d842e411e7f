"""The MCU tests' CMSIS-style graphs: they live in ``hwq.mcu.random_models`` (calibration uses them too)."""

from hwq.mcu.random_models import (  # noqa: F401
    ACC,
    I8,
    KINDS_C,
    conv_graph,
    dense_graph,
    random_cmsis_graph,
    s16_graph,
)
