#!/usr/bin/env bash
# tritonclient imports `packaging`; a host without it (the GPU host's image) can use the copy vendored
# in pip. Sourced by the device scripts:
#
#   source benchmarks/packaging-shim.sh PYTHON     # PYTHON: the interpreter the clients run under
#
# Afterwards PYTHONPATH ends with a folder holding `packaging` when PYTHON had none of its own.
shim_python=${1:?usage: source packaging-shim.sh PYTHON}
if ! "$shim_python" -c "import packaging" 2> /dev/null; then
  if vendored=$("$shim_python" -c "import os, pip._vendor.packaging as p; print(os.path.dirname(p.__file__))"); then
    mkdir -p /tmp/gpupack-shim && ln -sfn "$vendored" /tmp/gpupack-shim/packaging
    export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}/tmp/gpupack-shim
  fi
fi
