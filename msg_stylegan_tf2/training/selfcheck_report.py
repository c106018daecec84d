"""The self-check's verdicts: the tolerance of each precision, the comparison
of a case's run with its reference's, and the table (or JSON) of the results.

Two runs are compared on
- the first step's losses (the D step's terms of tick 1, computed from the
  same weights and data): `max |case - reference| / max(1, |reference|)`;
- every step's losses, the same way;
- the weights after the last step, per network (G, D, Gs):
  `||W_case - W_ref|| / ||W_ref - W_initial||`, the disagreement as a fraction
  of how far the reference's training moved the weights.
"""

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """The largest disagreement a precision may show; None: not compared."""

    first_step: float
    losses: float | None
    weights: float | None
    note: str


# One table, also in docs/gpu.md. Measured on the Xeon with AMX (2 to 8
# steps): two mirrored CPU devices against one, 1.5e-7 (first step), 5.5e-7
# (losses), 2e-5 (weights); CPU bf16, 8.1e-3, 4.1e-2 and 0.17 to 0.27. TF32
# and fp16 have not been measured on a GPU.
TOLERANCES = {
    "fp32": Tolerance(1e-4, 1e-3, 1e-2, "float32 rounding: another device or order"),
    "tf32": Tolerance(
        1e-2, 0.1, 0.3, "TF32 convolutions and matmuls (10-bit mantissa)"
    ),
    "bf16": Tolerance(0.05, 0.2, 0.5, "bfloat16 compute (8-bit mantissa)"),
    "fp16": Tolerance(
        0.05,
        None,
        None,
        "first step only: the dynamic loss scale skips the first steps while "
        "it falls from 2^15",
    ),
}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A case against its reference.

    Attributes:
        first_step: the first step's loss disagreement.
        losses: every step's loss disagreement (None: not compared).
        weights: `{"G"|"D"|"Gs": disagreement}` ({}: not compared).
        problems: one phrase per tolerance exceeded or thing missing.
    """

    first_step: float
    losses: float | None
    weights: dict
    problems: tuple

    @property
    def agrees(self) -> bool:
        return not self.problems


def _relative(reference, value):
    if not (math.isfinite(reference) and math.isfinite(value)):
        return math.inf
    return abs(value - reference) / max(1.0, abs(reference))


def loss_error(reference, losses, first_step=False):
    """The largest loss disagreement and where, `(value, "term at step s")`.

    Args:
        reference, losses: per step, `{term: mean}` (`selfcheck.Run.losses`).
        first_step: only step 1's D-step terms (G's come after D's update).
            The sign terms (+-1 per image) are left out everywhere.

    Returns:
        `(inf, what)` when a step or a term is missing.
    """
    if len(losses) != len(reference):
        return math.inf, f"{len(losses)} steps instead of {len(reference)}"
    worst = (0.0, "")
    for step, (ours, theirs) in enumerate(zip(reference, losses, strict=True), 1):
        if first_step and step > 1:
            break
        for term, value in ours.items():
            if "/signs/" in term or (first_step and "/G/" in term):
                continue
            if term not in theirs:
                return math.inf, f"{term} missing at step {step}"
            error = _relative(value, theirs[term])
            if error > worst[0] or math.isnan(error):
                worst = (error, f"{term} at step {step}")
    return worst


def weight_errors(reference, weights, initial):
    """`{network: ||W - W_ref|| / ||W_ref - W_initial||}` over each network's
    float weights (`selfcheck.network_weights` layouts); inf where a weight is
    missing or not finite."""
    errors = {}
    for network, ours in reference.items():
        theirs, start = weights.get(network, {}), initial[network]
        if set(theirs) != set(ours):
            errors[network] = math.inf
            continue
        names = [n for n in ours if np.asarray(ours[n]).dtype.kind == "f"]
        apart = math.sqrt(sum(float(np.sum((theirs[n] - ours[n]) ** 2)) for n in names))
        moved = math.sqrt(sum(float(np.sum((ours[n] - start[n]) ** 2)) for n in names))
        if not math.isfinite(apart):
            errors[network] = math.inf
        else:
            errors[network] = (
                apart / moved if moved > 0 else (0.0 if apart == 0 else math.inf)
            )
    return errors


def compare(reference, run, initial, tolerance: Tolerance) -> Verdict:
    """A case's Run against its reference's (`selfcheck.Run`), both started
    from `initial`."""
    problems = []
    first, where = loss_error(reference.losses, run.losses, first_step=True)
    if not first <= tolerance.first_step:
        problems.append(f"first step {first:.2g} > {tolerance.first_step:g} ({where})")
    losses = None
    if tolerance.losses is not None:
        losses, where = loss_error(reference.losses, run.losses)
        if not losses <= tolerance.losses:
            problems.append(f"losses {losses:.2g} > {tolerance.losses:g} ({where})")
    weights = {}
    if tolerance.weights is not None:
        weights = weight_errors(reference.weights, run.weights, initial)
        for network, error in weights.items():
            if not error <= tolerance.weights:
                problems.append(
                    f"weights of {network} {error:.2g} > {tolerance.weights:g}"
                )
    return Verdict(first, losses, weights, tuple(problems))


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table: a case, and its run and verdict (a reference
    has no verdict; a case that failed has `error`)."""

    case: object
    run: object = None
    verdict: Verdict | None = None
    error: str | None = None

    @property
    def agrees(self) -> bool:
        if self.error is not None:
            return False
        return self.verdict is None or self.verdict.agrees


def _measured(value, limit):
    if limit is None:
        return "-"
    return f"{value:.1e} <= {limit:g}" if value <= limit else f"{value:.1e} > {limit:g}"


def _cells(row):
    case = row.case
    speed = "-"
    if row.run is not None and row.run.images_per_sec is not None:
        speed = f"{row.run.images_per_sec:.0f}"
    mode = case.precision + (" XLA" if case.jit else "")
    head = [case.name, case.where, mode]
    if row.error is not None:
        return head + ["-", "-", "-", speed, f"NO: error: {row.error}"]
    if row.verdict is None:
        return head + ["reference", "-", "-", speed, "-"]
    verdict, tolerance = row.verdict, tolerance_of(case)
    weights = "-"
    if verdict.weights:
        network = max(verdict.weights, key=verdict.weights.get)
        weights = (
            f"{_measured(verdict.weights[network], tolerance.weights)} ({network})"
        )
    return head + [
        _measured(verdict.first_step, tolerance.first_step),
        _measured(verdict.losses, tolerance.losses),
        weights,
        speed,
        "yes" if verdict.agrees else "NO: " + "; ".join(verdict.problems),
    ]


def tolerance_of(case) -> Tolerance:
    return TOLERANCES[case.precision]


HEADER = (
    "case",
    "devices",
    "precision",
    "first step",
    "losses",
    "weights",
    "images/s",
    "agrees",
)


def table(rows) -> str:
    """The results as a text table, one row per case, and a last line."""
    cells = [HEADER] + [tuple(_cells(row)) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    failed = [row.case.name for row in rows if not row.agrees]
    if failed:
        lines.append(f"DISAGREE: {', '.join(failed)} (tolerances: docs/gpu.md)")
    else:
        checked = sum(row.verdict is not None for row in rows)
        lines.append(f"All {checked} cases agree with their float32 CPU reference.")
    return "\n".join(lines)


def _finite(value):
    # JSON has no infinity: "inf" and "nan" as strings.
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def as_json(rows) -> dict:
    """The results for machines: `{"agree": bool, "cases": [...]}`; a
    disagreement that is infinite (a missing or non-finite value) is "inf"."""
    cases = []
    for row in rows:
        case, verdict = row.case, row.verdict
        entry = {
            "name": case.name,
            "devices": list(case.devices),
            "precision": case.precision,
            "xla": case.jit,
            "reference": case.reference,
            "agrees": row.agrees,
            "error": row.error,
            "images_per_sec": None if row.run is None else row.run.images_per_sec,
            "seconds": None if row.run is None else row.run.seconds,
        }
        if verdict is not None:
            tolerance = tolerance_of(case)
            entry.update(
                first_step=verdict.first_step,
                losses=verdict.losses,
                weights=verdict.weights,
                problems=list(verdict.problems),
                tolerance=dataclasses.asdict(tolerance),
            )
        cases.append(_finite(entry))
    return {"agree": all(row.agrees for row in rows), "cases": cases}
