"""gpupack's command line: wires options to functions, prints what they return.

Every user-facing failure is a ``GpupackError``, caught once, in the root group: one line on stderr, a
"To fix:" hint where there is one, exit 2 for bad input and 1 for runtime failures; the traceback
only with ``--debug``.
"""

from __future__ import annotations

import click

from profiler.errors import GpupackError


class _Gpupack(click.Group):
    """The root group: the one place a ``GpupackError`` is caught."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except GpupackError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"To fix: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Gpupack, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--debug", is_flag=True, help="Show tracebacks and solver search logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Profile Triton models and pack them onto the fewest GPUs."""
    ctx.obj = {"debug": debug}


# ---- plan -------------------------------------------------------------------------------------------


# ---- profile ----------------------------------------------------------------------------------------


def main() -> None:
    """Console-script entry point (``gpupack``)."""
    cli(prog_name="gpupack")


if __name__ == "__main__":
    main()
