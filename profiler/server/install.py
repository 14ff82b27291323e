"""Where a tritonserver build keeps its pieces, and the Python its Python backend will run.

The facts this follows (../shared/gpu-host/README.md, checked on these machines):

* The server comes from ``--triton-server``, else ``tritonserver`` on PATH, else the build inside an
  installed nvidia-pytriton wheel (``pytriton/tritonserver/bin/tritonserver``).
* The Python backend needs a stub built for the Python that runs the models. The wheel ships one per
  Python version under ``python_backend_stubs/X.Y/``; we copy the right one, with the backend, into a
  temporary backend directory of our own rather than into site-packages. The copy loses the stub's
  relative RPATH, so the launcher puts the wheel's library folder on the server's LD_LIBRARY_PATH.
* The stub ignores PYTHONPATH and takes ``sys.path`` from the first ``python3`` on the server's PATH,
  so the folder of that interpreter goes first on PATH. It must have numpy < 2, or every output
  tensor arrives empty.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from profiler.base.errors import GpupackError, InputError

STUB_NAME = "triton_python_backend_stub"
# Importing numpy in a cold interpreter on a loaded 2-core host takes a few seconds at most.
PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class ServerInstall:
    """Where the pieces of one tritonserver build are."""

    binary: Path
    backends: Path
    stubs: Path | None
    libraries: Path | None


def find_tritonserver(explicit: Path | None = None) -> Path:
    """``explicit``, else ``tritonserver`` on PATH, else the one in an installed nvidia-pytriton.

    Raises:
        InputError: ``explicit`` is not an executable file.
        GpupackError: no server anywhere.

    """
    if explicit is not None:
        if not (explicit.is_file() and os.access(explicit, os.X_OK)):
            raise InputError(f"--triton-server {explicit}: not an executable file")
        return explicit
    on_path = shutil.which("tritonserver")
    if on_path:
        return Path(on_path)
    spec = importlib.util.find_spec("pytriton")
    if spec and spec.submodule_search_locations:
        binary = Path(next(iter(spec.submodule_search_locations))) / "tritonserver" / "bin" / "tritonserver"
        if binary.is_file():
            return binary
    raise GpupackError(
        "no tritonserver found (not given, not on PATH, no nvidia-pytriton installed)",
        "pass --triton-server PATH, or install the server: pip install 'gpupack[server]'",
    )


def describe_install(binary: Path) -> ServerInstall:
    """The backend, stub and library folders around a tritonserver binary (wheel or container layout)."""
    root = binary.resolve().parent.parent
    stubs = root / "python_backend_stubs"
    libraries = root.parent.parent / "nvidia_pytriton.libs"
    return ServerInstall(
        binary=binary,
        backends=root / "backends",
        stubs=stubs if stubs.is_dir() else None,
        libraries=libraries if libraries.is_dir() else None,
    )


@dataclass(frozen=True)
class BackendPython:
    """The interpreter whose packages the models import."""

    executable: Path
    version: str
    numpy_version: str


_PROBE = "import sys, numpy; print('%d.%d' % sys.version_info[:2], numpy.__version__)"


# A config.pbtxt naming the Python backend (text format: `backend: "python"`, any spacing).
_PYTHON_BACKEND = re.compile(r'^\s*backend\s*:\s*"python"', re.MULTILINE)


def probe_backend_python(executable: Path) -> BackendPython:
    """Its Python version and numpy version; refuses numpy 2 and a folder whose python3 is another.

    Raises:
        InputError: not runnable, no numpy, numpy >= 2, or no matching ``python3`` beside it.

    """
    fix = "pass --backend-python with a python3 that has numpy<2 (on the GPU host: $TRITON_STUB_BIN/python3)"
    beside = executable.parent / "python3"
    if not beside.exists() or not os.path.samefile(beside, executable):
        raise InputError(
            f"--backend-python {executable}: the stub runs the first python3 on PATH, "
            f"and {beside} is not this interpreter",
            "pass the python3 of a virtual environment (its bin/ folder goes first on the server's PATH)",
        )
    try:
        done = subprocess.run(
            [str(executable), "-c", _PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"--backend-python {executable}: cannot run it ({exc})", fix) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"--backend-python {executable}: numpy does not import ({last})", fix)
    version, numpy_version = done.stdout.split()
    if int(numpy_version.split(".")[0]) >= 2:
        raise InputError(
            f"--backend-python {executable} has numpy {numpy_version}: "
            "this Triton's Python backend returns empty tensors with numpy 2",
            fix,
        )
    return BackendPython(executable=executable, version=version, numpy_version=numpy_version)


def uses_python_backend(repository: Path) -> bool:
    """True when a model of ``repository`` runs in the Python backend (its config or a ``model.py``).

    Only then does the server need the stub and a numpy<2 Python; ONNX, TensorRT or PyTorch models
    alone need neither.
    """
    for model in repository.iterdir():
        if not model.is_dir() or model.name.startswith("."):
            continue
        config = model / "config.pbtxt"
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if config.is_file() and _PYTHON_BACKEND.search(config.read_text(encoding="utf-8")):
                return True
        if any(model.glob("*/model.py")):
            return True
    return False


def prepare_backends(install: ServerInstall, python: BackendPython, workdir: Path) -> Path:
    """A backend directory whose Python backend has the stub for ``python``'s version.

    Raises:
        GpupackError: no stub for that Python version in this server build.

    """
    if install.stubs is None:
        if (install.backends / "python" / STUB_NAME).is_file():
            return install.backends  # a Triton container: the stub is already in place
        raise GpupackError(f"{install.binary}: no Python backend stub in {install.backends / 'python'}")
    stub = install.stubs / python.version / STUB_NAME
    if not stub.is_file():
        have = ", ".join(sorted(p.name for p in install.stubs.iterdir())) or "none"
        raise GpupackError(
            f"{install.binary}: no Python backend stub for Python {python.version} (it has: {have})",
            "pass --backend-python with one of those Python versions",
        )
    backends = workdir / "backends"
    shutil.copytree(install.backends, backends, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(stub, backends / "python" / STUB_NAME)
    return backends
