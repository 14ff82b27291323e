"""Which Triton models a placed point deploys, and with which model config.

A point measured in a config variant (Model Analyzer's ``add_sub_config_3``: instance group, max
batch size, dynamic batching) must be deployed in that variant, not in the source repository's
config. Its config comes, first found, from the profile (a Model Analyzer checkpoint holds every
variant's config), from the scratch repository of the gpupack config search that measured it
(``variants/<variant>/config.pbtxt`` beside the profile's ``profile.csv``), or from
``SRC/<variant>/config.pbtxt`` (Model Analyzer's output model repository, where each variant is a
directory); otherwise the source's own config is used and a note says so. Found, it is deployed
under the model's own name (clients keep calling the model by name), with the comment lines of the
source's own config.pbtxt kept at its top. A group point (models measured only together, ``a+b``)
deploys each member model in its own variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2 as mc

from profiler import GROUP_SEPARATOR, VARIANTS_DIR, InputError, Profile, ProfilePoint

CONFIG = "config.pbtxt"


@dataclass(frozen=True)
class ModelDeployment:
    """One Triton model to copy from the source repository; ``config`` replaces its config.pbtxt."""

    model: str
    variant: str
    config: str | None


def _members(point: ProfilePoint, profile: Profile | None) -> list[tuple[str, str]]:
    """(model, variant) per Triton model of ``point``: the group's members for a group point."""
    if profile is not None:
        for c in profile.colocations:
            group = [(p.model, p.variant) for p in c.points]
            if (
                GROUP_SEPARATOR.join(m for m, _ in group) == point.model
                and GROUP_SEPARATOR.join(v for _, v in group) == point.variant
            ):
                return group
    return [(point.model, point.variant)]


def _from_profile(model: str, variant: str, config: Mapping[str, object]) -> str:
    message = mc.ModelConfig()
    try:
        json_format.ParseDict(dict(config), message)
    except json_format.ParseError as exc:
        raise InputError(
            f"model {model!r}, config variant {variant!r}: not a valid model config ({exc})"
        ) from None
    message.name = model
    return text_format.MessageToString(message)


def _from_repository(model: str, variant: str, repository: Path) -> str | None:
    """The variant's config in ``repository/<variant>/``, renamed to ``model``; None when not there."""
    path = repository / variant / CONFIG
    if not variant or variant == model or not path.is_file():
        return None
    message = mc.ModelConfig()
    try:
        text_format.Parse(path.read_text(), message)
    except text_format.ParseError as exc:
        raise InputError(f"{path}: not a valid model config ({exc})") from None
    message.name = model
    return text_format.MessageToString(message)


def _searched_repository(profile: Profile | None) -> Path | None:
    """The scratch repository of the config search that wrote ``profile`` (beside its profile.csv)."""
    if profile is None or not profile.source:
        return None
    return Path(profile.source).parent / VARIANTS_DIR


def _source_comments(model: str, source_repo: Path) -> str:
    """The comment lines of the source's own config of ``model`` (kept in a deployed variant)."""
    path = source_repo / model / CONFIG
    if not path.is_file():
        return ""
    lines = [line for line in path.read_text().splitlines() if line.lstrip().startswith("#")]
    return "".join(f"{line}\n" for line in lines)


def deployments(
    point: ProfilePoint, profile: Profile | None, source_repo: Path
) -> tuple[tuple[ModelDeployment, ...], tuple[str, ...]]:
    """The Triton models ``point`` deploys and their configs; notes for variants found nowhere."""
    out, notes = [], []
    for model, variant in _members(point, profile):
        stored = profile.variant_configs.get((model, variant)) if profile is not None else None
        config = _from_profile(model, variant, stored) if stored else None
        searched = _searched_repository(profile)
        if config is None and searched is not None:
            config = _from_repository(model, variant, searched)
        config = config or _from_repository(model, variant, source_repo)
        if config is not None:
            config = _source_comments(model, source_repo) + config
        if variant and config is None:
            notes.append(
                f"model {model!r}: the config of variant {variant!r} is in neither the profile nor "
                f"{source_repo}/{variant}/: deployed with {source_repo}/{model}/{CONFIG}, which may differ"
            )
        out.append(ModelDeployment(model, variant, config))
    return tuple(out), tuple(notes)
