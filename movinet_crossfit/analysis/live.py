"""THE analysis run live: frames pushed one at a time (a camera, a stream, a file, the browser) ->
the running movement, the running rep count and each rep judged as it ends; at the end, the same
``FootageAnalysis`` that ``analyse_footage`` gives for the same frames.

The guarantee: ``LiveSession.finish()`` counts what ``analyze`` counts on the same file, by
construction: a pose is taken on every ``footage.pose_stride``-th frame, the same tracker is fed the
same frames in the same order (``pose.extract.finish_poses`` builds the poses for both), and the same
function (``footage.analyse_poses``) counts, recognises and judges them.

Online: the running count is ``analysis.online.OnlineCounter``'s (re-counts of a sliding window,
each rep reported once it has ended and two re-counts found it; its module doc). A reported rep
is never taken back: ``finish()`` reports the reps the final count has beyond those reported and
says in its ``end`` event whether the final count disagrees with what was reported (``corrected``).

Movement: the user's, else (judging) the pose guess (``judging.recognise_movement`` on the window)
once there are reps, else the stream model's label. The running movement shown: the stream model's
(``movinet.stream.StreamClassifier``: frames at its ``frame_rate``, its states reset every clip length
so that it follows a change of movement, probabilities smoothed by an exponential average), else the
pose guess. A session is not thread-safe: push from one thread.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import time
from dataclasses import dataclass, field, replace

import numpy as np

from movinet_crossfit.analysis.flow import DEFAULT_CLIP_SECONDS, TOP_K
from movinet_crossfit.analysis.footage import DEFAULT_POSE_FPS, FootageAnalysis, analyse_poses, check_pose_fps, \
    pose_stride, resolve_movement, _known, _load_standards
from movinet_crossfit.analysis.live_pacing import Pacing, speed_hint
from movinet_crossfit.analysis.online import COUNT_OPTIONS, OnlineCounter, OnlineRep, replay_counter  # noqa: F401
from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.metrics import Rep

__all__ = ["DEFAULT_POSE_FPS", "LiveEvent", "LiveSession", "OnlineCounter", "StopLive", "replay_counter"]

STREAM_FPS = 5.0  # a stream model that does not say the frame rate it was trained at
SMOOTHING = 0.3  # weight of a new stream-model output in the running average
RECOGNISE_SECONDS = 10.0  # the pose guess of the movement is renewed this often
CHOOSE_SECONDS = 2.0  # the running choice of person is renewed this often at first ...
CHOOSE_GROWTH = 0.1  # ... then each time the stream has grown by this share
# Frames pushed with the sender's times that came at a rate this far from the session's fps (over
# at least CLOCK_MIN_SECONDS) get a note: the result's times come from the frame count.
CLOCK_TOLERANCE = 0.2
CLOCK_MIN_SECONDS = 3.0
MAX_LISTED = 10  # rep numbers listed in one line at most (then "and N more")


@dataclass
class LiveEvent:
    """What became known: a rep ended (``rep``), the running movement changed (``movement``), the
    stream ended (``end``: ``count`` is the final count, ``detail`` says how it compares with what was
    reported). ``t_s``: when it happened in the video (a rep's end); ``reported_at_s``: when it was
    known (the newest frame's time)."""

    kind: str  # "rep" | "movement" | "end"
    count: int  # the running count (the final count in "end")
    t_s: float
    rep: int | None = None
    valid: bool | None = None
    reason: str = ""
    movement: str | None = None
    probability: float | None = None
    reported_at_s: float | None = None
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        from movinet_crossfit.analysis.footage import _jsonable

        out = {"kind": self.kind, "count": self.count, "t_s": round(float(self.t_s), 3), "rep": self.rep,
               "valid": self.valid, "reason": self.reason, "movement": self.movement,
               "probability": None if self.probability is None else round(float(self.probability), 4),
               "reported_at_s": None if self.reported_at_s is None else round(float(self.reported_at_s), 3)}
        out.update(self.detail)
        return _jsonable(out)


def _export_num_frames(stream_model) -> int | None:
    """The clip length (frames) the stream model was trained on, from its export's ``stream.json``."""
    import json
    from pathlib import Path

    source = getattr(stream_model, "source", None)
    try:
        return int(json.loads((Path(source) / "stream.json").read_text(encoding="utf-8"))["num_frames"])
    except (TypeError, OSError, ValueError, KeyError):
        return None


class LiveSession:
    """Frames in, events out; ``finish()`` -> the offline analysis of what was pushed (module doc).

    ``fps``: the rate frames are pushed at (the video's; the browser's send rate). ``movement``:
    the user's (wins). ``standards``: a ``judging.Standards`` or YAML path. ``person``: as
    ``analyze --person``. ``tracker``: a pose tracker instead of BlazePose (``pose.extract``'s
    interface). ``stream_model``: a ``movinet.stream.StreamClassifier`` (or anything with its
    ``classes``, ``frame_rate``, ``reset()`` and ``__call__(frame) -> probabilities``).
    ``flip_rest``: the movement's other convention (``analysis.footage.resolve_movement``)."""

    def __init__(self, *, fps: float, movement: str | None = None, standards=None, person: str | int = "auto",
                 pose_fps: float = DEFAULT_POSE_FPS, tracker=None, stream_model=None, name: str = "live",
                 flip_rest: bool = False):
        from movinet_crossfit.pose.extract import make_backend
        from movinet_crossfit.pose.people import parse_person

        if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps) or fps <= 0:
            raise UserError(f"fps {fps!r}: frames must be pushed at a positive frame rate")
        self.fps = float(fps)
        self.standards = _load_standards(standards)
        # The user's movement (judged against its standards, or counted only: a movement the pose
        # counter knows without standards) tells the counter where it rests; judging finds its
        # standard by this name.
        _, self.counted_as = resolve_movement(self.standards, movement, flip_rest)
        self.movement, self.flip_rest = movement, flip_rest
        self.person = parse_person(person)
        self.every = pose_stride(self.fps, check_pose_fps(pose_fps))
        self.pose_fps = self.fps / self.every
        self.tracker = tracker or make_backend("blazepose", person=self.person)
        self.tracker.reset()
        if hasattr(self.tracker, "fps"):  # as pose.extract.extract_poses does
            self.tracker.fps = self.pose_fps
        self.name = name
        self.counter = OnlineCounter(self.pose_fps, self.tracker.layout, movement=self.counted_as, flip_rest=flip_rest)
        self.stream_model = stream_model
        self._rows: list = []  # what each tracker call returned (FramePose, or None when it chooses at the end)
        self._unchanged = False  # every frame since the last one posed was a repeat of it
        self.repeats = 0  # poses repeated, not looked for (a camera's repeated frames)
        self._frames = 0
        self._t = 0.0
        self._clock: float | None = None  # the first frame's time from the sender (t_s), if it sends them
        self._size: tuple[int, int] | None = None
        self._count = 0
        self._last_rep: dict | None = None
        self._pose_guess: str | None = None
        self._pose_score: float | None = None
        self._recognised_at = -math.inf
        self._chosen: int | None = None  # the person the tracker chose last (provisional), and when
        self._chosen_at = 0
        self._shown: str | None = None  # the running movement last announced
        self._finished = False
        self.timings = {"poses": 0.0, "count": 0.0, "judge": 0.0, "stream_model": 0.0}
        self._verdicts: dict[int, bool | None] = {}
        # The reps whose events ``push`` returned: an interrupt while a push judges its reps loses
        # that push's events, and ``finish`` reports those reps again.
        self._delivered: set[int] = set()
        self._model_average: np.ndarray | None = None  # smoothed stream-model output: the running movement
        self._model_sum: np.ndarray | None = None  # summed over the whole stream: the final label
        if stream_model is not None:
            rate = getattr(stream_model, "frame_rate", None) or STREAM_FPS
            self._model_rate = float(min(rate, self.fps))
            clip = getattr(stream_model, "num_frames", None) or _export_num_frames(stream_model) or \
                round(DEFAULT_CLIP_SECONDS * self._model_rate)
            self._model_clip = max(1, int(clip))
            self._model_steps = 0
            stream_model.reset()

    @property
    def frames(self) -> int:
        """How many frames were pushed."""
        return self._frames

    # --- frames in ---------------------------------------------------------------------------------

    def push(self, frame: np.ndarray, t_s: float | None = None, *, repeat: bool = False) -> list[LiveEvent]:
        """One RGB uint8 ``(H, W, 3)`` frame, in order -> the events it made known. Every frame has
        the first one's size; ``t_s`` (default: its index / ``fps``) never takes time back. A frame
        refused (``UserError``) changes nothing. ``repeat``: the frame is the one pushed before it,
        again (a camera's repeat, ``core.capture``): where every frame since the last one posed was
        a repeat, the tracker repeats its poses (``tracker.repeat()``) instead of looking again."""
        if self._finished:
            raise UserError("this live session has finished: start a new one")
        size = self._check_frame(frame)
        index = self._frames
        if t_s is None:
            t = index / self.fps
        elif isinstance(t_s, bool) or not isinstance(t_s, numbers.Real) or not math.isfinite(t_s):
            raise UserError(f"frame {index}: t_s {t_s!r} is not a time in seconds (a finite number, or None)")
        else:
            t = float(t_s)
            if self._clock is None:
                self._clock = t
        # Nothing changes before here: a refused frame leaves the session as it was (the pose stride
        # counts frames, so a half-pushed frame would shift every pose after it off analyze's).
        self._frames += 1
        self._size = size
        self._t = max(t, self._t) if index else t  # a clock that steps back does not move time back
        self._unchanged = self._unchanged and bool(repeat)  # the same picture as the last frame posed
        events: list[LiveEvent] = []
        if self.stream_model is not None:
            events += self._classify(frame, index)
        if index % self.every:
            return events
        started = time.perf_counter()
        repeated = self._unchanged and hasattr(self.tracker, "repeat")
        self._rows.append(self.tracker.repeat() if repeated else self.tracker(frame))
        self._unchanged = True
        self.timings["poses"] += time.perf_counter() - started
        self.repeats += repeated
        n = len(self._rows)
        if self.counter.due(n):
            events += self._recount(n)
            self._delivered.update(event.rep for event in events if event.kind == "rep")
        return events

    def _check_frame(self, frame) -> tuple[int, int]:
        """An RGB uint8 ``(H, W, 3)`` frame of this session's size -> its size, else ``UserError``."""
        index = self._frames
        if not isinstance(frame, np.ndarray):
            raise UserError(f"frame {index}: got {type(frame).__name__}, not a numpy array; push RGB uint8 "
                            "(H, W, 3) frames")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 1:
            raise UserError(f"frame {index}: got {frame.dtype} {list(frame.shape)}; push RGB uint8 (H, W, 3) "
                            "frames (convert grey or RGBA pictures first)")
        size = (int(frame.shape[1]), int(frame.shape[0]))
        if self._size is not None and size != self._size:
            # Poses are measured in the first frame's pixels: another size would bend every one after it.
            raise UserError(f"frame {index} is {size[0]}x{size[1]}; this session's frames are "
                            f"{self._size[0]}x{self._size[1]}: keep one size (finish, then start a new session)")
        return size

    def _classify(self, frame: np.ndarray, index: int) -> list[LiveEvent]:
        """The stream model on the frames at its own rate (a tick of ``frame_rate`` passed)."""
        tick = math.floor(index * self._model_rate / self.fps)
        if index and tick == math.floor((index - 1) * self._model_rate / self.fps):
            return []
        started = time.perf_counter()
        if self._model_steps and self._model_steps % self._model_clip == 0:
            self.stream_model.reset()  # a clip's worth seen: start afresh, so a new movement shows
        probabilities = np.asarray(self.stream_model(frame), np.float64).reshape(-1)
        self._model_steps += 1
        self.timings["stream_model"] += time.perf_counter() - started
        if self._model_average is None:
            self._model_average, self._model_sum = probabilities.copy(), probabilities.copy()
        else:
            self._model_average = (1 - SMOOTHING) * self._model_average + SMOOTHING * probabilities
            self._model_sum += probabilities
        return self._movement_event()

    def _running_movement(self) -> tuple[str | None, float | None]:
        if self._model_average is not None:
            best = int(np.argmax(self._model_average))
            return list(self.stream_model.classes)[best], float(self._model_average[best])
        return self._pose_guess, self._pose_score

    def _movement_event(self) -> list[LiveEvent]:
        label, probability = self._running_movement()
        if label is None or label == self._shown:
            return []
        self._shown = label
        return [LiveEvent("movement", self._count, self._t, movement=label, probability=probability,
                          reported_at_s=self._t)]

    # --- the running count -------------------------------------------------------------------------

    def _window(self, start: int):
        """The poses from ``start`` on of the person the tracker would choose now."""
        from movinet_crossfit.pose.extract import poses_from_rows

        if hasattr(self.tracker, "provisional"):
            n = len(self._rows)
            # Choosing the person scores everyone over the whole stream: renewed every
            # CHOOSE_SECONDS at first, then as the stream grows by CHOOSE_GROWTH (so a long stream's
            # choices cost in proportion to its length, not its square); the person chosen is read
            # again in between.
            rescore = self._chosen is None or n - self._chosen_at >= max(CHOOSE_SECONDS * self.pose_fps,
                                                                          CHOOSE_GROWTH * self._chosen_at)
            rows, summary = self.tracker.provisional(start, keep=None if rescore else self._chosen)
            if rescore or summary.get("chosen") != self._chosen:
                self._chosen, self._chosen_at = summary.get("chosen"), n
        elif hasattr(self.tracker, "finish"):
            return None  # a tracker that chooses only at the end: counted at the end
        else:
            rows = self._rows[start:]
        return poses_from_rows(rows, self.pose_fps, self.tracker.layout, self._size)

    def _recount(self, n: int, final: bool = False) -> list[LiveEvent]:
        start = self.counter.window_start(n)
        started = time.perf_counter()
        poses = self._window(start)
        if poses is None:
            return []
        new = self.counter.update(poses.keypoints, start, n)
        self.timings["count"] += time.perf_counter() - started
        events = []
        if new:
            started = time.perf_counter()
            shift = self.counter.last_start - start  # > 0 when the window's later half was counted
            reps = [replace(r, start_frame=r.start_frame + shift, end_frame=r.end_frame + shift)
                    for r in self.counter.last_count.reps]
            movement = self._judged_movement(poses, reps)
            for rep in new:
                events.append(self._rep_event(poses, start, rep, movement))
            self.timings["judge"] += time.perf_counter() - started
        return events + self._movement_event()

    def _judged_movement(self, poses, reps) -> str | None:
        """The movement reps are judged against now: the user's, the pose guess, the stream model's."""
        if self.counted_as is not None:
            return self.counted_as
        from movinet_crossfit.judging import recognise_movement

        # Recognising costs a few times a re-count: once, then every RECOGNISE_SECONDS of video.
        if self._pose_guess is None or self._t - self._recognised_at >= RECOGNISE_SECONDS:
            self._recognised_at = self._t
            guess = recognise_movement(poses, reps, self.standards)
            standard = _known(self.standards, guess.label)
            if standard is not None:
                self._pose_guess, self._pose_score = standard.name, float(guess.score)
        if self._pose_guess is not None:
            return self._pose_guess
        label, _ = self._running_movement()
        return label

    def _rep_event(self, poses, start: int, rep: OnlineRep, movement: str | None) -> LiveEvent:
        from movinet_crossfit.judging import judge_reps

        standard = _known(self.standards, movement)
        if standard is not None:
            verdict = judge_reps(poses, [Rep(rep.index, rep.start - start, rep.end - start, 0.0, 0.0)],
                                 standard.name, self.standards)[0]
            valid, reason = verdict.valid, verdict.reason
        else:
            valid, reason = None, f"no standards for {movement!r}" if movement else "movement unknown"
        self._count = rep.index
        self._verdicts[rep.index] = valid
        seconds = self.every / self.fps
        event = LiveEvent("rep", self._count, rep.end * seconds, rep=rep.index, valid=valid, reason=reason or "",
                          movement=movement, reported_at_s=self._t,
                          detail={"start_s": round(rep.start * seconds, 3),
                                  "period_s": round(rep.period * seconds, 3)})
        self._last_rep = event.to_dict()
        return event

    def state(self) -> dict:
        """What a display shows now (JSON-ready)."""
        label, probability = self._running_movement()
        if self.counted_as is not None:
            label, probability = self.counted_as, None
        pace = self.counter.pace(len(self._rows))
        return {"count": self._count, "movement": label,
                "probability": None if probability is None else round(float(probability), 4),
                "last_rep": self._last_rep, "frames": self._frames, "t_s": round(self._t, 3),
                "pace_s": None if pace is None else round(pace, 2)}

    # --- the end ------------------------------------------------------------------------------------

    def finish(self) -> tuple[list[LiveEvent], FootageAnalysis]:
        """The stream ended: the reps not reported yet, the ``end`` event and the analysis of
        everything pushed (``analyze``'s, on the same poses)."""
        from movinet_crossfit.pose.extract import finish_poses
        from movinet_crossfit.posecount.evaluate import live_corrections

        if self._finished:
            raise UserError("this live session has finished already")
        if not self._rows:
            raise UserError(f"{self.name}: no frames arrived; nothing to analyse")
        self._finished = True
        poses = finish_poses(self.tracker, self._rows, self.pose_fps, self._size, self.name)
        width, height = self._size or (0, 0)
        info = video.VideoInfo(self.name, width, height, self.fps, self._frames, round(self._frames / self.fps, 3),
                               "live")
        model_movement = self._model_movement()
        summary = getattr(self.tracker, "summary", None)
        # "poses" as analyze's (decoding aside); the rest as the final pass's, the live ones beside.
        timings = {"poses": self.timings["poses"]}
        timings.update({f"live_{k}": v for k, v in self.timings.items() if v and k != "poses"})
        analysis = analyse_poses(poses, info, self.every, name=self.name, standards=self.standards,
                                 movement=self.movement, model_movement=model_movement, model_first=False,
                                 person=dict(summary) if summary else None, timings=timings,
                                 flip_rest=self.flip_rest)
        note = self._clock_note()
        if note:
            analysis.notes.append(note)
        # In time order: a rep found inside a large-swings rep is reported after later ones. Only
        # the reps whose events went out (an interrupt can come between a rep found and its event).
        reported = sorted((r for r in self.counter.reps if r.index in self._delivered), key=lambda r: r.start)
        final, counted = analysis.reps, analysis.count.reps
        period = analysis.count.period or 0.0
        # Each final rep against the reported rep that is the same rep (``same_reps``): by position,
        # a rep missed or added live would pair every later one off.
        same, moved, dropped, missed = live_corrections([(mine.start, mine.end) for mine in reported],
                                                        [(r.start_frame, r.end_frame) for r in counted], period)
        live_of = {j: i for i, j, _ in same}
        events = []

        def final_rep(verdict, number: int, **detail) -> LiveEvent:
            return LiveEvent("rep", number, verdict.end_frame / self.fps, rep=number, valid=verdict.valid,
                             reason=verdict.reason or "", movement=analysis.movement, reported_at_s=self._t,
                             detail=detail)

        # The final reps that no reported rep is: those the stream's end decided (typically the
        # last) and any the running count went past; numbered on from the reported ones.
        unreported = [j for j in range(len(final)) if j not in live_of]
        for number, j in enumerate(unreported, len(reported) + 1):
            events.append(final_rep(final[j], number, start_s=round(final[j].start_frame / self.fps, 3),
                                    period_s=round(period * self.every / self.fps, 3), late=True))
        self._count = len(final)  # the display ends on the final count and its last rep
        if not final:
            self._last_rep = None
        elif events or (self._last_rep and self._last_rep["rep"] > len(final)):
            last = events[-1] if unreported and unreported[-1] == len(final) - 1 else final_rep(final[-1], len(final))
            self._last_rep = {**last.to_dict(), "rep": len(final), "count": len(final)}  # a late one: renumbered
        moved = sorted(reported[i].index for i in moved)
        dropped = sorted(reported[i].index for i in dropped)
        missed = [j + 1 for j in missed]
        changed = sorted(j + 1 for j, i in live_of.items() if reported[i].index in self._verdicts
                         and self._verdicts[reported[i].index] != final[j].valid)
        corrected = bool(moved or dropped or missed)
        events.append(LiveEvent("end", len(final), self._t, movement=analysis.movement,
                                probability=analysis.movement_probability, reported_at_s=self._t,
                                detail={"corrected": corrected, "reported": len(reported),
                                        "valid_count": analysis.valid_count, "no_rep_count": analysis.no_rep_count,
                                        "unjudged_count": analysis.unjudged_count, "moved_reps": moved,
                                        "dropped_reps": dropped, "missed_reps": missed,
                                        "verdicts_changed": changed, "frames": self._frames,
                                        "recounts": self.counter.recounts}))
        return events, analysis

    def _clock_note(self) -> str | None:
        """Times come from the frame count at the session's ``fps``; where the sender's clock (the
        frames' ``t_s``) says the frames came at another rate (a camera slower than asked, frames
        dropped on the way), every time and pace is off by that ratio: say so."""
        if self._clock is None:
            return None
        clock = self._t - self._clock
        if max((self._frames - 1) / self.fps, clock) < CLOCK_MIN_SECONDS or clock <= 0:
            return None
        rate = (self._frames - 1) / clock
        if abs(rate / self.fps - 1) <= CLOCK_TOLERANCE:
            return None
        return (f"the frames came at {rate:.1f} frames/s by the sender's clock, not the {self.fps:g} this session "
                f"was started with (a camera slower than asked, or frames dropped on the way): its times and paces "
                f"are {rate / self.fps:.2f} x the real ones")

    def _model_movement(self) -> dict | None:
        """The stream model's label over the whole stream (its mean probabilities)."""
        if self.stream_model is None or self._model_sum is None:
            return None
        mean = self._model_sum / max(self._model_steps, 1)
        classes = list(self.stream_model.classes)
        order = np.argsort(-mean, kind="stable")
        top = [[classes[i], round(float(mean[i]), 4)] for i in order[:TOP_K]]
        return {"label": top[0][0], "probability": top[0][1], "top_k": top}


class StopLive(Exception):
    """Raised by ``run_live``'s ``on_event`` or ``on_state``: end the stream as Ctrl-C does (what
    was seen is still analysed and returned); raised while the end is reported, it is ignored."""


@dataclass
class LiveRun:
    """A live run's outcome: every event in order, the final analysis, whether Ctrl-C ended it."""

    source: str
    events: list[LiveEvent]
    analysis: FootageAnalysis
    interrupted: bool = False
    wall_seconds: float = 0.0
    behind_s: float | None = None  # the most the analysis fell behind a paced source (None: not paced)

    def to_dict(self) -> dict:
        """``analyze``'s JSON (docs/analyze.md) with ``live``: the source, the events, the wall time,
        how far the analysis fell behind a camera, a stream or ``--realtime`` (``behind_s``, at most)."""
        data = self.analysis.to_dict()
        data["live"] = {"source": self.source, "interrupted": self.interrupted,
                        "wall_s": round(self.wall_seconds, 3),
                        "behind_s": None if self.behind_s is None else round(self.behind_s, 2),
                        "events": [e.to_dict() for e in self.events]}
        return data


def listed(numbers, most: int = MAX_LISTED) -> str:
    """``1, 3, 5`` -- at most ``most`` of them, then "and N more"."""
    numbers = list(numbers)
    shown = ", ".join(map(str, numbers[:most]))
    return shown + (f" and {len(numbers) - most} more" if len(numbers) > most else "")


def corrections_said(end: dict) -> str:
    """What the end corrected in the running count (an ``end`` event's dict), in words."""
    said = [f"the running count said {end.get('reported')} during the set; the whole set counts {end.get('count')}"]
    for key, words in (("missed_reps", "it went past final rep{s} {reps} (reported at the end)"),
                       ("dropped_reps", "live rep{s} {reps} not in the final count"),
                       ("moved_reps", "live rep{s} {reps} cut elsewhere than the final count cut {it}")):
        reps = end.get(key) or []
        if reps:
            said.append(words.format(s="s" if len(reps) > 1 else "", reps=listed(reps),
                                     it="them" if len(reps) > 1 else "it"))
    return "; ".join(said)


def load_stream_model(export_dir, variant: str = "fp32"):
    """A stream MoViNet export (``export --stream``) -> its ``StreamClassifier`` (TFLite, no TensorFlow)."""
    try:
        from movinet_crossfit.movinet.stream import StreamClassifier
    except ImportError as exc:
        if getattr(exc, "name", "") in ("movinet_crossfit.movinet.stream", None):
            raise UserError(f"--model {export_dir}: stream models need movinet_crossfit.movinet.stream, which "
                            "this installation lacks") from None
        raise
    try:
        return StreamClassifier.load(export_dir, variant)
    except UserError as exc:
        message = str(exc)
        raise UserError(message if message.startswith("--model") else f"--model {message}") from None
    except (ValueError, RuntimeError, OSError) as exc:  # a truncated or foreign .tflite: LiteRT's own words
        raise UserError(f"--model {export_dir}: its stream model cannot be loaded ({type(exc).__name__}: "
                        f"{str(exc)[:160]}); export it again with `movinet-crossfit export RUN --stream`") from None


def run_live(source: str, *, model=None, stream_model=None, movement: str | None = None, standards=None,
             person: str | int = "auto", pose_fps: float = DEFAULT_POSE_FPS, tracker=None, realtime: bool = False,
             on_event=None, on_state=None, state_every_s: float = 0.25, flip_rest: bool = False) -> LiveRun:
    """``SOURCE`` (a camera index, a stream URL, a file: ``core.capture``) through a ``LiveSession``
    until it ends or Ctrl-C: ``on_event(event)`` for each event as it comes, ``on_state(state)``
    every ``state_every_s`` seconds of wall time (a display). ``model``: a stream export folder
    (``stream_model``: one loaded already). Ctrl-C ends the stream: what was seen is analysed; so
    does ``StopLive`` raised by ``on_event`` or ``on_state`` (a reader that went away).
    ``flip_rest``: the movement's other convention (``analysis.footage.resolve_movement``)."""
    from movinet_crossfit.core.capture import open_capture
    from movinet_crossfit.pose.people import parse_person

    # The user's mistakes first, before a camera opens or a model loads.
    standards = _load_standards(standards)
    resolve_movement(standards, movement, flip_rest)
    parse_person(person)
    check_pose_fps(pose_fps)
    capture = open_capture(source)
    if stream_model is None and model is not None:
        stream_model = load_stream_model(model)
    if stream_model is not None and hasattr(stream_model, "warm_up"):
        stream_model.warm_up()
    report = on_event or (lambda event: None)
    events: list[LiveEvent] = []
    session, interrupted, shown = None, False, 0.0
    started = time.perf_counter()
    frames = capture.frames(realtime=realtime)
    pacing = Pacing(capture.paced)  # known once the frames are asked for (a file played at its pace)
    try:
        for frame in frames:
            if session is None:  # a camera's or stream's frame rate is known with its first frame
                session = LiveSession(fps=capture.fps, movement=movement, standards=standards, person=person,
                                      pose_fps=pose_fps, tracker=tracker, stream_model=stream_model,
                                      name=capture.name, flip_rest=flip_rest)
                pacing.hint = speed_hint(session.pose_fps, session.person)
            arrived = capture.arrived_at
            new = session.push(frame, repeat=capture.repeat)
            events += new  # all kept, also when a report of one of them ends the stream
            for event in new:
                report(event)
            pacing.analysed(arrived, session.frames, session.fps)
            if capture.held_from is None:  # a full queue while BlazePose loaded is not holding the source back
                capture.held_from = time.monotonic()
            now = time.perf_counter()
            if on_state is not None and (new or now - shown >= state_every_s):
                shown = now
                on_state(pacing.shown(session.state()))
    except (KeyboardInterrupt, StopLive):
        interrupted = True
    finally:
        frames.close()
    if session is None:
        raise UserError(f"{source}: no frames arrived; nothing to analyse")
    tail, analysis = session.finish()
    pacing.settle(session.fps)
    for note in (pacing.note(session.fps, interrupted), pacing.held_back_note(capture, session.fps),
                 capture.rate_note()):
        if note:
            analysis.notes.append(note)
    if pacing.paced and tail and tail[-1].kind == "end":
        tail[-1].detail["behind_s"] = round(pacing.worst, 2)
    for event in tail:
        events.append(event)
        with contextlib.suppress(StopLive):  # the stream has ended already: every event is kept
            report(event)
    with contextlib.suppress(StopLive):
        if on_state is not None:
            on_state(pacing.shown(session.state()))
    return LiveRun(capture.name, events, analysis, interrupted, time.perf_counter() - started,
                   pacing.worst if pacing.paced else None)
