"""Solver calls inside a plan stay within the work they are given (``packer.work``).

Work is counted, not timed: CP-SAT's reported deterministic time, SCIP's node limit from the IP's
size, the dynamic programs' rows and cells. So these checks hold on any machine and any load.
"""

from __future__ import annotations

import random
import time

import pytest

from packer import cpsat, work
from packer.binpacking import fixed_bins, knapsack_pricing, pattern_ip, slack
from packer.binpacking.pattern_ip import Enumeration
from packer.settings import SolverSettings


def _scholl3_like(items: int, seed: int = 3) -> list[int]:
    """Sizes of 20-35 % of a 100,000 capacity, largest first (as Scholl's HARD instances)."""
    rng = random.Random(seed)
    return sorted((rng.randint(20_000, 35_000) for _ in range(items)), reverse=True)


def _spent(call) -> float:  # noqa: ANN001
    with work.session(100.0, time.monotonic() + 600):
        before = work.now()
        call()
        return work.now() - before


def test_a_cp_sat_call_spends_no_more_deterministic_time_than_it_was_given():
    # Interleaved batches of one task: with CP-SAT's default batch this call reports about 1.5.
    sizes = _scholl3_like(60)
    model, _ = fixed_bins.build_model([(s,) for s in sizes], (100_000,), -(-sum(sizes) // 100_000))
    spent = _spent(lambda: cpsat.run(model, SolverSettings(max_time_in_seconds=0.3), 0.3))
    assert spent <= 0.3 * 1.05 + cpsat.CALL_S


def _pattern_ip(patterns: int) -> object:
    """A heuristic pattern IP (all types core) with ``patterns`` columns."""
    rng = random.Random(5)
    sizes = [rng.randint(150, 450) for _ in range(40)]
    columns = {tuple(rng.randint(0, 1) if s < 300 else 0 for s in sizes) for _ in range(patterns)}
    enumeration = Enumeration(tuple(c for c in columns if any(c)), (True,) * 40, complete=False, exact=False)
    model, _ = pattern_ip.build_model(sizes, [3] * 40, 1000, enumeration, 60)
    return model


def test_a_pattern_ip_whose_root_would_not_fit_its_work_is_not_solved():
    model = _pattern_ip(400)
    root, _ = pattern_ip.scip_cost(model.NumVariables(), model.NumConstraints())
    status: list[int] = []
    spent = _spent(lambda: status.append(pattern_ip.solve(model, SolverSettings(), root * 0.9)))
    assert status == [pattern_ip.pywraplp.Solver.NOT_SOLVED] and spent == 0  # SCIP never ran


def test_a_pattern_ip_gets_the_nodes_its_work_pays_for_and_spends_their_cost():
    model = _pattern_ip(400)
    root, node = pattern_ip.scip_cost(model.NumVariables(), model.NumConstraints())
    units = root + 2.5 * node
    spent = _spent(lambda: pattern_ip.solve(model, SolverSettings(), units))
    assert model.nodes() <= 2
    assert spent == pytest.approx(root + max(0, model.nodes() - 1) * node)
    assert spent <= units


@pytest.mark.parametrize("capacity", [1_000, 100_000])
def test_pricing_is_charged_for_the_rows_and_cells_it_updates(capacity: int):
    sizes = [capacity // 4 + 7 * t for t in range(30)]
    limits = [3] * 30
    duals = [s / capacity for s in sizes]
    spent = _spent(lambda: knapsack_pricing.price(sizes, limits, duals, capacity))
    # chunks of 1 and 2 copies of every type; the 2-copy chunks' rows start at twice the size
    cells = sum(capacity + 1 - w for s in sizes for w in (s, 2 * s) if w <= capacity)
    rows = 2 * len(sizes)
    expected = knapsack_pricing.CALL_S + knapsack_pricing.ROW_S * rows + knapsack_pricing.CELL_S * cells
    assert spent == pytest.approx(expected)


def test_minimum_slack_is_charged_for_its_rows_not_every_type_times_the_capacity():
    # Scholl 3-like: 200 sizes of 100,000 in 200 types; charging types × capacity per bin cost ~1.2
    # units for ~0.1 s of work.
    sizes = _scholl3_like(200)
    spent = _spent(lambda: slack.minimum_slack(sizes, [1] * len(sizes), 100_000))
    assert spent < 0.3
