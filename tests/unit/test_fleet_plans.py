"""The generalized planner on hand-checkable instances: every plan re-checked by check_plan.

Instances come from ``fleet_support`` (two models, A and B, on a 1000 MB GPU with 900 MB of room) and
from the seed profile; expected values are worked out in each test's comment.
"""

from __future__ import annotations

import pytest
from fleet_support import Goal, Rules, Target, ab_points, gpu_type, point, replicas, solve, write

from packer.check import check_plan
from packer.inputs import DEFAULT_TYPE, GpuType
from packer.planner import plan
from packer.problem import plain_problem
from packer.service import BUILTIN_PROFILE
from packer.settings import Objective, Selection, Thresholds
from profiler.base.errors import InputError
from profiler.profiles.profile_io import read_profile


@pytest.fixture
def ab(tmp_path):
    return gpu_type(DEFAULT_TYPE, write(tmp_path / "ab", ab_points()))


@pytest.fixture
def seed():
    return GpuType(DEFAULT_TYPE, 16000, read_profile(BUILTIN_PROFILE))


# ---- 1. configuration choice ----------------------------------------------------------------------


def test_fixed_points_take_the_fastest_point_and_need_two_gpus(ab):
    # A b4 (600 MB own) + B b4 (600 MB) > 900 MB of room: two GPUs.
    _, plan = solve(ab)
    assert plan.gpu_count == 2 and plan.optimal
    assert replicas(plan, "A")[0][1] == 4 and replicas(plan, "B")[0][1] == 4


def test_choosing_points_fits_one_gpu_and_breaks_ties_on_throughput(ab):
    # One GPU fits A b4 + B b1 (600 + 300 = 900 MB, 35 infer/s) or A b1 + B b4 (30 infer/s): 35 wins.
    _, plan = solve(ab, choose_points=True)
    assert plan.gpu_count == 1 and plan.optimal and plan.lower_bound == 1
    assert replicas(plan, "A") == [(0, 4)] and replicas(plan, "B") == [(0, 1)]
    assert plan.gpus[0].throughput == pytest.approx(35)
    assert plan.to_dict()["models"][0]["points"][0]["batch_size"] == 4


def test_choosing_points_on_the_seed_reproduces_the_blog_optimum(seed):
    # The seed has one point per model, so the choice is forced: the blog's 4 and 6 GPUs.
    assert solve(seed, choose_points=True)[1].gpu_count == 4
    _, plan = solve(seed, objective=Objective.THROUGHPUT, choose_points=True)
    assert plan.gpu_count == 6 and plan.optimal


def test_batch_option_narrows_the_candidates(ab):
    _, plan = solve(ab, choose_points=True, selection=Selection(batch_size=1))
    assert {b for m in ("A", "B") for _, b in replicas(plan, m)} == {1}


def test_dominated_points_are_never_candidates(tmp_path):
    # A b2 needs more memory than A b4 for less throughput: it is dropped before solving.
    points = [*ab_points(), point("A", 2, 800, 20)]
    problem, _ = solve(gpu_type("t", write(tmp_path, points)), choose_points=True)
    assert [o.point.batch_size for o in problem.items[0].options] == [1, 4]


# ---- 2. throughput targets ------------------------------------------------------------------------


def test_a_target_places_replicas_on_distinct_gpus(ab):
    # A needs 50 infer/s: two b4 replicas (60), one per GPU. B (no target) runs once: at its fixed
    # b4 point (600 MB) it fits beside neither, so 3 GPUs; free to choose b1 (300 MB), it does: 2.
    assert solve(ab, targets=(Target("A", 50),))[1].gpu_count == 3
    _, plan = solve(ab, choose_points=True, targets=(Target("A", 50),))
    assert plan.gpu_count == 2 and plan.optimal
    assert sorted(g for g, _ in replicas(plan, "A")) == [0, 1]
    assert len(replicas(plan, "B")) == 1
    assert plan.models[0].throughput == pytest.approx(60)


def test_a_latency_bound_excludes_slow_points(ab):
    # p99 ≤ 100 ms leaves only A b1 (10 infer/s, 50 ms): 25 infer/s needs three replicas, three GPUs.
    _, plan = solve(ab, choose_points=True, targets=(Target("A", 25, max_latency_p99_ms=100),))
    assert plan.gpu_count == 3
    assert replicas(plan, "A") == [(0, 1), (1, 1), (2, 1)]
    assert plan.min_target_fraction == pytest.approx(30 / 25)


def test_targets_on_the_seed_replicate_the_fixed_point(seed):
    # classification_chest at 172.4 infer/s: 500 infer/s needs ⌈500 / 172.4⌉ = 3 replicas.
    _, plan = solve(seed, targets=(Target("classification_chest", 500),))
    chest = replicas(plan, "classification_chest")
    assert len(chest) == 3 and len({g for g, _ in chest}) == 3
    assert plan.min_target_fraction == pytest.approx(3 * 172.4 / 500)


def test_a_latency_bound_no_point_meets_is_refused(ab):
    with pytest.raises(InputError, match=r"model 'A' cannot be placed: no point with p99 ≤ 10 ms"):
        solve(ab, targets=(Target("A", 5, max_latency_p99_ms=10),))


def test_a_target_the_available_gpus_cannot_reach_is_refused(tmp_path):
    # Two GPUs, one replica each at 30 infer/s at most: 60 < 100.
    limited = gpu_type("t", write(tmp_path, ab_points()), count=2, cost=1.0)
    with pytest.raises(InputError, match=r"target 100 infer/s is unreachable: at most 60 infer/s"):
        solve(limited, targets=(Target("A", 100),))


# ---- 3. fixed budget ------------------------------------------------------------------------------


def test_a_one_gpu_budget_maximizes_throughput(ab):
    # One GPU: A b4 + B b1 = 35 infer/s is the best that fits 900 MB.
    _, plan = solve(
        ab, goal=Goal.MAX_THROUGHPUT, objective=Objective.THROUGHPUT, choose_points=True, gpu_budget=1
    )
    assert plan.gpu_count == 1 and plan.optimal
    assert plan.objective_value == pytest.approx(35) and plan.objective_bound == pytest.approx(35)


def test_a_two_gpu_budget_runs_both_fastest_points(ab):
    _, plan = solve(
        ab, goal=Goal.MAX_THROUGHPUT, objective=Objective.THROUGHPUT, choose_points=True, gpu_budget=2
    )
    assert plan.objective_value == pytest.approx(50) and plan.gpu_count == 2


def test_a_budget_with_targets_maximizes_the_smallest_fraction(ab):
    # Targets A 60, B 20 on two GPUs: {A b4 + B b1, A b1 + B b4} serves A 40 (2/3), B 25 (5/4);
    # two {A b4 + B b1} serve B only half. The best smallest fraction is 2/3.
    _, plan = solve(
        ab,
        goal=Goal.MAX_TARGET_FRACTION,
        objective=Objective.THROUGHPUT,
        choose_points=True,
        gpu_budget=2,
        targets=(Target("A", 60), Target("B", 20)),
    )
    assert plan.optimal
    assert plan.min_target_fraction == pytest.approx(2 / 3)
    assert plan.to_dict()["min_target_fraction"] == pytest.approx(2 / 3)


def test_a_budget_too_small_for_every_model_is_refused(seed):
    with pytest.raises(InputError, match="no plan places every model on 2 GPUs"):
        solve(
            seed, goal=Goal.MAX_THROUGHPUT, objective=Objective.THROUGHPUT, choose_points=True, gpu_budget=2
        )


# ---- 4. mixed fleets ------------------------------------------------------------------------------


@pytest.fixture
def fleet(tmp_path):
    # small: 1000 MB at 1.0/h; big: 2000 MB (1900 MB room) at 2.5/h, its profile twice as fast.
    small = gpu_type("small", write(tmp_path / "small", ab_points()), cost=1.0)
    big = gpu_type("big", write(tmp_path / "big", ab_points(speed=2), 2000), memory=2000, cost=2.5)
    return small, big


def test_a_fleet_minimizes_cost(fleet):
    # Fixed b4 points (600 MB each): two small GPUs cost 2.0, one big one 2.5.
    _, plan = solve(fleet, goal=Goal.MIN_COST)
    assert [g.gpu_type for g in plan.gpus] == ["small", "small"]
    assert plan.total_cost_per_hour == pytest.approx(2.0) and plan.optimal


def test_a_fleet_can_minimize_the_gpu_count_instead(fleet):
    _, plan = solve(fleet, goal=Goal.MIN_GPUS)
    assert [g.gpu_type for g in plan.gpus] == ["big"]


def test_each_gpu_type_uses_its_own_profile(fleet):
    _, plan = solve(fleet, goal=Goal.MIN_GPUS)
    assert plan.gpus[0].throughput == pytest.approx(2 * (30 + 20))


def test_type_counts_limit_the_fleet(tmp_path, fleet):
    small, big = fleet
    one_small = GpuType("small", small.memory_mb, small.profile, count=1, cost_per_hour=1.0)
    _, plan = solve((one_small, big), goal=Goal.MIN_COST)
    assert [g.gpu_type for g in plan.gpus] == ["big"] and plan.total_cost_per_hour == pytest.approx(2.5)


def test_a_pin_moves_a_model_to_its_type(fleet):
    # A must run on big; B fits beside it (1200 ≤ 1900 MB), so one big GPU (2.5) beats big + small.
    _, plan = solve(fleet, goal=Goal.MIN_COST, rules=Rules(pins=(("A", "big"),)))
    assert [g.gpu_type for g in plan.gpus] == ["big"]


def test_a_pin_to_a_type_without_the_model_is_refused(tmp_path, fleet):
    small, _ = fleet
    only_a = gpu_type(
        "big", write(tmp_path / "only-a", ab_points(models=("A",)), 2000), memory=2000, cost=2.5
    )
    with pytest.raises(
        InputError, match=r"model 'B' cannot be placed \(pinned to 'big'\): big: no measured point"
    ):
        solve((small, only_a), goal=Goal.MIN_COST, rules=Rules(pins=(("B", "big"),)))


# ---- 5. rules -------------------------------------------------------------------------------------


def test_one_model_per_gpu_needs_nine_gpus_for_the_seed(seed):
    _, plan = solve(seed, rules=Rules(max_models_per_gpu=1))
    assert plan.gpu_count == 9 and plan.optimal


def test_apart_keeps_two_models_off_the_same_gpu(ab):
    # Choosing points would put A and B on one GPU; apart forces two.
    _, plan = solve(ab, choose_points=True, rules=Rules(apart=(("A", "B"),)))
    assert plan.gpu_count == 2


def test_together_replicates_the_partner_of_a_replicated_model(ab):
    # A needs 50 (two b4 replicas); B must follow A, so B runs twice too, at b1 (600 + 300 = 900 MB).
    _, plan = solve(
        ab, choose_points=True, targets=(Target("A", 50), Target("B", 1)), rules=Rules(together=(("A", "B"),))
    )
    assert sorted(g for g, _ in replicas(plan, "A")) == sorted(g for g, _ in replicas(plan, "B")) == [0, 1]


def test_together_with_an_untargeted_partner_of_a_replicated_model_is_refused(ab):
    with pytest.raises(InputError, match="no plan places every model"):
        solve(ab, targets=(Target("A", 50),), rules=Rules(together=(("A", "B"),)))


def test_headroom_keeps_a_share_of_every_gpu_free(seed):
    # 20 % headroom: at most 12800 MB per GPU, 12491 MB of room; the six segmentation models each
    # take more than half of it (≥ 6646 MB), so no two share a GPU: 6 GPUs, the bound.
    _, plan = solve(seed, rules=Rules(headroom_pct=20))
    assert max(g.memory_mb for g in plan.gpus) <= 12800
    assert plan.gpu_count == 6 and plan.lower_bound == 6 and plan.optimal


def test_headroom_that_leaves_a_model_nowhere_is_refused(seed):
    with pytest.raises(InputError, match="segmentation_liver.*more than the 8000 MB a GPU allows"):
        solve(seed, rules=Rules(headroom_pct=50))


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (Rules(together=(("A", "B"),), apart=(("B", "A"),)), "must be kept together and apart"),
        (Rules(together=(("A", "B"),), max_models_per_gpu=1), "more than --max-models-per-gpu 1"),
        (Rules(pins=(("A", "nope"),)), "unknown GPU type 'nope'"),
        (Rules(apart=(("A", "C"),)), "unknown model 'C'"),
    ],
)
def test_contradictory_or_unknown_rules_are_refused(ab, rules, message):
    with pytest.raises(InputError, match=message):
        solve(ab, rules=rules)


def test_together_with_different_pins_is_refused(fleet):
    rules = Rules(together=(("A", "B"),), pins=(("A", "small"), ("B", "big")))
    with pytest.raises(InputError, match="pinned to different GPU types"):
        solve(fleet, goal=Goal.MIN_COST, rules=rules)


def test_a_target_for_an_unknown_model_is_refused_with_a_suggestion(seed):
    with pytest.raises(InputError, match="unknown model 'classification_chst'") as info:
        solve(seed, targets=(Target("classification_chst", 10),))
    assert "did you mean 'classification_chest'" in info.value.hint


def test_utilization_thresholds_hold_with_targets(seed):
    _, plan = solve(
        seed, thresholds=Thresholds(100, 80, 80), targets=(Target("classification_malaria", 1000),)
    )
    assert all(g.gpu_util_pct <= 80 and g.mem_util_pct <= 80 for g in plan.gpus)


def test_the_drivers_reserved_memory_comes_off_each_gpu_once(seed):
    from dataclasses import replace

    profile = seed.profile
    reserved = replace(profile, metadata=replace(profile.metadata, gpu_reserved_memory_mb=645.0))
    plain = plain_problem(profile, Objective.MIN_GPUS, 16000.0, Thresholds())
    less = plain_problem(reserved, Objective.MIN_GPUS, 16000.0, Thresholds())
    assert less.room[0][0] == pytest.approx(plain.room[0][0] - 645.0)
    result = plan(less)
    assert check_plan(less, result) == []
    assert all(g.memory_mb <= 16000.0 - 645.0 for g in result.gpus)


def test_a_points_memory_is_the_most_measured_at_its_batch_size(tmp_path):
    from packer.inputs import with_first_use_memory
    from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint, ServerBaseline

    points = (
        ProfilePoint("u", 8, 1, throughput=100, memory_mb=16461.0),  # the first batch-8 request
        ProfilePoint("u", 8, 4, throughput=135, memory_mb=10297.0),
        ProfilePoint("u", 1, 1, throughput=80, memory_mb=2735.0),
        ProfilePoint("v", 8, 4, throughput=9, memory_mb=None),
    )
    profile = Profile(points, ServerBaseline(), ProfileMetadata(), "x")
    memory = [p.memory_mb for p in with_first_use_memory(profile).points]
    assert memory == [16461.0, 16461.0, 2735.0, None]


def test_memory_measured_on_a_gpu_gets_the_margin_on_the_models_own_share_only():
    from packer.inputs import MEASURED_MEMORY_MARGIN, with_memory_margin
    from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint, ServerBaseline

    points = (
        ProfilePoint("u", 8, 1, throughput=100, memory_mb=2619.0),
        ProfilePoint("v", 1, 1, throughput=9),
    )
    server = ServerBaseline(memory_mb=619.0)
    measured = Profile(points, server, ProfileMetadata(device="gpu", gpu_reserved_memory_mb=645.0), "x")
    raised = [p.memory_mb for p in with_memory_margin(measured).points]
    assert raised == [pytest.approx(2619.0 + MEASURED_MEMORY_MARGIN * 2000.0), None]
    synthetic = Profile(points, server, ProfileMetadata(device="gpu"), "x")
    assert with_memory_margin(synthetic) == synthetic
