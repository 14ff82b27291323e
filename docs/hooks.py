"""MkDocs hooks: the command reference, generated from the click group at build time, and the schemas.

``reference/cli.md`` is written from ``cli.cli`` (the click group behind the ``gpupack`` command), so a
new command or option is documented by the build that ships it. The JSON Schemas shipped in the
package (``profiler/base/schemas/``) are published under ``schemas/`` so the reference pages can link
them.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "profiler" / "base" / "schemas"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _metavar(param: click.Parameter, ctx: click.Context) -> str:
    try:
        return param.make_metavar(ctx)
    except TypeError:  # click < 8.2 takes no context
        return param.make_metavar()  # type: ignore[call-arg]


def _option_row(param: click.Parameter, ctx: click.Context) -> str:
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
    help_text = record[1] if record else ""
    metavar = _metavar(param, ctx) if not getattr(param, "is_flag", False) else ""
    if isinstance(param, click.Option) and isinstance(param.envvar, str) and "env var:" not in help_text:
        help_text += f" [env: `{param.envvar}`]"
    return f"| {names} | {_cell(metavar)} | {_cell(help_text)} |"


def _command(name: str, command: click.Command, parent: click.Context) -> list[str]:
    ctx = click.Context(command, info_name=name, parent=parent)
    lines = [f"## `{ctx.command_path}`", ""]
    lines += ["```text", command.get_usage(ctx), "```", ""]
    help_text = inspect.cleandoc(command.help or "").replace("\b\n", "")
    lines += [help_text, ""]
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if arguments:
        lines += ["Arguments: " + ", ".join(f"`{_metavar(p, ctx)}`" for p in arguments), ""]
    options = [p for p in command.get_params(ctx) if isinstance(p, click.Option) and not p.hidden]
    lines += ["| option | value | meaning |", "|---|---|---|"]
    lines += [_option_row(p, ctx) for p in options]
    lines.append("")
    if isinstance(command, click.Group):
        for sub_name, sub in sorted(command.commands.items()):
            lines += _command(sub_name, sub, ctx)
    return lines


def cli_reference() -> str:
    """The Markdown of the command reference, from ``cli.cli``."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from cli import cli  # the group object itself, whichever module defines each command

    root = click.Context(cli, info_name="gpupack")
    lines = [
        "# Commands",
        "",
        "Generated from the command definitions at build time (`docs/hooks.py`), so it always matches",
        "`gpupack COMMAND --help`. Every option of a command can also be set in the environment as",
        "`GPUPACK_<COMMAND>_<OPTION>` (shown per option) or in a [configuration file](config-files.md);",
        "flags win over the environment, which wins over the file.",
        "",
        "```text",
        cli.get_help(root),
        "```",
        "",
    ]
    for name, command in sorted(cli.commands.items()):
        lines += _command(name, command, root)
    return "\n".join(lines)


def on_files(files, config):  # noqa: ANN001, ANN201 (MkDocs' hook signature)
    """Add the generated command reference and the published schemas to the site's files."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, "reference/cli.md", content=cli_reference()))
    for schema in sorted(SCHEMAS.glob("*.json")):
        files.append(File.generated(config, f"schemas/{schema.name}", content=schema.read_bytes()))
    return files
