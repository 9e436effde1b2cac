"""Frames from a camera, a stream URL or a file, decoded by ffmpeg: what ``live`` reads.

``open_capture(SOURCE)``: a digit is a camera (``0`` -> ``/dev/video0`` through v4l2 on Linux,
AVFoundation device 0 on macOS, the first DirectShow video device on Windows); ``rtsp://``,
``rtmp://``, ``http(s)://``, ``udp://``, ``srt://``, ``-`` (stdin) and named pipes are streams;
anything else is a file, decoded exactly as ``core.video.iter_frames`` decodes it (so ``live FILE``
sees the frames ``analyze FILE`` sees). ``Capture.frames(realtime=...)`` yields RGB uint8
``(H, W, 3)`` frames; ``realtime`` plays a file at its own frame rate (a camera or a stream comes
at its own pace anyway). A missing file, a bad URL or no camera is a ``UserError`` naming the
source.

A camera or a stream is read by a thread as its frames come (so they wait in this process, up to
``QUEUE_BYTES``, not in the camera's few buffers, which drop frames once full; ``held_back_s``
says how long the source was held back once it filled), each stamped with
when it came: ``Capture.arrived_at`` is that time (``time.monotonic()``) for the frame just
yielded, for a source that comes at its own pace (``Capture.paced``: a camera, a stream URL, a file
played with ``realtime``, where it is the frame's due time); ``None`` otherwise (a file read as fast
as it can, stdin or a named pipe, which may be a file sent as fast as it can be). ``live`` reads how
far its analysis is behind the source from it.

A camera's frames keep to its own clock: ffmpeg repeats or leaves out frames by the camera's
timestamps to the rate it said (``-fps_mode cfr``, at most ``MAX_CAMERA_FPS``), so the frame count
(where every time in ``live`` comes from) follows the camera's clock also when it sends fewer
frames than it says (many webcams slow down in dim light) or when its driver dropped frames while
the source was held back; ``Capture.rate_note()`` says when it did. A live stream that says its
rate keeps its clock the same way, here rather than in ffmpeg (``_StreamClock``: the rate is known
only once ffmpeg has read the stream, and each frame's timestamp comes from ffmpeg's ``showinfo``).
A file's frames, and those of stdin, a named pipe, a file served over HTTP or a stream that says no
rate, come each once, as ``analyze`` decodes them; where such a stream's own timestamps say it sent
another rate than it was timed at, ``rate_note()`` says so and by how much its times are off.
"""
from __future__ import annotations

import math
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "srt://", "tcp://")
ASSUMED_FPS = 30.0  # a camera or stream that does not say its frame rate
OPEN_TIMEOUT_S = 15.0  # a stream that sends nothing for this long is given up (ffmpeg's -timeout)
FIRST_FRAME_TIMEOUT_S = 2 * OPEN_TIMEOUT_S  # a camera or live stream whose first frame takes longer is given up
STREAM_INFO_WAIT_S = 2.0  # how long the first frame waits for ffmpeg's report of the stream
SERVED_FILE_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
HELD_BACK_MIN_S = 0.15  # a wait for room this long or longer holds the source back (a camera buffers ~4 frames)
QUEUE_BYTES = 256 * 2**20  # frames of a camera or stream read but not analysed yet, at most (then ffmpeg waits)
MAX_CAMERA_FPS = 60  # a camera faster than this is analysed at this rate (ffmpeg's -fpsmax)
RATE_TOLERANCE = 0.1  # a camera whose frames were repeated or left out by more than this share gets a note
RATE_NOTE_MIN_S = 3.0  # ... over at least this long
# A stream's said rate above this is not taken (a tbr above it is a time base already: "90k tbr" from an
# RTSP camera that says no fps). A stream's rate by its timestamps outside 1 to this says nothing.
MAX_SAID_FPS = video.MAX_TBR_FPS
# A camera's frames on its own clock, and ffmpeg's count of frames repeated and left out (key=value
# lines on stderr, every half second and at the end).
CAMERA_TIMING = ["-fps_mode", "cfr", "-fpsmax", str(MAX_CAMERA_FPS), "-progress", "pipe:2"]
# A stream's frames each once, and where its timestamps have got to (the same report).
STREAM_TIMING = ["-fps_mode", "passthrough", "-progress", "pipe:2"]
# A live stream's frames, each with its own timestamp (a line each on stderr): its clock is kept here,
# at the rate it says, once that is known (``_StreamClock``).
FRAME_TIMES = ["-vf", "showinfo=checksum=0"]
# showinfo's lines: its time base at each (re)configuration, then a line per frame. The integer pts
# is read, not pts_time (ffmpeg 5.1 prints that with 6 digits: 12345.7 s for two frames). ffmpeg 7
# and later filter in a thread of their own, so a -progress block can come between a line's prefix
# and its text: the text is looked for on every line.
_SHOWINFO = re.compile(r"\[Parsed_showinfo_\d+ @ [^\]]*\]\s?")
_TIME_BASE = re.compile(r"config in time_base: (?P<num>\d+)/(?P<den>\d+)")
_FRAME_TIME = re.compile(r"\bn:\s*(?P<n>\d+) pts:\s*(?P<pts>-?\d+|NOPTS) pts_time:")
_PROGRESS_TAIL = re.compile(r"frame=\d+$")  # a -progress block's first line, written inside showinfo's text
FRAME_TIME_WAIT_S = 2.0  # how long a frame waits for its timestamp's line (then frames take the next place)
CLOCK_JUMP_S = 10.0  # a gap longer than this, or a step back of over a second, is a timestamp jump
CLOCK_EARLY = 2.0  # a frame more frames than this before its place is left out
CLOCK_LATE = 0.5  # ... more than this after it, the frame before is repeated (rounded) to fill the gap
# ffmpeg's -progress lines (values can be padded: "speed=   1x"), not a reason such as "cam=1: Invalid data".
_PROGRESS = re.compile(r"^(?P<key>frame|fps|stream_\d+_\d+_\w+|bitrate|total_size|out_time(?:_us|_ms)?|dup_frames|"
                       r"drop_frames|speed|progress)=\s*(?P<value>.*)$")


@dataclass
class Capture:
    """One source, opened: ``kind`` (camera | stream | file), what the user gave (``source``), the
    frame rate (the file's; the camera's or stream's as ffmpeg reports it, else ``ASSUMED_FPS``)."""

    source: str
    kind: str
    fps: float
    input_args: list[str] = field(default_factory=list)  # ffmpeg's input options and -i
    info: video.VideoInfo | None = None  # a file's probe
    paced: bool = False  # it comes at its own pace (a camera, a stream URL): see the module doc
    arrived_at: float | None = None  # when the frame just yielded came (time.monotonic()), if paced
    queue_frames: int | None = None  # how many frames of a camera or stream may wait (QUEUE_BYTES' worth)
    held_from: float | None = None  # from when a full queue holds the source back (set by the frames' reader)
    held_back_at: float | None = None  # when it first did (time.monotonic())
    held_back_s: float = 0.0  # how long the source was held back in all
    frames_out: int = 0  # a camera's frames on its clock, by ffmpeg's count (a stream's by _StreamClock's)
    repeated_frames: int = 0  # ... of which repeats, to fill the gaps of a camera slower than it said
    dropped_frames: int = 0  # its frames left out (faster than it said, or than MAX_CAMERA_FPS)
    repeat: bool = False  # the frame just yielded is a repeat of the one before it (a camera's, a stream's)
    fps_assumed: bool = False  # a camera or stream that did not say its rate: ASSUMED_FPS
    clock_kept: bool = False  # a live stream kept on its own clock (repeats and left-outs, as a camera's)
    # A stream's (frames given, seconds by its timestamps) at each of ffmpeg's reports, in order.
    clock_marks: list[tuple[int, float]] = field(default_factory=list)
    frames_read: int = 0  # frames read from ffmpeg by ``frames()`` (a camera's or stream's; repeats not counted)

    @property
    def name(self) -> str:
        return Path(self.source).name if self.kind == "file" else self.source

    def frames(self, *, realtime: bool = False) -> Iterator[np.ndarray]:
        self.arrived_at = self.held_back_at = self.held_from = None
        self.held_back_s = 0.0
        self.frames_out = self.repeated_frames = self.dropped_frames = 0
        self.repeat = self.clock_kept = False
        self.clock_marks, self.frames_read = [], 0
        if self.kind == "file":
            frames = video.iter_frames(self.source)
            self.paced = bool(realtime)
            return _paced(frames, self.fps, self) if realtime else frames
        return _LiveReader(self).frames()

    def rate_note(self) -> str | None:
        """A camera (or a live stream kept on its clock) whose frames were repeated or left out to
        keep the rate it said (by more than ``RATE_TOLERANCE`` of them, over ``RATE_NOTE_MIN_S`` at
        least): how many it really sent. Another stream whose timestamps say another rate than it
        was timed at (``stream_rate_note``)."""
        if self.kind == "stream" and not self.clock_kept:
            return self.stream_rate_note()
        if self.kind not in ("camera", "stream") or not self.frames_out or not self.fps:
            return None
        seconds = self.frames_out / self.fps
        sent = self.frames_out - self.repeated_frames + self.dropped_frames
        if seconds < RATE_NOTE_MIN_S or abs(sent / self.frames_out - 1) <= RATE_TOLERANCE:
            return None
        rate = sent / seconds
        what = f"{self.kind} {self.source}"
        if sent < self.frames_out:
            lost = ", and frames were lost while live held it back" if self.held_back_s else ""
            why = ("a webcam in dim light slows down" if self.kind == "camera" else
                   "a sender that does not keep the rate it says, an IP camera slowing down in dim light")
            hint = ("; more light, or a lower resolution, gives the count more frames" if self.kind == "camera"
                    else "")
            return (f"{what} sent {rate:.1f} frames/s by its own clock, not the {self.fps:g} it said "
                    f"({why}{lost}): {self.repeated_frames:,} of the {self.frames_out:,} "
                    f"frames are repeats, so every time stays on the {self.kind}'s clock{hint}")
        return (f"{what} sent {rate:.1f} frames/s, more than the {self.fps:g} analysed: "
                f"{self.dropped_frames:,} of its {sent:,} frames were left out (times are the {self.kind}'s)")

    def stream_rate_note(self) -> str | None:
        """A stream not kept on its clock (stdin, a named pipe, a file served over HTTP, a stream
        that said no rate) has its frames each once, and every time in ``live`` is the frame count
        at the rate it said (or the one assumed): where its own timestamps say it sent a rate more
        than ``RATE_TOLERANCE`` off that (a sender that says a rate it does not keep, a stream that
        said none), over ``RATE_NOTE_MIN_S`` of the frames handed on at least, every time and pace
        is off by as much. Measured from ffmpeg's first report to its last one within the frames
        handed on (a stream read in one go has one report: from the start, where ffmpeg's output
        times begin at 0), leaving out the spans between two reports that a timestamp jump made
        longer than twice the spans' median and a second, or negative, in the stream's time (a
        camera's clock reset, a stream switched over); a rate by its timestamps outside 1 to
        ``MAX_SAID_FPS`` says nothing."""
        marks = list(self.clock_marks)  # a copy: the reader may still add one
        within = [mark for mark in marks if mark[0] <= self.frames_read]
        if self.kind != "stream" or not self.fps or not within:
            return None
        if len(within) == 1:
            within.insert(0, (0, 0.0))
        spans = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(within, within[1:])]
        spans = [(frames, seconds) for frames, seconds in spans if seconds > 0 and frames >= 0]
        if not spans:
            return None
        # Reports come every half second of the reader's time: a span far longer than the others in the
        # stream's time is a jump (a slower sender's spans are as long, with fewer frames in them).
        typical = float(np.median([seconds for _, seconds in spans]))
        kept = [(f, s) for f, s in spans if s <= 2 * typical + 1.0]
        frames, seconds = sum(f for f, _ in kept), sum(s for _, s in kept)
        if frames < 2 or seconds < RATE_NOTE_MIN_S:
            return None
        rate = frames / seconds
        if abs(rate / self.fps - 1) <= RATE_TOLERANCE or not 1.0 <= rate <= MAX_SAID_FPS:
            return None
        if self.fps_assumed:
            said, why = f"did not say its rate ({self.fps:g} frames/s assumed)", ""
        else:
            said = f"said {self.fps:g}"
            why = (" (a sender that does not keep the rate it says" +
                   (", an IP camera slowing down in dim light" if rate < self.fps else "") +
                   (", or frames it dropped while live held it back" if self.held_back_s and rate < self.fps else "")
                   + ")")
        return (f"stream {self.source} sent {rate:.1f} frames/s by its own timestamps, and {said}: its frames are "
                f"each analysed once and timed at {self.fps:g} a second, so every time and pace here is "
                f"{rate / self.fps:.2f} x the real ones{why}")


class _StreamClock:
    """A live stream's frames on its own clock at ``rate``, as ffmpeg's ``-fps_mode cfr`` keeps a
    camera's: ``slots(t)`` says how many frames of the session the frame stamped ``t`` fills. Its
    place is ``(t - first frame's t) * rate``; where that is over ``CLOCK_EARLY`` frames before the
    next free place, it is left out (0: a sender faster than it says); over ``CLOCK_LATE`` after it,
    the frame before fills the gap (2 or more: repeats of it, then this frame); else it takes the
    next place. A jittery sender so gets one repeat at most, where the first frame was early, not a
    repeat and a frame left out at every wobble. A gap of over ``CLOCK_JUMP_S`` or a step back of
    over a second is a timestamp jump (a camera's clock reset, a stream switched over): the clock
    starts again from that frame."""

    def __init__(self, rate: float):
        self.rate, self.start, self.given = float(rate), None, 0

    def slots(self, t: float | None) -> int:
        """``None`` (a frame whose time did not come): the next place."""
        if t is None or self.start is None:
            self.start = self.start if t is None else t - self.given / self.rate
            self.given += 1
            return 1
        ahead = (t - self.start) * self.rate - self.given  # frames past the next free place
        if ahead > CLOCK_JUMP_S * self.rate or ahead < -max(self.rate, CLOCK_EARLY + 1):
            self.start, ahead = t - self.given / self.rate, 0.0
        slots = 0 if ahead < -CLOCK_EARLY else 1 if ahead <= CLOCK_LATE else math.floor(ahead + 0.5) + 1
        self.given += slots
        return slots


def _paced(frames: Iterator[np.ndarray], fps: float, capture: Capture) -> Iterator[np.ndarray]:
    """Frame ``i`` no earlier than ``i / fps`` seconds after the first (sleeping to the wall clock);
    ``capture.arrived_at``: when it was due."""
    started = time.monotonic()
    try:
        for index, frame in enumerate(frames):
            due = started + index / fps
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            capture.arrived_at = due
            yield frame
    finally:
        frames.close()  # ffmpeg stops now, not when the generator is collected


def open_capture(source: str) -> Capture:
    """``SOURCE`` -> an open ``Capture`` (see the module doc). A file is probed here; a camera or
    stream is opened when its frames are read (its errors come then, as ``UserError``)."""
    text = str(source).strip()
    if not text:
        raise UserError("SOURCE is empty: give a camera index (0), a stream URL (rtsp://...) or a video file")
    if text.isdigit():
        return Capture(text, "camera", 0.0, _camera_args(int(text)), paced=True)
    if text.lower().startswith(STREAM_SCHEMES):
        # A video file served over HTTP comes as fast as it downloads, not at its own pace.
        served_file = text.lower().startswith(("http://", "https://")) and \
            Path(urllib.parse.urlsplit(text).path).suffix.lower() in SERVED_FILE_SUFFIXES
        return Capture(text, "stream", 0.0, _stream_args(text), paced=not served_file)
    if text == "-":  # another program's video on stdin: `ffmpeg ... -f mpegts - | movinet-crossfit live -`
        return Capture("-", "stream", 0.0, ["-i", "pipe:0"])
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir() and not path.is_file():
        # A named pipe or /dev/stdin: read once, as it comes (a file is probed, then read again).
        return Capture(str(path), "stream", 0.0, ["-i", str(path)])
    if not path.exists():
        raise UserError(f"{text}: no such file (SOURCE is a camera index such as 0, a stream URL such as "
                        "rtsp://..., or a video file)")
    info = video.probe(path)
    fps = video.frame_rate(info)[0] or ASSUMED_FPS  # as analyze times it
    return Capture(str(path), "file", fps, info=info)


def _camera_args(index: int) -> list[str]:
    if sys.platform.startswith("linux"):
        device = Path(f"/dev/video{index}")
        if not device.exists():
            raise UserError(f"camera {index}: no {device} (no camera found; give a video file or a stream URL)")
        return ["-f", "v4l2", "-i", str(device)]
    if sys.platform == "darwin":
        return ["-f", "avfoundation", "-framerate", "30", "-i", f"{index}:none"]
    if sys.platform.startswith("win"):
        return ["-f", "dshow", "-i", f"video={_dshow_device(index)}"]
    raise UserError(f"camera {index}: cameras are read on Linux, macOS and Windows; give a file or a stream URL")


def _dshow_device(index: int) -> str:
    """The name of the ``index``-th DirectShow video device (ffmpeg lists them on stderr)."""
    listed = subprocess.run([video.ffmpeg_executable(), "-hide_banner", "-list_devices", "true", "-f", "dshow",
                             "-i", "dummy"], capture_output=True, text=True, errors="replace").stderr
    names = [line.split('"')[1] for line in listed.splitlines() if '"' in line and "(video)" in line]
    if index >= len(names):
        raise UserError(f"camera {index}: {len(names)} camera(s) found; give an index below {len(names)}")
    return names[index]


def _stream_args(url: str) -> list[str]:
    timeout = str(int(OPEN_TIMEOUT_S * 1e6))  # microseconds
    if url.lower().startswith(("rtsp://", "rtsps://")):
        return ["-rtsp_transport", "tcp", "-timeout", timeout, "-i", url]
    if url.lower().startswith(("http://", "https://")):
        return ["-rw_timeout", timeout, "-i", url]
    return ["-i", url]


# ffmpeg's closing lines after any failure: they say that it failed, not why.
_GENERIC = ("conversion failed", "nothing was written", "terminating thread", "task finished",
            "could not open encoder", "cannot determine format of input", "error opening output",
            "last message repeated", "frame=", "error while filtering", "exiting normally")
_TELLING = ("error", "fail", "refused", "timed out", "timeout", "not found", "invalid", "prematurely", "unauthorized",
            "forbidden", "denied", "no route", "unreachable", "resolve", "403", "404", "401")


def failure_reason(lines: list[str]) -> str | None:
    """Why ffmpeg could not read a camera or a stream, from its stderr: the first telling line (the
    last one is often just "Conversion failed!"), without the ``[component @ 0x...]`` prefix."""
    import re

    lines = [line.strip() for line in lines if line.strip()]
    if video.no_video_stream("\n".join(lines)):
        return "no video stream in it (audio only?)"
    specific = [re.sub(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", line) for line in lines
                if not any(word in line.lower() for word in _GENERIC)]
    opening = [line for line in specific if line.lower().startswith("error opening input")]
    telling = [line for line in specific if any(word in line.lower() for word in _TELLING)]
    return (opening or telling or specific or lines or [None])[0]


class _LiveReader:
    """ffmpeg reading a camera or a stream, PPM frames on stdout (as ``core.video`` decodes files),
    its report on stderr read line by line (the stream's frame rate; the reason when it fails)."""

    def __init__(self, capture: Capture):
        self.capture = capture
        # A camera on its own clock (module doc); anything else every frame once, as analyze decodes it.
        self.camera = capture.kind == "camera"
        # A live stream (not stdin, a named pipe or a file served over HTTP, which are files' frames):
        # each frame's timestamp, so its clock can be kept once its rate is known.
        self.clocked = capture.kind == "stream" and capture.paced
        timing = CAMERA_TIMING if self.camera else STREAM_TIMING + (FRAME_TIMES if self.clocked else [])
        args = [video.ffmpeg_executable(), "-hide_banner", "-nostdin", "-nostats", *capture.input_args,
                "-map", "0:v:0", "-f", "image2pipe", "-vcodec", "ppm", *timing, "pipe:"]
        self.times: dict[int, float | None] = {}  # frame number -> its time (s), until the frame is handed on
        self.keep_times = self.clocked  # ... while a clock is kept
        self.times_came = threading.Condition()
        self._time_base: float | None = None  # showinfo's, in seconds
        self._numbered = self._first_number = 0  # frames numbered so far; the number showinfo's n starts at
        try:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise UserError(f"{capture.source}: cannot start ffmpeg ({exc})") from None
        self.lines: list[str] = []
        self.stream_line = threading.Event()
        self.started = False  # the first frame was handed on (its rate is the session's)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        output = False  # past ffmpeg's "Output #0": its stream line is the rate a camera's frames come at
        report: dict[str, int] = {}  # the -progress block being read (a stream's)
        for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if self.clocked:
                line = self._frame_time(line)
                if not line:
                    continue
            progress = _PROGRESS.match(line)
            if progress:  # -progress: not part of ffmpeg's report
                value, key = progress["value"].strip(), progress["key"]
                if self.camera and value.isdigit() and key in ("frame", "dup_frames", "drop_frames"):
                    setattr(self.capture, {"frame": "frames_out", "dup_frames": "repeated_frames",
                                           "drop_frames": "dropped_frames"}[key], int(value))
                elif not self.camera and value.isdigit() and key in ("frame", "out_time_us"):
                    report[key] = int(value)
                elif not self.camera and key == "progress":  # a block's last line
                    if report.get("frame", 0) >= 1 and "out_time_us" in report:
                        self.capture.clock_marks.append((report["frame"], report["out_time_us"] / 1e6))
                    report = {}
                continue
            self.lines.append(line)
            output = output or line.startswith("Output #")
            if "Video:" in line and "Stream #" in line and not self.started and \
                    (output == self.camera or not self.capture.fps):  # the rate the session starts with stays
                said = video._stream_rate(line)
                self.capture.fps = (said if said <= MAX_SAID_FPS else 0.0) or self.capture.fps
                if output == self.camera:
                    self.stream_line.set()

    def _frame_time(self, line: str) -> str:
        """showinfo's lines (a frame's time, its time base, its other lines): the frame's time taken
        into ``times``; what of ``line`` is not showinfo's returned ("" where all of it is)."""
        prefixed = _SHOWINFO.search(line)
        timed, based = _FRAME_TIME.search(line), _TIME_BASE.search(line)
        if not (prefixed or timed or based):
            return line
        if based:
            self._time_base = int(based["num"]) / int(based["den"]) if int(based["den"]) else None
            self._first_number = self._numbered  # a filter graph set up again numbers its frames from 0
        elif timed and self._time_base:
            number = self._first_number + int(timed["n"])
            with self.times_came:
                self._numbered = max(self._numbered, number + 1)
                if self.keep_times:
                    self.times[number] = None if timed["pts"] == "NOPTS" else int(timed["pts"]) * self._time_base
                self.times_came.notify_all()
        rest = line[prefixed.end():] if prefixed else line
        if not (timed or based) and _PROGRESS.match(rest):
            return rest  # "[Parsed_showinfo_0 @ 0x...] frame=17": the -progress block's, after a prefix
        tail = _PROGRESS_TAIL.search(line)  # "... color_trc:unknownframe=322" (ffmpeg 9)
        return tail.group(0) if tail else ""

    def _time_of(self, number: int) -> float | None:
        """Frame ``number``'s timestamp (showinfo's line, written before the frame), once it came;
        ``None`` where it will not (a frame with no timestamp, a later frame's came). Where none came
        in ``FRAME_TIME_WAIT_S`` (ffmpeg's lines are not what they were), no frame waits again:
        each takes the next place from then on."""
        with self.times_came:
            if self.keep_times and not self.times_came.wait_for(
                    lambda: number in self.times or self._numbered > number + 1, timeout=FRAME_TIME_WAIT_S):
                self.keep_times = False
            for older in [key for key in self.times if key < number]:  # frames with no line of their own
                del self.times[older]
            return self.times.pop(number, None)

    def _what(self) -> str:
        return f"camera {self.capture.source}" if self.capture.kind == "camera" else self.capture.source

    def failure(self) -> UserError:
        reason = failure_reason(self.lines) or f"exit code {self.process.returncode}"
        return UserError(f"{self._what()}: cannot read video (ffmpeg: {reason})")

    def _read(self, frames: queue.Queue) -> None:
        """ffmpeg's frames into ``frames`` as they come, each with when it came (a ``None`` at the
        end); ``self._room``: how many more fit in ``QUEUE_BYTES`` (known with the first frame's size)."""
        out = self.process.stdout
        previous = None
        try:
            while not self._stop.is_set():
                magic = out.readline()
                if not magic:
                    break
                dims = out.readline().split()
                out.readline()
                width, height = int(dims[0]), int(dims[1])
                data = out.read(width * height * 3)
                if len(data) < width * height * 3:
                    break
                arrived = time.monotonic()
                repeat, previous = self.camera and data == previous, data  # ffmpeg repeated it (a camera's clock)
                if self._room is None:
                    self.capture.queue_frames = max(2, QUEUE_BYTES // len(data))
                    self._room = threading.Semaphore(self.capture.queue_frames)
                if not self._room.acquire(blocking=False):  # full: ffmpeg waits (and so does the source)
                    while not self._room.acquire(timeout=0.1) and not self._stop.is_set():
                        pass
                    if self._stop.is_set():
                        break
                    self._held_back(arrived, time.monotonic())
                frames.put((np.frombuffer(data, np.uint8).reshape(height, width, 3), arrived, repeat))
            while self._stop.is_set() and out.read(1 << 16):  # stopped: ffmpeg is not left blocked on a full pipe
                pass
        except (OSError, ValueError, IndexError):  # the pipe closed under us, a header cut short: the end
            pass
        finally:
            frames.put(None)

    def _held_back(self, since: float, until: float) -> None:
        """The reader waited for room from ``since`` to ``until``: counted from ``capture.held_from``
        on (the start-up, while the analysis loads, is not held back), where it waited longer than a
        camera's few buffers hold (``HELD_BACK_MIN_S``)."""
        if self.capture.held_from is None:
            return
        start = max(since, self.capture.held_from)
        if until - start >= HELD_BACK_MIN_S:
            self.capture.held_back_s += until - start
            if self.capture.held_back_at is None:
                self.capture.held_back_at = start

    def frames(self) -> Iterator[np.ndarray]:
        frames: queue.Queue = queue.Queue()
        self._stop, self._room = threading.Event(), None
        reader = threading.Thread(target=self._read, args=(frames,), daemon=True)
        reader.start()
        count = 0
        clock: _StreamClock | None = None
        previous = None
        try:
            while True:
                # A camera or a live stream whose first frame does not come is given up (ffmpeg's own
                # timeout gives up a stream that sends nothing at all; a camera has none). Stdin or a
                # named pipe may start late.
                try:
                    item = frames.get(timeout=FIRST_FRAME_TIMEOUT_S if count == 0 and self.capture.paced else None)
                except queue.Empty:
                    reason = failure_reason(self.lines)
                    raise UserError(f"{self._what()}: no frame came in {FIRST_FRAME_TIMEOUT_S:g} s of starting "
                                    f"({'ffmpeg: ' + reason if reason else 'is it sending?'})") from None
                if item is None:
                    break
                frame, arrived, repeat = item  # repeat: ffmpeg's, of a camera's frame
                self._room.release()
                if count == 0:  # the stream's report comes before its first frame
                    self.stream_line.wait(STREAM_INFO_WAIT_S)
                    self.capture.fps_assumed = not self.capture.fps
                    self.capture.fps = self.capture.fps or ASSUMED_FPS
                    if self.clocked and not self.capture.fps_assumed:  # a guess would repeat or leave out wholesale
                        clock = _StreamClock(min(self.capture.fps, MAX_CAMERA_FPS))
                        self.capture.fps, self.capture.clock_kept = clock.rate, True
                    self.keep_times = clock is not None
                    self.started = True
                slots = 1 if clock is None else clock.slots(self._time_of(count))
                count += 1
                self.capture.frames_read = count
                self.capture.arrived_at = arrived if self.capture.paced else None
                if clock is not None:
                    self.capture.frames_out += slots
                    self.capture.repeated_frames += max(0, slots - 1)  # (the first frame takes one place)
                    self.capture.dropped_frames += slots == 0
                if slots == 0:
                    continue
                for _ in range(slots - 1):  # the frame before a gap, again, as ffmpeg repeats a camera's
                    self.capture.repeat = True
                    yield previous
                self.capture.repeat = repeat
                previous = frame
                yield frame
        finally:
            self._stop.set()
            if self.process.poll() is None:
                self.process.terminate()
            try:
                # ffmpeg blocked reading a source that sends nothing does not see a TERM (it is acted on
                # between reads): with no frame there is no report to wait for either.
                self.process.wait(timeout=5 if count else 1)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            reader.join(timeout=2)
            self._thread.join(timeout=2)
        if count == 0:
            raise self.failure()
