"""`gpupack profile` of streaming (decoupled, LLM) models: the streaming option group and its run.

A local profile whose models are decoupled (``model_transaction_policy { decoupled: true }``) goes to
the streaming profiler (``profiler.measure.streaming``): TTFT, inter-token latency and tokens/s per
point, weights and memory per sequence per model. ``streaming_models`` decides: every model
decoupled → streaming; none, and no streaming option given → the classic sweep; a mix, or a streaming
option with no decoupled model → a one-line error.
"""

from __future__ import annotations

import click

from profiler.base.options import MAX_SECONDS, FiniteFloat, option_group

# The streaming options (the dict keys click gives them) and their flags, for errors.
STREAMING_FLAGS = {
    "input_tokens": "--input-tokens",
    "output_tokens": "--output-tokens",
    "request_format": "--request-format",
    "duration": "--duration",
}
DEFAULT_TOKENS = "128"
DEFAULT_DURATION_S = 10.0
DEFAULT_REQUEST_FORMAT = "auto"


def _token_length(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    from profiler.base.errors import InputError
    from profiler.measure.streaming.tokens import TokenLength

    if value is None:
        return None
    flag = f"--{(param.name or '').replace('_', '-')}"
    try:
        return TokenLength.parse(value, flag)
    except InputError as exc:
        raise click.BadParameter(exc.message.removeprefix(f"{flag}: ")) from None


def _rates(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    rates = []
    for text in value.split(","):
        try:
            rate = float(text)
        except ValueError:
            raise click.BadParameter(f"expected requests/s like 0.5,2, got {text.strip()!r}") from None
        if not 0 < rate <= 1e6:
            raise click.BadParameter(f"a request rate is above 0 and at most 1e6 requests/s, got {text!r}")
        rates.append(rate)
    return tuple(dict.fromkeys(rates))


STREAMING_OPTIONS = option_group(
    click.option(
        "--input-tokens",
        callback=_token_length,
        metavar="N|LOW-HIGH",
        help=f"Streaming models: prompt tokens (words) per request, fixed or uniform in LOW-HIGH.  "
        f"[default: {DEFAULT_TOKENS}]",
    ),
    click.option(
        "--output-tokens",
        callback=_token_length,
        metavar="N|LOW-HIGH",
        help=f"Streaming models: tokens generated per request (at least 1).  [default: {DEFAULT_TOKENS}]",
    ),
    click.option(
        "--request-format",
        type=click.Choice(["auto", "vllm", "trtllm"]),
        help="Streaming models: the request convention, vLLM backend or TensorRT-LLM; auto: from the "
        "model's inputs.  [default: auto]",
    ),
    click.option(
        "--duration",
        type=FiniteFloat(0, MAX_SECONDS, low_open=True),
        help=f"Streaming models: seconds measured per point, after the warm-up.  "
        f"[default: {DEFAULT_DURATION_S:g}]",
    ),
    click.option(
        "--request-rate",
        callback=_rates,
        metavar="LIST",
        help="Open-loop points at these request rates (requests/s, comma-separated): requests start at "
        "Poisson arrivals whatever is in flight, besides the --concurrency points, recorded with "
        "concurrency 0 (classic models: per batch size). Either load generator; not with --search.",
    ),
)


def streaming_models(opts: dict, models: tuple[str, ...]) -> bool:
    """True when ``models`` are to be profiled as streaming models; a one-line error for a mix.

    Raises:
        click.UsageError: decoupled and other models together, a streaming option without a decoupled
            model, or decoupled models in remote mode.

    """
    given = [flag for key, flag in STREAMING_FLAGS.items() if opts.get(key) is not None]
    repository = opts.get("model_repository")
    from profiler.measure.streaming.request import decoupled_models

    streaming = decoupled_models(repository, models) if repository is not None else ()
    if not streaming:
        if given:
            raise click.UsageError(
                f"{given[0]} is for streaming (decoupled) models, and none of the models is decoupled"
            )
        return False
    others = [m for m in models if m not in streaming]
    if others:
        raise click.UsageError(
            f"decoupled (streaming) models {', '.join(streaming)} are profiled apart from the others "
            f"({', '.join(others)}): profile each group with its own --models and --output"
        )
    for key, flag in (
        ("triton_url", "--triton-url"),
        ("shard", "--shard"),
        ("resume", "--resume"),
        ("search", "--search"),
    ):
        if opts.get(key):
            raise click.UsageError(f"{flag} is not available for streaming (decoupled) models")
    if opts.get("gpus"):
        raise click.UsageError("--gpus is not available for streaming (decoupled) models")
    return True


def streaming_request(opts: dict, models: tuple[str, ...]) -> object:
    """The ``StreamingProfileRequest`` the options ask for."""
    from profiler.base.errors import InputError
    from profiler.commands.options import sample_interval_s
    from profiler.measure.streaming.driver import StreamSettings
    from profiler.measure.streaming.request import StreamingProfileRequest
    from profiler.measure.streaming.tokens import TokenLength

    default = TokenLength.parse(DEFAULT_TOKENS, "--input-tokens")
    try:
        settings = StreamSettings(
            duration_s=opts["duration"] or DEFAULT_DURATION_S,
            warmup_s=opts["warmup"],
            request_timeout_s=opts["request_timeout"],
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return StreamingProfileRequest(
        models=models,
        model_repository=opts["model_repository"],
        output=opts["output"],
        input_tokens=opts["input_tokens"] or default,
        output_tokens=opts["output_tokens"] or default,
        concurrencies=opts["concurrency"],
        request_rates=opts["request_rate"] or (),
        request_format=opts["request_format"] or DEFAULT_REQUEST_FORMAT,
        settings=settings,
        triton_server=opts["triton_server"],
        backend_python=opts["backend_python"],
        backend_directory=opts["backend_directory"],
        gpu=opts["gpu"],
        sample_interval_s=sample_interval_s(opts),
    )


def profile_streaming(ctx: click.Context, opts: dict, models: tuple[str, ...]) -> None:
    """Run the streaming profile and print its table (or JSON); exits as the classic profile does."""
    from profiler.commands.options import Progress
    from profiler.measure.report import profile_json, profile_report, progress_line
    from profiler.measure.streaming.run import run_streaming_profile

    result = run_streaming_profile(streaming_request(opts, models), Progress(progress_line))  # type: ignore[arg-type]
    if opts["as_json"]:
        click.echo(
            profile_json(result.profile, {"summary": result.summary(), "notices": list(result.notices)})
        )
    else:
        click.echo(profile_report(result.profile, result.summary()))
    if result.interrupted:
        ctx.exit(130)
    ctx.exit(0 if any(p.ok for p in result.profile.points) else 1)
