"""THE analysis of real footage, from poses: ``analyse_footage(path) -> FootageAnalysis``.

One video in: BlazePose poses of the athlete (``pose.extract`` with ``pose.people``'s choice of
person, at ``pose_fps``), the repetitions with their bounds (``posecount``), the movement (named by
the user, else a MoViNet export's label, else recognised from the poses by ``judging``), and each rep
judged against that movement's standards (``judging.judge_reps``). ``FootageAnalysis.to_dict()`` is
the one JSON form (docs/analyze.md): the CLI writes it, the app shows it, the Lambda handler answers it.

Frames: poses are taken on every ``every``-th video frame (pose ``i`` is video frame ``i * every``);
the poses and ``count`` keep pose indices, ``reps`` (the verdicts) are in video frames.

Memory: frames are decoded one at a time and dropped once BlazePose has seen them; what is kept is
the poses (~0.5 kB a frame per person followed). Nothing here imports TensorFlow: it runs only if
``movement_model`` is a ``PredictMovement``.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from movinet_crossfit.analysis.flow import DEFAULT_CLIP_SECONDS, TOP_K, ProgressFn, needs_timeline, user_names
from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.judging.verdict import MovementGuess, RepVerdict
from movinet_crossfit.pose.sequence import PoseSequence
from movinet_crossfit.posecount.count import PoseCount

DEFAULT_POSE_FPS = 30.0  # every frame of a 30 fps video: kipping movements need it (docs/analyze.md)
ASSUMED_FPS = 30.0  # when a video does not say its frame rate
# Poses found in fewer frames than this: the result says the athlete was often out of view.
FEW_POSES = 0.5
# Share of the progress bar the poses take (they are most of the time); the rest is the rest.
POSES_SHARE = (0.05, 0.9)


@dataclass
class FootageAnalysis:
    """One video analysed. ``reps``: one verdict per rep found, in VIDEO frames (``count`` and
    ``poses`` keep pose indices: pose ``i`` is video frame ``i * every``)."""

    name: str  # the video as its sender knows it (upload name), never a temp path
    info: video.VideoInfo
    movement: str | None
    movement_source: str | None  # "user" | "model" | "pose"; None when no movement is known
    movement_probability: float | None  # the model's probability, or the pose recogniser's score
    pose_movement: MovementGuess | None  # what the poses say, shown beside a model's or user's label
    model_movement: dict | None  # {"label", "probability", "top_k"} of a MoViNet export
    count: PoseCount
    reps: list[RepVerdict]
    poses: PoseSequence
    every: int
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    overlay: Path | None = None
    standard: dict | None = None  # the judged movement's standards: ``describe_standard``
    person: dict | None = None  # pose.people's summary: who was followed, among whom

    @property
    def fps(self) -> float:
        """The video's frame rate (``ASSUMED_FPS`` when it does not say)."""
        return _video_fps(self.info)

    @property
    def pose_fps(self) -> float:
        return self.fps / self.every

    @property
    def valid_count(self) -> int:
        return sum(r.valid is True for r in self.reps)

    @property
    def no_rep_count(self) -> int:
        return sum(r.valid is False for r in self.reps)

    @property
    def unjudged_count(self) -> int:
        return sum(r.valid is None for r in self.reps)

    def seconds(self, frame: int | None) -> float | None:
        """Video frame -> seconds (rounded to ms)."""
        return None if frame is None else round(frame / self.fps, 3)

    def seconds_per_rep(self) -> list[float]:
        return [round((r.end_frame - r.start_frame) / self.fps, 3) for r in self.reps]

    def to_dict(self) -> dict:
        """The JSON form; every field is documented in docs/analyze.md."""
        info, every = self.info, self.every
        pace = self.seconds_per_rep()
        sets = [{"index": s.index, "start_frame": s.start_frame * every, "end_frame": s.end_frame * every,
                 "start_s": self.seconds(s.start_frame * every), "end_s": self.seconds(s.end_frame * every),
                 "count": s.count, "seconds_per_rep": s.period_seconds} for s in self.count.sets]
        gaps = [{"kind": g.kind, "start_frame": g.start_frame * every, "end_frame": g.end_frame * every,
                 "start_s": self.seconds(g.start_frame * every), "end_s": self.seconds(g.end_frame * every)}
                for g in self.count.gaps]
        out = {
            "video": self.name, "fps": self.fps, "frames": info.num_frames, "duration": info.duration,
            "width": info.width, "height": info.height,
            "movement": self.movement, "movement_source": self.movement_source,
            "movement_probability": self.movement_probability,
            "pose_movement": None if self.pose_movement is None else self.pose_movement.to_dict(),
            "model_movement": self.model_movement,
            "count": len(self.reps), "valid_count": self.valid_count, "no_rep_count": self.no_rep_count,
            "unjudged_count": self.unjudged_count,
            "reps": [self._rep_dict(r) for r in self.reps],
            "sets": sets, "gaps": gaps,
            "pace": {"seconds_per_rep": pace, "median_s": round(float(np.median(pace)), 3) if pace else None},
            "standards": self.standard, "person": self.person,
            "pose_fps": round(self.pose_fps, 4), "every": every,
            "poses_found": round(float(self.poses.detected.mean()), 4) if self.poses.num_frames else 0.0,
            "notes": list(self.notes), "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "overlay": None if self.overlay is None else str(self.overlay)}
        return _jsonable(out)

    def _rep_dict(self, rep: RepVerdict) -> dict:
        return {"index": rep.index, "start_s": self.seconds(rep.start_frame), "end_s": self.seconds(rep.end_frame),
                "start_frame": rep.start_frame, "end_frame": rep.end_frame, "valid": rep.valid,
                "reason": rep.reason, "reason_id": rep.reason_id, "frame": rep.frame,
                "time_s": self.seconds(rep.frame),
                "checks": [{"id": c.id, "text": c.text, "passed": c.passed, "frame": c.frame,
                            "time_s": self.seconds(c.frame), "value": c.value, "detail": c.detail}
                           for c in rep.checks]}


def _jsonable(value):
    """numpy scalars -> Python numbers, NaN/inf -> None (JSON has neither), recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _video_fps(info: video.VideoInfo) -> float:
    return video.frame_rate(info)[0] or ASSUMED_FPS


def check_pose_fps(pose_fps: float) -> float:
    """``pose_fps`` when it is a positive number, else a ``UserError`` naming ``--pose-fps``."""
    if not isinstance(pose_fps, (int, float)) or not math.isfinite(pose_fps) or pose_fps <= 0:
        raise UserError(f"--pose-fps {pose_fps}: must be a positive number of poses per second (default "
                        f"{DEFAULT_POSE_FPS:g})")
    return float(pose_fps)


def pose_stride(fps: float, pose_fps: float) -> int:
    """Every how many video frames a pose is taken: ``round(fps / pose_fps)``, at least 1 (a video
    at ``pose_fps`` or slower gets a pose on every frame)."""
    return max(1, int(round(fps / check_pose_fps(pose_fps))))


def in_video_frames(verdict: RepVerdict, every: int) -> RepVerdict:
    """A verdict on pose indices -> the same on video frames (pose ``i`` = video frame ``i * every``)."""
    def frame(value):
        return None if value is None else int(value) * every

    return replace(verdict, start_frame=frame(verdict.start_frame), end_frame=frame(verdict.end_frame),
                   frame=frame(verdict.frame), window_start=frame(verdict.window_start),
                   window_end=frame(verdict.window_end), checks=[replace(c, frame=frame(c.frame)) for c in verdict.checks])


def describe_standard(standard) -> dict:
    """A movement's standards as the result shows them (a ``judging`` ``MovementStandard``)."""
    return {"movement": standard.name, "display": standard.display, "rep": standard.rep,
            "checks": [{"id": s.id, "text": s.text} for s in standard.standards], "notes": list(standard.notes)}


def _load_standards(standards):
    from movinet_crossfit.judging import Standards, load_standards

    return standards if isinstance(standards, Standards) else load_standards(standards)


def counted_only(standards) -> list[str]:
    """The movements the pose counter knows where they rest (``posecount.looks.MID_REP``) that
    ``standards`` do not judge: counted, not judged."""
    from movinet_crossfit.posecount.looks import MID_REP

    return [known for known in MID_REP if _known(standards, known) is None]


# How a surface names the movement and the other convention in its errors: the command line's
# options (the default), the Lambda request's fields, the app page's boxes.
CLI_WORDS = ("--movement", "--flip-rest")


def resolve_movement(standards, movement: str | None, flip_rest: bool = False, words: tuple[str, str] = CLI_WORDS):
    """The user's movement: ``(its standard or None, the name the pose counter is told or None)``.
    A movement with standards is judged against them and tells the counter where it rests; one
    without standards that the counter knows (``posecount.looks.MID_REP``: squat, push-up,
    pull-up, ...) is counted with its rest position and not judged; any other name is a
    ``UserError`` listing both. ``flip_rest`` (the other convention: reps cut where the movement
    looks mid-rep) is for a movement counted without judging: with none, or a judged one (its
    standard fixes where a rep starts), it is a ``UserError`` naming them as ``words`` (the
    movement's, the other convention's: ``CLI_WORDS`` by default)."""
    from movinet_crossfit.posecount.looks import mid_rep_name

    asked, flip = words
    if not movement:
        if flip_rest:
            raise UserError(f"{flip} needs {asked}: the movement whose rest it turns round "
                            f"({', '.join(counted_only(standards))})")
        return None, None
    try:
        standard = standards.get(movement)
    except UserError as exc:
        name = mid_rep_name(movement)
        if name is None:
            raise UserError(f"{exc}; or one counted without judging: {', '.join(counted_only(standards))}") from None
        return None, name
    if flip_rest:
        raise UserError(f"{flip} with {asked} {movement!r}: its reps are judged against its standard, which fixes "
                        f"where a rep starts; {flip} is for the movements counted without judging "
                        f"({', '.join(counted_only(standards))})")
    return standard, standard.name


def _known(standards, label: str | None):
    """The standard a label names (aliases included), or None when the standards have none."""
    if not label:
        return None
    try:
        return standards.get(label)
    except UserError:
        return None


def _classify(movement_model, path: Path, info: video.VideoInfo) -> tuple[dict, dict[str, float]]:
    """``{"label", "probability", "top_k"}`` of a MoViNet export and its timings. A long video is
    streamed through the model's timeline when it has one (a clip would be decoded whole)."""
    if hasattr(movement_model, "classify_timeline") and needs_timeline(info, DEFAULT_CLIP_SECONDS):
        step = movement_model.classify_timeline(path, info)
    else:
        step = movement_model.classify_clip(path, info)
    probabilities = np.asarray(step.probabilities, np.float64)
    order = np.argsort(-probabilities, kind="stable")
    classes = list(movement_model.classes)
    top = [[classes[i], round(float(probabilities[i]), 4)] for i in order[:TOP_K]]
    return {"label": top[0][0], "probability": top[0][1], "top_k": top}, dict(step.timings)


def _unjudged(reps: Sequence, reason: str) -> list[RepVerdict]:
    return [RepVerdict(r.index, r.start_frame, r.end_frame, None, reason, r.end_frame, []) for r in reps]


def analyse_footage(path: str | os.PathLike, info: video.VideoInfo | None = None, *, movement_model=None,
                    movement: str | None = None, standards=None, person: str | int = "auto",
                    pose_fps: float = DEFAULT_POSE_FPS, tracker=None, name: str = "",
                    progress: ProgressFn | None = None, flip_rest: bool = False) -> FootageAnalysis:
    """Poses -> reps -> movement -> rep-by-rep verdicts for the video at ``path`` (see the module doc).

    ``info``: its probe when the caller already has it (it is then never probed again).
    ``movement_model``: a ``PredictMovement`` / ``NumpyMovement`` (its label is used, the pose
    guess shown beside it). ``movement``: the user's word, which wins (an unknown name is a
    ``UserError`` listing the known ones). ``standards``: a ``judging.Standards``, a YAML path
    adding to the built-in ones, or None for the built-in ones. ``person``: whose poses (``auto``
    the athlete, ``largest``, ``N``, ``first``). ``tracker``: a pose tracker to use instead of
    BlazePose (``pose.extract``'s interface). Errors and results name ``name`` (default: the file's).
    ``flip_rest``: the movement's other convention (``resolve_movement``; ``posecount.count`` step 5).
    A video with nobody in it, or no reps, is a result with count 0 and a note saying why.
    """
    from movinet_crossfit.pose.extract import extract_poses, make_backend
    from movinet_crossfit.pose.people import parse_person

    path = Path(path)
    name = name or path.name
    report = progress or (lambda stage, fraction: None)
    timings: dict[str, float] = {}
    notes: list[str] = []
    # The user's mistakes first, before minutes of poses.
    standards = _load_standards(standards)
    resolve_movement(standards, movement, flip_rest)  # an unknown name is a UserError listing the known ones
    person = parse_person(person)
    check_pose_fps(pose_fps)
    with user_names(path, name):
        if info is None:
            info = video.probe(path)
        rate, how = video.frame_rate(info)
        fps = rate or ASSUMED_FPS  # as _video_fps
        if how == "counted":
            notes.append(f"the video does not say its frame rate: {fps:.2f} fps, from its {info.num_frames} "
                         f"frames over {info.duration:.2f} s")
        elif how == "none":
            notes.append(f"the video does not say its frame rate: {fps:g} fps assumed")
        every = pose_stride(fps, pose_fps)

        model_movement = None
        if movement_model is not None:
            report("classifying the movement (MoViNet)", 0.01)
            started = time.perf_counter()
            model_movement, model_timings = _classify(movement_model, path, info)
            timings["movement_model"] = time.perf_counter() - started
            timings.update({f"movement_model_{k}": v for k, v in model_timings.items()})

        tracker = tracker or make_backend("blazepose", person=person)
        report("finding poses", POSES_SHARE[0])
        total = max(1, -(-info.num_frames // every))
        seen, shown = [0], [0.0]

        def advance(n: int = 1) -> None:
            seen[0] += n
            fraction = POSES_SHARE[0] + (POSES_SHARE[1] - POSES_SHARE[0]) * min(1.0, seen[0] / total)
            if fraction - shown[0] >= 0.01:
                shown[0] = fraction
                report("finding poses", fraction)

        started = time.perf_counter()
        poses = extract_poses(path, tracker, every=every, fps=fps, advance=advance)
        timings["poses"] = time.perf_counter() - started  # decoding included
        if poses.image_size and tuple(poses.image_size) != (info.width, info.height):
            # A phone's portrait video: stored landscape, turned by ffmpeg while decoding. The
            # keypoints and the overlay are in the picture as shown; so is the size the result gives.
            info = replace(info, width=int(poses.image_size[0]), height=int(poses.image_size[1]))

    summary = getattr(tracker, "summary", None)
    return analyse_poses(poses, info, every, name=name, standards=standards, movement=movement,
                         model_movement=model_movement, person=dict(summary) if summary else None,
                         notes=notes, timings=timings, progress=report, flip_rest=flip_rest)


def analyse_poses(poses: PoseSequence, info: video.VideoInfo, every: int, *, name: str = "", standards=None,
                  movement: str | None = None, model_movement: dict | None = None, model_first: bool = True,
                  person: dict | None = None, notes: Sequence[str] = (), timings: dict[str, float] | None = None,
                  progress: ProgressFn | None = None, flip_rest: bool = False) -> FootageAnalysis:
    """The poses of a video -> reps -> movement -> verdicts: the part of ``analyse_footage`` after
    the poses, which the live session (``analysis.live``) runs on the poses it was pushed, so that
    both give the same result for the same poses.

    ``every``: the pose stride (pose ``i`` is video frame ``i * every``). ``model_movement``:
    ``{"label", "probability", "top_k"}`` of a movement model. ``model_first``: the model's label
    wins over the pose guess (``analyze``'s clip model); False: the pose guess wins when it names a
    movement with standards and the model's label is the fallback (the live stream model, whose
    label is a running guess). ``person``: the tracker's summary; ``notes``/``timings`` so far.
    ``flip_rest``: the movement's other convention (``resolve_movement``)."""
    from movinet_crossfit.judging import judge_reps, recognise_movement
    from movinet_crossfit.posecount.count import count_repetitions

    report = progress or (lambda stage, fraction: None)
    notes, timings = list(notes), dict(timings or {})
    standards = _load_standards(standards)
    asked, counted_as = resolve_movement(standards, movement, flip_rest)
    report("counting repetitions", POSES_SHARE[1])
    started = time.perf_counter()
    # The user's movement places the counter's rest side (posecount.looks.MID_REP); a guess does not,
    # so that the count never depends on a recogniser that runs on its reps.
    count = count_repetitions(poses.keypoints, poses.fps, poses.layout, movement=counted_as, flip_rest=flip_rest)
    timings["count"] = time.perf_counter() - started

    found = float(poses.detected.mean()) if poses.num_frames else 0.0
    if found == 0.0:
        notes.append("nobody found in the video: no pose in any frame")
    elif found < FEW_POSES:
        notes.append(f"the athlete was seen in only {found:.0%} of the frames: reps out of view are not counted")
    if poses.extra.get("note"):
        notes.append(poses.extra["note"])
    if flip_rest:
        from movinet_crossfit.posecount.looks import mid_rep_of

        look = mid_rep_of(counted_as).text
        if count.rest == "movement":
            notes.append(f"the other convention (flip_rest): {counted_as} reps cut where it looks mid-rep ({look})")
        elif count.count:
            notes.append(f"the other convention (flip_rest): {counted_as}'s look ({look}) does not show in the "
                         "counted movement: reps cut where it dwells, as without it")
    if count.count == 0 and found > 0:
        notes.append("no repetitions found" + (f" ({count.note})" if count.note else ""))
    elif count.note and count.count:
        notes.append(f"counter: {count.note}")

    pose_guess = None
    if count.reps:
        report("recognising the movement", 0.93)
        started = time.perf_counter()
        pose_guess = recognise_movement(poses, count.reps, standards)
        timings["recognise"] = time.perf_counter() - started

    standard, source, probability = asked, None, None
    pose_standard = _known(standards, pose_guess.label) if pose_guess is not None and pose_guess.label else None
    if counted_as is not None:  # the user's: with standards (asked), or counted only
        source = "user"
    elif model_movement is not None and (model_first or pose_standard is None):
        source, probability = "model", model_movement["probability"]
        standard = _known(standards, model_movement["label"])
        if standard is None:
            notes.append(f"the model's movement {model_movement['label']!r} has no standards: its reps are not "
                         "judged (add it to a standards YAML and pass --standards)")
    elif pose_guess is not None and pose_guess.label:
        source, probability = "pose", float(pose_guess.score)
        standard = pose_standard
    label = standard.name if standard is not None else \
        (counted_as if source == "user" else model_movement["label"] if source == "model" else None)
    if count.reps and label is None:
        notes.append("the movement could not be recognised from the poses: pass --movement NAME to judge the reps")

    report("judging the reps", 0.96)
    started = time.perf_counter()
    if standard is not None:
        verdicts = judge_reps(poses, count.reps, standard.name, standards)
    elif label is not None:
        verdicts = _unjudged(count.reps, f"no standards for {label!r}")
    else:
        verdicts = _unjudged(count.reps, "movement unknown: pass --movement NAME")
    timings["judge"] = time.perf_counter() - started
    result = FootageAnalysis(
        name or Path(poses.source).name, info, label, source if label else None, probability if label else None,
        pose_guess, model_movement, count, [in_video_frames(v, every) for v in verdicts], poses, every, notes,
        timings, standard=describe_standard(standard) if standard is not None else None, person=person)
    report("done", 1.0)
    return result
