"""Measuring half of gpupack: profile models on a real Triton server; the profile file format.

Nothing here imports the packer (the GPU host has no OR-Tools).
"""
