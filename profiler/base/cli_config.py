"""Configuration files for the CLI (`--config FILE`): every command option, layered under flags.

It lives with the profiler because `profile` (which runs on the GPU host, without the packer) uses it
too; it is CLI wiring, imported only by cli.py.

``configurable`` gives a click command a ``--config FILE`` option and records the effective
value of every option. It works over the command's own click parameters, so a new option is
configurable without being listed again:

* ``--config`` is eager: its callback reads the YAML mapping (keys are option names,
  ``gpu-memory`` or ``gpu_memory``; a list for repeatable options, and a list where the CLI takes
  ``A,B``: ``batch: [1, 2, 4]``, ``apart: [[a, b], [c, d]]``) into ``ctx.default_map``, which
  click consults after the command line and the environment (``GPUPACK_<COMMAND>_<OPTION>``, from
  the root's ``auto_envvar_prefix``) and before the option's default: exactly the layer order
  above. Unknown keys are refused, naming the key and the closest known one. A plan JSON (whose
  ``settings`` key records a plan's options) is a config file too: ``gpupack plan --config
  plan.json`` replans, without the keys that say where the first run wrote its output.
* every other option's value, after its type conversion and before its own callback (so in the
  form a config file takes), is kept in ``ctx.meta``; ``effective_settings`` returns them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import yaml

from profiler.base.errors import InputError, did_you_mean
from profiler.base.plan_dir import replayed_settings

_SETTINGS = "gpupack.settings"
CONFIG_PARAM = "config"


def _options(command: click.Command) -> dict[str, click.Option]:
    """Every spelling a config file may use for an option → the option: name, flags without dashes."""
    names: dict[str, click.Option] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in (CONFIG_PARAM, "help") or param.hidden:
            continue
        spellings = {param.name or "", (param.name or "").replace("_", "-")}
        spellings |= {flag.lstrip("-") for flag in param.opts if flag.startswith("--")}
        names.update({s: param for s in spellings if s})
    return names


def _read(path: Path, not_replayed: tuple[str, ...]) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--config {path}: no such file") from None
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"--config {path}: not readable YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"--config {path}: expected a mapping of option names to values")
    settings = replayed_settings(path, data)
    if settings is not None:
        # A plan JSON: replan with the options it records, but write nothing over what it wrote.
        return {k: v for k, v in settings.items() if k not in not_replayed}
    return data


def _joined(value: object) -> object:
    """A YAML list where the CLI takes ``A,B``: ``[1, 2, 4]`` → ``"1,2,4"``."""
    return ",".join(str(v) for v in value) if isinstance(value, list) else value


def _value(param: click.Option, value: object) -> object:
    """``value`` as click takes it from a default map: a list for repeatable options."""
    if not param.multiple:
        return _joined(value)
    return [_joined(v) for v in (value if isinstance(value, list) else [value])]


def _default_map(command: click.Command, path: Path, data: dict) -> dict[str, object]:
    options = _options(command)
    preferred = sorted({_key(p) for p in options.values()})
    mapped: dict[str, object] = {}
    for key, value in data.items():
        param = options.get(str(key))
        if param is None:
            hint = did_you_mean(str(key), preferred, f"known keys: {', '.join(preferred)}")
            raise InputError(f"--config {path}: unknown key {key!r} for `{command.name}`", hint)
        if value is not None:
            mapped[param.name] = _value(param, value)
    return mapped


def _loader(not_replayed: tuple[str, ...]) -> Callable[[click.Context, click.Parameter, Path | None], None]:
    def load(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
        if value is None:
            return
        defaults = _default_map(ctx.command, value, _read(value, not_replayed))
        ctx.default_map = {**(ctx.default_map or {}), **defaults}

    return load


def _recording(callback: Callable | None) -> Callable:
    def record(ctx: click.Context, param: click.Parameter, value: object) -> object:
        ctx.meta.setdefault(_SETTINGS, {})[param.name] = value
        return callback(ctx, param, value) if callback else value

    return record


def configurable(not_replayed: tuple[str, ...] = ()) -> Callable[[click.Command], click.Command]:
    """Add ``--config`` to a command and record every option's effective value (module docstring).

    ``not_replayed``: keys a plan JSON's settings do not carry over when it is the config file
    (where the first run wrote its output), so a replan writes nothing over the first one's.
    """

    def decorate(command: click.Command) -> click.Command:
        for param in command.params:
            param.callback = _recording(param.callback)
        config = click.Option(
            ["--config"],
            type=click.Path(dir_okay=False, path_type=Path),
            is_eager=True,
            expose_value=False,
            callback=_loader(not_replayed),
            metavar="FILE",
            help="YAML file of option values (keys: option names; lists for repeatable options), or a "
            "plan JSON to replan with its recorded settings. Layers: defaults, then this file, then "
            "GPUPACK_* environment variables, then flags.",
        )
        command.params.insert(0, config)
        return command

    return decorate


def _plain(value: object) -> object:
    """``value`` as YAML/JSON takes it: paths as strings, tuples as lists."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _key(param: click.Parameter) -> str:
    """An option's key in a config file: its long flag without dashes (``gpu-memory``, ``json``)."""
    flags = [flag for flag in param.opts if flag.startswith("--")]
    return flags[0][2:] if flags else param.name or ""


def effective_settings(ctx: click.Context) -> dict[str, object]:
    """Every option's effective value, keyed as a config file writes it, in the form it reads back."""
    recorded = ctx.meta.get(_SETTINGS, {})
    keys = {p.name: _key(p) for p in ctx.command.params}
    return dict(sorted((keys.get(name, name), _plain(value)) for name, value in recorded.items()))
