"""What a streaming profile is asked (``StreamingProfileRequest``) and answers (``StreamingProfileResult``).

Also the checks made before any server starts: every model is in the repository, and each one whose
``config.pbtxt`` is there streams in a known request format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from profiler.base.errors import InputError, did_you_mean
from profiler.base.files import read_text
from profiler.measure.sampler import DEFAULT_INTERVAL_S
from profiler.measure.streaming.driver import StreamSettings
from profiler.measure.streaming.formats import FORMAT_CHOICES, detect_format, is_decoupled
from profiler.measure.streaming.tokens import MemoryFit, TokenLength
from profiler.profiles.schema import Profile


@dataclass(frozen=True)
class StreamingProfileRequest:
    """What to profile: the CLI's ``gpupack profile --input-tokens N --output-tokens M ...``."""

    models: tuple[str, ...]
    model_repository: Path
    output: Path = Path("profile")
    input_tokens: TokenLength = TokenLength(128, 128)
    output_tokens: TokenLength = TokenLength(128, 128)
    concurrencies: tuple[int, ...] = (1, 2, 4, 8)
    request_rates: tuple[float, ...] = ()
    request_format: str = "auto"
    settings: StreamSettings = field(default_factory=StreamSettings)
    seed: int = 0
    triton_server: Path | None = None
    backend_python: Path | None = None
    backend_directory: Path | None = None
    gpu: int = 0
    sample_interval_s: float = DEFAULT_INTERVAL_S

    def __post_init__(self) -> None:
        if not self.models:
            raise InputError("give at least one model")
        if len(set(self.models)) != len(self.models):
            raise InputError("--models: a model is listed twice")
        if not self.concurrencies and not self.request_rates:
            raise InputError("give at least one concurrency or request rate")
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.concurrencies):
            raise InputError(f"--concurrency: whole numbers of at least 1, got {self.concurrencies}")
        if any(not r > 0 for r in self.request_rates):
            raise InputError(f"--request-rate: positive requests/s, got {self.request_rates}")
        if self.request_format not in FORMAT_CHOICES:
            raise InputError(
                f"--request-format: expected one of {', '.join(FORMAT_CHOICES)}, got {self.request_format!r}"
            )
        if not self.sample_interval_s > 0:
            raise InputError("--sample-interval must be positive")


@dataclass(frozen=True)
class StreamingProfileResult:
    """What the run did: the profile written, each model's memory fit, what to tell the user."""

    request: StreamingProfileRequest
    profile: Profile
    fits: dict[str, MemoryFit | None]
    notices: tuple[str, ...]
    elapsed_s: float
    interrupted: bool = False

    def summary(self) -> str:
        """One line under the table."""
        failed = sum(1 for p in self.profile.points if not p.ok)
        measured = len(self.profile.points) - failed
        text = f"{measured} points measured, {failed} failed, in {self.elapsed_s:.0f} s; "
        text += f"profile in {self.request.output}"
        return text + (" (interrupted)" if self.interrupted else "")


def read_repository_config(repository: Path, model: str) -> model_config_pb2.ModelConfig | None:
    """The model's ``config.pbtxt`` as protobuf, or None when it has none (the server completes it).

    Raises:
        InputError: the file does not parse.

    """
    path = repository / model / "config.pbtxt"
    if not path.exists():
        return None
    try:
        return text_format.Parse(read_text(path), model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise InputError(f"{path}: not a valid model configuration ({exc})") from None


def decoupled_models(repository: Path, models: tuple[str, ...]) -> tuple[str, ...]:
    """Those of ``models`` whose ``config.pbtxt`` in ``repository`` is decoupled (streaming).

    A name that is not a model folder of the repository is not one (the profile's own checks name it).
    """
    if not repository.is_dir():
        return ()
    known = {p.name for p in repository.iterdir() if p.is_dir()}
    decoupled = []
    for model in (m for m in models if m in known):
        config = read_repository_config(repository, model)
        if config is not None and is_decoupled(config):
            decoupled.append(model)
    return tuple(decoupled)


def check_request(request: StreamingProfileRequest) -> None:
    """The repository holds every model, and each one streams in a known format (before any server)."""
    repository = request.model_repository
    if not repository.is_dir():
        raise InputError(f"--model-repository {repository}: not a directory")
    known = sorted(p.name for p in repository.iterdir() if p.is_dir())
    for model in request.models:
        if model not in known:
            raise InputError(
                f"--models: no model {model!r} in {repository}",
                did_you_mean(model, known, f"it has: {', '.join(known) or 'no models'}"),
            )
        config = read_repository_config(repository, model)
        if config is not None:
            detect_format(model, config, request.request_format)
