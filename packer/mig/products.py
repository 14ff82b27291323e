"""The MIG products: each one's GPU instance profiles and where each may start, kept as data.

Source: NVIDIA Multi-Instance GPU User Guide, "Supported MIG Profiles"
(https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html) and the
placements ``nvidia-smi mig -lgipp`` lists (NVML ``nvmlDeviceGetGpuInstancePossiblePlacements``). A
GPU of these products has 7 compute slices and 8 memory slices; a profile ``<g>g.<n>gb`` takes g
compute slices and a span of memory slices, and may start only at its listed memory-slice
positions. NVML's rule for creating an instance: it fails when its memory slices overlap those of
an instance already there (``layouts.layout_problems`` checks exactly that, and the counts).

Memory: a profile holds the GB its name says, counted as decimal MB (``1g.18gb`` = 18,000 MB). That
is at or below what the driver gives the instance (H100-80GB, ``nvidia-smi mig -lgip``: 1g.10gb 9.75
GiB = 10,469 MB, 3g.40gb 39.50 GiB = 42,413 MB), so a plan that fits the name fits the instance.
Media-extension profiles (``+me``) are left out: they differ only in decoders.
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler import InputError, did_you_mean

COMPUTE_SLICES = 7
MEMORY_SLICES = 8
SOURCE = "https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html"


@dataclass(frozen=True)
class MigProfile:
    """One GPU instance profile: ``g`` compute slices of 7, a ``span`` of memory slices of 8, its starts."""

    name: str
    compute: int
    span: int
    memory_gb: int
    starts: tuple[int, ...]

    @property
    def memory_mb(self) -> float:
        """The memory a plan may count on in this instance, MB (the name's GB, decimal)."""
        return self.memory_gb * 1000.0

    @property
    def max_count(self) -> int:
        """The most instances of this profile one GPU holds (NVIDIA's "Number of Instances Available")."""
        return len(self.starts)

    @property
    def compute_share(self) -> float:
        """The fraction of the GPU's streaming multiprocessors (compute slices) the instance gets."""
        return self.compute / COMPUTE_SLICES

    def __post_init__(self) -> None:
        if not 1 <= self.compute <= COMPUTE_SLICES or not self.starts:
            raise ValueError(f"MIG profile {self.name}: bad compute slices or no start position")
        if any(s < 0 or s + self.span > MEMORY_SLICES for s in self.starts):
            raise ValueError(f"MIG profile {self.name}: a start position runs past the memory slices")


@dataclass(frozen=True)
class MigProduct:
    """A MIG-capable GPU product: its name (``H200-141GB``), memory and profiles, smallest first."""

    name: str
    memory_gb: int
    profiles: tuple[MigProfile, ...]

    def profile(self, name: str) -> MigProfile:
        """The profile called ``name``; ``InputError`` naming the product's profiles otherwise."""
        for p in self.profiles:
            if p.name == name:
                return p
        names = [p.name for p in self.profiles]
        raise InputError(
            f"MIG product {self.name}: no profile {name!r}",
            did_you_mean(name, names, f"choose one of: {', '.join(names)}"),
        )


def _product(name: str, memory_gb: int, sizes: tuple[int, int, int, int, int, int]) -> MigProduct:
    """The A100/H100/H200 family's six profiles; ``sizes`` are their GB, in the order below."""
    one, one_wide, two, three, four, seven = sizes
    return MigProduct(
        name,
        memory_gb,
        (
            MigProfile(f"1g.{one}gb", 1, 1, one, (0, 1, 2, 3, 4, 5, 6)),
            MigProfile(f"1g.{one_wide}gb", 1, 2, one_wide, (0, 2, 4, 6)),
            MigProfile(f"2g.{two}gb", 2, 2, two, (0, 2, 4)),
            MigProfile(f"3g.{three}gb", 3, 4, three, (0, 4)),
            MigProfile(f"4g.{four}gb", 4, 4, four, (0,)),
            MigProfile(f"7g.{seven}gb", 7, 8, seven, (0,)),
        ),
    )


# Profile names per product, as the guide's tables list them (A100-40GB: 1g.5gb, 1g.10gb, 2g.10gb,
# 3g.20gb, 4g.20gb, 7g.40gb; "for A100-SXM4-80GB, the profile names will change according to the
# memory proportion": 1g.10gb, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb; H100-80GB as the A100-80GB;
# H200-141GB: 1g.18gb, 1g.35gb, 2g.35gb, 3g.71gb, 4g.71gb, 7g.141gb).
PRODUCTS: dict[str, MigProduct] = {
    p.name: p
    for p in (
        _product("A100-40GB", 40, (5, 10, 10, 20, 20, 40)),
        _product("A100-80GB", 80, (10, 20, 20, 40, 40, 80)),
        _product("H100-80GB", 80, (10, 20, 20, 40, 40, 80)),
        _product("H200-141GB", 141, (18, 35, 35, 71, 71, 141)),
    )
}


def mig_product(name: str) -> MigProduct:
    """The product called ``name`` (``H200-141GB``); a one-line ``InputError`` for an unknown one."""
    if name in PRODUCTS:
        return PRODUCTS[name]
    known = list(PRODUCTS)
    raise InputError(
        f"unknown MIG product {name!r}", did_you_mean(name, known, f"choose one of: {', '.join(known)}")
    )
