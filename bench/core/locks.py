"""Exclusive claims on files, shared by runners on one results folder, with stale-lock recovery.

A claim is a lock file created with ``O_CREAT | O_EXCL`` holding the owner's host, pid and a random
token. While held, a daemon thread refreshes its mtime (the heartbeat). A lock is stale when its
owner is a dead process on this host, or when its heartbeat is older than ``stale_after`` seconds
(a crashed machine); a stale lock is taken over by renaming it away first, which only one contender
can do.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

HEARTBEAT_SECONDS = 20.0
STALE_AFTER_SECONDS = 300.0


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_owner(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_stale(path: Path, stale_after: float = STALE_AFTER_SECONDS) -> bool:
    """True when the lock's owner is gone (dead local pid, or no heartbeat for ``stale_after`` s)."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    owner = read_owner(path)
    if owner and owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        if not pid_alive(owner["pid"]):
            return True
    return age > stale_after


class Claim:
    """``with Claim(path) as got: ...`` or explicit :meth:`try_acquire` / :meth:`acquire` / :meth:`release`."""

    def __init__(self, path: Path, stale_after: float = STALE_AFTER_SECONDS, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.path = path
        self.stale_after = stale_after
        self.heartbeat_seconds = heartbeat
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.held = False

    def _create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token, "since": time.time()}, handle)
        return True

    def try_acquire(self) -> bool:
        """Take the lock if it is free or stale; never waits."""
        if not self._create():
            if not is_stale(self.path, self.stale_after):
                return False
            grave = self.path.with_name(f"{self.path.name}.stale-{self.token}")
            try:
                os.rename(self.path, grave)  # only one contender wins the takeover
            except FileNotFoundError:
                pass
            else:
                grave.unlink(missing_ok=True)
            if not self._create():
                return False
        self.held = True
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.path.name}", daemon=True)
        self._thread.start()
        return True

    def acquire(self, poll: float = 0.5, timeout: float | None = None) -> bool:
        """Wait until the lock is ours (or ``timeout`` passes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.try_acquire():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(poll)
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        if not self.held:
            return
        self._stop.set()
        owner = read_owner(self.path)
        if owner and owner.get("token") == self.token:
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> bool:
        return self.try_acquire()

    def __exit__(self, *exc) -> None:
        self.release()
