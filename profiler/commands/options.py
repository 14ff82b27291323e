"""The option groups that profile, serve and validate share, each declared once.

Where two commands word an option's help differently (profile's local mode, validate's many models at
once), the group is a function of that wording; type, default and environment stay in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from profiler.base.options import (
    MAX_BATCH,
    MAX_CONCURRENCY,
    MAX_GPU_INDEX,
    MAX_SECONDS,
    MAX_WINDOWS,
    PATH,
    BoundedInt,
    FiniteFloat,
    defaulted_option,
    int_list,
    option_group,
)

if TYPE_CHECKING:
    from profiler.measure.loadgen import MeasureSettings


class GpuDevice(click.ParamType):
    """A GPU: its NVML index (0 up to ``MAX_GPU_INDEX``), or a MIG device UUID (``MIG-...``).

    The UUID's form is checked by the request it goes into (``parse_gpu``), in one line.
    """

    name = "INDEX|MIG-UUID"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        """An index as an int, a MIG UUID as given; anything else fails."""
        text = str(value).strip()
        if text.startswith("MIG-"):
            return text
        if text.isdigit() and int(text) <= MAX_GPU_INDEX:
            return int(text)
        self.fail(
            f"{value!r} is not a GPU index (0-{MAX_GPU_INDEX}) or a MIG device UUID (MIG-...)", param, ctx
        )
        return 0  # not reached: fail raises


def batches(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``1,2,4`` -> (1, 2, 4): batch sizes, repeats dropped, order kept."""
    return int_list(value, 1, MAX_BATCH)


def concurrencies(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``1,4`` -> (1, 4): requests kept in flight."""
    return int_list(value, 1, MAX_CONCURRENCY)


def gpu_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    """``0,1,2,3`` -> NVML indices."""
    return () if value is None else int_list(value, 0, MAX_GPU_INDEX)


def _shapes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple:
    from profiler.measure.inputs import parse_shape

    try:
        return tuple(parse_shape(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


SHAPE = click.option(
    "--shape",
    "shapes",
    multiple=True,
    callback=_shapes,
    help="NAME:D1,D2,... dims of an input with dynamic dims, without the batch dimension (repeatable).",
)
PERF_ANALYZER = click.option(
    "--perf-analyzer", type=PATH, help="The perf_analyzer binary.  [default: perf_analyzer on PATH]"
)


def load_generator(help_text: str) -> Callable:
    """``--load-generator``: gpupack's own client or Triton's perf_analyzer."""
    return defaulted_option(
        "--load-generator", click.Choice(["builtin", "perf_analyzer"]), "builtin", help_text
    )


def start_timeout(help_text: str) -> Callable:
    """``--start-timeout``: seconds to wait for a server and its models."""
    return defaulted_option("--start-timeout", click.FloatRange(min=0, min_open=True), 600.0, help_text)


def server_options(local_mode: bool = False) -> Callable:
    """Which tritonserver, backend Python and backend directory to start.

    ``local_mode`` (profile): the options apply to local mode only, and come from the environment as
    ``GPUPACK_PROFILE_*`` only; otherwise (serve, validate) ``$TRITONSERVER`` and
    ``$GPUPACK_BACKEND_PYTHON`` are read too, as a plan's launch scripts read them.
    """
    the = "Local mode: the" if local_mode else "The"

    def env(name: str) -> str:
        return "" if local_mode else f"${name}, else "

    return option_group(
        click.option(
            "--triton-server",
            type=PATH,
            envvar=None if local_mode else "TRITONSERVER",
            help=f"{the} tritonserver binary.  [default: {env('TRITONSERVER')}tritonserver on PATH, else "
            "nvidia-pytriton's]",
        ),
        click.option(
            "--backend-python",
            type=PATH,
            envvar=None if local_mode else "GPUPACK_BACKEND_PYTHON",
            help=f"{the} python3 whose packages the models import (needs numpy<2); its folder goes first on "
            f"the server's PATH.  [default: {env('GPUPACK_BACKEND_PYTHON')}the Python running gpupack]",
        ),
        click.option(
            "--backend-directory",
            type=PATH,
            help=f"{the} server's --backend-directory, used as is.  "
            "[default: a temporary copy of the server's, with the Python backend stub for "
            "--backend-python's version]",
        ),
    )


def measure_options(warmup_help: str, every: str = "") -> Callable:
    """How long and how steadily to measure (profile, validate); ``every`` ends the stability help."""
    return option_group(
        defaulted_option(
            "--window", FiniteFloat(0, MAX_SECONDS, low_open=True), 2.0, "Measurement window, seconds."
        ),
        defaulted_option("--warmup", FiniteFloat(0, MAX_SECONDS), 2.0, warmup_help),
        defaulted_option(
            "--max-windows",
            BoundedInt(3, MAX_WINDOWS),
            10,
            "Windows to try before recording a point as unstable.",
        ),
        defaulted_option(
            "--stability",
            FiniteFloat(0, 100, low_open=True),
            10.0,
            f"Stable when 3 consecutive windows' throughputs lie within ± this % of their mean{every}.",
        ),
        defaulted_option(
            "--sample-interval",
            BoundedInt(10, 60_000),
            100,
            "GPU and process sampling interval, milliseconds.",
        ),
    )


def measure_settings(opts: dict) -> MeasureSettings:
    """The measurement options (``--window`` ... ``--request-timeout``) of profile and validate."""
    from profiler.measure.loadgen import MeasureSettings

    try:
        return MeasureSettings(
            window_s=opts["window"],
            warmup_s=opts["warmup"],
            max_windows=opts["max_windows"],
            stability_pct=opts["stability"],
            **({"request_timeout_s": opts["request_timeout"]} if "request_timeout" in opts else {}),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def sample_interval_s(opts: dict) -> float:
    """``--sample-interval`` (milliseconds) in seconds."""
    return opts["sample_interval"] / 1000


class Progress:
    """Prints a run's progress lines and notices on stderr; ``line`` turns an event into its line."""

    def __init__(self, line: Callable[[object], str]) -> None:
        self._line = line

    def progress(self, event: object) -> None:
        """One progress line."""
        click.echo(self._line(event), err=True)

    def notice(self, message: str) -> None:
        """One ``note:`` line."""
        click.echo(f"note: {message}", err=True)


def _optional_int_list(low: int) -> Callable[[click.Context, click.Parameter, str | None], tuple[int, ...]]:
    """``0,100,1000`` -> (0, 100, 1000); ``none`` or an empty value -> ()."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
        if value is None or value.strip().lower() in ("", "none"):
            return ()
        return int_list(value, low, MAX_BATCH)

    return parse


def search_options() -> Callable:
    """``--search`` and the space it searches (profile): instance counts, the batcher, max_batch_size."""
    return option_group(
        click.option(
            "--search",
            type=click.Choice(["brute", "quick"]),
            help="Search each model's server config (local mode): write its variants into "
            "OUTPUT/variants/<model>_config_<n> (never into --model-repository) and measure each over the "
            "--batch x --concurrency points. brute: every variant and point; quick: stops raising "
            "concurrency once throughput grows < 5 % or p99 passes the bound, adding instances once "
            "throughput stops growing or memory passes the GPU, and drops dominated variants.  "
            "[default: no search; the models' own configs are measured]",
        ),
        defaulted_option(
            "--max-instances",
            BoundedInt(1, MAX_BATCH),
            4,
            "With --search: instance counts 1..N.",
        ),
        click.option(
            "--queue-delays-us",
            default="0,100,1000",
            show_default=True,
            callback=_optional_int_list(0),
            metavar="LIST",
            help="With --search: the dynamic batcher off, and on with each of these max queue delays "
            "(microseconds); 'none': never on.",
        ),
        click.option(
            "--max-batch-sizes",
            callback=_optional_int_list(1),
            metavar="LIST",
            help="With --search: max_batch_size values to try.  [default: the model's own]",
        ),
        click.option(
            "--preferred-batch-sizes",
            callback=_optional_int_list(1),
            metavar="LIST",
            help="With --search: the dynamic batcher's preferred batch sizes (those up to each "
            "max_batch_size).  [default: none, Triton's default]",
        ),
        click.option(
            "--targets",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="With --search: the planner's targets file (YAML or CSV); each model's max_latency_p99_ms "
            "bounds its search (quick stops at it; the best point reported stays under it).",
        ),
    )
