"""The one user-facing error type, caught once by the CLI.

Both halves of gpupack raise it: the profiler (measuring) and the packer (deciding). The CLI prints
``error: <message>`` and, where one exists, ``To fix: <hint>``, then exits with ``exit_code``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

EXIT_BAD_INPUT = 2
EXIT_RUNTIME = 1


class GpupackError(Exception):
    """A failure the user can understand and act on; ``exit_code`` tells the CLI how to exit."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(GpupackError):
    """Bad input: a missing file or column, a bad value, an impossible request (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class OutputError(GpupackError):
    """An output that can't be written: exit 2 when the path can't be (bad input), 1 when the disk fails."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


def did_you_mean(
    name: str, known: Sequence[str], otherwise: str | None = None, quote: bool = True
) -> str | None:
    """The hint for an unknown ``name``: the closest of ``known`` (difflib), else ``otherwise``.

    ``quote``: name the suggestion as Python's ``repr`` writes it (``'count'``), or as it is (an
    environment variable). Every "unknown key/column/model" error builds its hint here.
    """
    close = difflib.get_close_matches(name, list(known), n=1)
    if not close:
        return otherwise
    return f"did you mean {close[0]!r}?" if quote else f"did you mean {close[0]}?"
