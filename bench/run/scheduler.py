"""Which cell a free worker takes next (the pool executor's plan, kept free of processes so it is testable).

Cells come in model groups (cells sharing one fine-tuned model). A free worker

1. stays on the group whose model it holds in memory while that group has cells left (no reload);
2. otherwise starts the group fewest workers are on, the one with most cells left first (an untouched
   group's first cell trains its model, so training of different models runs in parallel);
3. so once every group is started, idle workers join the largest group left: an attack-dominated grid
   with a single model still keeps every worker busy (the joiner waits for the model's training lock if
   it is still training, then loads the model from the cache).
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Hashable, TypeVar

T = TypeVar("T", bound=Hashable)


class GroupScheduler(Generic[T]):
    def __init__(self, groups: list[list[T]]) -> None:
        self._pending: list[deque[T]] = [deque(g) for g in groups]
        self._group_of: dict[int, int] = {}  # worker → group it last took a cell from
        self._running: dict[int, T] = {}  # worker → its cell in progress

    def next_for(self, worker: int) -> T | None:
        """The next cell for ``worker`` (which has finished its previous one), or ``None`` when none is left."""
        self._running.pop(worker, None)
        current = self._group_of.get(worker)
        if current is None or not self._pending[current]:
            candidates = [g for g, cells in enumerate(self._pending) if cells]
            if not candidates:
                self._group_of.pop(worker, None)
                return None
            load = {g: 0 for g in candidates}
            for w, g in self._group_of.items():
                if w != worker and g in load and w in self._running:
                    load[g] += 1
            current = min(candidates, key=lambda g: (load[g], -len(self._pending[g]), g))
        cell = self._pending[current].popleft()
        self._group_of[worker] = current
        self._running[worker] = cell
        return cell

    def running(self, worker: int) -> T | None:
        return self._running.get(worker)

    def lost(self, worker: int) -> T | None:
        """Forget ``worker`` (it died); returns the cell it was running, which is not handed out again."""
        self._group_of.pop(worker, None)
        return self._running.pop(worker, None)

    def pending(self) -> list[T]:
        return [cell for cells in self._pending for cell in cells]

    def in_progress(self) -> list[T]:
        return list(self._running.values())
