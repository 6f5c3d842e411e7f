"""hwq.sim"""
