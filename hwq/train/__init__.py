"""Training, QAT and PTQ runs on the built-in data: the Python API behind ``hwq train`` / ``hwq calibrate``."""

from .config import DEFAULT_CONFIG, ConfigError, load_config, resolve_config
from .loop import train_from_config

__all__ = ["DEFAULT_CONFIG", "ConfigError", "load_config", "resolve_config", "train_from_config"]
