"""Optimisation: the data on the device, the plans, the loop, checkpoints and threads.

It imports :mod:`medl.nn` and never :mod:`medl.model`: the models call it.
"""
