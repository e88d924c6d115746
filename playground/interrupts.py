"""Stopping cleanly on SIGINT (Ctrl-C) and SIGTERM (what a container, a Space or systemd sends at shutdown).

The rule: the first signal asks what is running to stop (training stops after its current step and writes its
checkpoint, through the engine's own Stop); a second one interrupts at once (KeyboardInterrupt), for a user who
would rather lose the last steps than wait. Python lets only the main thread install handlers, so elsewhere
nothing changes; the previous handlers are put back when the block ends. Used by ``playground train`` (one run)
and by the app's ``launch`` (every running job).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(name: str) -> int:
    """The shell's convention for a process ended by signal ``name`` (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signal.Signals[name])


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[list[str]]:
    """While the block runs, the first SIGINT or SIGTERM calls ``stop(name)``; the next raises KeyboardInterrupt.
    Yields the list of signal names received (empty: none)."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: object) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signal.Signals(signum).name)
        stop(received[0])

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
