"""Deciding half of gpupack: pack profiled models onto GPUs with OR-Tools CP-SAT, write repositories."""
