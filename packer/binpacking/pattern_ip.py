r"""The pattern IP over reduced-cost-enumerated patterns: find K bins, or prove K bins impossible.

Given dual-feasible LP duals π (``patterns.PatternLp``) and a bin count K, every packing into K bins
uses only patterns of reduced cost ρ = 1 − Σ_t π[t]·a[t] ≤ g := K − Σ_t d[t]·π[t]: summing
λ[p]·ρ[p] over a packing's bins gives at most K − π·d. When g < 1 few patterns qualify, and the IP
below over all of them is exact. Types with π[t] = 0 ("fill" types) would multiply the patterns
without changing their reduced cost, so patterns range over the other ("core") types and fill
items go into the room the core patterns leave.

Sets
    T1           core types (π[t] > 0); T0 fill types (π[t] = 0)
    P            core patterns: a[t, p] over T1, Σ_t w[t]·a[t, p] ≤ C, ρ[p] ≤ g
    F            pairs (p, z) ∈ P × T0 with w[z] ≤ r[p]: fill type z fits beside pattern p
Parameters
    w[t], d[t]   size and count of type t;  C capacity;  K the bin count tested
    r[p]         room a pattern leaves: C − Σ_t w[t]·a[t, p]
    u[p]         min over t ∈ T1 of ⌊d[t] / a[t, p]⌋: more copies would over-cover type t
Variables
    λ[p] ∈ 0..min(K, u[p])   bins packed with core pattern p
    y[p, z] ≥ 0              fill items of type z placed in the bins of pattern p, (p, z) ∈ F
Constraints
    (1) Σ_p λ[p] ≤ K                                          at most K bins (a lower bound L as
                                                              Σ λ ≥ L slows SCIP ~10x: left out)
    (2) Σ_p a[t, p]·λ[p] = d[t]                ∀ t ∈ T1       every core item in exactly one bin
    (3) Σ_p y[p, z] = d[z]                     ∀ z ∈ T0       every fill item placed
    (4) Σ_z w[z]·y[p, z] ≤ r[p]·λ[p]           ∀ p            fill items within the patterns' room
Objective
    minimize Σ_p λ[p]
With more than ``FILL_PAIR_LIMIT`` pairs in F, y is dropped and (3)–(4) become, for each fill size s,
    (3') Σ_{z∈T0, w[z]≥s} w[z]·d[z] ≤ Σ_{p: r[p]≥s} r[p]·λ[p]      items of size ≥ s, by volume
    (4') Σ_{z∈T0, w[z]≥s} d[z] ≤ Σ_p ⌊r[p] / s⌋·λ[p]               ... and by count
(4) pools the room of the λ[p] bins of one pattern, a relaxation: with P complete, INFEASIBLE
proves that no packing into K bins exists. A solution is a candidate that ``materialize`` turns
into bins (fill items first-fit into their pattern's bins, then anywhere, then new bins).

The IP goes to SCIP (bundled with OR-Tools) rather than CP-SAT: on these set-partitioning models
with thousands of columns, SCIP's LP-based search finds the K-bin packing in about a second where
CP-SAT (2 workers) runs out of 10 s; the model is deterministic either way.

Used as a heuristic over an incomplete set of patterns (all types core, ``exact`` off), (2)
becomes Σ_p a[t, p]·λ[p] ≥ d[t] and u[p] is not imposed: over-covered copies are dropped. Without
fill types nothing above depends on the number of resources: ``column_ip``, the IP over the columns
column generation produced, serves both engines (vector patterns included).
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from packer import work
from packer.binpacking.item_types import ItemTypes, Pattern, drop_surplus
from packer.settings import SolverSettings

# Patterns of reduced cost within this of the gap still count: GLOP's duals carry float noise.
_COST_TOLERANCE = 1e-7
# Above this many (pattern, fill type) pairs, (3)–(4) give way to the pooled form (3')–(4').
FILL_PAIR_LIMIT = 20_000
# The enumeration reads the clock every this many search nodes, and spends this much work per node
# (measured: ~1.2 µs a node in CPython on the reference host).
NODES_PER_CLOCK = 10_000
ENUMERATION_S_PER_NODE = 1.2e-6
# SCIP's work, estimated from the IP's size (``scip_cost``): a fixed cost per call; the root (presolve,
# LP, cuts), per variable and, past ``SCIP_ROOT_ROWS`` constraints, in proportion to them; and each
# further node, a fixed part and a part per variable. Measured on the reference host: the root of
# 10,700 columns × 191 rows (Falkenauer T t501_00) 1.0-1.2 s, of 20,141 × 1,032 (Hard28 BPP742) more
# than 9 s; nodes 0.04-0.13 s at 150-500 columns, 0.07 s at 3,760 (BPP60), 0.57 s at 9,014 (BPP645).
# The node limit (deterministic) is the work given less the root over a node's cost; an IP whose root
# alone would not fit is not solved (no node limit bounds the root).
SCIP_S_PER_CALL = 0.05
SCIP_ROOT_S_PER_VARIABLE = 1e-4
SCIP_ROOT_ROWS = 200
SCIP_NODE_S = 0.04
SCIP_NODE_S_PER_VARIABLE = 3e-5


@dataclass(frozen=True)
class Enumeration:
    """Core patterns within the gap; ``complete`` when every such pattern is listed.

    ``exact`` models an exact partition of core items (complete enumerations).
    """

    patterns: tuple[Pattern, ...]
    core: tuple[bool, ...]
    complete: bool
    exact: bool


@dataclass(frozen=True)
class Group:
    """``copies`` bins packed with core ``pattern``, and the fill items (per type) they share."""

    pattern: Pattern
    copies: int
    fill: Pattern


@dataclass(frozen=True)
class PatternSolution:
    """The IP's answer: the groups of bins of a solution (none without one) and the status."""

    status: str
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Variables:
    """The decision variables of one built pattern IP."""

    lam: list[pywraplp.Variable]
    fill: dict[tuple[int, int], pywraplp.Variable]


def enumerate_patterns(
    sizes: list[int],
    counts: list[int],
    capacity: int,
    duals: tuple[float, ...],
    gap: float,
    limit: int,
    deadline: float,
) -> Enumeration:
    """Every core pattern of reduced cost at most ``gap`` under ``duals``, by depth-first search.

    Types are visited by value per unit of size; a branch stops when even the fractional knapsack
    bound of the types left cannot reach the threshold. Gives up past ``limit`` patterns.
    """
    core = tuple(pi > 0 for pi in duals)
    order = sorted((t for t in range(len(sizes)) if core[t]), key=lambda t: (-duals[t] / sizes[t], t))
    limits = [min(counts[t], capacity // sizes[t]) for t in order]
    threshold = 1.0 - gap - _COST_TOLERANCE
    found: list[Pattern] = []
    copies = [0] * len(sizes)
    state = {"complete": True, "nodes": 0}

    def optimistic(k: int, room: int) -> float:
        value = 0.0
        for j in range(k, len(order)):
            t = order[j]
            n = min(limits[j], room // sizes[t])
            value += n * duals[t]
            room -= n * sizes[t]
            if n < limits[j]:
                return value + room * duals[t] / sizes[t]
        return value

    def search(k: int, room: int, value: float) -> None:
        if not state["complete"]:
            return
        if k == len(order):
            if any(copies):
                found.append(tuple(copies))
            if len(found) > limit or (len(found) % 1000 == 0 and work.now() > deadline):
                state["complete"] = False
            return
        state["nodes"] += 1
        if state["nodes"] % NODES_PER_CLOCK == 0:
            work.spend(NODES_PER_CLOCK * ENUMERATION_S_PER_NODE)
        if state["nodes"] % NODES_PER_CLOCK == 0 and work.now() > deadline:
            state["complete"] = False
            return
        if value + optimistic(k, room) < threshold:
            return
        t = order[k]
        for n in range(min(limits[k], room // sizes[t]), -1, -1):
            copies[t] = n
            search(k + 1, room - n * sizes[t], value + n * duals[t])
        copies[t] = 0

    search(0, capacity, 0.0)
    return Enumeration(patterns=tuple(found), core=core, complete=state["complete"], exact=state["complete"])


def _room(pattern: Pattern, sizes: list[int], capacity: int) -> int:
    return capacity - sum(a * w for a, w in zip(pattern, sizes, strict=True))


def build_model(
    sizes: list[int],
    counts: list[int],
    capacity: int,
    enumeration: Enumeration,
    bins: int,
) -> tuple[pywraplp.Solver, Variables]:
    """The IP (1)–(5) for ``bins`` = K over ``enumeration``'s patterns."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    patterns, core, exact = enumeration.patterns, enumeration.core, enumeration.exact
    fill_types = [z for z, is_core in enumerate(core) if not is_core]
    # room is read only beside fill types, which only one-resource enumerations have
    room = [_room(p, sizes, capacity) for p in patterns] if fill_types else []
    # lam[p] = bins packed with core pattern p
    lam = []
    for i, p in enumerate(patterns):
        most = min([bins] + [counts[t] // a for t, a in enumerate(p) if a and exact])
        lam.append(solver.IntVar(0, most, f"lambda[{i}]"))
    # (1) at most K bins
    solver.Add(solver.Sum(lam) <= bins)
    # (2) every core item in exactly one bin (at least one, as a heuristic)
    for t, is_core in enumerate(core):
        if is_core:
            covered = solver.Sum([p[t] * lam[i] for i, p in enumerate(patterns) if p[t]])
            solver.Add(covered == counts[t]) if exact else solver.Add(covered >= counts[t])
    pairs = [(i, z) for z in fill_types for i, r in enumerate(room) if sizes[z] <= r]
    fill: dict[tuple[int, int], pywraplp.Variable] = {}
    if len(pairs) <= FILL_PAIR_LIMIT:
        # y[p, z] = fill items of type z in the bins of pattern p
        fill = {(i, z): solver.IntVar(0, counts[z], f"y[{i},{z}]") for i, z in pairs}
        for z in fill_types:
            # (3) every fill item placed
            solver.Add(solver.Sum([v for (_, zz), v in fill.items() if zz == z]) == counts[z])
        for i, r in enumerate(room):
            placed = [sizes[z] * v for (ii, z), v in fill.items() if ii == i]
            if placed:
                # (4) fill items within the pooled room of the pattern's bins
                solver.Add(solver.Sum(placed) <= r * lam[i])
    else:
        _add_pooled_fill(solver, lam, room, sizes, counts, fill_types)
    solver.Minimize(solver.Sum(lam))
    return solver, Variables(lam=lam, fill=fill)


def _add_pooled_fill(
    solver: pywraplp.Solver,
    lam: list[pywraplp.Variable],
    room: list[int],
    sizes: list[int],
    counts: list[int],
    fill_types: list[int],
) -> None:
    """(3')–(4'): fill items of each size and up fit, by volume and by count, in the room left."""
    volume, number = 0, 0
    ordered = sorted(fill_types, key=lambda z: -sizes[z])
    for k, z in enumerate(ordered):
        volume += sizes[z] * counts[z]
        number += counts[z]
        if k + 1 < len(ordered) and sizes[ordered[k + 1]] == sizes[z]:
            continue
        s = sizes[z]
        # (3') by volume
        solver.Add(solver.Sum([r * lam[i] for i, r in enumerate(room) if r >= s]) >= volume)
        # (4') by count
        solver.Add(solver.Sum([(r // s) * lam[i] for i, r in enumerate(room) if r >= s]) >= number)


def column_ip(
    types: ItemTypes, patterns: tuple[Pattern, ...], bins: int, settings: SolverSettings, deadline: float
) -> list[Pattern] | None:
    """Bins of a packing into at most ``bins`` bins from ``patterns`` (the heuristic form), or None.

    None: no packing found by ``deadline`` (``packer.work``), or INFEASIBLE over these columns only
    (which proves nothing).
    """
    seconds = deadline - work.now()
    if seconds <= 0 or bins <= 0:
        return None
    columns = Enumeration(patterns, tuple(True for _ in types.sizes), complete=False, exact=False)
    model, variables = build_model(types.column(0), list(types.counts), types.capacity[0], columns, bins)
    answer = extract(model, solve(model, settings, seconds), columns, variables)
    if not answer.groups:
        return None
    return drop_surplus([g.pattern for g in answer.groups for _ in range(g.copies)], types.counts)


def solve(solver: pywraplp.Solver, settings: SolverSettings, seconds: float) -> int:
    """Run SCIP for ``seconds`` of work (one thread: deterministic); returns its result status.

    In a work session the limit is a node limit sized by ``scip_cost``: an IP whose root alone would not
    fit is left unsolved (NOT_SOLVED); the estimated work of the nodes used is spent, and the wall cap
    is SCIP's time limit. Outside one, ``seconds`` is its time limit.
    """
    solver.SetNumThreads(1)
    if work.metered():
        root, node = scip_cost(solver.NumVariables(), solver.NumConstraints())
        if root > seconds:
            return pywraplp.Solver.NOT_SOLVED
        nodes = max(1, int((seconds - root) / node))
        solver.SetSolverSpecificParametersAsString(f"limits/totalnodes = {nodes}\n")
        seconds = work.wall_left()
    solver.SetTimeLimit(max(10, int(min(seconds, 1e6) * 1000)))
    if settings.debug:
        solver.EnableOutput()
    result = solver.Solve()
    if work.metered():
        work.spend(root + max(0, solver.nodes() - 1) * node)
    work.check_cap()
    return result


def scip_cost(variables: int, constraints: int) -> tuple[float, float]:
    """Work units of SCIP's call with its root, and of each node after it, for an IP of this size."""
    root = SCIP_S_PER_CALL + SCIP_ROOT_S_PER_VARIABLE * variables * max(1.0, constraints / SCIP_ROOT_ROWS)
    return root, SCIP_NODE_S + SCIP_NODE_S_PER_VARIABLE * variables


_STATUS = {
    pywraplp.Solver.OPTIMAL: "OPTIMAL",
    pywraplp.Solver.FEASIBLE: "FEASIBLE",
    pywraplp.Solver.INFEASIBLE: "INFEASIBLE",
    pywraplp.Solver.UNBOUNDED: "UNBOUNDED",
    pywraplp.Solver.ABNORMAL: "ABNORMAL",
    pywraplp.Solver.MODEL_INVALID: "MODEL_INVALID",
    pywraplp.Solver.NOT_SOLVED: "UNKNOWN",
}


def extract(
    solver: pywraplp.Solver, result: int, enumeration: Enumeration, variables: Variables
) -> PatternSolution:
    """The chosen patterns with their copies and fill items, or no groups and the status.

    SCIP reports a time limit with a solution as FEASIBLE and without one as NOT_SOLVED (UNKNOWN);
    UNBOUNDED cannot happen (every variable is bounded) and, like ABNORMAL, yields no solution.
    """
    status = _STATUS.get(result, "UNKNOWN")
    if status == "MODEL_INVALID":
        raise ValueError("SCIP rejected the pattern IP as invalid")
    if status not in ("OPTIMAL", "FEASIBLE"):
        return PatternSolution(status=status, groups=())
    copies = [round(v.solution_value()) for v in variables.lam]
    extra = [[0] * len(enumeration.core) for _ in enumeration.patterns]
    for (i, z), v in variables.fill.items():
        extra[i][z] = round(v.solution_value())
    groups = tuple(
        Group(pattern=p, copies=copies[i], fill=tuple(extra[i]))
        for i, p in enumerate(enumeration.patterns)
        if copies[i]
    )
    return PatternSolution(status=status, groups=groups)
