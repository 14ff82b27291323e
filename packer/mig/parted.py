"""An nvidia-mig-parted config for a plan's GPUs: which GPUs run MIG, and how many slices of each profile.

mig-parted (https://github.com/NVIDIA/mig-parted) takes, per device, ``mig-enabled`` and a count per
profile in ``mig-devices``; it chooses the placements itself, and every count a plan writes is one a
valid layout (``layouts``) realizes. Config ``gpupack`` covers the plan's GPUs by index (device i
is the plan's GPU i, as in its launch scripts); each distinct layout also gets its own config
(``gpupack-<counts>``), the value to put in a node's ``nvidia.com/mig.config`` label when nodes are
uniform.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import yaml

from packer.plan import Gpu, Plan


def _counts(gpu: Gpu) -> dict[str, int]:
    return dict(sorted(Counter(s.profile for s in gpu.mig or ()).items()))


def layout_label(profiles: Iterable[str]) -> str:
    """The mig-parted config (and node label value) of a layout of these profiles: ``gpupack-1g.18gb-7``."""
    counts = sorted(Counter(profiles).items())
    return "gpupack-" + "-".join(f"{p}-{n}" for p, n in counts) if counts else "all-disabled"


def layout_name(gpu: Gpu) -> str:
    """``layout_label`` of ``gpu``'s layout (``all-disabled`` for a GPU that runs whole)."""
    return layout_label(s.profile for s in gpu.mig or ())


def _device(indices: list[int] | str, gpu: Gpu) -> dict:
    if gpu.mig is None:
        return {"devices": indices, "mig-enabled": False}
    return {"devices": indices, "mig-enabled": True, "mig-devices": _counts(gpu)}


def mig_parted_config(plan: Plan) -> dict:
    """The config document (``version: v1``, ``mig-configs``)."""
    configs: dict[str, list[dict]] = {"all-disabled": [{"devices": "all", "mig-enabled": False}]}
    configs["gpupack"] = [_device([g.index], g) for g in plan.gpus]
    for gpu in plan.gpus:
        if gpu.mig is not None:
            configs.setdefault(layout_name(gpu), [_device("all", gpu)])
    return {"version": "v1", "mig-configs": configs}


def mig_parted_yaml(plan: Plan) -> str:
    """``mig_parted_config`` as YAML text."""
    return yaml.safe_dump(mig_parted_config(plan), sort_keys=False)
