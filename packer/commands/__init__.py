"""The packer's commands (plan, export, report): click wiring over the packer's services.

Each parses its options into a typed request, calls one service function and prints what it returns.
They reach the profiler only through ``profiler``'s public interface, and import OR-Tools only when a
command runs (the GPU host, which has none, imports them too, to build the CLI).
"""
