"""A plain progress line for long commands: count, percentage, rate and ETA."""

import sys
import time


class Progress:
    """Prints `label done/total (pct%) rate/s ETA` to stderr, at most twice a second.

    Usage:
        progress = Progress("Writing", total=1000)
        for item in items:
            ...
            progress.update()
        progress.close()
    """

    def __init__(self, label, total=None, stream=None, interval=0.5):
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.done = 0
        self.shown = False  # Whether a line has been written yet.
        self.start = self.last = time.monotonic()

    def update(self, count=1):
        self.done += count
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last, self.shown = now, True
            self.stream.write("\r" + self.line(now) + " ")
            self.stream.flush()

    def line(self, now=None):
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.label} {self.done}"
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            text += f"/{self.total} ({pct:.0f}%) ETA {eta:.0f}s"
        return f"{text} {rate:.0f}/s"

    def close(self):
        self.stream.write("\r" + self.line() + "\n")
        self.stream.flush()
