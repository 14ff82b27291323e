"""`gpupack serve`: options → a ``ServeRequest`` → one tritonserver in the foreground until a signal."""

from __future__ import annotations

import sys

import click

from profiler.base.options import DIRECTORY, PATH, GpupackCommand
from profiler.commands.options import server_options, start_timeout


@click.command(cls=GpupackCommand)
@click.argument("repository", type=DIRECTORY)
@click.argument("server_args", nargs=-1, metavar="[-- TRITONSERVER_ARGS]...")
@click.option("--http-port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=8002, show_default=True)
@click.option(
    "--gpu",
    metavar="INDEX|MIG-UUID",
    help="NVML index of the one GPU the server sees (CUDA_VISIBLE_DEVICES is set to its UUID), or a MIG "
    "device's UUID (MIG-..., as nvidia-smi -L lists it): the server then sees only that slice.  "
    "[default: the environment's CUDA_VISIBLE_DEVICES]",
)
@server_options()
@click.option(
    "--model-control-mode",
    type=click.Choice(["none", "poll"]),
    default="none",
    show_default=True,
    help="none: load every model of REPOSITORY at start (a model that fails to load stops the server); "
    "poll: also load, reload and unload models as REPOSITORY changes.",
)
@click.option("--log-file", type=PATH, help="Also append the server's log to this file.")
@click.option("--quiet", is_flag=True, help="Do not show the server's log on stdout.")
@start_timeout("Seconds to wait for the server and every model to be ready.")
@click.pass_context
def serve(ctx: click.Context, **opts: object) -> None:
    """Serve a Triton model repository in the foreground, as a plan's launch-gpuN.sh does.

    Starts one tritonserver on REPOSITORY with fixed ports: the binary, the Python backend stub and a
    numpy<2 python3 first on the server's PATH, exactly as `gpupack profile` starts its own. Runs until
    Ctrl-C, SIGTERM or SIGHUP, then stops the server and exits 130, 143 or 129. Exit codes: 1 when the
    server fails to start (e.g. a model fails to load) or exits by itself, 2 for bad input.
    Arguments after -- go to tritonserver.
    """
    from profiler.server.launcher import ServerPorts
    from profiler.server.serving import ServeRequest, Serving
    from profiler.server.serving import serve as run_serve

    def ready(serving: Serving) -> None:
        click.echo(serving.describe(), err=True)

    request = ServeRequest(
        repository=opts["repository"],
        ports=ServerPorts(opts["http_port"], opts["grpc_port"], opts["metrics_port"]),
        gpu=opts["gpu"],
        triton_server=opts["triton_server"],
        backend_python=opts["backend_python"],
        backend_directory=opts["backend_directory"],
        model_control_mode=opts["model_control_mode"],
        server_args=opts["server_args"],
        log_path=opts["log_file"],
        start_timeout_s=opts["start_timeout"],
    )  # type: ignore[arg-type]
    result = run_serve(request, ready, None if opts["quiet"] else sys.stdout)
    click.echo(f"stopped by {result.signal_name}; the server is down", err=True)
    ctx.exit(result.exit_code)
