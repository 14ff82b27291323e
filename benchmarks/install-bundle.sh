#!/usr/bin/env bash
# Unpack a bundle made by make-bundle.sh on a GPU host with no registry access.
# (gpupack's copy of shared/gpu-host/install-bundle.sh: shared/ does not travel to the GPU host.
#  Changed: a missing stub for this Python is not fatal, gpupack's launcher picks its own.)
#
#   source install-bundle.sh BUNDLEDIR [PREFIX]
#
# PREFIX defaults to /tmp/triton. Afterwards the calling shell has:
#   TRITONSERVER            the tritonserver binary (its folder is on PATH)
#   TRITON_BACKEND_DIR      its --backend-directory
#   TRITON_STUB_BIN         a folder to put FIRST on PATH when starting
#                           tritonserver: the Python backend stub ignores
#                           PYTHONPATH and takes its sys.path from the python3
#                           it finds on PATH; this one is a venv that sees
#                           numpy<2 first, then this host's own packages
#                           (torch, ...). Without it, models return empty
#                           tensors under numpy 2.
#   PERF_ANALYZER           perf_analyzer (on PATH; LD_LIBRARY_PATH lets it
#                           find libb64 and libcudart)
#   PYTHONPATH              extended with tritonclient and python-rapidjson
#                           for client code (numpy<2 is NOT put here)
bundle=$(cd "${1:?usage: source install-bundle.sh BUNDLEDIR [PREFIX]}" && pwd)
prefix=${2:-/tmp/triton}
pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
mkdir -p "$prefix"
tar -xJf "$bundle/triton-bundle.tar.xz" -C "$prefix"
ts=$prefix/server/pytriton/tritonserver
if [ -f "$ts/python_backend_stubs/$pyver/triton_python_backend_stub" ]; then
  cp "$ts/python_backend_stubs/$pyver/triton_python_backend_stub" "$ts/backends/python/"
fi

mkdir -p "$prefix/palib"
ln -sf "$prefix"/server/nvidia_pytriton.libs/libb64-*.so.0d "$prefix/palib/libb64.so.0d"
ln -sf "$prefix"/server/nvidia_pytriton.libs/libcudart-*.so.12.* "$prefix/palib/libcudart.so.12"

site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
python3 -m venv --without-pip "$prefix/stubenv"
stubsite=$("$prefix/stubenv/bin/python3" -c 'import site; print(site.getsitepackages()[0])')
printf '%s\n%s\n' "$prefix/stub-site" "$site" > "$stubsite/00-triton-stub.pth"
export TRITONSERVER=$ts/bin/tritonserver
export TRITON_BACKEND_DIR=$ts/backends
export TRITON_STUB_BIN=$prefix/stubenv/bin
export PERF_ANALYZER=$prefix/client-site/bin/perf_analyzer
export PATH=$ts/bin:$prefix/client-site/bin:$PATH
export LD_LIBRARY_PATH=$prefix/palib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONPATH=$prefix/client-site${PYTHONPATH:+:$PYTHONPATH}
echo "tritonserver ready: $TRITONSERVER (start it with PATH=\$TRITON_STUB_BIN:\$PATH)"
