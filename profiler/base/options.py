"""The one place option values are parsed and bounds-checked: click parameter types.

Every number an option takes is finite, of the right kind and within a range whose ends are named
below; a value outside is refused with one line (``click.BadParameter``), whether it came from the
command line or from the environment (``GPUPACK_<COMMAND>_<OPTION>``: click passes environment
values through the same types). NaN and infinities are never in range.

The environment variable of an option is named after its flag (``--json`` of ``plan`` is
``GPUPACK_PLAN_JSON``), for every command created with ``GpupackCommand``; a ``GPUPACK_<COMMAND>_*``
variable that names no option is refused (``check_environment``), so that a typo is not ignored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from profiler.base.errors import InputError, did_you_mean

# CP-SAT's num_workers and random_seed are int32 fields; no host has more than 1,024 cores to use.
MAX_WORKERS = 1024
MAX_SEED = 2**31 - 1
# A solver time limit of a million seconds (11.6 days) is already no limit at all.
MAX_TIME_LIMIT_S = 1e6
# A threshold above 100 % oversubscribes a GPU; ten times over is already meaningless.
MAX_THRESHOLD_PCT = 1000.0
# GPUs of a plan or budget, models per GPU: far beyond any cluster, far below what overflows.
MAX_GPUS = 100_000
# Triton's max_batch_size is an int32; a concurrency is one asyncio task each, and a million is plenty.
MAX_BATCH = 2**31 - 1
MAX_CONCURRENCY = 1_000_000
# Measurement windows, warm-up and request timeouts: an hour each is already far too long.
MAX_SECONDS = 3600.0
MAX_WINDOWS = 10_000
# NVML indexes GPUs of one host; no host has more than this many.
MAX_GPU_INDEX = 1023
# A GPU of 10^9 MB (a petabyte) does not exist; a larger --gpu-memory is a typo.
MAX_MEMORY_MB = 1e9
ENV_PREFIX = "GPUPACK"
FC = TypeVar("FC", bound=Callable[..., Any])

# The path types options take: any path, a file (not a folder), a folder (not a file).
PATH = click.Path(path_type=Path)
FILE = click.Path(dir_okay=False, path_type=Path)
DIRECTORY = click.Path(file_okay=False, path_type=Path)


def _describe(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        left, right = ("above" if low_open else "at least"), ("below" if high_open else "at most")
        return f"{left} {low:g} and {right} {high:g}"
    if low is not None:
        return f"{'above' if low_open else 'at least'} {low:g}"
    if high is not None:
        return f"{'below' if high_open else 'at most'} {high:g}"
    return "finite"


class FiniteFloat(click.ParamType):
    """A finite float within ``[low, high]`` (each end open or closed; None: unbounded that side)."""

    name = "NUMBER"

    def __init__(
        self,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
    ) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """``value`` as a float in range, or fail saying what the range is."""
        if isinstance(value, bool):
            self.fail(f"{value!r} is not a number", param, ctx)
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not self.accepts(number):
            self.fail(f"{value!r}: must be a number {self.describe()}", param, ctx)
        return number

    def accepts(self, number: float) -> bool:
        """True when ``number`` is finite and within the range."""
        if not math.isfinite(number):
            return False
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            return False
        return not (self.high is not None and (number >= self.high if self.high_open else number > self.high))

    def describe(self) -> str:
        """The range in words, e.g. ``above 0 and at most 1e+06``."""
        return _describe(self.low, self.high, self.low_open, self.high_open)

    def __repr__(self) -> str:
        return f"FiniteFloat({self.describe()})"


class BoundedInt(click.ParamType):
    """A whole number within ``[low, high]``; ``1e3``, ``2.0``, ``0x10`` and ``inf`` are not."""

    name = "INTEGER"

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """``value`` as an int in range, or fail saying what the range is."""
        if isinstance(value, bool):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if isinstance(value, int):
            number = value
        else:
            text = str(value).strip()
            digits = text[1:] if text[:1] in "+-" else text
            if not (digits.isascii() and digits.isdigit()) or len(digits) > 30:
                self.fail(f"{value!r} is not a whole number", param, ctx)
            number = int(text)
        if not self.low <= number <= self.high:
            self.fail(f"{value!r}: must be a whole number from {self.low} to {self.high}", param, ctx)
        return number

    def __repr__(self) -> str:
        return f"BoundedInt({self.low}, {self.high})"


def int_list(text: str, low: int, high: int, example: str = "1,2,4") -> tuple[int, ...]:
    """``1,2,4`` -> (1, 2, 4): whole numbers within ``[low, high]``, repeats dropped, order kept.

    Raises:
        click.BadParameter: not that form, or a number out of range.

    """
    kind = BoundedInt(low, high)
    numbers = []
    for part in text.split(","):
        try:
            numbers.append(kind.convert(part, None, None))
        except click.BadParameter as exc:
            raise click.BadParameter(
                f"{text!r}: {exc.message}; expected whole numbers separated by commas, e.g. {example}"
            ) from None
    return tuple(dict.fromkeys(numbers))


def env_name(command: str, option: click.Option) -> str:
    """``GPUPACK_<COMMAND>_<OPTION>``, after the option's long name (``--json`` -> ``..._JSON``)."""
    longs = [o for o in option.opts if o.startswith("--")] or [option.name or ""]
    flag = max(longs, key=len).lstrip("-")
    return f"{ENV_PREFIX}_{command}_{flag}".upper().replace("-", "_")


class GpupackCommand(click.Command):
    """A command whose options also come from ``GPUPACK_<COMMAND>_<OPTION>`` (see ``env_name``)."""

    def __init__(self, name: str | None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        for param in self.params:
            if isinstance(param, click.Option) and param.envvar is None and name:
                param.envvar = env_name(name, param)
                param.allow_from_autoenv = False


def check_environment(command: click.Command) -> None:
    """Refuse ``GPUPACK_<COMMAND>_*`` variables that name no option (a typo would be ignored)."""
    prefix = f"{ENV_PREFIX}_{(command.name or '').upper()}_"
    known = [p.envvar for p in command.params if isinstance(p, click.Option) and isinstance(p.envvar, str)]
    for key in sorted(os.environ):
        if key.startswith(prefix) and key not in known:
            raise InputError(
                f"environment variable {key}: gpupack {command.name} has no such option",
                did_you_mean(key, known, f"see gpupack {command.name} --help", quote=False),
            )


def option_group(*options: Callable[[FC], FC]) -> Callable[[FC], FC]:
    """One decorator applying a group of click options, in the order listed (the order ``--help`` shows).

    An option two commands take is declared once, in a group (or a function making one where only its
    help differs), and each command applies the group.
    """

    def apply(command: FC) -> FC:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def defaulted_option(flag: str, kind: click.ParamType, default: object, help_text: str) -> Callable[[FC], FC]:
    """``--flag`` of type ``kind`` whose default ``--help`` shows: most numbers an option takes."""
    return click.option(flag, type=kind, default=default, show_default=True, help=help_text)
