"""A child process's stdout read line by line on a thread, so a test can wait for a printed
line with a timeout instead of blocking on the pipe (the demo's runs read their URLs so)."""

from __future__ import annotations

import queue
import subprocess
import threading
import time


class Lines:
    """The process's stdout, line by line, without blocking the test forever."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        self._stream = proc.stdout
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in self._stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def close(self) -> None:
        """After the process is gone: let the reader see EOF, then close the pipe."""
        self._thread.join(10)
        self._stream.close()

    def until(self, prefix: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no {prefix!r} line within {timeout_s} s; stdout: {self.seen}")
