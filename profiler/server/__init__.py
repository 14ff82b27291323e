"""The Triton server layer: install, ports, launch, log, control, serving; the GPUs and processes it uses."""
