"""Running a list of metrics and recording each in `<run_dir>/metric-<name>.jsonl`."""

import os
import pathlib
import time
from collections.abc import Callable

from dnnlib.jsonl import JsonLines
from metrics.registry import MetricOptions, evaluate


def evaluate_and_record(
    specs: list,
    options: MetricOptions,
    run_dir: str | os.PathLike,
    checkpoint: str | os.PathLike,
    truncation_psi: float = 1.0,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """Evaluates each spec, appends `<run_dir>/metric-<name>.jsonl`, logs a line.

    Args:
        specs: `MetricSpec`s (`metrics.names.parse_metric`).
        options: `MetricOptions` (`metrics.registry`); each spec sets `count`.
        run_dir: where the records go.
        checkpoint: what was measured, as recorded (a path).
        truncation_psi: as recorded (`options.generate` applies it).
        log: a callable taking one line.

    Returns:
        `{metric name: {result name: value}}`.
    """
    results = {}
    for spec in specs:
        start = time.time()
        values = evaluate(spec, options)
        seconds = time.time() - start
        results[spec.name] = values
        JsonLines(pathlib.Path(run_dir) / f"metric-{spec.name}.jsonl").append(
            {
                "metric": spec.name,
                "results": values,
                "checkpoint": str(checkpoint),
                "num_images": spec.count,
                "truncation_psi": truncation_psi,
                "seconds": round(seconds, 2),
            },
        )
        shown = " ".join(f"{k} {v:.4f}" for k, v in values.items())
        log(f"{spec.name:<12} time {seconds:6.1f}s  {shown}")
    return results
