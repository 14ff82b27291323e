"""Measurement: request inputs, load generators, samplers, the sweep, and `gpupack profile` as a function."""
