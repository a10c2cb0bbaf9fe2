"""Who owns a running run (运行归属) and whether that owner is still alive.

A run records its owner when it starts — host name, process id and the process's own start
time — and renews a lease (``heartbeat_at``) every :data:`HEARTBEAT_SECONDS` while it works.
On the next command, a run still marked ``running`` is dead when::

    same host     the process is gone, is a zombie, or the pid now belongs to a process that
                  started at another time (pid reused)                        → 中断 at once
    other host    (or no owner recorded, a run from before revision 0003): its lease is older
                  than LEASE_SECONDS                                          → 中断

and is marked failed/interrupted with that reason (see ``RunStore.reap_dead_runs``).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from dataclasses import dataclass
from typing import Callable

import psutil

HEARTBEAT_SECONDS = 20.0
LEASE_SECONDS = 300.0     # 5 minutes without a heartbeat: the owner on another host is dead
_START_TOLERANCE = 2.0    # seconds: the recorded and the observed process start may differ


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started_at: dt.datetime  # the process's start time, UTC

    @property
    def text(self) -> str:
        return f"{self.host} 进程 pid {self.pid}"


def this_process() -> Owner:
    pid = os.getpid()
    return Owner(socket.gethostname(), pid, process_start(pid))


def process_start(pid: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(psutil.Process(pid).create_time(), dt.timezone.utc)


def death(owner: Owner | None, heartbeat_at: dt.datetime, now: dt.datetime,
          lease_seconds: float = LEASE_SECONDS) -> str | None:
    """Why a running run's owner is dead (Chinese, English alongside), or None if it may live."""
    if owner is not None and owner.host == socket.gethostname():
        return _local_death(owner)
    age = (now - heartbeat_at).total_seconds()
    if age > lease_seconds:
        who = owner.text if owner else "未记录进程 owner not recorded"
        return (f"租约过期：{who} 已 {age:,.0f} 秒无心跳（上限 {lease_seconds:,.0f} 秒）/ lease "
                f"expired: no heartbeat for {age:,.0f} s")
    return None


def _local_death(owner: Owner) -> str | None:
    try:
        process = psutil.Process(owner.pid)
        zombie = process.status() == psutil.STATUS_ZOMBIE
        started = dt.datetime.fromtimestamp(process.create_time(), dt.timezone.utc)
    except psutil.NoSuchProcess:
        return f"运行进程已不存在（{owner.text}）/ the owning process is gone"
    except psutil.AccessDenied:  # another user's live process: alive
        return None
    if zombie:
        return f"运行进程已终止（{owner.text}）/ the owning process has ended"
    if abs((started - owner.started_at).total_seconds()) > _START_TOLERANCE:
        return (f"运行进程已不存在，进程号已被其他程序重用（{owner.text}）/ the owning process is "
                "gone (its pid was reused)")
    return None


class Heartbeat:
    """A daemon thread calling ``beat()`` every ``seconds`` until stopped (a context manager).

    A failed beat (database busy for a moment) is ignored: the next one renews the lease.
    """

    def __init__(self, beat: Callable[[], None], seconds: float = HEARTBEAT_SECONDS):
        self.beat, self.seconds = beat, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="settlement-heartbeat", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a missed beat is retried; the lease is generous
                continue

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.seconds + 5)
