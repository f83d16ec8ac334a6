"""A version number that grows with every change, and whom to tell about it."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Changes:
    def __init__(self) -> None:
        self.version = 0
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every change; it runs on the changing thread, so keep it cheap."""
        self._listeners.append(listener)

    def changed(self) -> None:
        with self._lock:
            self.version += 1
        for listener in self._listeners:
            listener()
