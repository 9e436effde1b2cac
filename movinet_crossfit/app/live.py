"""The camera tab's server side: frames from the browser's camera -> ``analysis.live.LiveSession``.

Transport: plain HTTP on the app's own Flask server (no WebSocket dependency, the token check of
``server.require_token`` covers it as it covers every route). The page POSTs

* ``/live/start`` (JSON ``{"fps": 15, "movement": "", "flip_rest": false}``) -> a camera session with
  an unguessable id;
* ``/live/<id>/frame?seq=N&t=SECONDS`` with ONE JPEG or PNG image as the body, one request at a
  time in capture order -> the running state (count, movement, last rep's verdict) and how far the
  server is behind;
* ``/live/<id>/stop`` -> the frames still queued are analysed, then ``LiveSession.finish()``: the
  final count and the rep table (``FootageAnalysis.to_dict()``, the JSON ``analyze`` writes).

Frames are decoded in memory (Pillow) and never written anywhere. A request only decodes and
queues: each session has its own worker thread that pushes the frames in order, so a slow pose
model never holds a request. When the worker falls behind, frames wait (``behind_s`` says by how
much, the page shows it); past ``backlog_s`` seconds of waiting frames the newest are dropped and
counted (the page says so: a dropped frame can cost a rep). A session that gets no frame for
``idle_s`` ends by itself, and at most ``max_sessions`` run at once.
"""
from __future__ import annotations

import io
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable

import flask
import numpy as np

from movinet_crossfit.app.uploads import DEFAULT_LIVE_FPS, DEFAULT_LIVE_SESSIONS
from movinet_crossfit.core.errors import UserError

log = logging.getLogger("movinet_crossfit.app.live")

DEFAULT_FPS = DEFAULT_LIVE_FPS
MAX_FPS = 30.0
DEFAULT_MAX_SESSIONS = DEFAULT_LIVE_SESSIONS
DEFAULT_IDLE_S = 30.0
DEFAULT_BACKLOG_S = 5.0
DEFAULT_MAX_FRAME_MB = 4.0
DEFAULT_MAX_FRAME_PIXELS = 1920 * 1080
MAX_ASPECT = 4.0  # long side / short side of a frame (a 21:9 camera is 2.3)
MAX_SIDE = 960  # the page scales a bigger camera picture down to this long side before sending it
STOP_TIMEOUT_S = 120.0  # the backlog drains, then finish(); a stop that waits longer answers 503
KEEP_FINISHED = 16  # final results kept for the page's result card (the newest ones)
FORMATS = ("JPEG", "PNG")

SessionFactory = Callable[[float, "str | None"], Any]


class LiveRequestError(Exception):
    """A request the camera routes refuse: ``status`` and one line saying what to do."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LiveConfig:
    """The camera tab's settings: the page's send rate and picture format, and the server's limits."""

    fps: float = DEFAULT_FPS  # the page's send rate (a start may ask for another one up to MAX_FPS)
    frame_format: str = "jpeg"  # what the page sends: jpeg | png (lossless, ~5x the bytes)
    max_sessions: int = DEFAULT_MAX_SESSIONS
    idle_s: float = DEFAULT_IDLE_S
    backlog_s: float = DEFAULT_BACKLOG_S
    max_frame_bytes: int = int(DEFAULT_MAX_FRAME_MB * 1e6)
    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS

    def check(self) -> "LiveConfig":
        if not (math.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            raise UserError(f"--live-fps {self.fps!r}: use a frame rate in (0, {MAX_FPS:g}]")
        if self.frame_format not in ("jpeg", "png"):
            raise UserError(f"live frame format {self.frame_format!r}: use jpeg or png")
        if self.max_sessions < 0:
            raise UserError(f"--live-sessions {self.max_sessions!r}: use 0 (the camera off) or more")
        for name in ("idle_s", "backlog_s", "max_frame_bytes", "max_frame_pixels"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"live {name} {value!r}: use a positive number")
        return self


def decode_frame(data: bytes, max_pixels: int = DEFAULT_MAX_FRAME_PIXELS) -> np.ndarray:
    """One JPEG or PNG image -> RGB uint8 ``(H, W, 3)``; ``LiveRequestError`` (400) for anything
    else, a picture over ``max_pixels`` or more than ``MAX_ASPECT`` times as long as it is wide
    (checked from its header, before it is decoded)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise LiveRequestError("empty frame: send one JPEG or PNG image as the request body")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            width, height = image.size
            if max(width, height) > MAX_ASPECT * min(width, height):
                # BlazePose spends ~40 s on a 1x900 picture (0.1 s at 225x900): a sliver is refused.
                raise LiveRequestError(f"frame of {width}x{height} pixels: a camera picture is at most "
                                       f"{MAX_ASPECT:g} times as wide as it is high (or as high as wide)")
            if width * height > max_pixels:
                raise LiveRequestError(f"frame of {width}x{height} pixels is over the {max_pixels:,} pixel limit: "
                                       f"send it scaled down (the page sends at most {MAX_SIDE} pixels a side)")
            rgb = np.asarray(image.convert("RGB"))
    except LiveRequestError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise LiveRequestError(f"the frame is not a readable JPEG or PNG image ({type(exc).__name__}: "
                               f"{str(exc)[:120]})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise LiveRequestError(f"the frame decodes to an array of shape {rgb.shape}, not an RGB picture")
    return rgb


def make_live_session(analyser, fps: float, movement: str | None, flip_rest: bool = False):
    """The app's ``LiveSession``: its own BlazePose tracker (a tracker follows one stream), the
    app's standards and pose rate; ``flip_rest``: the movement's other convention."""
    from movinet_crossfit.analysis.live import LiveSession
    from movinet_crossfit.pose.extract import make_backend

    tracker = make_backend("blazepose", person="auto", model_dir=analyser.pose_models)
    return LiveSession(fps=fps, movement=movement, standards=analyser.standards, pose_fps=analyser.pose_fps,
                       tracker=tracker, name="camera", flip_rest=flip_rest)


class CameraSession:
    """One camera: frames queued by requests, pushed in order by its own worker thread."""

    def __init__(self, session_id: str, live, fps: float, movement: str | None, config: LiveConfig,
                 on_end: Callable[["CameraSession", str], None], flip_rest: bool = False):
        self.id, self.fps, self.movement, self.flip_rest = session_id, fps, movement, flip_rest
        self._live, self._config, self._on_end = live, config, on_end
        self._backlog = max(1, int(math.ceil(config.backlog_s * fps)))
        self._max_gap = max(100, int(math.ceil(2 * config.idle_s * fps)))  # frames the page may skip at once
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, float | None, np.ndarray]] = deque()
        self._stopping = False
        self._closed = False  # the server stops: end without finishing
        self._next_seq = 0
        self._size: tuple[int, int] | None = None
        self.received = self.analysed = self.dropped = self.missing = 0
        self.busy_s = 0.0  # worker time spent in push (frames/s it sustains = analysed / busy_s)
        self.last_seen = time.monotonic()
        self.state: dict = live.state()
        self.error: str | None = None
        self.error_status = 500
        self.final: dict | None = None
        self._events: list = []  # what push reported (the reps shown live), for the result's events
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{session_id[:6]}", daemon=True)
        self._thread.start()

    # --- requests ----------------------------------------------------------------------------------

    def add(self, seq: int, t_s: float | None, frame: np.ndarray) -> None:
        """Queue one decoded frame (``seq``: its place in capture order)."""
        size = (frame.shape[1], frame.shape[0])
        with self._cond:
            self._check_open()
            if seq < self._next_seq:
                raise LiveRequestError(f"frame {seq} arrived after frame {self._next_seq - 1}: send frames in order, "
                                       "one request at a time")
            if seq - self._next_seq > self._max_gap:
                # More frames skipped than the page can take between two frames before the session
                # goes idle: a broken sender. Refused, or "missing" and the order check would be
                # ruined for good by one request.
                raise LiveRequestError(f"frame {seq} is {seq - self._next_seq} frames after the frame expected "
                                       f"({self._next_seq}): number frames 0, 1, 2, ... in capture order")
            if self._size is not None and size != self._size:
                raise LiveRequestError(f"frame {seq} is {size[0]}x{size[1]}; this session's frames are "
                                       f"{self._size[0]}x{self._size[1]}: keep one size (Stop and Start again)")
            self._size = size
            self.missing += seq - self._next_seq  # frames the page skipped (its own queue was full)
            self._next_seq = seq + 1
            self.received += 1
            self.last_seen = time.monotonic()
            if len(self._queue) >= self._backlog:
                self.dropped += 1
                return
            self._queue.append((seq, t_s, frame))
            self._cond.notify_all()

    def touch(self) -> None:
        with self._cond:
            self.last_seen = time.monotonic()

    def status(self) -> dict:
        """The page's view: the session's state plus how the transport is doing."""
        with self._cond:
            queued = len(self._queue)
            return {"session": self.id, "fps": self.fps, "chosen_movement": self.movement,
                    "flip_rest": self.flip_rest, "state": self.state, "received": self.received,
                    "analysed": self.analysed, "queued": queued,
                    "behind_s": round(queued / self.fps, 2), "dropped": self.dropped, "missing": self.missing,
                    "analysis_fps": round(self.analysed / self.busy_s, 1) if self.busy_s > 0 else None,
                    "error": self.error}

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> dict:
        """Analyse what is queued, then finish: ``{"status", "result", "events"}``."""
        with self._cond:
            if self._closed or self.ended.is_set():
                self._check_open()
            self._stopping = True  # a second Stop (the first timed out) waits again
            self.last_seen = time.monotonic()
            self._cond.notify_all()
        if not self.ended.wait(timeout):
            raise LiveRequestError("the server is still analysing the frames it has: try Stop again", 503)
        if self.error is not None:
            raise LiveRequestError(self.error, self.error_status)
        if self.final is None:  # ended without a result meanwhile (idle too long, the server stopping)
            raise LiveRequestError("this camera session ended before it could finish (idle too long, or the "
                                   "server is stopping): press Start for a new one", 409)
        return self.final

    def close(self) -> None:
        """End without a result (the server stops)."""
        with self._cond:
            self._stopping = self._closed = True
            self._queue.clear()
            self._cond.notify_all()

    def _check_open(self) -> None:
        if self._stopping or self.ended.is_set():
            raise LiveRequestError("this camera session has stopped: press Start for a new one", 409)

    # --- the worker --------------------------------------------------------------------------------

    def _next(self):
        """The next frame, or None when the session ends (stopped, or idle too long)."""
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                idle = time.monotonic() - self.last_seen
                if idle >= self._config.idle_s:
                    return "idle"
                self._cond.wait(self._config.idle_s - idle)
            return self._queue.popleft()

    def _run(self) -> None:
        reason = "stopped"
        try:
            while True:
                item = self._next()
                if item is None:
                    if self._closed:
                        reason = "the server stopped"
                        return
                    break
                if item == "idle":
                    reason = f"no frame for {self._config.idle_s:g} s"
                    return
                _, t_s, frame = item
                started = time.perf_counter()
                self._events += self._live.push(frame, t_s)
                state = self._live.state()
                with self._cond:
                    self.busy_s += time.perf_counter() - started
                    self.analysed += 1
                    self.state = state
            if not self.analysed:
                raise LiveRequestError("no frame was analysed: nothing to count (did the camera send any?)")
            started = time.perf_counter()
            events, analysis = self._live.finish()
            state = self._live.state()
            self.busy_s += time.perf_counter() - started
            with self._cond:
                self.state = state
            result = analysis.to_dict()
            # Every event, the live ones first (as `live --json`'s): the card draws when each rep was shown.
            self.final = {"status": self.status(), "result": result,
                          "events": [e.to_dict() for e in self._events + events]}
        except (LiveRequestError, UserError) as exc:  # nothing to count: the user's to fix
            self.error, self.error_status = str(exc), 400
            reason = self.error
        except Exception as exc:  # noqa: BLE001 - one camera's failure must not take the server down
            log.exception("camera session %s failed", self.id[:6])
            self.error = f"the analysis failed ({type(exc).__name__}: {exc}); the error is logged on the server"
            reason = self.error
        finally:
            try:
                self._on_end(self, reason)  # first: the result is in ``finished`` before Stop answers
            finally:
                self.ended.set()


class LiveSessions:
    """The app's camera sessions: at most ``config.max_sessions`` at once, each ended when idle;
    finished results kept (the newest ``KEEP_FINISHED``) for the page's result card."""

    def __init__(self, make: Callable[[float, str | None, bool], Any], config: LiveConfig = LiveConfig(),
                 resolve_movement: Callable[[str, bool], str] | None = None):
        self.config = config.check()
        self._make, self._resolve = make, resolve_movement
        self._lock = threading.Lock()
        self._active: dict[str, CameraSession] = {}
        self._ended: OrderedDict[str, str] = OrderedDict()  # id -> why it ended (for a clear 404)
        self.finished: OrderedDict[str, dict] = OrderedDict()

    def start(self, fps: float | None = None, movement: str | None = None, flip_rest: bool = False) -> CameraSession:
        fps = self.config.fps if fps is None else fps
        # The range first: a huge integer is out of range, where math.isfinite would overflow on it.
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= MAX_FPS \
                or not math.isfinite(fps):
            raise LiveRequestError(f"fps {fps!r}: send more than 0 and at most {MAX_FPS:g} frames a second (e.g. 15)")
        if movement is not None and not isinstance(movement, str):
            raise LiveRequestError("movement: a movement's name, or empty to recognise it")
        movement = movement.strip() or None if movement else None
        flip_rest = False if flip_rest is None else flip_rest
        if not isinstance(flip_rest, bool):
            raise LiveRequestError("flip_rest: true or false")
        if flip_rest and not movement:
            raise LiveRequestError("the other end (flip_rest) needs the movement: choose the one whose reps it cuts")
        if movement and self._resolve is not None:
            try:
                movement = self._resolve(movement, flip_rest)
            except UserError as exc:
                raise LiveRequestError(str(exc)) from None
        if self.config.max_sessions == 0:
            raise LiveRequestError("the camera is off on this server (it was started with no camera sessions)", 403)
        with self._lock:
            if len(self._active) >= self.config.max_sessions:
                raise LiveRequestError(
                    f"{len(self._active)} camera session{'s are' if len(self._active) != 1 else ' is'} running, "
                    f"the most this server takes at once ({self.config.max_sessions}): try again when one stops",
                    429)
            session_id = secrets.token_urlsafe(24)
            self._active[session_id] = None  # the place is taken while the pose model loads
        try:
            live = self._make(float(fps), movement, flip_rest)
        except UserError as exc:
            with self._lock:
                self._active.pop(session_id, None)
            raise LiveRequestError(str(exc)) from None
        except BaseException:
            with self._lock:
                self._active.pop(session_id, None)
            raise
        session = CameraSession(session_id, live, float(fps), movement, self.config, self._ended_session,
                                flip_rest)
        with self._lock:
            self._active[session_id] = session
        log.info("camera session %s started (%g frames/s%s)", session_id[:6], fps,
                 f", {movement}" if movement else "")
        return session

    def get(self, session_id: str) -> CameraSession:
        with self._lock:
            session = self._active.get(session_id)
            why = self._ended.get(session_id)
        if session is None:
            if why is not None:
                raise LiveRequestError(f"this camera session has ended ({why}): press Start for a new one", 404)
            raise LiveRequestError("no such camera session on this server (it may have restarted): press Start", 404)
        return session

    def stop(self, session_id: str) -> dict:
        """Stop a session -> its final result. Stop may be sent again (the first one answered 503, or
        was lost on the network, or two came at once): once the session has finished, the kept result."""
        try:
            return self.get(session_id).stop()
        except LiveRequestError as exc:
            if exc.status not in (404, 409):
                raise
            with self._lock:
                final = self.finished.get(session_id)
            if final is None:
                raise
            return final

    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def _ended_session(self, session: CameraSession, reason: str) -> None:
        with self._lock:
            self._active.pop(session.id, None)
            self._ended[session.id] = reason
            while len(self._ended) > 256:
                self._ended.popitem(last=False)
            if session.final is not None:
                self.finished[session.id] = session.final
                while len(self.finished) > KEEP_FINISHED:
                    self.finished.popitem(last=False)
        status = session.status()
        log.info("camera session %s ended (%s): %d frames received, %d analysed, %d dropped, %d missing",
                 session.id[:6], reason, status["received"], status["analysed"], status["dropped"],
                 status["missing"])

    def shutdown(self, timeout: float = 2.0) -> None:
        """End every session (the server stops): no result, the workers told to stop."""
        with self._lock:
            sessions = [s for s in self._active.values() if s is not None]
        for session in sessions:
            session.close()
        for session in sessions:
            session.ended.wait(timeout)


def _error(exc: LiveRequestError):
    return flask.jsonify({"error": str(exc)}), exc.status


def _read_body(limit: int) -> bytes:
    request = flask.request
    if request.content_length is not None and request.content_length > limit:
        raise LiveRequestError(f"frame of {request.content_length:,} bytes is over the {limit:,} byte limit: "
                               "send a smaller picture (JPEG, at most 960 pixels a side)", 413)
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise LiveRequestError(f"frame is over the {limit:,} byte limit: send a smaller picture", 413)
    return data


def _query_number(name: str, kind, required: bool):
    raw = flask.request.args.get(name)
    if raw is None or raw == "":
        if required:
            raise LiveRequestError(f"?{name}= is missing: the frame's number in capture order (0, 1, 2, ...)")
        return None
    if kind is int and not (raw.isascii() and raw.isdigit() and len(raw) <= 15):
        # int() would take " 3", "٣", "1_000" and 4,000 digits (math.isfinite then overflows).
        raise LiveRequestError(f"?{name}={raw[:40]!r} is not a number: use a whole number >= 0 (digits only)")
    try:
        value = kind(raw)
    except ValueError:
        raise LiveRequestError(f"?{name}={raw[:40]!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise LiveRequestError(f"?{name}={raw[:40]!r}: use a number >= 0")
    return value


def register_live_routes(server: flask.Flask, sessions: LiveSessions) -> None:
    """``/live/start``, ``/live/<id>/frame``, ``/live/<id>/stop`` and the page's script
    ``/live/camera.js`` on ``server`` (its ``before_request`` token check covers them)."""
    from movinet_crossfit.app.camera_js import CAMERA_JS

    @server.route("/live/camera.js")
    def camera_script():
        return flask.Response(CAMERA_JS, mimetype="application/javascript", headers={"Cache-Control": "no-cache"})

    @server.route("/live/start", methods=["POST"])
    def live_start():
        try:
            if (flask.request.content_length or 0) > 10_000:
                raise LiveRequestError('send JSON like {"fps": 15, "movement": ""}', 413)
            body = flask.request.get_json(silent=True, force=True)
            if body is None:
                body = {}
            if not isinstance(body, dict):
                raise LiveRequestError('send JSON like {"fps": 15, "movement": ""}')
            session = sessions.start(body.get("fps"), body.get("movement"), body.get("flip_rest", False))
        except LiveRequestError as exc:
            return _error(exc)
        answer = session.status()
        answer["limits"] = {"max_frame_bytes": sessions.config.max_frame_bytes, "max_side": MAX_SIDE,
                            "idle_s": sessions.config.idle_s, "backlog_s": sessions.config.backlog_s}
        return flask.jsonify(answer)

    @server.route("/live/<session_id>/frame", methods=["POST"])
    def live_frame(session_id: str):
        try:
            session = sessions.get(session_id)
            seq = _query_number("seq", int, True)
            t_s = _query_number("t", float, False)
            data = _read_body(sessions.config.max_frame_bytes)
            try:
                frame = decode_frame(data, sessions.config.max_frame_pixels)
            except LiveRequestError as exc:
                session.touch()  # a bad frame is still the camera talking
                raise LiveRequestError(f"frame {seq}: {exc}", exc.status) from None
            session.add(seq, t_s, frame)
        except LiveRequestError as exc:
            return _error(exc)
        return flask.jsonify(session.status())

    @server.route("/live/<session_id>/status", methods=["GET"])
    def live_status(session_id: str):
        try:
            return flask.jsonify(sessions.get(session_id).status())
        except LiveRequestError as exc:
            return _error(exc)

    @server.route("/live/<session_id>/stop", methods=["POST"])
    def live_stop(session_id: str):
        try:
            return flask.jsonify(sessions.stop(session_id))
        except LiveRequestError as exc:
            return _error(exc)
