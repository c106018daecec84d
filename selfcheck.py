"""Check that this machine's devices and precisions train as a float32 CPU does.

A few training steps of a tiny network, from the same weights and the same
data, on every device kind and precision available (each GPU, all GPUs
mirrored, TF32, bf16 and fp16 where supported, XLA; without GPUs: CPU bf16 and
two logical CPU devices mirrored), each compared with a float32 CPU reference
within its precision's tolerance (docs/gpu.md). Prints a table of what agrees,
what does not, and images/s; exits 1 on a disagreement. About a minute.

Examples:
    python selfcheck.py
    python selfcheck.py --cases=gpu0_bf16,gpus_mirrored --steps=6
    python selfcheck.py --json > selfcheck.json
    python selfcheck.py --dry_run
"""

import json
import sys
import tempfile

from absl import app, flags

from dnnlib import cli

flags.DEFINE_integer(
    "steps", 4, "Training steps per case (the first traces the steps).", lower_bound=2
)
flags.DEFINE_list(
    "cases",
    [],
    "Cases to run (default: all this machine has): cpu_bf16, cpu_mirrored, "
    "gpu<N>_fp32, gpu<N>_tf32, gpu<N>_bf16, gpu<N>_fp16, gpu<N>_xla, gpus_mirrored.",
)
flags.DEFINE_boolean("json", False, "Print the results as JSON instead of a table.")
flags.DEFINE_boolean("dry_run", False, "List the cases and tolerances; train nothing.")
flags.DEFINE_string(
    "inject_disagreement",
    None,
    "Test hook: start this case from perturbed weights, so that it disagrees.",
)
FLAGS = flags.FLAGS
PROG = "selfcheck.py"


def main(argv):
    if len(argv) > 1:
        return cli.fail(PROG, f"unexpected arguments {argv[1:]}; options are flags.")
    from msg_stylegan_tf2.training import selfcheck

    inject = FLAGS.inject_disagreement
    try:
        selfcheck.check_case_names(FLAGS.cases + ([inject] if inject else []))
    except ValueError as e:
        return cli.fail(PROG, str(e), FLAGS)
    from absl import logging

    from dnnlib import hardware
    from dnnlib.quiet_tf import import_tensorflow

    logging.set_verbosity(logging.WARNING)
    import_tensorflow()  # Quietly, before anything else imports TensorFlow.
    cpu_devices = selfcheck.configure_devices()
    found = hardware.detect()
    available = selfcheck.available_cases(found.gpu_capabilities, cpu_devices)
    try:
        cases = selfcheck.select_cases(available, FLAGS.cases)
        if inject and inject not in [case.name for case in cases]:
            raise ValueError(
                f"`inject_disagreement`: {inject} is not a case of this run."
            )
    except ValueError as e:
        return cli.fail(PROG, str(e), FLAGS)
    from msg_stylegan_tf2.training import selfcheck_report

    progress = (lambda line: print(line, file=sys.stderr)) if FLAGS.json else print
    progress(hardware.summary(found))
    if FLAGS.dry_run:
        for case in cases:
            tolerance = selfcheck_report.tolerance_of(case)
            print(
                f"{case.name}: {case.where}, {case.precision}, against "
                f"{case.reference}: {tolerance}"
            )
        return 0
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as work_dir:
        rows = selfcheck.run_selfcheck(
            cases, FLAGS.steps, work_dir, inject=inject, log=progress
        )
    if FLAGS.json:
        print(json.dumps(selfcheck_report.as_json(rows), indent=2))
    else:
        print(selfcheck_report.table(rows))
    return 0 if all(row.agrees for row in rows) else 1


if __name__ == "__main__":
    app.run(main)
