"""The profiler's commands (profile, profile merge, serve, validate, the version lookup): click wiring only.

They import nothing of the packer, so they run on the GPU host, which has no OR-Tools.
"""
