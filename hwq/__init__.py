"""hwq: bit-accurate quantised neural networks, from training to HLS C++, Verilog and MCU C."""

__version__ = "0.1.0"
