"""The user's model repository, read once: which models exist, their configs, what ensembles call.

A model folder may have no config.pbtxt (Triton completes the configs of ONNX, TensorRT and other
models itself); then it is copied as it is. An ensemble's steps must be in the repository: they go
onto every GPU that runs the ensemble, and the planner keeps an ensemble and its profiled steps
together (``dependency_groups``). Nothing here writes: the source is never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from packer.deploy.configs import CONFIG, check_model_name, ensemble_steps, parse_config
from profiler import InputError, read_text


@dataclass(frozen=True)
class SourceModel:
    """One model folder of the source repository; ``config`` is ``None`` without config.pbtxt."""

    name: str
    path: Path
    config_text: str | None
    config: mc.ModelConfig | None
    steps: tuple[str, ...]


def _read_model(root: Path, name: str) -> SourceModel:
    check_model_name(name)
    path = root / name
    if not path.is_dir():
        raise InputError(f"model {name!r} is not in --model-repository {root} (no folder {name}/)")
    config_path = path / CONFIG
    if not os.path.lexists(config_path):
        return SourceModel(name, path, None, None, ())
    text = read_text(config_path)
    config = parse_config(text, str(config_path))
    return SourceModel(name, path, text, config, tuple(ensemble_steps(config)))


@dataclass(frozen=True)
class SourceRepository:
    """The models of ``root`` that a plan needs, with every ensemble step they call."""

    root: Path
    models: dict[str, SourceModel]

    def closure(self, name: str) -> list[str]:
        """``name`` and every model it calls, directly or through other ensembles, in order."""
        found: list[str] = []
        pending = [name]
        while pending:
            current = pending.pop(0)
            if current not in found:
                found.append(current)
                pending.extend(self.models[current].steps)
        return found

    def dependency_groups(self, planned: Iterable[str]) -> tuple[tuple[str, ...], ...]:
        """Per ensemble among ``planned``: it and its steps that are planned too (to run together)."""
        planned = [name for name in planned if name in self.models]  # a group point (a+b) is no folder
        groups = []
        for name in planned:
            members = [m for m in self.closure(name) if m in planned]
            if len(members) > 1:
                groups.append(tuple(members))
        return tuple(groups)


def read_source(root: Path, planned: Iterable[str]) -> SourceRepository:
    """Read the folders of ``planned`` models and, transitively, of the models their ensembles call."""
    if not root.is_dir():
        raise InputError(f"--model-repository {root}: not a directory")
    models: dict[str, SourceModel] = {}
    pending = list(planned)
    caller: dict[str, str] = {}
    while pending:
        name = pending.pop(0)
        if name in models:
            continue
        try:
            models[name] = _read_model(root, name)
        except InputError as exc:
            if name in caller:
                raise InputError(f"ensemble {caller[name]!r} calls {name!r}: {exc.message}") from None
            raise
        for step in models[name].steps:
            caller.setdefault(step, name)
            pending.append(step)
    return SourceRepository(root, models)
