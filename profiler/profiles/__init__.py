"""The profile format: its records, gpupack's profile directory, Model Analyzer's outputs read as profiles."""
