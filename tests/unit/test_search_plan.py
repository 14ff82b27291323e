"""A config search's profile planned and deployed: each variant x point is a candidate, and the
written repository serves the chosen variant under the model's own name (recorded search, no server).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from cli import cli
from profiler import VARIANTS_DIR
from profiler.measure.variants import VariantSpace, generate_variants, read_config, write_variants

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "data" / "config-search" / "batched_sleeper-brute"
EXAMPLE = ROOT / "profiler" / "examples" / "batched_sleeper"
MODEL = "batched_sleeper"
# The space tests/data/config-search/README.md recorded: 1-3 instances, the batcher off, 0 us, 10 ms.
SPACE = VariantSpace(max_instances=3, queue_delays_us=(0, 10_000))


def _searched(root: Path) -> tuple[Path, Path]:
    """The recorded profile with its scratch repository of variants, and a source repository."""
    source = root / "models"
    shutil.copytree(EXAMPLE, source / MODEL)
    profile = root / "profile"
    shutil.copytree(RECORDED, profile)
    config = read_config(source / MODEL)
    write_variants(source / MODEL, profile / VARIANTS_DIR, config, generate_variants(MODEL, config, SPACE))
    return profile, source


def _plan(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["plan", *args, "--gpu-memory", "1GB", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_variant_and_point_of_a_search_is_a_candidate_and_the_plan_names_the_chosen_variant(
    tmp_path: Path,
):
    profile, _ = _searched(tmp_path)
    alone = _plan("--profiles", str(profile), "--choose-points")
    chosen = alone["gpus"][0]["models"][0]
    assert chosen["variant"] == "batched_sleeper_config_8" and chosen["instance_count"] == 3  # the fastest
    batcher = (chosen["dynamic_batching"], chosen["max_queue_delay_us"], chosen["max_batch_size"])
    assert batcher == (True, 10_000, 4)
    table = CliRunner().invoke(
        cli, ["plan", "--profiles", str(profile), "--choose-points", "--gpu-memory", "1GB"]
    )
    assert "batched_sleeper (config_8 b2 c8 i3 dyn10000us)" in table.output
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"{MODEL}: {{throughput: 150, max_latency_p99_ms: 150}}\n")
    met = _plan("--profiles", str(profile), "--choose-points", "--targets", str(targets))
    points = [m for g in met["gpus"] for m in g["models"]]
    assert sum(p["throughput"] for p in points) >= 150
    assert all(p["latency_p99_ms"] <= 150 and p["variant"].startswith(f"{MODEL}_config_") for p in points)


def test_written_repository_serves_the_chosen_variant_under_the_models_own_name(tmp_path: Path):
    profile, source = _searched(tmp_path)
    out = tmp_path / "deploy"
    result = CliRunner().invoke(
        cli,
        ["plan", "--profiles", str(profile), "--choose-points", "--gpu-memory", "1GB",
         "--model-repository", str(source), "--write-repositories", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "is in neither" not in result.output
    chosen = json.loads((out / "plan.json").read_text())["gpus"][0]["models"][0]
    text = (out / "gpu0" / MODEL / "config.pbtxt").read_text()
    config = text_format.Parse(text, mc.ModelConfig())
    assert config.name == MODEL  # clients call it by its own name
    assert [(g.kind, g.count) for g in config.instance_group] == [(mc.ModelInstanceGroup.KIND_CPU, 3)]
    assert config.dynamic_batching.max_queue_delay_microseconds == 10_000 and config.max_batch_size == 4
    assert f"config variant {chosen['variant']}" in text.splitlines()[0]
    assert "# CPU, numpy: a fixed service time per *execute call*" in text  # the source's comments kept
    assert (out / "gpu0" / MODEL / "1" / "model.py").read_text() == (EXAMPLE / "1" / "model.py").read_text()
    assert not (out / "gpu0" / MODEL / "1" / "model.py").is_symlink()
