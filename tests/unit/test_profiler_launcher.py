"""Finding the server's pieces and reading its logs (no server started here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from profiler.base.errors import GpupackError, InputError
from profiler.server.install import (
    STUB_NAME,
    BackendPython,
    describe_install,
    find_tritonserver,
    prepare_backends,
    probe_backend_python,
)
from profiler.server.launcher import free_port, last_error_line
from profiler.server.triton import remote_endpoints

PORT_TAKEN_LOG = (
    'I1125 15:59:42.500000 7451 server.cc:674] "| Backend | Path |"\n'
    "E1125 15:59:42.541906308    7451 chttp2_server.cc:1060]  UNKNOWN:No address added out of total 1\n"
    'E1125 15:59:42.545464 7451 main.cc:245] "failed to start GRPC service: Unavailable - '
    "Socket '0.0.0.0:18001' already in use \"\n"
)
LOADER_LOG = (
    "/x/bin/tritonserver: error while loading shared libraries: libcudart-0.so.12: "
    "cannot open shared object file: No such file or directory\n"
)


def test_last_error_line_is_the_last_error_without_the_log_prefix():
    assert last_error_line(PORT_TAKEN_LOG) == (
        "failed to start GRPC service: Unavailable - Socket '0.0.0.0:18001' already in use "
    )
    assert last_error_line(LOADER_LOG).startswith("/x/bin/tritonserver: error while loading shared libraries")
    assert last_error_line("") == "no output"


def test_last_error_line_names_the_models_that_failed_to_load_without_their_tracebacks():
    log = (
        "E1201 04:21:59.838099 11146 model_lifecycle.cc:642] \"failed to load 'broken' version 1: Internal: "
        'RuntimeError: on purpose\\n\\nAt:\\n  /m/broken/1/model.py(3): initialize\\n"\n'
        "E1201 04:21:59.9 11146 model_lifecycle.cc:642] \"failed to load 'bad' version 2: "
        'Invalid argument: x"\n'
        "error: creating server: Internal - failed to load all models\n"
    )
    assert last_error_line(log) == (
        "failed to load 'broken' version 1: Internal: RuntimeError: on purpose; "
        "failed to load 'bad' version 2: Invalid argument: x"
    )


def test_the_installed_nvidia_pytriton_server_is_found_with_its_stubs_and_libraries():
    install = describe_install(find_tritonserver())
    assert install.binary.name == "tritonserver"
    assert (install.stubs / f"{sys.version_info[0]}.{sys.version_info[1]}" / STUB_NAME).is_file()
    assert install.libraries is not None and any(install.libraries.glob("libcudart-*"))


def test_backends_get_the_stub_for_the_python_version_or_a_clear_error(tmp_path: Path):
    install = describe_install(find_tritonserver())
    python = BackendPython(Path(sys.executable), f"{sys.version_info[0]}.{sys.version_info[1]}", "1.26.4")
    backends = prepare_backends(install, python, tmp_path)
    assert (backends / "python" / STUB_NAME).is_file()
    assert (backends / "python" / "libtriton_python.so").is_file()
    with pytest.raises(GpupackError, match=r"no Python backend stub for Python 2\.7 \(it has: .*3\.11"):
        prepare_backends(install, BackendPython(Path(sys.executable), "2.7", "1.16"), tmp_path / "b")


def test_backend_python_is_probed_for_its_version_and_numpy(tmp_path: Path):
    python = probe_backend_python(Path(sys.executable))
    assert python.version == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert int(python.numpy_version.split(".")[0]) < 2
    lonely = tmp_path / "python"  # a folder whose python3 is not this interpreter
    os.symlink(sys.executable, lonely)
    with pytest.raises(InputError, match="the stub runs the first python3 on PATH"):
        probe_backend_python(lonely)


def test_a_missing_triton_server_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="not an executable file"):
        find_tritonserver(tmp_path / "tritonserver")


def test_free_ports_are_distinct_and_bindable():
    ports = {free_port() for _ in range(5)}
    assert len(ports) >= 4 and all(1024 <= p < 65536 for p in ports)


def test_remote_endpoints_default_to_triton_ports():
    endpoints = remote_endpoints("gpu-box")
    assert (endpoints.grpc, endpoints.metrics) == ("gpu-box:8001", "http://gpu-box:8002/metrics")
    assert remote_endpoints("grpc://10.0.0.5:9001").grpc == "10.0.0.5:9001"
    assert remote_endpoints("h:1", "http://m:1/metrics").metrics == "http://m:1/metrics"
    for bad in ("http://h:8000", "h:port", ""):
        with pytest.raises(InputError, match="--triton-url"):
            remote_endpoints(bad)


def test_only_python_backend_models_need_the_stub_and_a_numpy1_python(tmp_path):
    from profiler.server.install import uses_python_backend

    (tmp_path / "onnx" / "1").mkdir(parents=True)
    (tmp_path / "onnx" / "1" / "model.onnx").write_bytes(b"\x08\x07")
    (tmp_path / "onnx" / "config.pbtxt").write_text('platform: "onnxruntime_onnx"\n')
    (tmp_path / "plan" / "1").mkdir(parents=True)  # a TensorRT model without config.pbtxt
    assert not uses_python_backend(tmp_path)
    (tmp_path / "py").mkdir()
    (tmp_path / "py" / "config.pbtxt").write_text('# comment\n  backend :  "python"\n')
    assert uses_python_backend(tmp_path)
    (tmp_path / "py" / "config.pbtxt").unlink()
    (tmp_path / "py" / "1").mkdir()
    (tmp_path / "py" / "1" / "model.py").write_text("")
    assert uses_python_backend(tmp_path)
