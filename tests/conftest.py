from __future__ import annotations

from pathlib import Path

import pytest

from packer.service import BUILTIN_PROFILE

SEED_CSV = BUILTIN_PROFILE / "profile.csv"


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    """A writable copy of the built-in seed profile."""
    target = tmp_path / "seed"
    target.mkdir()
    for source in BUILTIN_PROFILE.iterdir():
        (target / source.name).write_text(source.read_text())
    return target
