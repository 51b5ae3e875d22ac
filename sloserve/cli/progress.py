"""A solver's progress as one refreshed line on stderr, on a terminal only."""
from __future__ import annotations

import sys
import time


class ProgressLine:
    """Call with :class:`~sloserve.solvers.methods.MipProgress` reports; redraws at most every
    ``interval_s`` seconds; :meth:`close` clears the line. Writes nothing unless the stream is a terminal."""

    def __init__(self, label: str = "MILP", stream=None, interval_s: float = 0.25):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s = interval_s
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._width = 0

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < self.interval_s:
            return
        self._last = now
        inc = "—" if p.incumbent is None else f"{p.incumbent:.2f} $/h"
        bnd = "—" if p.bound is None else f"{p.bound:.2f}"
        gap = "—" if p.gap is None else f"{100 * p.gap:.2f}%"
        text = f"  {self.label}: incumbent {inc}, bound {bnd}, gap {gap}, {p.nodes} nodes, {p.elapsed_s:.1f} s"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
