"""gpupack's command line, the root: the group, its one error handler and signal policy, ``--version``.

The commands live beside what they drive and are registered here: ``packer.commands`` (plan,
export, report) and ``profiler.commands`` (profile, profile merge, serve, validate; they import no
OR-Tools, which the GPU host lacks). Each parses its options into a typed request, calls one
service function and prints what it returns.

Every user-facing failure is a ``GpupackError``, caught once, in the root group: one line on stderr, a
"To fix:" hint where there is one, exit 2 for bad input and 1 for runtime failures; the traceback
only with ``--debug``. click's own usage errors (a bad option value) are printed the same way, exit 2.
SIGINT, SIGTERM and SIGHUP stop any command the same way (``profiler.base.signals``): cleanup, then exit
130, 143 or 129. Every option can also come from the environment, ``GPUPACK_<COMMAND>_<OPTION>``
(e.g. ``GPUPACK_PLAN_GPU_MEMORY=80GiB``), checked like the flag; an unknown ``GPUPACK_<COMMAND>_*``
variable is an error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from packer.commands.export import export
from packer.commands.plan import plan
from packer.commands.report import report
from profiler.base import signals
from profiler.base.errors import EXIT_BAD_INPUT, GpupackError
from profiler.base.options import check_environment
from profiler.commands.profile import profile, profile_merge
from profiler.commands.serve import serve
from profiler.commands.validate import validate


def _one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped, so an error stays one line."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _error(message: str, hint: str | None = None) -> None:
    click.echo(f"error: {_one_line(message)}", err=True)
    if hint:
        click.echo(f"To fix: {_one_line(hint)}", err=True)


class _Gpupack(click.Group):
    """The root group: where errors, interrupts and environment variables are handled, once."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args[:2] == ["profile", "merge"]:
            name, command, rest = "profile merge", profile_merge, args[2:]
        else:
            name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            check_environment(command)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except GpupackError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _error(exc.message, exc.hint)
            ctx.exit(exc.exit_code)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's main, with gpupack's signal policy and one-line usage errors; exits when standalone."""
        if not standalone_mode:
            with signals.handle_signals():
                return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            with signals.handle_signals():
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else (prog_name or "gpupack")
            _error(exc.format_message(), f"see '{command} --help'")
            code = EXIT_BAD_INPUT
        except click.ClickException as exc:
            _error(exc.format_message())
            code = exc.exit_code
        except click.Abort as exc:  # click turns KeyboardInterrupt into Abort when not standalone
            code = signals.exit_code(exc.__cause__ or exc.__context__)
        except KeyboardInterrupt as exc:
            code = signals.exit_code(exc)
        try:
            sys.exit(code if isinstance(code, int) else 0)
        except KeyboardInterrupt as exc:  # a signal after the handlers were put back: still no traceback
            sys.exit(signals.exit_code(exc))


def _print_versions(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from profiler.commands.version import version_lines

    click.echo("\n".join(version_lines()))
    ctx.exit()


@click.group(cls=_Gpupack, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--debug", is_flag=True, envvar="GPUPACK_DEBUG", help="Show tracebacks and solver search logs.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_versions,
    help="Print the versions of gpupack and of the OR-Tools, tritonclient and tritonserver it finds, "
    "and exit.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Profile Triton models and pack them onto the fewest GPUs."""
    ctx.obj = {"debug": debug}


for _command in (plan, export, report, profile, serve, validate):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point (``gpupack``)."""
    # gRPC's fork handlers serve programs whose forked children use gRPC; ours only exec tritonserver,
    # and with gRPC's threads running the handlers print "skipping fork() handlers" at every server
    # restart. Read once, when gRPC starts, so set before anything imports it.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    cli(prog_name="gpupack")


if __name__ == "__main__":
    main()
