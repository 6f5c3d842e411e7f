"""hwq.hls"""
