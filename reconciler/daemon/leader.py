"""``--leader-elect``: one replica writes, the others stand by, through a Kubernetes Lease.

Built on the official client's ``CoordinationV1Api``, not on its ``leaderelection``
package: that one's candidate loop cannot be stopped (a SIGTERM'd standby would hang
in ``time.sleep``), it never releases the lease on shutdown (the standby waits a whole
lease duration), and it leaves stopping the leader's work to the caller. The protocol
is client-go's:

* A replica takes the Lease when it is free (no holder, as after a release) or when
  its record has not changed for ``leaseDurationSeconds`` of *this* replica's clock
  (observed time, so clocks need not agree); every write carries the resourceVersion
  it read, and the API server refuses it with 409 if anyone wrote in between.
* The leader renews every ``retry_period``. When the record shows another holder, or
  no renewal has succeeded for ``renew_deadline`` (shorter than the lease duration, so
  it stops before anyone else may take over), it has lost: the shutdown signal is
  set at once, no call starts after it, and the process exits 1 to rejoin as a
  candidate.
* Writes are fenced: right before every App Mesh write is sent (``appmesh_client``'s fence,
  in botocore's ``before-send`` event), the leader checks that its
  last successful renewal began within ``renew_deadline``, on a clock that keeps
  counting while the process or its machine is paused (``CLOCK_BOOTTIME``). A leader
  paused past the deadline (a long GC pause, a frozen node, a live-migrated VM) wakes
  with writes in hand and the Lease possibly someone else's: it stops as for a lost
  Lease instead of sending them. App Mesh takes no fencing token, so what is left is
  the instant between the check and the request leaving the socket.
* On SIGTERM, once the last call on the wire is done, the leader releases the Lease
  (no holder, a 1 s duration), so a standby takes over at its next attempt.

Only this module imports the Kubernetes client.
"""

from __future__ import annotations

import datetime
import os
import threading
import time
from enum import StrEnum
from typing import Any

import structlog
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..shutdown import Shutdown, Stopped, StopReason
from .options import LeaseConfig

log = structlog.get_logger("reconciler.leader")

CONFLICT, NOT_FOUND = 409, 404


def _clock() -> float:
    """Seconds on a clock that keeps counting through a pause of the process or the machine
    (Linux's CLOCK_BOOTTIME; elsewhere the monotonic clock)."""
    return time.clock_gettime(_CLOCK)


_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


class Role(StrEnum):
    CANDIDATE = "candidate"
    LEADER = "leader"
    LOST = "lost"  # was the leader; writes stopped, the process is ending
    RELEASED = "released"


def connect() -> Any:
    """A CoordinationV1Api: in-cluster credentials, else the kubeconfig ($KUBECONFIG)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        # read $KUBECONFIG now: the client reads it once, when it is imported
        config.load_kube_config(os.environ.get("KUBECONFIG"), client_configuration=configuration)
    return client.CoordinationV1Api(client.ApiClient(configuration))


class Elector:
    """This replica's claim on the Lease: wait to lead, renew while leading, release at the end."""

    def __init__(self, api: Any, lease: LeaseConfig, shutdown: Shutdown) -> None:
        self.api = api
        self.lease = lease
        self.shutdown = shutdown
        self.role = Role.CANDIDATE
        self._observed: tuple[Any, ...] | None = None  # the record as last read
        self._observed_at = 0.0  # when it last changed, on this replica's clock
        self._current: Any = None  # the Lease as last written by us (its resourceVersion)
        self._last_attempt = _clock()
        self._last_renewal = 0.0  # when the last successful renewal began
        self._stop = threading.Event()
        self._losing = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._timeout = max(1.0, self.lease.retry_period)

    @property
    def leading(self) -> bool:
        return self.role is Role.LEADER

    @property
    def lost(self) -> bool:
        return self.role is Role.LOST

    def wait_for_leadership(self) -> bool:
        """Block until this replica leads (True) or shutdown begins (False)."""
        log.info(
            "leader.candidate",
            lease=f"{self.lease.namespace}/{self.lease.name}",
            identity=self.lease.identity,
        )
        while not self.shutdown.is_set():
            began = _clock()
            if self._attempt():
                self.role = Role.LEADER
                self._last_renewal = began
                log.info("leader.acquired", identity=self.lease.identity)
                self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
                self._renewer.start()
                return True
            self.shutdown.wait(self.lease.retry_period)
        return False

    def release(self) -> None:
        """Stop renewing and hand the Lease back, so a standby need not wait for it to expire."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(self._timeout * 2)
        if self.role is not Role.LEADER or self._current is None:
            return
        lease = self._current
        now = _now()
        lease.spec.holder_identity = None
        lease.spec.lease_duration_seconds = 1
        lease.spec.renew_time = lease.spec.acquire_time = now
        try:
            self.api.replace_namespaced_lease(
                self.lease.name, self.lease.namespace, lease, _request_timeout=self._timeout
            )
            self.role = Role.RELEASED
            log.info("leader.released", identity=self.lease.identity)
        except Exception as exc:  # the standby takes over on expiry instead
            log.warning("leader.release_failed", error=_describe(exc))

    def fence(self) -> None:
        """Before a write: raise ``Stopped`` unless this replica surely still leads.

        Sure means its last renewal began within the renew deadline: no other replica can
        have taken the Lease before a whole lease duration has passed since then.
        """
        if self.role is Role.LEADER and _clock() - self._last_renewal <= self.lease.renew_deadline:
            return
        self._lose(f"no renewal within the last {self.lease.renew_deadline:g} s at a write (paused?)")
        raise Stopped

    def healthy(self) -> tuple[bool, dict[str, Any]]:
        """False when renewals (or, standing by, attempts) have stalled."""
        now = _clock()
        if self.role is Role.LEADER:
            late = now - self._last_renewal > self.lease.renew_deadline + self._timeout
            return not late, {"role": self.role.value, "last_renewal_s": round(now - self._last_renewal, 1)}
        late = now - self._last_attempt > self.lease.duration + self._timeout
        return not late, {"role": self.role.value, "last_attempt_s": round(now - self._last_attempt, 1)}

    # --- the protocol -------------------------------------------------------------

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease.retry_period):
            began = _clock()
            renewed = self._attempt()
            if self.role is not Role.LEADER:
                return  # _attempt saw another holder
            if renewed:  # the record was still ours: nobody else can have led since
                self._last_renewal = began
            elif _clock() - self._last_renewal > self.lease.renew_deadline:
                self._lose(f"no renewal succeeded for {self.lease.renew_deadline:g} s")
                return

    def _lose(self, why: str) -> None:
        with self._losing:  # the renewer and every writer may find it at once: say it once
            if self.role is not Role.LEADER:
                return
            self.role = Role.LOST
        log.error("leader.lost", identity=self.lease.identity, reason=why, action="stopping all writes")
        self.shutdown.set(StopReason.LEASE_LOST)

    def _attempt(self) -> bool:
        """One try to take or renew the Lease; True if this replica holds it now."""
        try:
            return self._try()
        except ApiException as exc:
            if exc.status != CONFLICT:
                log.warning("leader.api_error", status=exc.status, reason=exc.reason)
            return False
        except Exception as exc:  # connection refused, timeouts: try again next period
            log.warning("leader.api_error", error=_describe(exc))
            return False
        finally:
            self._last_attempt = _clock()

    def _try(self) -> bool:
        name, namespace = self.lease.name, self.lease.namespace
        try:
            lease = self.api.read_namespaced_lease(name, namespace, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status != NOT_FOUND:
                raise
            return self._create()
        spec = lease.spec or client.V1LeaseSpec()
        record = (
            spec.holder_identity,
            spec.renew_time,
            spec.lease_duration_seconds,
            lease.metadata.resource_version,
        )
        if record != self._observed:
            self._observed, self._observed_at = record, _clock()
        mine = spec.holder_identity == self.lease.identity
        if spec.holder_identity and not mine:
            if self.role is Role.LEADER:
                self._lose(f"the Lease is held by {spec.holder_identity}")
                return False
            if _clock() - self._observed_at < (spec.lease_duration_seconds or 0):
                return False  # someone else's, and not yet expired
        now = _now()
        lease.spec = client.V1LeaseSpec(
            holder_identity=self.lease.identity,
            lease_duration_seconds=int(self.lease.duration),
            acquire_time=spec.acquire_time if mine and spec.acquire_time else now,
            renew_time=now,
            lease_transitions=(spec.lease_transitions or 0) + (0 if mine else 1),
        )
        self._current = self.api.replace_namespaced_lease(
            name, namespace, lease, _request_timeout=self._timeout
        )
        return True

    def _create(self) -> bool:
        now = _now()
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.lease.name, namespace=self.lease.namespace),
            spec=client.V1LeaseSpec(
                holder_identity=self.lease.identity,
                lease_duration_seconds=int(self.lease.duration),
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            ),
        )
        self._current = self.api.create_namespaced_lease(
            self.lease.namespace, body, _request_timeout=self._timeout
        )
        return True


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"
