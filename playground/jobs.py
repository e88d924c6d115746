"""Training jobs for the app, polled by the page, so a run survives page reloads and closed tabs; Stop is
cooperative (the loop checks a flag each step).

Runs belong to who started them: each job records its owner (a visitor's browser, or an API client's session;
see ``ui.visitor``), only the owner may stop it, and others see it read-only. One run per family at a time,
and at most ``max_jobs`` runs in all (``PLAYGROUND_MAX_JOBS``, default 1: a laptop's or a free Space's CPU);
beyond that a start is refused with what is training and whose it is — never a silent wait.

Two ways to run one: a background thread (a laptop, a GPU server, a CPU Space), or **bursts** (a ZeroGPU Space,
where only a ``spaces.GPU`` call sees the GPU and a background thread may not use it): the Train button's handler
chains calls of ``zerogpu.train_burst_on_gpu``, each continuing the run's checkpoint for a bounded time, until the
run ends, the user presses Stop (it stops after the current burst) or leaves (the run pauses at its checkpoint and
can be resumed)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import zerogpu
from .devices import ON_ZEROGPU
from .engine import Progress, Trainer
from .errors import PlaygroundError, TrainingError
from .weights import claim_run_folder, release_run_folder, resume_in_place


@dataclass
class Job:
    family: str
    name: str
    trainer: Trainer
    values: dict[str, Any] = field(default_factory=dict)  # what the run was started with (bursts restart from it)
    resumed: bool = False  # the folder already held a checkpoint when the job started
    owner: str = ""  # who started it (a visitor's id; "" = this machine's user: the CLI, a notebook)
    thread: threading.Thread | None = field(default=None, init=False)
    bursting: bool = field(default=False, init=False)
    error: str = ""

    @property
    def progress(self) -> Progress:
        return self.trainer.progress

    @property
    def ref(self) -> str:
        return f"run/{self.name}"

    @property
    def alive(self) -> bool:
        return self.bursting or (self.thread is not None and self.thread.is_alive())


def _merge(p: Progress, burst: Progress) -> None:
    """A burst's Progress (from another process, perhaps) into the job's, which the page polls."""
    p.step, p.total, p.status, p.message = burst.step, burst.total, burst.status, burst.message
    seen = {(s, n) for s, n, _ in p.losses}
    p.losses.extend(row for row in burst.losses if (row[0], row[1]) not in seen)
    p.notes = list(dict.fromkeys([*p.notes, *burst.notes]))
    p.steps_per_s = burst.steps_per_s or p.steps_per_s
    if burst.preview is not None:
        p.preview, p.preview_step = burst.preview, burst.preview_step
    if burst.checkpoint:
        p.checkpoint, p.checkpoint_step = burst.checkpoint, burst.checkpoint_step


class TrainingJobs:
    """``bursts``: train in bounded calls of ``burst`` (default: on a ZeroGPU Space) instead of a thread."""

    def __init__(self, registry: Any, *, bursts: bool = ON_ZEROGPU, burst: Callable[..., Progress] | None = None,
                 burst_seconds: float = zerogpu.BURST_SECONDS, max_jobs: int | None = None) -> None:
        self.registry = registry
        self.bursts = bursts
        self._burst = burst or zerogpu.train_burst_on_gpu
        self.burst_seconds = burst_seconds
        self._key = zerogpu.register(registry)
        self.max_jobs = max(1, max_jobs if max_jobs is not None else int(os.environ.get("PLAYGROUND_MAX_JOBS", "1")))
        self._jobs: dict[str, Job] = {}  # latest job per family
        self._lock = threading.Lock()

    def _alive(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.alive]

    def running(self) -> Job | None:
        with self._lock:
            return next(iter(self._alive()), None)

    @staticmethod
    def describe(job: Job, owner: str) -> str:
        """A job as ``owner`` may see it: theirs in full, another visitor's without its settings."""
        whose = "your" if job.owner == owner else "another visitor's"
        return f"{whose} {job.family} run {job.ref}, step {job.progress.step:,}/{job.progress.total:,}"

    def start(self, family: str, values: dict[str, Any], resume: str | None = None, owner: str = "") -> Job:
        with self._lock:
            alive = self._alive()
            same = next((j for j in alive if j.family == family), None)
            if same is not None:
                raise TrainingError(f"{family} is already training ({self.describe(same, owner)}): one run per "
                                    "family at a time" + ("; stop it first." if same.owner == owner else
                                                          "; try again when it ends (only its owner can stop it)."))
            if len(alive) >= self.max_jobs:
                raise TrainingError(f"This server trains {self.max_jobs} run(s) at a time, and "
                                    f"{'; '.join(self.describe(j, owner) for j in alive)} is training. Try again "
                                    "when it ends (the operator sets the limit: PLAYGROUND_MAX_JOBS).")
            if resume:
                src = resume_in_place(family, resume)
                name, out = Path(src).name, src
            else:
                name, out = claim_run_folder(family)
            try:
                trainer = Trainer(self.registry, family, values, out_dir=out, resume=src if resume else None)
                trainer.preflight()  # data and the memory guard: refusals reach the caller, not a thread
            except BaseException:
                if not resume:
                    release_run_folder(out)
                raise
            job = Job(family, name, trainer, dict(values), resumed=bool(resume), owner=owner)
            self._jobs[family] = job
            if self.bursts:
                job.bursting = True  # busy from now on; ``drive`` (the caller's handler) runs the bursts
                job.progress.status = "running"
            else:
                job.thread = threading.Thread(target=self._run, args=(job,), name=f"train-{family}", daemon=True)
                job.thread.start()
            return job

    def drive(self, job: Job) -> Iterator[Progress]:
        """Run ``job`` burst by burst (``bursts`` mode), yielding its progress after each; ends when the run is
        done, failed or stopped, and leaves a paused run resumable when the caller stops iterating."""
        resume = job.resumed
        p = job.progress
        try:
            while True:
                if job.trainer.stopping:
                    p.status, p.message = "stopped", f"Stopped at step {p.step}; checkpoint saved."
                    yield p
                    return
                try:
                    burst = self._burst(self._key, job.family, job.values, str(job.trainer.out_dir), resume,
                                        self.burst_seconds)
                except PlaygroundError as exc:
                    job.error = str(exc)
                    p.status, p.message = "failed", job.error
                    yield p
                    return
                _merge(p, burst)
                resume = True
                yield p
                if burst.status != "paused":
                    return
        finally:
            job.bursting = False
            if p.status in ("running", "paused"):  # the caller left between bursts: the checkpoint is the run
                p.status = "paused"
                p.message = f"Paused at step {p.step}; resume {job.ref} to continue."

    @staticmethod
    def _run(job: Job) -> None:
        try:
            job.trainer.run()
        except PlaygroundError as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - keep the server up; the page shows the message
            job.error = f"{type(exc).__name__}: {exc}"
            job.progress.status, job.progress.message = "failed", job.error

    def stop(self, family: str, owner: str = "") -> Job | None:
        """Stop ``family``'s running job, if ``owner`` started it (another visitor's is refused with a message)."""
        with self._lock:
            job = self._jobs.get(family)
        if job is not None and job.alive:
            if job.owner != owner:
                raise TrainingError(f"This is {self.describe(job, owner)}: only the visitor who started it can stop "
                                    "it.")
            job.trainer.stop()
        return job

    def stop_all(self, timeout: float = 120.0) -> list[Job]:
        """Stop every running job and wait (up to ``timeout`` s each) for the checkpoint its Stop writes: what a
        server does when it is shut down. Returns the jobs it stopped."""
        with self._lock:
            jobs = self._alive()
        for job in jobs:
            job.trainer.stop()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout)
        return jobs

    def get(self, family: str) -> Job | None:
        with self._lock:
            return self._jobs.get(family)
