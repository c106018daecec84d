"""SIGINT/SIGTERM as a flag the training loop checks between steps."""

import signal


class StopFlag:
    """Turns SIGINT/SIGTERM into a flag checked between steps."""

    def __init__(self):
        self.raised = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # Not the main thread.
                pass
        return self

    def _handle(self, signum, frame):
        if self.raised is not None:  # Second Ctrl-C: stop now.
            raise KeyboardInterrupt
        self.raised = signal.Signals(signum).name

    def __exit__(self, *args):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
