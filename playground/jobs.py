"""Background training jobs for the app: one at a time per process, polled by the page, so a run
survives page reloads and closed tabs; Stop is cooperative (the loop checks a flag each step)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import Progress, Trainer
from .errors import PlaygroundError, TrainingError
from .weights import claim_run_folder, release_run_folder, resolve


@dataclass
class Job:
    family: str
    name: str
    trainer: Trainer
    thread: threading.Thread = field(init=False)
    error: str = ""

    @property
    def progress(self) -> Progress:
        return self.trainer.progress

    @property
    def ref(self) -> str:
        return f"run/{self.name}"


class TrainingJobs:
    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._jobs: dict[str, Job] = {}  # latest job per family
        self._lock = threading.Lock()

    def _busy(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.thread.is_alive()), None)

    def running(self) -> Job | None:
        with self._lock:
            return self._busy()

    def start(self, family: str, values: dict[str, Any], resume: str | None = None) -> Job:
        with self._lock:
            busy = self._busy()
            if busy is not None:
                raise TrainingError(f"A {busy.family} run ({busy.ref}) is training (step {busy.progress.step}/"
                                    f"{busy.progress.total}); stop it first. One training job runs at a time.")
            if resume:
                src = resolve(family, resume)
                if not str(resume).strip().startswith("run/"):
                    raise TrainingError("Only your own runs (run/NAME) can be resumed here; shipped weights are "
                                        "read-only. Start a new run instead.")
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
            job = Job(family, name, trainer)
            job.thread = threading.Thread(target=self._run, args=(job,), name=f"train-{family}", daemon=True)
            self._jobs[family] = job
            job.thread.start()
            return job

    @staticmethod
    def _run(job: Job) -> None:
        try:
            job.trainer.run()
        except PlaygroundError as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - keep the server up; the page shows the message
            job.error = f"{type(exc).__name__}: {exc}"
            job.progress.status, job.progress.message = "failed", job.error

    def stop(self, family: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(family)
        if job is not None and job.thread.is_alive():
            job.trainer.stop()
        return job

    def get(self, family: str) -> Job | None:
        with self._lock:
            return self._jobs.get(family)
