"""Analyses run off the request thread: one worker thread, jobs keyed by random ids.

The upload callback only writes the file and calls ``JobRunner.submit``; the page then polls
``status(job_id)``. Each job owns its upload folder: the uploaded video is removed when the job
ends, whatever happened; the overlay video the analysis wrote there stays, for the page to play,
until the job's result expires (``keep_seconds``) or the runner shuts down, then the folder goes.
Ids are random (``secrets.token_urlsafe``), kept per browser page, and a job's result is only
ever returned for its own id, so two people uploading at once never see each other's result.
One worker: the loaded models (a TFLite interpreter in particular) must not run on two threads
at once, and on a small CPU two analyses side by side are no faster than one after the other.
"""
from __future__ import annotations

import concurrent.futures
import logging
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

from movinet_crossfit.app.analysis import Analyser, Analysis
from movinet_crossfit.app.uploads import check_video, remove_upload_dir
from movinet_crossfit.core.errors import UserError

log = logging.getLogger("movinet_crossfit.app")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass(frozen=True)
class JobStatus:
    id: str
    filename: str
    state: str
    stage: str
    fraction: float
    submitted: float  # time.monotonic()
    started: float | None = None
    finished: float | None = None
    result: Analysis | None = None
    error: str = ""
    ahead: int = 0  # jobs before this one in the queue (state queued)
    folder: Path | None = None  # the job's own folder (the upload, then the overlay)

    @property
    def seconds(self) -> float:
        """From submission to the end (or to now): what the user waited, queue included."""
        return (self.finished or time.monotonic()) - self.submitted


class JobRunner:
    """Runs ``analyser.analyse`` on uploaded files, one at a time, and keeps each outcome for
    ``keep_seconds`` (long enough for the page to fetch it)."""

    def __init__(self, analyser: Analyser, *, keep_seconds: float = 900.0):
        self.analyser = analyser
        self.keep_seconds = keep_seconds
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="analysis")
        self._lock = threading.Lock()
        self._jobs: dict[str, JobStatus] = {}
        self._order: list[str] = []

    def submit(self, path: Path, filename: str, folder: Path, movement: str | None = None) -> str:
        """Queue ``path`` (inside its own upload ``folder``: see the module docstring for its lifetime);
        ``movement``: the user's choice (None: recognise it)."""
        job_id = secrets.token_urlsafe(16)
        with self._lock:
            self._prune()
            self._jobs[job_id] = JobStatus(job_id, filename, QUEUED, "waiting for the worker", 0.0,
                                           time.monotonic(), folder=Path(folder))
            self._order.append(job_id)
        try:
            self._pool.submit(self._run, job_id, path, filename, folder, movement)
        except RuntimeError:  # the pool is shut down: the server is stopping
            remove_upload_dir(folder)
            self._update(job_id, state=FAILED, error="the server is shutting down; try again later",
                         finished=time.monotonic())
        return job_id

    def status(self, job_id: str | None) -> JobStatus | None:
        with self._lock:
            self._prune()
            job = self._jobs.get(job_id or "")
            if job is None or job.state != QUEUED:
                return job
            ahead = sum(1 for other in self._order[:self._order.index(job_id)]
                        if self._jobs[other].state in (QUEUED, RUNNING))
            return replace(job, ahead=ahead)

    def shutdown(self) -> None:
        """Stop the worker (queued jobs are dropped) and remove every job's folder."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            folders = [job.folder for job in self._jobs.values() if job.folder is not None]
        for folder in folders:
            remove_upload_dir(folder)

    # -- worker side --------------------------------------------------------------------------

    def _update(self, job_id: str, **changes) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def _run(self, job_id: str, path: Path, filename: str, folder: Path, movement: str | None = None) -> None:
        self._update(job_id, state=RUNNING, stage="checking the file", fraction=0.01, started=time.monotonic())
        result = None
        try:
            tick = time.monotonic()
            info = check_video(path, filename)
            checked = time.monotonic() - tick
            result = self.analyser.analyse(
                path, filename, info=info, overlay_dir=folder, movement=movement,
                progress=lambda stage, fraction: self._update(job_id, stage=stage, fraction=fraction))
            result.timings = {"check": checked, **result.timings, "total": result.timings["total"] + checked}
            self._update(job_id, state=DONE, stage="done", fraction=1.0, result=result,
                         finished=time.monotonic())
            footage = result.footage
            log.info("job %s (%s): %s (%s), %d reps (%d valid, %d no rep, %d unjudged), %.2f s", job_id, filename,
                     footage.movement, footage.movement_source, footage.count.count, footage.valid_count,
                     footage.no_rep_count, footage.unjudged_count, result.timings["total"])
        except UserError as exc:
            log.warning("job %s (%s) refused: %s", job_id, filename, exc)
            self._update(job_id, state=FAILED, error=str(exc), finished=time.monotonic())
        except Exception as exc:  # noqa: BLE001 - a bad upload must never take the server down
            log.error("job %s (%s) failed:\n%s", job_id, filename, traceback.format_exc())
            self._update(job_id, state=FAILED, finished=time.monotonic(),
                         error=f"{filename}: analysis failed ({type(exc).__name__}: {str(exc)[:300]}); "
                               f"the error is logged on the server as job {job_id}")
        finally:
            overlay = getattr(result, "overlay", None)
            with self._lock:
                done = job_id in self._jobs and self._jobs[job_id].state == DONE
            if done and overlay is not None and Path(overlay).is_file():
                Path(path).unlink(missing_ok=True)  # the overlay stays until the job expires
            else:
                remove_upload_dir(folder)

    def _prune(self) -> None:
        """Forget jobs finished over ``keep_seconds`` ago and remove their folders (under the lock)."""
        now = time.monotonic()
        for job_id in list(self._order):
            job = self._jobs[job_id]
            if job.finished is not None and now - job.finished > self.keep_seconds:
                if job.folder is not None:
                    remove_upload_dir(job.folder)
                del self._jobs[job_id]
                self._order.remove(job_id)
