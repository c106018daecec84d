"""Training: configuration, schedules, EMA, distributed steps, snapshots, the loop."""
