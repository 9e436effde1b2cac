"""Analyses run off the request thread: one worker thread, a bounded queue, jobs keyed by random ids.

The upload callback only writes the file and calls ``JobRunner.submit``; the page then polls
``status(job_id)``. Each job owns its upload folder: the uploaded video is removed when the job
ends, whatever happened; the overlay video the analysis wrote there stays, for the page to play,
until the job's result expires (``keep_seconds``) or the runner shuts down, then the folder goes.
Ids are random (``secrets.token_urlsafe``), kept per browser page, and a job's result is only
ever returned for its own id, so two people uploading at once never see each other's result.
One worker: the loaded models (a TFLite interpreter in particular) must not run on two threads
at once, and on a small CPU two analyses side by side are no faster than one after the other.

What one upload may cost is bounded: at most ``max_queued`` jobs wait behind the running one (a
full queue is ``BusyError`` at once, before the file is even written), and a video over
``max_gigapixels`` (width x height x frames, known from the probe) is refused before a frame is
decoded. ``shutdown`` cancels the running analysis (``Analyser.analyse(cancel=...)``), drops the
queue and removes every job's folder; the worker is a daemon thread, so a step that cannot be
interrupted (RepNet, a MoViNet pass) never holds the process past ``shutdown``'s wait.
"""
from __future__ import annotations

import collections
import secrets
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from movinet_crossfit.app.analysis import Analyser, Analysis, AnalysisCancelled
from movinet_crossfit.app.uploads import (DEFAULT_MAX_GIGAPIXELS, DEFAULT_MAX_QUEUE, UploadError, app_logger,
                                          check_gigapixels, check_limits, check_video, display_name,
                                          remove_upload_dir)
from movinet_crossfit.core.errors import UserError

log = app_logger()

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
DEFAULT_MAX_QUEUED = DEFAULT_MAX_QUEUE
SHUTDOWN_WAIT_S = 10.0  # how long shutdown waits for the running analysis to notice its cancel
STOPPING = "the server is shutting down; try again later"


class BusyError(UploadError):
    """The queue is full: the upload is refused at once (try again)."""


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
    ahead: int = 0  # jobs before this one in the queue, the running one included (state queued)
    folder: Path | None = None  # the job's own folder (the upload, then the overlay)

    @property
    def seconds(self) -> float:
        """From submission to the end (or to now): what the user waited, queue included."""
        return (self.finished or time.monotonic()) - self.submitted


@dataclass(frozen=True)
class _Task:
    job_id: str
    path: Path
    filename: str
    folder: Path
    movement: str | None
    flip_rest: bool = False


class JobRunner:
    """Runs ``analyser.analyse`` on uploaded files, one at a time, and keeps each outcome for
    ``keep_seconds`` (long enough for the page to fetch it). ``max_queued``: jobs that may wait
    behind the running one; ``max_gigapixels``: the largest video (width x height x frames / 1e9)."""

    def __init__(self, analyser: Analyser, *, keep_seconds: float = 900.0, max_queued: int = DEFAULT_MAX_QUEUED,
                 max_gigapixels: float = DEFAULT_MAX_GIGAPIXELS):
        check_limits(max_gigapixels=max_gigapixels, max_queue=max_queued)
        self.analyser = analyser
        self.keep_seconds = keep_seconds
        self.max_queued = max_queued
        self.max_gigapixels = max_gigapixels
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._jobs: dict[str, JobStatus] = {}
        self._order: list[str] = []
        self._waiting: collections.deque[_Task] = collections.deque()
        self._worker = threading.Thread(target=self._work, name="analysis", daemon=True)
        self._worker.start()

    def check_room(self, filename: str) -> None:
        """``BusyError`` when the queue is full (checked before an upload is written; ``submit``
        checks again)."""
        with self._lock:
            self._check_room(filename)

    def submit(self, path: Path, filename: str, folder: Path, movement: str | None = None,
               flip_rest: bool = False) -> str:
        """Queue ``path`` (inside its own upload ``folder``: see the module docstring for its lifetime);
        ``movement``: the user's choice (None: recognise it); ``flip_rest``: its other convention
        (``analyse_footage``). ``BusyError`` when the queue is full (the folder is then the caller's
        to remove)."""
        job_id = secrets.token_urlsafe(16)
        with self._lock:
            self._prune()
            if not self._stopping.is_set():
                self._check_room(filename)
            self._jobs[job_id] = JobStatus(job_id, filename, QUEUED, "waiting for the worker", 0.0,
                                           time.monotonic(), folder=Path(folder))
            self._order.append(job_id)
            if self._stopping.is_set():
                self._jobs[job_id] = replace(self._jobs[job_id], state=FAILED, error=STOPPING,
                                             finished=time.monotonic())
            else:
                self._waiting.append(_Task(job_id, Path(path), filename, Path(folder), movement, flip_rest))
                self._wake.notify()
                return job_id
        remove_upload_dir(folder)
        return job_id

    def status(self, job_id: str | None) -> JobStatus | None:
        """The job's status; None for an unknown (or expired) id, or one that is not a string."""
        if not isinstance(job_id, str):
            return None
        with self._lock:
            self._prune()
            job = self._jobs.get(job_id)
            if job is None or job.state != QUEUED:
                return job
            ahead = sum(1 for other in self._order[:self._order.index(job_id)]
                        if self._jobs[other].state in (QUEUED, RUNNING))
            return replace(job, ahead=ahead)

    def shutdown(self, wait: float = SHUTDOWN_WAIT_S) -> bool:
        """Cancel the running analysis, drop the queued jobs and remove every job's folder; waits up
        to ``wait`` seconds for the worker to stop. True when it stopped in that time."""
        self._stopping.set()
        with self._lock:
            dropped = list(self._waiting)
            self._waiting.clear()
            for task in dropped:
                self._jobs[task.job_id] = replace(self._jobs[task.job_id], state=FAILED, error=STOPPING,
                                                  finished=time.monotonic())
            self._wake.notify_all()
        self._worker.join(wait)
        stopped = not self._worker.is_alive()
        if not stopped:
            log.warning("the running analysis did not stop within %.0f s; its folder is removed anyway", wait)
        with self._lock:
            folders = [job.folder for job in self._jobs.values() if job.folder is not None]
        for folder in folders:
            remove_upload_dir(folder)
        return stopped

    # -- worker side --------------------------------------------------------------------------

    def _check_room(self, filename: str) -> None:
        """(Under the lock.)"""
        if len(self._waiting) >= self.max_queued and (self._waiting or self._busy()):
            waiting = len(self._waiting)
            raise BusyError(f"{display_name(filename)}: the server is busy ({waiting} upload"
                            f"{'s' if waiting != 1 else ''} waiting behind the one being analysed); "
                            "try again in a few minutes")

    def _busy(self) -> bool:
        return any(job.state == RUNNING for job in self._jobs.values())

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._stopping.is_set():
                    self._wake.wait()
                if self._stopping.is_set():
                    return
                task = self._waiting.popleft()
                # Running from here (not from _run's first line): the queue check sees it at once.
                self._jobs[task.job_id] = replace(self._jobs[task.job_id], state=RUNNING, stage="checking the file",
                                                  fraction=0.01, started=time.monotonic())
            self._run(task)

    def _update(self, job_id: str, **changes) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def _progress(self, job_id: str, stage: str, fraction: float) -> None:
        if self._stopping.is_set():
            raise AnalysisCancelled(stage)
        self._update(job_id, stage=stage, fraction=fraction)

    def _run(self, task: _Task) -> None:
        job_id, path, filename, folder = task.job_id, task.path, task.filename, task.folder
        result = None
        try:
            tick = time.monotonic()
            info = check_video(path, filename)
            check_gigapixels(info, filename, self.max_gigapixels)  # before a frame is decoded
            checked = time.monotonic() - tick
            result = self.analyser.analyse(
                path, filename, info=info, overlay_dir=folder, movement=task.movement, cancel=self._stopping,
                progress=lambda stage, fraction: self._progress(job_id, stage, fraction), flip_rest=task.flip_rest)
            result.timings = {"check": checked, **result.timings, "total": result.timings["total"] + checked}
            self._update(job_id, state=DONE, stage="done", fraction=1.0, result=result,
                         finished=time.monotonic())
            footage = result.footage
            log.info("job %s (%s): %s (%s), %d reps (%d valid, %d no rep, %d unjudged), %.2f s", job_id, filename,
                     footage.movement, footage.movement_source, footage.count.count, footage.valid_count,
                     footage.no_rep_count, footage.unjudged_count, result.timings["total"])
        except AnalysisCancelled:
            log.info("job %s (%s) cancelled: the server is stopping", job_id, filename)
            self._update(job_id, state=FAILED, error=f"{display_name(filename)}: the server stopped before the "
                                                     "analysis ended; upload it again", finished=time.monotonic())
        except UserError as exc:
            log.warning("job %s (%s) refused: %s", job_id, filename, exc)
            self._update(job_id, state=FAILED, error=str(exc), finished=time.monotonic())
        except Exception as exc:  # noqa: BLE001 - a bad upload must never take the server down
            log.error("job %s (%s) failed", job_id, filename, exc_info=True)
            self._update(job_id, state=FAILED, finished=time.monotonic(),
                         error=f"{display_name(filename)}: analysis failed ({type(exc).__name__}: "
                               f"{str(exc)[:300]}); the error is logged on the server as job {job_id}")
        finally:
            overlay = getattr(result, "overlay", None)
            with self._lock:
                done = job_id in self._jobs and self._jobs[job_id].state == DONE
            if done and overlay is not None and Path(overlay).is_file() and not self._stopping.is_set():
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
