"""Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection.

Scheduler and controller-manager replicas all run; one leads. Each candidate
periodically reads the Lease and `decide`s, a pure function of (lease, now, identity,
what it saw before), whether to create it, renew it, take it over, or wait:

- A lease held by someone else is theirs until `leaseDurationSeconds` after *this
  candidate first saw its current record*: it trusts its own clock, never the
  holder's `renewTime`, so skewed clocks between machines cannot steal a lease.
- An empty holder (released on shutdown) is free at once.
- Taking over sets `acquireTime` and bumps `leaseTransitions`; renewing keeps both.

Writes carry the read's resourceVersion, so two candidates racing for one expired
lease cannot both win: the loser gets a Conflict and waits. The leader renews every
`retry_period`; if renewals keep failing for `renew_deadline` it steps down (its
`on_started_leading` task is cancelled, `on_stopped_leading` runs) before anyone
else may take over (`lease_duration` > `renew_deadline`).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import enum
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from jota.api import errors
from jota.api.meta import Obj

logger = logging.getLogger(__name__)

LEASES = "leases"
JITTER_FACTOR = 1.2

DateClock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_micro_time(t: datetime) -> str:
    """MicroTime as Kubernetes writes it: `2026-11-24T13:00:00.000000Z`."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime | None:
    """A Time or MicroTime string as a UTC datetime (None when absent or garbled)."""
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Timing:
    """client-go's LeaderElectionConfig durations, in seconds, with kube's defaults."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def _duration(text: str) -> float:
    """A Go duration as the flags take it (`15s`, `500ms`, `1m`) or plain seconds."""
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            text, unit = text[:-len(suffix)], scale
            break
    else:
        unit = 1.0
    try:
        value = float(text) * unit
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 15s") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text!r}")
    return value


def add_flags(parser: argparse.ArgumentParser) -> None:
    """kube-controller-manager's and kube-scheduler's --leader-elect-* duration flags."""
    d = Timing()
    parser.add_argument("--leader-elect-lease-duration", type=_duration,
                        default=d.lease_duration, metavar="DURATION",
                        help="how long a standby waits after the leader's last renewal "
                             "before taking the Lease (default 15s)")
    parser.add_argument("--leader-elect-renew-deadline", type=_duration,
                        default=d.renew_deadline, metavar="DURATION",
                        help="how long the leader keeps retrying a renewal before it stops "
                             "leading; less than the lease duration (default 10s)")
    parser.add_argument("--leader-elect-retry-period", type=_duration,
                        default=d.retry_period, metavar="DURATION",
                        help="how often candidates try to take or renew the Lease "
                             "(default 2s)")


def timing_of(args: argparse.Namespace) -> Timing:
    """The flags' Timing; a bad combination is a clear error, as client-go's."""
    timing = Timing(args.leader_elect_lease_duration, args.leader_elect_renew_deadline,
                    args.leader_elect_retry_period)
    if timing.lease_duration <= timing.renew_deadline:
        raise ValueError("--leader-elect-lease-duration must be greater than "
                         "--leader-elect-renew-deadline")
    if timing.renew_deadline <= JITTER_FACTOR * timing.retry_period:
        raise ValueError(f"--leader-elect-renew-deadline must be greater than "
                         f"--leader-elect-retry-period*{JITTER_FACTOR}")
    return timing


@dataclass(frozen=True)
class LeaderElectionRecord:
    """The Lease spec fields that election reads and writes."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    lease_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: Obj) -> LeaderElectionRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_time(spec.get("acquireTime")),
            renew_time=parse_time(spec.get("renewTime")),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.lease_transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = format_micro_time(self.renew_time)
        return spec


@dataclass(frozen=True)
class Observation:
    """A record, and when (on this candidate's clock) it was first seen as it is."""

    record: LeaderElectionRecord
    at: datetime


class Action(enum.Enum):
    CREATE = "create"  # no lease yet: create it, holding it
    RENEW = "renew"  # we hold it: update renewTime
    ACQUIRE = "acquire"  # free or expired: take it over
    WAIT = "wait"  # someone else holds a valid lease


@dataclass(frozen=True)
class Decision:
    action: Action
    leader: str
    """Who holds the lease if the write (if any) succeeds."""
    observation: Observation | None
    """What to remember for the next `decide`."""
    lease: Obj | None = None
    """The Lease to create or update (update keeps the read's resourceVersion)."""


def new_lease(namespace: str, name: str, record: LeaderElectionRecord) -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": record.to_spec(),
    }


def _with_record(lease: Obj, record: LeaderElectionRecord) -> Obj:
    out = copy.deepcopy(lease)
    spec = out.setdefault("spec", {})
    spec.update(record.to_spec())
    if record.acquire_time is None:
        spec.pop("acquireTime", None)
    return out


def decide(
    lease: Obj | None,
    now: datetime,
    identity: str,
    *,
    lease_duration: float,
    observed: Observation | None = None,
    namespace: str = "",
    name: str = "",
) -> Decision:
    """What `identity` should do about `lease` at `now`: no I/O, no clock of its own."""
    duration = max(1, round(lease_duration))
    if lease is None:
        record = LeaderElectionRecord(identity, duration, now, now, 0)
        return Decision(Action.CREATE, identity, Observation(record, now),
                        new_lease(namespace, name, record))

    current = LeaderElectionRecord.from_lease(lease)
    observation = (observed if observed is not None and observed.record == current
                   else Observation(current, now))
    valid_for = current.lease_duration_seconds or lease_duration
    expired = (now - observation.at).total_seconds() >= valid_for
    holder = current.holder_identity

    if holder == identity:
        record = LeaderElectionRecord(identity, duration, current.acquire_time or now, now,
                                      current.lease_transitions)
        return Decision(Action.RENEW, identity, observation, _with_record(lease, record))
    if holder and not expired:
        return Decision(Action.WAIT, holder, observation)
    record = LeaderElectionRecord(identity, duration, now, now, current.lease_transitions + 1)
    return Decision(Action.ACQUIRE, identity, observation, _with_record(lease, record))


def released(lease: Obj, now: datetime) -> Obj:
    """The lease given up on shutdown, so a successor need not wait it out."""
    current = LeaderElectionRecord.from_lease(lease)
    record = LeaderElectionRecord("", 1, now, now, current.lease_transitions)
    return _with_record(lease, record)


# ---- the elector: carries decisions out against the API ------------------------------


class LeaseClient(Protocol):
    async def get(self, resource: str, name: str, namespace: str = "") -> Obj: ...

    async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj: ...

    async def update(self, resource: str, obj: Obj, namespace: str = "") -> Obj: ...


Sleep = Callable[[float], Awaitable[None]]


class LeaderElector:
    """Runs for leadership of `namespace/name`; `run()` returns once leadership is lost.

    `on_started_leading` is an async function run as a task while leading (cancelled
    on loss); `on_stopped_leading` (sync or async) runs after, only if we led;
    `on_new_leader(identity)` runs whenever the observed holder changes.
    """

    def __init__(
        self,
        client: LeaseClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        on_started_leading: Callable[[], Awaitable[None]],
        on_stopped_leading: Callable[[], object] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_cancel: bool = False,
        clock: DateClock = utcnow,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if lease_duration <= renew_deadline:
            raise ValueError("leaseDuration must be greater than renewDeadline")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError("renewDeadline must be greater than retryPeriod*JitterFactor")
        if retry_period < 0.001:
            raise ValueError("retryPeriod must be greater than zero")
        if not identity:
            raise ValueError("Lock identity is empty")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._observed: Observation | None = None
        self._lease: Obj | None = None
        self._reported_leader = ""
        self._leading = False

    @property
    def _log(self) -> dict[str, str]:
        # "name" is taken by LogRecord itself, hence "lease".
        return {"namespace": self.namespace, "lease": self.name, "identity": self.identity}

    def is_leader(self) -> bool:
        return self._leading

    def get_leader(self) -> str:
        """The holder last observed ("" if none yet)."""
        return self._observed.record.holder_identity if self._observed else ""

    async def try_acquire_or_renew(self) -> bool:
        """One round: read the lease, decide, write. True if we hold it afterwards."""
        now = self._clock()
        try:
            lease: Obj | None = await self.client.get(LEASES, self.name, self.namespace)
        except errors.NotFound:
            lease = None
        except Exception as e:
            logger.warning("error retrieving resource lock %s/%s: %s", self.namespace,
                           self.name, e, extra=self._log)
            return False
        d = decide(lease, now, self.identity, lease_duration=self.lease_duration,
                   observed=self._observed, namespace=self.namespace, name=self.name)
        self._observed = d.observation
        if d.action is Action.WAIT or d.lease is None:
            self._report(d.leader)
            return False
        try:
            if d.action is Action.CREATE:
                written = await self.client.create(LEASES, d.lease, self.namespace)
            else:
                written = await self.client.update(LEASES, d.lease, self.namespace)
        except Exception as e:
            logger.info("failed to %s lease %s/%s: %s", d.action.value, self.namespace,
                        self.name, e, extra=self._log)
            return False
        self._lease = written
        self._observed = Observation(LeaderElectionRecord.from_lease(written), self._clock())
        self._report(self.identity)
        return True

    async def run(self) -> None:
        """Acquire, lead until the lease is lost (or the task is cancelled), then return."""
        await self._acquire()
        self._leading = True
        logger.info("successfully acquired lease %s/%s", self.namespace, self.name,
                    extra=self._log)
        leading = asyncio.create_task(self._lead(), name=f"leading {self.name}")
        try:
            await self._renew_until_lost()
        finally:
            self._leading = False
            leading.cancel()
            await asyncio.wait([leading])
            try:
                if self.release_on_cancel:
                    await self._release()
            finally:
                await self._stopped()

    async def _acquire(self) -> None:
        while not await self.try_acquire_or_renew():
            await self._sleep(self.retry_period * (1.0 + JITTER_FACTOR * self._rand()))

    async def _renew_until_lost(self) -> None:
        last_renew = self._clock()
        while True:
            await self._sleep(self.retry_period)
            if await self.try_acquire_or_renew():
                last_renew = self._clock()
                continue
            if (self._clock() - last_renew).total_seconds() >= self.renew_deadline:
                logger.error("failed to renew lease %s/%s: timed out waiting for the "
                             "condition", self.namespace, self.name, extra=self._log)
                logger.info("leaderelection lost", extra=self._log)
                return

    async def _lead(self) -> None:
        try:
            await self._on_started()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("on_started_leading failed", extra=self._log)

    async def _stopped(self) -> None:
        if self._on_stopped is None:
            return
        try:
            result = self._on_stopped()
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_stopped_leading failed", extra=self._log)

    async def _release(self) -> None:
        if self._lease is None:
            return
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
            if LeaderElectionRecord.from_lease(lease).holder_identity != self.identity:
                return
            self._lease = await self.client.update(
                LEASES, released(lease, self._clock()), self.namespace)
            logger.info("released lease %s/%s", self.namespace, self.name, extra=self._log)
        except Exception as e:
            logger.warning("failed to release lease %s/%s: %s", self.namespace, self.name,
                           e, extra=self._log)

    def _report(self, leader: str) -> None:
        if leader == self._reported_leader:
            return
        self._reported_leader = leader
        if self._on_new_leader is not None and leader:
            try:
                self._on_new_leader(leader)
            except Exception:
                logger.exception("on_new_leader failed", extra=self._log)
