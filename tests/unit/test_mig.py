"""MIG slices as bins: the product tables, layouts and their independent check, and sliced plans.

The layout checker here (``_driver_accepts``) is written from NVIDIA's placement rule alone (an
instance starts at one of its profile's allowed positions and its memory slices overlap no other
instance's), independently of ``packer.mig.layouts``; every plan these tests produce passes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fleet_support import SETTINGS, point, solve, write

from cli import cli as main
from packer.inputs import GpuType
from packer.mig.layouts import Slice, layout_problems, layouts
from packer.mig.products import PRODUCTS, mig_product
from packer.plan import Plan
from packer.rules import Rules
from packer.settings import Goal
from profiler import InputError
from profiler.profiles.profile_io import read_profile

# NVIDIA MIG user guide, per profile of the A100/H100/H200 family: (compute slices, memory-slice
# span, allowed starts), smallest first; memory in GB per product, in the same order.
_RULES = (
    (1, 1, range(7)),
    (1, 2, (0, 2, 4, 6)),
    (2, 2, (0, 2, 4)),
    (3, 4, (0, 4)),
    (4, 4, (0,)),
    (7, 8, (0,)),
)
_GB = {
    "A100-40GB": (5, 10, 10, 20, 20, 40),
    "A100-80GB": (10, 20, 20, 40, 40, 80),
    "H100-80GB": (10, 20, 20, 40, 40, 80),
    "H200-141GB": (18, 35, 35, 71, 71, 141),
}
H200 = 141_000


def _table(product: str) -> dict[str, tuple[int, int, tuple[int, ...]]]:
    return {
        f"{g}g.{gb}gb": (g, span, tuple(starts))
        for (g, span, starts), gb in zip(_RULES, _GB[product], strict=True)
    }


def _driver_accepts(product: str, layout: list[tuple[str, int]]) -> bool:
    table, taken = _table(product), set()
    for profile, start in layout:
        if profile not in table or start not in table[profile][2]:
            return False
        cells = set(range(start, start + table[profile][1]))
        if cells & taken:
            return False
        taken |= cells
    return sum(table[p][0] for p, _ in layout) <= 7 and bool(layout)


def _layouts_of(plan: Plan) -> list[list[tuple[str, int]]]:
    return [[(s.profile, s.start) for s in g.mig] for g in plan.gpus if g.mig is not None]


def _h200(tmp_path: Path, sizes_mb: list[float], util: float = 10.0, **kwargs) -> GpuType:
    points = [point(f"m{i:02d}", 1, mb, 10.0, util=util) for i, mb in enumerate(sizes_mb)]
    directory = write(tmp_path / "h200", points, H200, server_mb=300)
    return GpuType("h200", H200, read_profile(directory), mig="H200-141GB", **kwargs)


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_product_tables_match_the_mig_user_guide(product):
    table = _table(product)
    assert {p.name: (p.compute, p.span, p.starts) for p in mig_product(product).profiles} == table


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_every_enumerated_layout_is_one_the_driver_accepts_and_none_is_missing(product):
    found = layouts(mig_product(product))
    assert all(_driver_accepts(product, [(s.profile, s.start) for s in layout]) for layout in found)
    assert len(found) == len(set(found))
    # Every maximal packing of 1g slices is there, and the largest layouts hold 7 instances.
    assert max(len(layout) for layout in found) == 7
    name = mig_product(product).profiles[0].name
    assert tuple(Slice(s, name) for s in range(7)) in found


def test_layout_check_refuses_overlaps_bad_starts_and_unknown_profiles():
    h200 = mig_product("H200-141GB")
    assert layout_problems(h200, [Slice(0, "3g.71gb"), Slice(4, "3g.71gb")]) == []
    assert "overlaps" in layout_problems(h200, [Slice(0, "4g.71gb"), Slice(2, "2g.35gb")])[0]
    assert "cannot start at memory slice 1" in layout_problems(h200, [Slice(1, "2g.35gb")])[0]
    assert "no MIG profile '1g.10gb'" in layout_problems(h200, [Slice(0, "1g.10gb")])[0]


def test_unknown_mig_product_is_a_one_line_error_with_a_hint():
    with pytest.raises(InputError, match="unknown MIG product 'H200-140GB'") as caught:
        mig_product("H200-140GB")
    assert caught.value.hint == "did you mean 'H200-141GB'?"


def test_fourteen_models_of_15_gb_take_two_h200s_as_seven_1g_18gb_slices_proven(tmp_path):
    problem, plan = solve(_h200(tmp_path, [15_000] * 14), rules=Rules(max_models_per_gpu=1))
    assert (plan.gpu_count, plan.lower_bound, plan.optimal) == (2, 2, True)
    assert [sorted(p for p, _ in layout) for layout in _layouts_of(plan)] == [["1g.18gb"] * 7] * 2
    assert all(_driver_accepts("H200-141GB", layout) for layout in _layouts_of(plan))


def test_models_of_30_gb_go_four_to_an_h200_proven(tmp_path):
    problem, plan = solve(_h200(tmp_path, [30_000] * 10), rules=Rules(max_models_per_gpu=1))
    assert (plan.gpu_count, plan.lower_bound, plan.optimal) == (3, 3, True)
    assert sorted(len(g.points) for g in plan.gpus) == [2, 4, 4]
    assert all(_driver_accepts("H200-141GB", layout) for layout in _layouts_of(plan))


def test_isolated_models_share_sliced_gpus_that_whole_gpus_cannot(tmp_path):
    # One model per server (isolation): whole GPUs need one each; two sliced H200s hold all 9
    # (3g.71gb + 2 × 1g.35gb, and 1g.35gb + 5 × 1g.18gb).
    sizes = [15_000] * 5 + [30_000] * 3 + [60_000]
    whole = GpuType("whole", H200, _h200(tmp_path, sizes).profile)
    _, apart = solve(whole, rules=Rules(max_models_per_gpu=1))
    problem, sliced = solve(_h200(tmp_path, sizes), rules=Rules(max_models_per_gpu=1))
    assert apart.gpu_count == 9
    assert (sliced.gpu_count, sliced.optimal) == (2, True)
    assert all(_driver_accepts("H200-141GB", layout) for layout in _layouts_of(sliced))


def test_a_mixed_fleet_of_sliced_and_whole_gpus_is_costed_and_proven(tmp_path):
    sizes = [15_000] * 7 + [100_000]
    sliced = _h200(tmp_path, sizes, count=1, cost_per_hour=3.0)
    big = GpuType("big", 200_000, sliced.profile, count=2, cost_per_hour=5.0)
    problem, plan = solve((sliced, big), goal=Goal.MIN_COST, rules=Rules(max_models_per_gpu=1))
    assert plan.optimal and plan.total_cost_per_hour == pytest.approx(8.0)
    assert [g.gpu_type for g in plan.gpus] == ["h200", "big"]
    assert plan.gpus[1].mig is None and len(plan.gpus[0].mig) == 7
    assert json.loads(plan.to_json())["gpus"][0]["mig"][0] == {
        "profile": "1g.18gb",
        "start": 0,
        "models": ["m00"],
        "memory_mb": 15000.0,
        "gpu_util_pct": 70.0,
    }


def test_apart_models_may_share_a_gpu_on_different_slices(tmp_path):
    gpu = _h200(tmp_path, [10_000, 10_000])
    _, plan = solve(gpu, rules=Rules(apart=(("m00", "m01"),)))
    assert plan.gpu_count == 1 and len(plan.gpus[0].mig) == 2


def test_fleet_file_with_an_unknown_mig_product_exits_2_in_one_line(tmp_path):
    write(tmp_path / "p", [point("a", 1, 500, 10)], 16000)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("gpu_types:\n  - {name: h, cost_per_hour: 1, profile: p, mig: H100-80G}\n")
    result = CliRunner().invoke(main, ["plan", "--fleet", str(fleet)])
    assert result.exit_code == 2
    assert "GPU type 'h': mig: unknown MIG product 'H100-80G'" in result.output
    assert "did you mean 'H100-80GB'?" in result.output


def test_plan_mig_option_slices_the_single_type_and_writes_the_layout(tmp_path):
    write(tmp_path / "p", [point(f"m{i}", 1, 15_000, 10) for i in range(3)], H200)
    out = tmp_path / "plan.json"
    args = ["plan", "--profiles", str(tmp_path / "p"), "--mig", "H200-141GB", "--max-models-per-gpu", "1"]
    result = CliRunner().invoke(main, [*args, "--output", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    gpus = json.loads(out.read_text())["gpus"]
    assert len(gpus) == 1 and [s["profile"] for s in gpus[0]["mig"]] == ["1g.18gb"] * 3
    assert "1g.18gb@0" in result.output
    assert SETTINGS.max_time_in_seconds > 0


def test_mig_parted_config_lists_each_gpu_and_each_layout(tmp_path):
    import yaml

    from packer.mig.parted import mig_parted_yaml

    sizes = [15_000] * 7 + [100_000]
    sliced = _h200(tmp_path, sizes, count=1, cost_per_hour=3.0)
    big = GpuType("big", 200_000, sliced.profile, count=2, cost_per_hour=5.0)
    _, plan = solve((sliced, big), goal=Goal.MIN_COST, rules=Rules(max_models_per_gpu=1))
    config = yaml.safe_load(mig_parted_yaml(plan))
    counts: dict[str, int] = {}
    for part in plan.gpus[0].mig:
        counts[part.profile] = counts.get(part.profile, 0) + 1
    assert config["version"] == "v1" and sum(counts.values()) == 7
    assert config["mig-configs"]["gpupack"] == [
        {"devices": [0], "mig-enabled": True, "mig-devices": counts},
        {"devices": [1], "mig-enabled": False},
    ]
    name = "gpupack-" + "-".join(f"{p}-{n}" for p, n in sorted(counts.items()))
    assert config["mig-configs"][name] == [{"devices": "all", "mig-enabled": True, "mig-devices": counts}]


_NVIDIA_SMI_L = """GPU 0: NVIDIA H200 (UUID: GPU-11111111-2222-3333-4444-555555555555)
  MIG 1g.18gb     Device  0: (UUID: MIG-aaaaaaaa-0000-0000-0000-000000000000)
  MIG 1g.18gb     Device  1: (UUID: MIG-bbbbbbbb-0000-0000-0000-000000000000)
  MIG 1g.18gb     Device  2: (UUID: MIG-cccccccc-0000-0000-0000-000000000000)
GPU 1: NVIDIA H200 (UUID: GPU-66666666-2222-3333-4444-555555555555)
  MIG 1g.18gb     Device  0: (UUID: MIG-dddddddd-0000-0000-0000-000000000000)
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _written_sliced_plan(tmp_path: Path, names: list[str], *extra: str) -> Path:
    write(tmp_path / "p", [point(m, 1, 15_000, 10) for m in names], H200)
    source = tmp_path / "models"
    for m in names:
        (source / m / "1").mkdir(parents=True)
        (source / m / "config.pbtxt").write_text(f'name: "{m}"\nbackend: "python"\n')
    out = tmp_path / "out"
    args = ["plan", "--profiles", str(tmp_path / "p"), "--mig", "H200-141GB", "--max-models-per-gpu", "1"]
    args += ["--model-repository", str(source), "--write-repositories", str(out), "--quiet", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


def test_sliced_plan_writes_a_repository_and_a_pinned_server_per_slice_and_a_mig_parted_config(tmp_path):
    import os
    import subprocess

    import yaml

    names = ["a", "b", "c"]
    out = _written_sliced_plan(tmp_path, names)
    plan = json.loads((out / "plan.json").read_text())
    slices = plan["gpus"][0]["mig"]
    assert sorted(m for s in slices for m in s["models"]) == names
    for s in slices:
        assert (out / "gpu0" / f"mig{s['start']}" / s["models"][0] / "config.pbtxt").is_file()
    assert len({e["http_url"] for e in plan["endpoints"]}) == 3
    parted = yaml.safe_load((out / "mig-parted.yaml").read_text())
    assert parted["mig-configs"]["gpupack"][0]["mig-devices"] == {"1g.18gb": 3}
    # The launch script starts one server per slice, each pinned by its MIG device's UUID.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "nvidia-smi", f"#!/usr/bin/env bash\ncat <<'END'\n{_NVIDIA_SMI_L}END\n")
    log = tmp_path / "served.log"
    # Each stand-in server logs its arguments, then runs a moment (the first to stop stops the others).
    _executable(bin_dir / "gpupack", f'#!/usr/bin/env bash\necho "$@" >> {log}\nsleep 1\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUPACK")}
    env |= {"PATH": f"{bin_dir}:{env['PATH']}", "GPUPACK": str(bin_dir / "gpupack")}
    done = subprocess.run(["bash", str(out / "launch-gpu0.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    served = sorted(log.read_text().splitlines())
    assert len(served) == 3
    assert {line.split("--gpu ")[1] for line in served} == {
        "MIG-aaaaaaaa-0000-0000-0000-000000000000",
        "MIG-bbbbbbbb-0000-0000-0000-000000000000",
        "MIG-cccccccc-0000-0000-0000-000000000000",
    }
    env["GPUPACK_GPU"] = "1"
    done = subprocess.run(["bash", str(out / "launch-gpu0.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "no MIG device 1g.18gb #1 on GPU 1" in done.stderr


def test_serve_accepts_a_mig_uuid_and_refuses_anything_else_in_one_line():
    from profiler.server.serving import parse_gpu, visible_device

    uuid = "MIG-aaaaaaaa-0000-0000-0000-000000000000"
    assert parse_gpu(uuid) == uuid and visible_device(uuid) == uuid
    assert parse_gpu("3") == 3
    with pytest.raises(InputError, match="a MIG device UUID"):
        parse_gpu("MIG-1g.18gb")


def test_kubernetes_export_asks_for_each_slice_by_mig_profile_on_nodes_of_its_layout(tmp_path):
    import kubernetes_validate
    import yaml
    from kubernetes_validate.utils import latest_version

    out = _written_sliced_plan(tmp_path, [f"m{i}" for i in range(9)])
    plan = json.loads((out / "plan.json").read_text())
    manifest = tmp_path / "k8s.yaml"
    args = ["export", str(out), "--kubernetes", str(manifest), "--volume", "pvc:models"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    objects = list(yaml.safe_load_all(manifest.read_text()))
    for obj in objects:
        kubernetes_validate.validate(obj, latest_version(), strict=True)
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    slices = [(g, s) for g in plan["gpus"] for s in g["mig"]]
    assert len(deployments) == len(slices) == 9
    for deployment, (gpu, part) in zip(deployments, slices, strict=True):
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["resources"]["limits"] == {f"nvidia.com/mig-{part['profile']}": 1}
        assert container["args"][1] == f"--model-repository=/models/gpu{gpu['index']}/mig{part['start']}"
        counts = {}
        for other in gpu["mig"]:
            counts[other["profile"]] = counts.get(other["profile"], 0) + 1
        label = "gpupack-" + "-".join(f"{p}-{n}" for p, n in sorted(counts.items()))
        assert pod["nodeSelector"] == {"nvidia.com/mig.config": label}
        assert label in yaml.safe_load((out / "mig-parted.yaml").read_text())["mig-configs"]
        assert deployment["metadata"]["annotations"]["gpupack.io/models"] == ",".join(part["models"])
    assert len({d["metadata"]["name"] for d in deployments}) == 9
    compose = CliRunner().invoke(main, ["export", str(out), "--compose", str(tmp_path / "c.yaml")])
    assert compose.exit_code == 2 and "cannot reserve a slice by profile" in compose.output


def test_validate_refuses_a_sliced_plan_in_one_line(tmp_path):
    out = _written_sliced_plan(tmp_path, ["a", "b"])
    result = CliRunner().invoke(main, ["validate", str(out)])
    assert result.exit_code == 2
    assert "GPU 0 runs in MIG slices" in result.output


def test_a_target_places_replicas_on_several_slices_of_one_gpu(tmp_path):
    from packer.inputs import Target

    gpu = _h200(tmp_path, [15_000, 15_000], util=10.0)
    # m00 needs 3 replicas of 10 infer/s: one per slice, all on one GPU (10 % × 7 = 70 % of a 1g slice);
    # the tie-break then raises its margin with the slices left on that GPU, as on whole GPUs.
    problem, plan = solve(gpu, targets=(Target("m00", 30.0),), rules=Rules(max_models_per_gpu=1))
    assert (plan.gpu_count, plan.optimal) == (1, True)
    replicas = [p.model for s in plan.gpus[0].mig for p in s.points]
    assert replicas.count("m00") >= 3 and replicas.count("m01") == 1
    assert plan.min_target_fraction >= 1.0
    assert all(s.gpu_util_pct <= 100 for s in plan.gpus[0].mig)


def test_a_model_too_busy_for_any_slice_runs_on_a_whole_gpu(tmp_path):
    from packer.inputs import Target

    gpu = _h200(tmp_path, [15_000, 15_000], util=90.0)
    problem, plan = solve(gpu, targets=(Target("m00", 10.0), Target("m01", 10.0)))
    # 90 % of the GPU needs all 7 compute slices: each model runs whole or on 7g.141gb, alone.
    assert plan.gpu_count == 2 and plan.optimal
    assert all(g.mig is None or [s.profile for s in g.mig] == ["7g.141gb"] for g in plan.gpus)


def test_gpupack_serve_refuses_a_gpu_that_is_neither_an_index_nor_a_mig_uuid(tmp_path):
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--gpu", "MIG-1g.18gb"])
    assert result.exit_code == 2
    assert (
        "--gpu 'MIG-1g.18gb': expected a GPU's NVML index (0, 1, ...) or a MIG device UUID" in result.output
    )


def test_a_profile_request_on_a_mig_device_says_what_nvml_cannot_measure_there():
    from profiler.measure.request import ProfileRequest, _notes
    from profiler.server.nvml import GpuInfo

    uuid = "MIG-aaaaaaaa-0000-0000-0000-000000000000"
    request = ProfileRequest(models=("a",), model_repository=Path("."), gpu=uuid)
    assert request.gpu == uuid
    gpu = GpuInfo(uuid, "NVIDIA H200 MIG 1g.18gb", uuid, 18_000.0, "580", False, mig=True)
    assert "NVML reports no GPU or memory-controller utilization per MIG instance" in _notes(request, gpu)
    with pytest.raises(InputError, match="--gpu 'MIG-x'"):
        ProfileRequest(models=("a",), model_repository=Path("."), gpu="MIG-x")
