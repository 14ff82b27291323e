"""--config for plan and profile: layers (defaults → file → GPUPACK_* → flags), unknown keys, replans."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli import cli


def _plan_json(*args: str, env: dict | None = None) -> dict:
    result = CliRunner().invoke(cli, ["plan", *args, "--json", "-q"], env=env, auto_envvar_prefix="GPUPACK")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return str(path)


def test_a_config_file_sets_options_under_their_flag_or_field_names(tmp_path: Path):
    config = _config(tmp_path, "objective: throughput\ngpu-memory: 16GB\nmax_gpu_util: 80\n")
    data = _plan_json("--config", config)
    assert data["objective"] == "throughput"
    assert data["limits_pct"]["GPU utilization"] == 80
    assert data["settings"]["max-gpu-util"] == 80 and data["settings"]["gpu-memory"] == 16000


def test_layers_go_defaults_then_file_then_environment_then_flags(tmp_path: Path):
    config = _config(tmp_path, "objective: throughput\nmax-gpu-util: 90\n")
    from_file = _plan_json("--config", config)
    from_env = _plan_json("--config", config, env={"GPUPACK_PLAN_MAX_GPU_UTIL": "85"})
    from_flag = _plan_json(
        "--config", config, "--max-gpu-util", "95", env={"GPUPACK_PLAN_MAX_GPU_UTIL": "85"}
    )
    assert [d["settings"]["max-gpu-util"] for d in (from_file, from_env, from_flag)] == [90, 85, 95]
    assert _plan_json("--objective", "throughput")["settings"]["max-gpu-util"] is None  # the default


def test_repeatable_options_take_a_list_or_one_value(tmp_path: Path):
    config = _config(
        tmp_path,
        'apart: [[classification_breast, segmentation_liver], "classification_chest,segmentation_liver"]\n'
        "together: classification_malaria,segmentation_ct_spleen\n",
    )
    data = _plan_json("--config", config)
    hosts = {m["name"]: [p["gpu"] for p in m["points"]] for m in data["models"]}
    assert hosts["classification_malaria"] == hosts["segmentation_ct_spleen"]
    assert not set(hosts["classification_breast"]) & set(hosts["segmentation_liver"])


def test_an_unknown_key_is_refused_with_the_closest_option(tmp_path: Path):
    result = CliRunner().invoke(cli, ["plan", "--config", _config(tmp_path, "max-gpu-utl: 80\n")])
    assert result.exit_code == 2
    assert "unknown key 'max-gpu-utl' for `plan`" in result.output
    assert "did you mean 'max-gpu-util'?" in result.output


def test_a_config_file_that_is_not_a_mapping_is_refused(tmp_path: Path):
    result = CliRunner().invoke(cli, ["plan", "--config", _config(tmp_path, "- objective\n")])
    assert result.exit_code == 2 and "expected a mapping of option names to values" in result.output
    result = CliRunner().invoke(cli, ["plan", "--config", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_a_bad_value_in_the_file_is_refused_by_the_option_itself(tmp_path: Path):
    result = CliRunner().invoke(cli, ["plan", "--config", _config(tmp_path, "time-limit: soon\n")])
    assert result.exit_code == 2 and "--time-limit" in result.output


def test_the_plan_json_records_its_settings_and_replans_to_the_same_plan(tmp_path: Path):
    first = tmp_path / "first.json"
    examples = Path(__file__).resolve().parents[2] / "examples"
    args = ["--profiles", str(examples / "profiles" / "small-16gb"), "--choose-points", "--apart"]
    args += ["classification_breast,segmentation_liver", "--time-limit", "5", "--output", str(first)]
    original = _plan_json(*args)
    assert original["settings"]["choose-points"] is True
    assert original["settings"]["apart"] == ["classification_breast,segmentation_liver"]
    assert original["settings"]["output"] == str(first)
    replanned = _plan_json("--config", str(first))
    assert replanned["gpus"] == original["gpus"] and replanned["models"] == original["models"]
    # The replan writes nothing over the first run's output.
    assert replanned["settings"]["output"] is None
    assert json.loads(first.read_text())["gpus"] == original["gpus"]


def test_profile_takes_a_config_file_too(tmp_path: Path):
    config = tmp_path / "profile.yaml"
    config.write_text("models: identity\nbatch: 1,2\nmodel-repository: /nonexistent/repository\n")
    result = CliRunner().invoke(cli, ["profile", "--config", str(config), "--output", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "Missing option '--models'" not in result.output  # the file gave it
    assert "/nonexistent/repository" in result.output
    config.write_text("model: identity\n")
    result = CliRunner().invoke(cli, ["profile", "--config", str(config)])
    assert result.exit_code == 2 and "did you mean 'models'?" in result.output
