"""The proactive-message scheduler: APScheduler jobs that fire only in the process holding the database lease."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from assistant.clock import Clock
from assistant.db import Database
from assistant.models import SchedulerLease

log = logging.getLogger(__name__)
LEASE_NAME = "proactive"


class Lease:
    """A named lease in the database: one holder at a time; a lapsed lease is taken over by the next to ask."""

    def __init__(
        self, db: Database, clock: Clock, ttl: timedelta = timedelta(seconds=30), name: str = LEASE_NAME
    ) -> None:
        self._db = db
        self._clock = clock
        self.ttl = ttl
        self.name = name
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        """Take or renew the lease; True when this process holds it afterwards."""
        now = self._clock.now()
        try:
            with self._db.write_session() as session:
                row = session.scalars(
                    select(SchedulerLease).where(SchedulerLease.name == self.name).with_for_update()
                ).first()
                if row is None:
                    session.add(SchedulerLease(name=self.name, holder=self.holder, expires_at=now + self.ttl))
                    return True
                if row.holder == self.holder or row.expires_at <= now:
                    if row.holder != self.holder:
                        log.info("scheduler lease taken over from %s (lapsed at %s)", row.holder, row.expires_at)
                    row.holder, row.expires_at = self.holder, now + self.ttl
                    return True
                return False
        except IntegrityError:
            return False  # another process created it at the same moment

    def release(self) -> None:
        """Give the lease up (on shutdown), so another scheduler can take over at once."""
        with self._db.write_session() as session:
            row = session.get(SchedulerLease, self.name)
            if row is not None and row.holder == self.holder:
                row.expires_at = self._clock.now()


@dataclass(frozen=True)
class Job:
    """A proactive job: what it is called, how often it runs, and the work (given the time it runs at)."""

    name: str
    every: timedelta
    run: Callable[[datetime], object]


class Scheduler:
    """Fires jobs on their intervals while this process holds the lease; otherwise it stays idle and keeps asking."""

    def __init__(self, db: Database, clock: Clock, jobs: Sequence[Job], lease: Lease | None = None) -> None:
        self._clock = clock
        self.jobs = list(jobs)
        self.lease = lease or Lease(db, clock)
        self._aps: object | None = None
        self._run_at_start = False
        self.leading = False

    def run_once(self) -> list[str]:
        """Run every job now if this process holds the lease (tests and the CLI's --once); the jobs that ran."""
        self.leading = self.lease.acquire()
        if not self.leading:
            return []
        ran = []
        for job in self.jobs:
            self._run(job)
            ran.append(job.name)
        return ran

    def _run(self, job: Job) -> None:
        try:
            result = job.run(self._clock.now())
            log.info("job %s: %s", job.name, result)
        except Exception:
            log.exception("job %s failed; it runs again at its next time", job.name)

    async def start(self, run_at_start: bool = False) -> None:
        """Start APScheduler: a lease check every third of the lease, and each job on its interval.

        With `run_at_start` (the dedicated `scheduler` process), every job also runs once as soon as this
        process first leads, so a scheduler restarted more often than a job's interval still runs it.
        """
        self._run_at_start = run_at_start
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        aps = AsyncIOScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        renew = max(1.0, self.lease.ttl.total_seconds() / 3)
        aps.add_job(self._renew, "interval", seconds=renew, id="lease", next_run_time=datetime.now().astimezone())
        for job in self.jobs:
            aps.add_job(self._fire, "interval", args=[job], seconds=job.every.total_seconds(), id=job.name)
        aps.start()
        self._aps = aps

    async def _renew(self) -> None:
        was = self.leading
        self.leading = await asyncio.to_thread(self.lease.acquire)
        if self.leading and self._run_at_start and self._aps is not None:
            self._run_at_start = False
            for job in self.jobs:  # each runs on its own, so a slow job never holds up the lease renewal
                self._aps.modify_job(job.name, next_run_time=datetime.now().astimezone())  # type: ignore[attr-defined]
        if self.leading != was:
            log.info(
                "scheduler %s: %s", self.lease.holder, "leading — jobs fire here" if self.leading else "standing by"
            )

    async def _fire(self, job: Job) -> None:
        if self.leading:
            await asyncio.to_thread(self._run, job)

    async def stop(self) -> None:
        """Stop firing and hand the lease back."""
        aps = self._aps
        if aps is not None:
            aps.shutdown(wait=False)  # type: ignore[attr-defined]
        if self.leading:
            await asyncio.to_thread(self.lease.release)
        self.leading = False
