"""Deployable output of a plan: per-GPU Triton model repositories and their launch scripts."""
