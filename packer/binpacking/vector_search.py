r"""Local search for vector packings: empty one bin at a time, with CP-SAT repairs; runs to its work limit.

Parameters
----------
    w[i, r], C[r]   integer demands and capacities;  s(i) = Σ_r w[i, r] / C[r] an item's size
Bin elimination (the one-resource ``elimination`` generalized to vectors). From B bins, one bin is
emptied (the least loaded first, then the next ones in turn) and its items are pending. Each pending
item, largest s first, is placed by the first move that applies:
    1. best fit: the fullest bin (by Σ_r load[r] / C[r]) with room in every resource;
    2. swap down: it replaces an item of smaller s in a bin where it then fits, the fullest result
       first; the item taken out is pending instead (pending sizes shrink: no cycle);
    3. every ``REPAIR_EVERY`` moves, a CP-SAT repair: the pending items and those of the
       ``REPAIR_BINS`` bins with the most room (by s) go back into those bins (the fixed-bins model
       of ``fixed_bins``, (1)–(3) below, over that neighbourhood),
    4. else a kick: a random bin takes it and evicts random items until it fits.
The attempt succeeds when nothing is pending (B − 1 bins) and the search starts over from there; it
gives up after ``MOVES_PER_BIN`` moves and the next attempt empties the next bin. The repair model:
Variables
    x[i, b] ∈ {0, 1}   item i of the neighbourhood goes to bin b of the neighbourhood
Constraints
    (1) Σ_b x[i, b] = 1                 ∀ i        every item placed
    (2) Σ_i w[i, r]·x[i, b] ≤ C[r]      ∀ b, r     capacity
    (3) x[i, b] = 0                     ∀ b > i    bin b named after its largest item (symmetry)
Random choices come from a generator seeded with the plan's seed, CP-SAT repairs stop on a
deterministic time limit and the deadline is on the work clock (``packer.work``; ``MOVE_S`` a move),
so the search takes the same path every time, stopped or not. It stops at the lower bound or the
deadline: it never stalls out early, so large fleets use the whole budget.

"""

from __future__ import annotations

import random

import numpy as np

from packer import work
from packer.binpacking import fixed_bins
from packer.binpacking.packing import numbered_by_first_use
from packer.binpacking.vector_pricing import run_small
from packer.settings import SolverSettings

# Moves allowed to empty one bin before the attempt moves on to the next bin.
MOVES_PER_BIN = 10_000
# A CP-SAT repair every this many moves, over the pending items and this many bins.
REPAIR_EVERY = 200
REPAIR_BINS = 6
# CP-SAT work (deterministic seconds) per repair.
REPAIR_WORK = 0.3
# Work per move: a fixed part and a part per item (the vectorized scans of best fit and swap down;
# measured on the reference host: 0.17 ms a move at 2,000 items, 0.35 ms at 10,000).
MOVE_S = 1.24e-4
MOVE_S_PER_ITEM = 2.2e-8
# Work per attempt to set up its state (bins, loads; ~19 ms at 10,000 items).
ATTEMPT_S_PER_ITEM = 1.9e-6


class _State:
    """A packing as bins of items and their loads, with the pending items."""

    def __init__(self, sizes: np.ndarray, capacity: np.ndarray, assignment: list[int]) -> None:
        self.sizes, self.capacity = sizes, capacity
        self.share = (sizes / capacity).sum(axis=1)
        count = max(assignment) + 1
        self.bins: list[list[int]] = [[] for _ in range(count)]
        for i, b in enumerate(assignment):
            self.bins[b].append(i)
        self.loads = np.array([sizes[items].sum(axis=0) for items in self.bins]).reshape(count, -1)
        self.pending: list[int] = []
        # where[i] = the bin of item i, -1 while it is pending
        self.where = np.asarray(assignment, dtype=np.int64).copy()

    def drop_bin(self, b: int) -> None:
        """Empty bin ``b`` into the pending items and remove it (the bins after it shift down)."""
        self.pending = list(self.bins.pop(b))
        self.loads = np.delete(self.loads, b, axis=0)
        self.where[self.pending] = -1
        self.where[self.where > b] -= 1

    def fullness(self) -> np.ndarray:
        return (self.loads / self.capacity).sum(axis=1)

    def put(self, item: int, b: int) -> None:
        self.bins[b].append(item)
        self.loads[b] += self.sizes[item]
        self.where[item] = b

    def take(self, item: int, b: int) -> None:
        self.bins[b].remove(item)
        self.loads[b] -= self.sizes[item]
        self.where[item] = -1


def improve(
    demands: list[list[int]],
    capacity: list[int],
    assignment: list[int],
    lower: int,
    settings: SolverSettings,
    deadline: float,
) -> list[int]:
    """A packing with as few bins as the search reaches by ``deadline`` (never more than given)."""
    sizes = np.asarray(demands, dtype=np.int64).reshape(len(demands), len(capacity))
    cap = np.asarray(capacity, dtype=np.int64)
    rng = random.Random(settings.random_seed)
    best, attempt = list(assignment), 0
    while max(best) + 1 > lower and work.now() < deadline:
        found = _without_one_bin(sizes, cap, best, attempt, rng, settings, deadline)
        if found is None:
            attempt += 1
        else:
            best, attempt = found, 0
    return best


def _without_one_bin(
    sizes: np.ndarray,
    capacity: np.ndarray,
    assignment: list[int],
    attempt: int,
    rng: random.Random,
    settings: SolverSettings,
    deadline: float,
) -> list[int] | None:
    state = _State(sizes, capacity, assignment)
    ranked = np.argsort(state.fullness(), kind="stable")
    state.drop_bin(int(ranked[attempt % len(ranked)]))
    work.spend(ATTEMPT_S_PER_ITEM * len(sizes))
    cost = MOVE_S + MOVE_S_PER_ITEM * len(sizes)
    for move in range(1, MOVES_PER_BIN + 1):
        work.spend(cost)
        if not state.pending:
            return numbered_by_first_use(state.where.tolist())  # nothing pending: every item in a bin
        if work.now() >= deadline or not state.bins:
            return None
        if move % REPAIR_EVERY == 0 and _repair(state, settings, deadline):
            continue
        state.pending.sort(key=lambda i: (-state.share[i], i))
        _place(state, state.pending.pop(0), rng)
    return None


def _place(state: _State, item: int, rng: random.Random) -> None:
    """Moves 1, 2 and 4 for ``item``; evicted items join the pending list."""
    w, cap = state.sizes[item], state.capacity
    fits = np.all(state.loads + w <= cap, axis=1)
    if fits.any():  # 1. best fit
        state.put(item, int(np.argmax(np.where(fits, state.fullness(), -1.0))))
        return
    # 2. swap down, every candidate at once: j in a bin, smaller, and the item fits in its place
    smaller = np.flatnonzero((state.where >= 0) & (state.share < state.share[item]))
    after = state.loads[state.where[smaller]] - state.sizes[smaller] + w
    ok = np.all(after <= cap, axis=1)
    if ok.any():
        score = np.where(ok, (after / cap).sum(axis=1), -1.0)
        j = int(smaller[int(np.argmax(score))])
        b = int(state.where[j])
        state.take(j, b)
        state.put(item, b)
        state.pending.append(j)
        return
    b = rng.randrange(len(state.bins))  # 4. kick
    while np.any(state.loads[b] + w > cap) and state.bins[b]:
        j = state.bins[b][rng.randrange(len(state.bins[b]))]
        state.take(j, b)
        state.pending.append(j)
    state.put(item, b)


def _repair(state: _State, settings: SolverSettings, deadline: float) -> bool:
    """Move 3: CP-SAT packs the pending items with those of the emptiest bins into those bins."""
    chosen = [int(b) for b in np.argsort(state.fullness(), kind="stable")[:REPAIR_BINS]]
    items = sorted(state.pending + [i for b in chosen for i in state.bins[b]], key=lambda i: -state.share[i])
    # (1)–(3) over the neighbourhood: its items (largest first) into its bins
    model, x = fixed_bins.build_model(state.sizes[items].tolist(), state.capacity.tolist(), len(chosen))
    solver = run_small(model, settings, min(REPAIR_WORK, deadline - work.now()))
    ranked = fixed_bins.extract(solver, x, len(items))
    if ranked is None:
        return False  # INFEASIBLE or UNKNOWN (work limit): this neighbourhood gives nothing
    for b in chosen:
        for i in list(state.bins[b]):
            state.take(i, b)
    for rank, b in enumerate(ranked):
        state.put(items[rank], chosen[b])
    state.pending = []
    return True
