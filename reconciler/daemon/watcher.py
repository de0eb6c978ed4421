"""Tell the daemon when manifests may have changed; never go deaf.

In a cluster, manifests arrive by symlink swaps: git-sync renames a new link over
its ``--link``; a ConfigMap volume renames ``..data_tmp`` over ``..data``. An
inotify watch on a path that is swapped away stops for good and one on the link's
target misses the next swap, so the watcher watches the tree *and*, non-recursively,
the directory holding every symlink on the way to it, and re-aims itself whenever
the real path changes. Events are only a hint: the daemon debounces them, and also
rescans everything on each periodic resync (inotify drops events on overflow, and
some volumes deliver none: ``--watch-mode poll`` is for those).
"""

from __future__ import annotations

import os
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from ..shutdown import Shutdown

log = structlog.get_logger("reconciler.watch")


class WatchState(StrEnum):
    OK = "ok"
    RESTARTED = "restarted"  # events may have been lost while it was not watching
    FAILED = "failed"


class Trigger:
    """Coalesces bursts of events: ``wait`` returns once events stopped for ``debounce`` seconds.

    Its condition comes from the shutdown signal, so a shutdown ends a wait at once.
    """

    def __init__(self, debounce: float, shutdown: Shutdown) -> None:
        self.debounce = debounce
        self._shutdown = shutdown
        self._cond = shutdown.condition()
        self._pending = False
        self._last = 0.0

    def fire(self) -> None:
        with self._cond:
            self._pending = True
            self._last = time.monotonic()
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """True when a debounced change is due; False when ``timeout`` passed without one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._shutdown.is_set():
                now = time.monotonic()
                if self._pending and now - self._last >= self.debounce:
                    self._pending = False
                    return True
                if now >= deadline:
                    return False
                quiet_at = self._last + self.debounce if self._pending else deadline
                self._cond.wait(max(0.0, min(deadline, quiet_at) - now))
            return False


class _Handler(FileSystemEventHandler):
    def __init__(self, trigger: Trigger) -> None:
        self.trigger = trigger

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in ("opened", "closed_no_write"):  # reads, including our own
            self.trigger.fire()


def snapshot_of(root: Path) -> tuple[Path, str]:
    """The real tree to read now, and the revision it holds ('' when no link names one).

    git-sync publishes ``<link> -> .worktrees/<commit sha>``; a ConfigMap volume
    ``..data -> ..<timestamp>``. The revision is the name of the target of the last such
    link on the way to the tree, taken from the same resolution the tree is read from.
    """
    absolute = Path(os.path.abspath(root))
    real = Path(os.path.realpath(absolute))
    revision = ""
    for part in (*reversed(absolute.parents), absolute):
        if part.is_symlink():
            target = Path(os.path.realpath(part))
            if real == target or real.is_relative_to(target):
                revision = target.name
    data = real / "..data"
    if data.is_symlink():
        revision = Path(os.path.realpath(data)).name
    return real, revision


def watched_directories(root: Path) -> tuple[Path, list[Path]]:
    """The real tree to watch recursively, and each directory holding a symlink on the way to it."""
    absolute = Path(os.path.abspath(root))
    links = [p for p in (*reversed(absolute.parents), absolute) if p.is_symlink()]
    real = Path(os.path.realpath(absolute))
    tree = real if real.is_dir() else real.parent
    return tree, sorted({link.parent for link in links} - {tree})


class Watcher:
    """A watchdog observer aimed at the manifests, restarted when it dies or the target moves."""

    def __init__(self, root: Path, trigger: Trigger, mode: str = "auto", poll_interval: float = 2.0) -> None:
        self.root = root
        self.trigger = trigger
        self.mode = mode
        self.poll_interval = poll_interval
        self.restarts = 0
        self._observer: Any = None
        self._aim: tuple[Path, list[Path]] | None = None

    def start(self) -> None:
        """Watch the real tree and each directory holding a symlink on the way to it (a git-sync swap)."""
        observer = PollingObserver(timeout=self.poll_interval) if self.mode == "poll" else Observer()
        handler = _Handler(self.trigger)
        tree, parents = watched_directories(self.root)
        if tree.exists():
            observer.schedule(handler, str(tree), recursive=True)
        for parent in parents:
            observer.schedule(handler, str(parent), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer, self._aim = observer, (tree, parents)
        log.info("watch.started", tree=str(tree), parents=[str(p) for p in parents], mode=self.mode)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    @property
    def alive(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def check(self) -> WatchState:
        """Restart a dead observer, re-aim after a swap.

        Stopping an observer drops the events it had not dispatched yet, so after a
        restart the caller must look again rather than trust that nothing happened.
        """
        moved = self._aim != watched_directories(self.root)
        if self.alive and not moved:
            return WatchState.OK
        reason = "target moved" if self.alive else "observer died"
        self.stop()
        try:
            self.start()
        except OSError as exc:
            log.error("watch.restart_failed", reason=reason, error=str(exc))
            return WatchState.FAILED
        if reason == "observer died":
            self.restarts += 1
        log.info("watch.restarted", reason=reason)
        return WatchState.RESTARTED
