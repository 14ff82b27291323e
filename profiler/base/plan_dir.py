"""The written plan directory: its layout, its one typed reader and its one writer.

``gpupack plan --write-repositories DIR`` writes, and ``validate``, ``export``, ``report``, a replan
(``--config``, ``--interference``) and the launch scripts' ``gpupack serve`` read::

    plan.json             the plan (documented in the README, "Plan JSON"), with its endpoints
    endpoints.csv         model, gpu, http_url, grpc_url: where clients and gateways route
    gpu<i>/<model>/...    GPU i's Triton model repository
    launch-gpu<i>.sh      serves gpu<i>/ on GPU i with its own ports (``gpupack serve``)
    gpu<i>/mig<s>/...     on a GPU cut into MIG slices: the repository of the slice starting at
                          memory slice s; launch-gpu<i>.sh then starts one server per slice
    mig-parted.yaml       for a plan with MIG slices: the nvidia-mig-parted config of its GPUs
    validation.json/.csv  what ``gpupack validate DIR`` measured (``validation_file``)

Nothing else names these files. The profiler must not import the packer (the GPU host has no
OR-Tools), so this module sits in the profiler's base and the packer reaches it through ``profiler``.
Readers take the plan's documented keys and ignore the others: ``gpus[].index``, ``memory_mb``,
``gpu_util_pct``, ``type``, ``product_label`` and ``models[]`` with ``name``, ``batch_size``,
``concurrency``, ``throughput`` (infer/s) and ``memory_mb``; ``endpoints[]``; ``gpu_memory_mb``. A
model sharing its GPU is promised its ``expected_throughput`` (and tokens/s × its ``colocation_ratio``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from profiler.base.errors import InputError
from profiler.base.files import cannot_write, ensure_directory, temp_dir
from profiler.base.schema_version import KEY, SCHEMA_VERSION, UNVERSIONED, check_schema_version, versioned

PLAN_JSON = "plan.json"
ENDPOINTS_CSV = "endpoints.csv"
VALIDATION_JSON = "validation.json"
VALIDATION_CSV = "validation.csv"
MIG_PARTED_YAML = "mig-parted.yaml"


def repository_name(index: int) -> str:
    """The folder of GPU ``index``'s repository inside a plan directory (``gpu<i>``)."""
    return f"gpu{index}"


def slice_repository_name(start: int) -> str:
    """The folder, inside a sliced GPU's repository, of the MIG slice starting at memory slice ``start``."""
    return f"mig{start}"


def launch_script_name(index: int) -> str:
    """The script that serves GPU ``index``'s repository (``launch-gpu<i>.sh``)."""
    return f"launch-{repository_name(index)}.sh"


@dataclass(frozen=True)
class PlannedModel:
    """One model on one GPU, at the point the plan counts on."""

    name: str
    batch_size: int
    concurrency: int
    throughput: float
    memory_mb: float | None = None
    # An open-loop point: Poisson arrivals per second (concurrency then 0), validated at that rate.
    request_rate: float | None = None
    # A streaming (LLM) model's promise and the token lengths it was profiled with; None otherwise.
    tokens_per_s: float | None = None
    ttft_p99_ms: float | None = None
    itl_p99_ms: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None

    @property
    def streaming(self) -> bool:
        """True for a streaming (LLM) model: validated over gRPC streaming with its token lengths."""
        return self.tokens_per_s is not None and self.output_tokens is not None


@dataclass(frozen=True)
class PlannedSlice:
    """One MIG slice of a sliced GPU: its profile, first memory slice and models."""

    profile: str
    start: int
    models: tuple[str, ...]


@dataclass(frozen=True)
class PlannedGpu:
    """One GPU of the plan: its models, the memory and GPU utilization it expects (server included)."""

    index: int
    models: tuple[PlannedModel, ...]
    memory_mb: float | None = None
    gpu_util_pct: float | None = None
    gpu_type: str | None = None
    product_label: str | None = None
    # A GPU cut into MIG slices: its slices, by start (``gpus[].mig``); ``None``: whole.
    mig: tuple[PlannedSlice, ...] | None = None

    @property
    def promised_throughput(self) -> float:
        """The sum of its models' planned throughputs, infer/s."""
        return sum(model.throughput for model in self.models)


@dataclass(frozen=True)
class Endpoint:
    """Where one model of the plan answers: its GPU and that GPU's server's URLs."""

    model: str
    gpu: int
    http: str
    grpc: str

    def to_dict(self) -> dict:
        """As in plan.json's ``endpoints`` list."""
        return {"model": self.model, "gpu": self.gpu, "http_url": self.http, "grpc_url": self.grpc}

    @property
    def http_port(self) -> int:
        """The port of ``http``."""
        return int(self.http.rsplit(":", 1)[1])


@dataclass(frozen=True)
class PlanFile:
    """A plan JSON read back: its GPUs typed, and the whole document for what draws from all of it.

    ``path`` is the plan JSON; in a plan directory its repositories and scripts are beside it.
    """

    path: Path
    gpus: tuple[PlannedGpu, ...]
    endpoints: tuple[Endpoint, ...] = ()
    gpu_memory_mb: float | None = None
    schema_version: str = SCHEMA_VERSION
    document: Mapping = field(default_factory=dict, compare=False, repr=False)

    @property
    def directory(self) -> Path:
        """The plan directory (the folder of ``plan.json``)."""
        return self.path.parent

    def repository(self, index: int) -> Path:
        """GPU ``index``'s model repository."""
        return self.directory / repository_name(index)

    def largest_batch(self, model: str) -> int:
        """The largest batch size the plan sends ``model`` on any GPU (its warm-up batch)."""
        return max(m.batch_size for gpu in self.gpus for m in gpu.models if m.name == model)

    def http_port(self, index: int) -> int:
        """GPU ``index``'s server's HTTP port, from the endpoints ``--write-repositories`` recorded."""
        for endpoint in self.endpoints:
            if endpoint.gpu == index:
                return endpoint.http_port
        raise InputError(
            f"{self.path}: not a plan written by --write-repositories (no endpoint on GPU {index})"
        )


def _typed(where: str, data: Mapping, key: str, kind: type, required: bool = True) -> object:
    """``data[key]`` checked to be ``kind`` (``float``: any finite number); ``None`` if absent and allowed."""
    value = data.get(key)
    if value is None:
        if required:
            raise InputError(f"{where}: missing {key!r}")
        return None
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise InputError(f"{where}: {key!r} must be {'a number' if kind is float else kind.__name__}")
    return float(value) if kind is float else value


_STREAMING_KEYS = ("tokens_per_s", "ttft_p99_ms", "itl_p99_ms", "input_tokens", "output_tokens")


def _model(where: str, data: object) -> PlannedModel:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected an object")
    name = _typed(where, data, "name", str)
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise InputError(f"{where}: {name!r} is not a model name")
    # A model sharing its GPU is promised its profiled throughput × its predicted co-location ratio.
    expected = _typed(where, data, "expected_throughput", float, required=False)
    ratio = _typed(where, data, "colocation_ratio", float, required=False)
    streaming = {key: _typed(where, data, key, float, required=False) for key in _STREAMING_KEYS}
    if ratio is not None and streaming["tokens_per_s"] is not None:
        streaming["tokens_per_s"] *= ratio
    model = PlannedModel(
        name=name,
        batch_size=_typed(where, data, "batch_size", int),
        concurrency=_typed(where, data, "concurrency", int),
        throughput=expected if expected is not None else _typed(where, data, "throughput", float),
        memory_mb=_typed(where, data, "memory_mb", float, required=False),
        request_rate=_typed(where, data, "request_rate", float, required=False),
        **streaming,
    )
    rate = model.request_rate
    open_loop = rate is not None and math.isfinite(rate) and rate > 0 and model.concurrency == 0
    if model.batch_size < 1 or (model.concurrency < 1 and not open_loop) or model.throughput < 0:
        raise InputError(
            f"{where} ({name}): batch_size and concurrency must be ≥ 1 (concurrency 0 with a positive "
            "request_rate), throughput ≥ 0"
        )
    if rate is not None and not open_loop:
        raise InputError(f"{where} ({name}): a request_rate point has concurrency 0 and a positive rate")
    return model


def _gpu(where: str, data: object) -> PlannedGpu:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected an object")
    index = _typed(where, data, "index", int)
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise InputError(f"{where}: 'models' must be a non-empty list")
    planned = tuple(_model(f"{where}.models[{i}]", m) for i, m in enumerate(models))
    names = [m.name for m in planned]
    if len(set(names)) != len(names):
        raise InputError(f"{where}: a model is placed twice on one GPU (one server loads a model once)")
    if index < 0:
        raise InputError(f"{where}: 'index' must be at least 0")
    return PlannedGpu(
        index=index,
        models=planned,
        memory_mb=_typed(where, data, "memory_mb", float, False),
        gpu_util_pct=_typed(where, data, "gpu_util_pct", float, False),
        gpu_type=_typed(where, data, "type", str, False),
        product_label=_typed(where, data, "product_label", str, False),
        mig=_slices(where, data.get("mig"), set(names)),
    )


def _slices(where: str, data: object, models: set[str]) -> tuple[PlannedSlice, ...] | None:
    """A sliced GPU's ``mig`` list: each slice's profile, start and models (all of the GPU's, once)."""
    if data is None:
        return None
    if not isinstance(data, list) or not data:
        raise InputError(f"{where}: 'mig' must be a non-empty list of slices")
    slices = []
    for k, item in enumerate(data):
        at = f"{where}.mig[{k}]"
        if not isinstance(item, dict) or not isinstance(item.get("models"), list):
            raise InputError(f"{at}: expected an object with 'profile', 'start' and 'models'")
        names = tuple(str(m) for m in item["models"])
        slices.append(PlannedSlice(_typed(at, item, "profile", str), _typed(at, item, "start", int), names))
    placed = [m for s in slices for m in s.models]
    if sorted(placed) != sorted(models) or len({s.start for s in slices}) != len(slices):
        raise InputError(f"{where}: its MIG slices do not hold its models once each, at distinct starts")
    return tuple(slices)


def _endpoint(where: str, data: object) -> Endpoint:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected an object")
    endpoint = Endpoint(
        model=_typed(where, data, "model", str),
        gpu=_typed(where, data, "gpu", int),
        http=_typed(where, data, "http_url", str),
        grpc=_typed(where, data, "grpc_url", str),
    )
    try:
        endpoint.http_port  # noqa: B018 (checked here, once)
    except (ValueError, IndexError):
        raise InputError(f"{where}: 'http_url' {endpoint.http!r} names no port") from None
    return endpoint


def read_json(path: Path, fix: str | None = None, what: str = "valid JSON") -> object:
    """A JSON file written by gpupack; an object's ``schema_version`` is checked (``schema_version``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", fix) from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: not {what} ({exc})") from None
    if isinstance(data, dict):
        check_schema_version(path, data)
    return data


def plan_json_path(directory: Path) -> Path:
    """The plan JSON of a plan directory."""
    return directory / PLAN_JSON


def validation_json_path(directory: Path) -> Path:
    """The validation JSON of a plan directory (or beside a plan JSON file's)."""
    return directory / VALIDATION_JSON


def read_plan(path: Path) -> PlanFile:
    """Read a plan JSON: ``path`` itself, or a plan directory's ``plan.json`` when ``path`` is a folder.

    Raises:
        InputError: no such file, not the plan's JSON, or written by a newer gpupack.

    """
    path = plan_json_path(path) if path.is_dir() else path
    fix = f"pass the directory written by `gpupack plan --write-repositories {path.parent}`"
    data = read_json(path, fix)
    if not isinstance(data, dict) or not isinstance(data.get("gpus"), list) or not data["gpus"]:
        raise InputError(f"{path}: not a gpupack plan: expected an object with a non-empty 'gpus' list", fix)
    gpus = tuple(_gpu(f"{path}: gpus[{i}]", g) for i, g in enumerate(data["gpus"]))
    if len({g.index for g in gpus}) != len(gpus):
        raise InputError(f"{path}: two GPUs have the same index")
    endpoints = data.get("endpoints") or []
    if not isinstance(endpoints, list):
        raise InputError(f"{path}: 'endpoints' must be a list")
    memory = data.get("gpu_memory_mb")
    return PlanFile(
        path=path,
        gpus=gpus,
        endpoints=tuple(_endpoint(f"{path}: endpoints[{i}]", e) for i, e in enumerate(endpoints)),
        gpu_memory_mb=float(memory) if isinstance(memory, (int, float)) and memory > 0 else None,
        schema_version=data.get(KEY, UNVERSIONED),
        document=data,
    )


def replayed_settings(path: Path | str, data: Mapping) -> Mapping | None:
    """The options a plan JSON records (its ``settings``) when ``data`` is one, else ``None``.

    A plan JSON given as ``--config`` replans with them (``cli_config``).
    """
    if not isinstance(data.get("settings"), dict) or "gpus" not in data:
        return None
    check_schema_version(f"--config {path}", data)
    return data["settings"]


def endpoints_csv(rows: tuple[Endpoint, ...]) -> str:
    """``endpoints.csv``: model, gpu, http_url, grpc_url."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "gpu", "http_url", "grpc_url"])
    writer.writerows([e.model, e.gpu, e.http, e.grpc] for e in rows)
    return out.getvalue()


@dataclass(frozen=True)
class WrittenPlanDirectory:
    """What ``write_plan_directory`` produced: the directory, its repositories and launch scripts."""

    root: Path
    repositories: tuple[Path, ...]
    launch_scripts: tuple[Path, ...]


def write_plan_directory(
    output: Path,
    plan: Mapping[str, object],
    endpoints: tuple[Endpoint, ...],
    launch_scripts: Mapping[int, str],
    fill: Callable[[int, Path], None],
    mig_parted: str | None = None,
) -> WrittenPlanDirectory:
    """Write ``output`` as laid out above: all of it, or nothing (built beside it, then renamed).

    Args:
        output: the plan directory; it must not exist or be empty.
        plan: the plan JSON (``Plan.to_dict``); written with its ``schema_version`` and ``endpoints``.
        endpoints: one row per model replica, in GPU order.
        launch_scripts: GPU index → its launch script's text (``serving.launch_script``), in GPU order.
        fill: writes GPU ``index``'s models into its new, empty repository folder.
        mig_parted: the nvidia-mig-parted config of a plan with MIG slices, written beside the plan.

    Raises:
        OutputError: a file could not be written; ``fill``'s own errors pass through.

    """
    # A temporary sibling named with our pid: a run killed before the rename leaves it for the next
    # run to remove (``temp_dir``).
    tmp = temp_dir("repos", ensure_directory(output.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary directory
        for index, text in launch_scripts.items():
            repository = tmp / repository_name(index)
            repository.mkdir()
            fill(index, repository)
            script = tmp / launch_script_name(index)
            script.write_text(text)
            script.chmod(0o755)
        (tmp / ENDPOINTS_CSV).write_text(endpoints_csv(endpoints))
        if mig_parted is not None:
            (tmp / MIG_PARTED_YAML).write_text(mig_parted)
        document = versioned({**plan, "endpoints": [e.to_dict() for e in endpoints]})
        (tmp / PLAN_JSON).write_text(json.dumps(document, indent=2) + "\n")
        if output.exists():
            output.rmdir()
        tmp.rename(output)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise cannot_write(output, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return WrittenPlanDirectory(
        root=output,
        repositories=tuple(output / repository_name(i) for i in launch_scripts),
        launch_scripts=tuple(output / launch_script_name(i) for i in launch_scripts),
    )
