"""Config variants: the space, each a valid ModelConfig under its own name, in the scratch repository only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from profiler.base.errors import InputError
from profiler.measure.variants import (
    Variant,
    VariantSpace,
    generate_variants,
    read_config,
    variant_config,
    write_variants,
)
from profiler.profiles.profile_io import read_profile, write_profile
from profiler.profiles.schema import Profile, ProfilePoint

EXAMPLES = Path(__file__).resolve().parents[2] / "profiler" / "examples"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _parse(path: Path) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(), config)
    return config


def test_space_of_a_batching_model_is_instances_times_batchers_times_max_batch_sizes():
    config = read_config(EXAMPLES / "batched_sleeper")
    space = VariantSpace(max_instances=3, queue_delays_us=(0, 100, 1000), max_batch_sizes=(4, 8))
    variants = generate_variants("batched_sleeper", config, space)
    assert len(variants) == 3 * (1 + 3) * 2
    assert [v.name for v in variants] == [f"batched_sleeper_config_{n}" for n in range(len(variants))]
    assert len({v.settings for v in variants}) == len(variants)
    assert {v.instance_count for v in variants} == {1, 2, 3}
    assert {(v.dynamic_batching, v.max_queue_delay_us) for v in variants} == {
        (False, None),
        (True, 0),
        (True, 100),
        (True, 1000),
    }
    assert {v.max_batch_size for v in variants} == {4, 8}


def test_default_space_is_four_instances_and_three_queue_delays_at_the_models_own_max_batch_size():
    variants = generate_variants("m", read_config(EXAMPLES / "batched_sleeper"), VariantSpace())
    assert len(variants) == 4 * 4
    assert {v.max_batch_size for v in variants} == {4}
    assert {v.max_queue_delay_us for v in variants} == {None, 0, 100, 1000}


def test_model_that_does_not_batch_searches_its_instance_count_only():
    config = read_config(EXAMPLES / "batched_sleeper")
    config.max_batch_size = 0
    variants = generate_variants("m", config, VariantSpace(max_instances=2, max_batch_sizes=(8,)))
    assert [(v.instance_count, v.dynamic_batching, v.max_batch_size) for v in variants] == [
        (1, False, None),
        (2, False, None),
    ]
    assert variant_config(config, variants[1]).max_batch_size == 0


def test_variant_config_changes_the_message_and_leaves_the_original_alone():
    config = read_config(EXAMPLES / "batched_sleeper")
    before = config.SerializeToString()
    variant = Variant(3, True, 100, 8, "bs_config_7", preferred_batch_sizes=(4, 8))
    out = variant_config(config, variant)
    assert config.SerializeToString() == before
    assert out.name == "bs_config_7" and out.max_batch_size == 8
    assert [(g.count, g.kind) for g in out.instance_group] == [
        (3, model_config_pb2.ModelInstanceGroup.KIND_CPU)
    ]
    assert out.dynamic_batching.max_queue_delay_microseconds == 100
    assert list(out.dynamic_batching.preferred_batch_size) == [4, 8]
    assert out.parameters["service_time_ms"].string_value == config.parameters["service_time_ms"].string_value
    off = variant_config(out, Variant(1, False, None, 8, "bs_config_0"))
    assert not off.HasField("dynamic_batching") and off.instance_group[0].count == 1


def test_instance_group_keeps_its_kind_and_drops_the_gpu_list():
    config = model_config_pb2.ModelConfig()
    text_format.Parse(
        "max_batch_size: 8 instance_group [ { kind: KIND_GPU, count: 2, gpus: [0, 1] }, { kind: KIND_CPU } ]",
        config,
    )
    out = variant_config(config, Variant(4, False, None, 8, "v"))
    assert len(out.instance_group) == 1
    group = out.instance_group[0]
    assert group.kind == model_config_pb2.ModelInstanceGroup.KIND_GPU and group.count == 4 and not group.gpus


def test_written_variants_are_valid_configs_under_their_own_names_in_the_scratch_repository_only(
    tmp_path: Path,
):
    repository = tmp_path / "models"
    shutil.copytree(EXAMPLES / "batched_sleeper", repository / "batched_sleeper")
    before = _snapshot(repository)
    model_dir = repository / "batched_sleeper"
    config = read_config(model_dir)
    variants = generate_variants(
        "batched_sleeper", config, VariantSpace(max_instances=2, queue_delays_us=(0,))
    )
    scratch = tmp_path / "out" / "variants"
    write_variants(model_dir, scratch, config, variants)
    write_variants(model_dir, scratch, config, variants)  # a resumed search writes them again

    assert _snapshot(repository) == before
    assert sorted(p.name for p in scratch.iterdir()) == sorted(v.name for v in variants)
    for variant in variants:
        written = _parse(scratch / variant.name / "config.pbtxt")
        assert written == variant_config(config, variant)
        assert written.name == variant.name
        version = scratch / variant.name / "1"
        # A folder of the variant's own (the backend's __pycache__ lands here), its files linked.
        assert version.is_dir() and not version.is_symlink()
        assert Path(os.readlink(version / "model.py")) == model_dir.resolve() / "1" / "model.py"
        assert (version / "model.py").read_text() == (model_dir / "1" / "model.py").read_text()


def test_config_that_is_not_a_model_configuration_is_one_input_error(tmp_path: Path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.pbtxt").write_text("max_batch_size: 4\nno_such_field: 1\n")
    with pytest.raises(InputError, match=r"config.pbtxt: not a valid model configuration"):
        read_config(tmp_path / "m")
    with pytest.raises(InputError, match=r"no config.pbtxt"):
        read_config(tmp_path)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"max_instances": 0}, "--max-instances"),
        ({"queue_delays_us": (-1,)}, "--queue-delays-us"),
        ({"queue_delays_us": (100, 100)}, "--queue-delays-us"),
        ({"max_batch_sizes": (0,)}, "--max-batch-sizes"),
        ({"preferred_batch_sizes": (True,)}, "--preferred-batch-sizes"),
    ],
)
def test_bad_search_space_is_refused(space: dict, message: str):
    with pytest.raises(InputError, match=message):
        VariantSpace(**space)


def test_variant_columns_round_trip_through_the_profile_and_older_profiles_still_read(tmp_path: Path):
    variant = Variant(2, True, 100, 8, "m_config_5")
    point = ProfilePoint("m", 1, 4, throughput=10.0, latency_p99_ms=3.0, **variant.columns())
    write_profile(Profile(points=(point,)), tmp_path / "p")
    (back,) = read_profile(tmp_path / "p").points
    assert back == point
    assert (
        back.variant,
        back.instance_count,
        back.dynamic_batching,
        back.max_queue_delay_us,
        back.max_batch_size,
    ) == (
        "m_config_5",
        2,
        True,
        100,
        8,
    )
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "profile.csv").write_text(
        "model,batch_size,concurrency,instance_count,throughput_infer_per_sec\nm,1,1,1,5\n"
    )
    (old,) = read_profile(tmp_path / "old").points
    assert (old.dynamic_batching, old.max_queue_delay_us, old.max_batch_size) == (None, None, None)


def test_queue_delay_without_the_dynamic_batcher_is_refused_in_a_profile(tmp_path: Path):
    (tmp_path / "profile.csv").write_text(
        "model,batch_size,concurrency,throughput_infer_per_sec,dynamic_batching,max_queue_delay_us\n"
        "m,1,1,5,false,0\n"
    )
    with pytest.raises(
        InputError, match=r"row 1 \(model 'm'\): 'max_queue_delay_us' is set but 'dynamic_batching'"
    ):
        read_profile(tmp_path)
