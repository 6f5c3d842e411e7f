"""hwq.rtl"""
