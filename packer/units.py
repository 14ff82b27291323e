"""Memory sizes as people write them (16GB, 80GiB, 16000MB), converted to gpupack's unit, MB (10^6 bytes).

Shared by the CLI's ``--gpu-memory`` and the fleet file's ``memory:``; no OR-Tools needed.
"""

from __future__ import annotations

import re

# Decimal units are powers of 10, binary ones powers of 2; a bare number is MB.
MEMORY_UNITS_MB = {
    "": 1.0,
    "mb": 1.0,
    "gb": 1e3,
    "tb": 1e6,
    "mib": 2**20 / 1e6,
    "gib": 2**30 / 1e6,
    "tib": 2**40 / 1e6,
}
MEMORY_FORMS = "16GB, 16GiB, 16000MB or 80GiB"
# A petabyte: beyond it, a typo (and "1" * 400 MB would be inf).
MAX_MEMORY_MB = 1e9


def parse_memory_mb(value: object) -> float | None:
    """``value`` in MB, or ``None`` when it is not a positive size in one of ``MEMORY_FORMS``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if 0 < value <= MAX_MEMORY_MB else None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in MEMORY_UNITS_MB or not float(match.group(1)) > 0:
        return None
    megabytes = float(match.group(1)) * MEMORY_UNITS_MB[match.group(2).lower()]
    return megabytes if megabytes <= MAX_MEMORY_MB else None
