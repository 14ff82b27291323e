"""Fit and test the co-location model (``packer.colocation``) on the recorded H200 validations.

Every GPU of every recorded validation is a *group*: the models it ran at their planned points, each
with its profiled GPU utilization (the server's removed) and concurrency, and what validation
measured (measured / promised throughput, the promise being the profiled throughput). The model
predicts each ratio from the profile rows alone; the baseline, summed utilization, predicts
min(1, 100 / Σ u).

The constant α is fitted leave one group out: a group is predicted with α fitted on the others
only. Groups of the same composition (the `_a` and `_b` copies of one pair, profiled rows
shared) are left out together, so a group is never predicted from its twin. The fit: α is the
median, over the training compositions shared without oversubscription (Σ u ≤ 100 %), of the α
that the group's worst-hit model needs to be predicted exactly (a composition measured twice counts
once, with the mean of its two). The worst-hit model decides whether a GPU holds; the median keeps
one odd group from moving it. Also printed: the other models considered, on the shared groups.

Alone groups predict 1 whatever α; oversubscribed ones are dominated by the time share.
A group is *forbidden* when some model is predicted below the least ratio (0.9, validation's
``min_ratio``); *short* when some model measured below it.

Usage:
    python benchmarks/colocation_fit.py [--report benchmarks/results/colocation-fit.md]
        [--run PROFILE_DIR VALIDATION_JSON ... ]   (a new run's groups join the fit and the table)
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from packer.colocation import DEFAULT_MIN_RATIO, Load, ratios, weight

RESULTS = Path(__file__).resolve().parent / "results"
REPORT = RESULTS / "colocation-fit.md"
# (run label, profile directory, validation files), relative to RESULTS.
RUNS = (
    (
        "h200-b",
        "h200-2026-12-01-b/profile",
        ("plan-uncalibrated", "plan-calibrated", "plan-calibrated-2", "plan-min-gpus"),
    ),
    ("h200", "h200-2026-12-01/profile", ("plan-uncalibrated", "plan-calibrated", "plan-min-gpus")),
    ("h200-runA", "h200-2026-12-01/run-a/profile", ("validation-1",)),
)


@dataclass(frozen=True)
class Member:
    """One model of a group: its point, its profiled load and its measured ratio."""

    model: str
    batch_size: int
    concurrency: int
    load: Load
    measured: float


@dataclass(frozen=True)
class Group:
    """One validated GPU: where it was recorded, and its models."""

    where: str
    members: tuple[Member, ...]

    @property
    def summed(self) -> float:
        """Σ u (fraction)."""
        return sum(m.load.gpu_util for m in self.members)

    @property
    def key(self) -> tuple:
        """The composition: the run and the models' architectures and points (copies `_a`/`_b` merged)."""
        names = sorted(
            (m.model.removesuffix("_a").removesuffix("_b"), m.batch_size, m.concurrency) for m in self
        )
        return (self.where.split("/")[0], tuple(names))

    def __iter__(self):
        return iter(self.members)

    @property
    def shared(self) -> bool:
        """Two models or more, not oversubscribed: what the constants are fitted on."""
        return len(self.members) > 1 and self.summed <= 1.0


def _rows(profile: Path) -> tuple[dict, float]:
    """The profile's rows by (model, batch, concurrency), and the server's GPU utilization (%)."""
    with (profile / "profile.csv").open(newline="") as f:
        rows = {(r["model"], int(r["batch_size"]), int(r["concurrency"])): r for r in csv.DictReader(f)}
    with (profile / "server-only.csv").open(newline="") as f:
        server = float(next(csv.DictReader(f))["max_gpu_utilization_pct"] or 0.0)
    return rows, server


def run_groups(label: str, profile: Path, validations: list[Path]) -> list[Group]:
    """Every GPU of ``validations``, joined with its models' rows in ``profile``.

    Measured is validation's ratio (measured / promised) × promised / profiled: measured / *profiled*
    throughput, as a plan made with the co-location model promises profiled × predicted ratio.
    """
    rows, server = _rows(profile)
    groups = []
    for path in validations:
        data = json.loads(path.read_text())
        for gpu in data["gpus"]:
            members = []
            for m in gpu["models"]:
                row = rows[m["name"], m["batch_size"], m["concurrency"]]
                util = max(0.0, float(row["max_gpu_utilization_pct"]) - server) / 100
                measured = m["ratio"] * m["promised_throughput"] / float(row["throughput_infer_per_sec"])
                load = Load(util, max(1, m["concurrency"]))
                members.append(Member(m["name"], m["batch_size"], m["concurrency"], load, round(measured, 3)))
            groups.append(Group(f"{label}/{path.parent.name}/GPU {gpu['index']}", tuple(members)))
    return groups


def read_groups(results: Path = RESULTS) -> list[Group]:
    """Every validated GPU of the recorded runs, joined with its models' profile rows."""
    groups = []
    for label, profile, plans in RUNS:
        base = (results / profile).parent
        groups += run_groups(label, results / profile, [base / plan / "validation.json" for plan in plans])
    return groups


def needed_alpha(group: Group) -> float:
    """The α that predicts the group's worst-hit model exactly."""
    worst = min(group, key=lambda m: m.measured)
    seen = sum(
        weight(worst.load.concurrency, m.load.concurrency) * m.load.gpu_util for m in group if m is not worst
    )
    return (1 / worst.measured - 1) / (worst.load.gpu_util * seen)


def fit(groups: list[Group]) -> float:
    """α fitted on ``groups`` (module docstring); a composition counts once in the median."""
    needed: dict[tuple, list[float]] = {}
    for g in groups:
        if g.shared:
            needed.setdefault(g.key, []).append(needed_alpha(g))
    return statistics.median(statistics.fmean(values) for values in needed.values())


def predict(group: Group, alpha: float) -> tuple[float, ...]:
    """The model's ratios for ``group``."""
    return ratios([m.load for m in group], alpha)


def baseline(group: Group) -> float:
    """Summed utilization's ratio for every model of ``group``: its time share, 1 up to 100 %."""
    return min(1.0, 1 / group.summed) if group.summed > 0 else 1.0


@dataclass(frozen=True)
class Row:
    """One model of one group, predicted leave-one-group-out."""

    group: Group
    member: Member
    predicted: float
    alpha: float


def leave_one_group_out(groups: list[Group]) -> list[Row]:
    """Each group predicted with constants fitted on the groups of other compositions."""
    rows = []
    for key in dict.fromkeys(g.key for g in groups):
        alpha = fit([g for g in groups if g.key != key])
        for group in (g for g in groups if g.key == key):
            for member, p in zip(group, predict(group, alpha), strict=True):
                rows.append(Row(group, member, p, alpha))
    order = {g.where: k for k, g in enumerate(groups)}
    return sorted(rows, key=lambda r: order[r.group.where])


def _errors(values: list[float]) -> str:
    if not values:
        return "–"
    return f"mean {statistics.fmean(abs(v) for v in values):.3f}, max {max(abs(v) for v in values):.3f}"


def _verdicts(
    groups: list[Group], predicted: dict[str, list[float]], least: float
) -> tuple[int, int, int, int]:
    """(short groups, of them forbidden, holding groups, of them forbidden needlessly)."""
    short = [g for g in groups if min(m.measured for m in g) < least]
    holding = [g for g in groups if g not in short]
    forbidden = {g.where for g in groups if min(predicted[g.where]) < least}
    return (
        len(short),
        sum(g.where in forbidden for g in short),
        len(holding),
        sum(g.where in forbidden for g in holding),
    )


def report(groups: list[Group], rows: list[Row], least: float = DEFAULT_MIN_RATIO) -> str:
    """The markdown table and its summary."""
    alpha = fit(groups)
    lines = [
        "# Co-location model: predicted against measured, leave one group out",
        "",
        "Written by `python benchmarks/colocation_fit.py --report` from the recorded H200 validations",
        "(`h200-2026-12-01-b`, `h200-2026-12-01`, its `run-a`); see `packer/colocation.py` for the model",
        "and the script's docstring for the fit. u: the model's profiled GPU utilization alone, server",
        "removed; c: its concurrency. Predicted: the model with α fitted on the other groups;",
        "baseline: summed utilization, min(1, 100 / Σu). Measured: validation's measured / promised",
        "(the promise was the profiled throughput).",
        "",
        f"α fitted on every group: **{alpha:.2f}** (`packer.colocation.ALPHA`).",
        "",
        "| group | Σu (%) | model (batch, concurrency, u %) | measured | predicted | error "
        "| baseline | error | α (fold) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        g, m = r.group, r.member
        base = baseline(g)
        lines.append(
            f"| {g.where} | {100 * g.summed:.0f} | {m.model} (b{m.batch_size} c{m.concurrency}, "
            f"{100 * m.load.gpu_util:.0f}) | {m.measured:.3f} | {r.predicted:.3f} "
            f"| {r.predicted - m.measured:+.3f} "
            f"| {base:.3f} | {base - m.measured:+.3f} | {r.alpha:.2f} |"
        )
    lines += ["", *summary(groups, rows, least), "", *alternatives(groups, rows, least)]
    return "\n".join(lines) + "\n"


def summary(groups: list[Group], rows: list[Row], least: float = DEFAULT_MIN_RATIO) -> list[str]:
    """The summary lines: errors by kind of group, and what each rule would have forbidden."""
    kinds = {
        "alone": lambda g: len(g.members) == 1,
        "shared (Σu ≤ 100 %)": lambda g: g.shared,
        "oversubscribed (Σu > 100 %)": lambda g: len(g.members) > 1 and not g.shared,
    }
    out = ["## Summary", "", "| groups | models | model error | baseline error |", "|---|---:|---|---|"]
    for name, test in kinds.items():
        chosen = [r for r in rows if test(r.group)]
        out.append(
            f"| {name}: {len({r.group.where for r in chosen})} | {len(chosen)} "
            f"| {_errors([r.predicted - r.member.measured for r in chosen])} "
            f"| {_errors([baseline(r.group) - r.member.measured for r in chosen])} |"
        )
    worst = [
        min(r.predicted for r in rows if r.group is g) - min(m.measured for m in g)
        for g in groups
        if g.shared
    ]
    out += ["", f"Worst-hit model per shared group (what decides whether a GPU holds): {_errors(worst)}.", ""]
    model = {g.where: [r.predicted for r in rows if r.group is g] for g in groups}
    summed = {g.where: [baseline(g)] * len(g.members) for g in groups}
    for name, predicted in (("model", model), ("summed utilization", summed)):
        short, caught, holding, needless = _verdicts(groups, predicted, least)
        out.append(
            f"- {name} at least ratio {least:g}: forbids {caught} of the {short} groups measured short, "
            f"and {needless} of the {holding} that held."
        )
    return out


def queueing(group: Group) -> tuple[float, ...]:
    """The earlier queueing estimate, 1 / (1 − u + u / (1 − U)): an M/M/1 wait behind the partners."""
    out = []
    for m in group:
        others = group.summed - m.load.gpu_util
        u = m.load.gpu_util
        out.append(1 / (1 - u + u / (1 - others)) if others < 1 else 0.0)
    return tuple(out)


def alternatives(groups: list[Group], rows: list[Row], least: float = DEFAULT_MIN_RATIO) -> list[str]:
    """Other models on the shared groups: their errors and what they would forbid."""
    shared = [g for g in groups if g.shared]
    fitted = {r.group.where: [] for r in rows}
    for r in rows:
        fitted[r.group.where].append(r.predicted)
    candidates = {
        "this model, α fitted leave one group out": lambda g: fitted[g.where],
        "processor sharing, 1 / (1 + u_i Σ u_j) (mean-value analysis, not fitted)": lambda g: ratios(
            [Load(m.load.gpu_util) for m in g], 1.0
        ),
        "the queueing estimate 1 / (1 − u + u / (1 − U)) (not fitted)": queueing,
        "summed utilization": lambda g: [baseline(g)] * len(g.members),
    }
    out = [
        "## Other models on the shared groups",
        "",
        f"| model | model error | worst-hit error | short groups forbidden (at {least:g}) "
        "| held, forbidden |",
        "|---|---|---|---:|---:|",
    ]
    for name, model in candidates.items():
        errors = [p - m.measured for g in shared for p, m in zip(model(g), g, strict=True)]
        worst = [min(model(g)) - min(m.measured for m in g) for g in shared]
        short, caught, holding, needless = _verdicts(shared, {g.where: list(model(g)) for g in shared}, least)
        verdicts = f"{caught} of {short} | {needless} of {holding}"
        out.append(f"| {name} | {_errors(errors)} | {_errors(worst)} | {verdicts} |")
    return out


def main() -> None:
    """Print the table (and write it with ``--report``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--report", type=Path, nargs="?", const=REPORT, help=f"write the table (default {REPORT})"
    )
    parser.add_argument(
        "--run",
        nargs="+",
        action="append",
        default=[],
        metavar=("PROFILE", "VALIDATION"),
        help="another run: its profile directory and validation.json files (repeatable); its groups "
        "join the fit and the table",
    )
    args = parser.parse_args()
    groups = read_groups()
    for k, (profile, *validations) in enumerate(args.run):
        groups += run_groups(f"run{k + 1}", Path(profile), [Path(v) for v in validations])
    text = report(groups, leave_one_group_out(groups))
    print(text, end="")
    if args.report:
        args.report.write_text(text)


if __name__ == "__main__":
    main()
