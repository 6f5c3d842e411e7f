"""tests/nn: one torch thread per test process (the models are tiny; xdist runs the processes in parallel)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    torch.set_num_threads(1)
    yield
