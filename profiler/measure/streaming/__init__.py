"""Streaming (decoupled, LLM) models: token timings over gRPC streaming and memory per sequence.

``formats`` builds requests in the vLLM and TensorRT-LLM backends' conventions, ``tokens`` holds the
arithmetic (percentiles of token timings, the memory fit), ``driver`` keeps requests in flight on one
gRPC stream, and ``run`` profiles models end to end into a normal gpupack profile directory.
"""
