"""hwq.mcu"""
