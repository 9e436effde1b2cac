"""Builders shared by test_app.py, test_app_browser.py and test_serverless.py, each run once a
session (module-level cache; the folders live under pytest's session temp folder)."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots and timings, kept after the run (gitignored)

_cache: dict = {}
_lock = threading.RLock()  # builders call each other


def _once(key: str, make):
    with _lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def tiny_repnet(base: Path):
    """RepNet ckpt-70 with 64 frames at 32 px (seeded random weights)."""
    def make():
        import tf_keras

        from movinet_crossfit.repnet.model import build_repnet

        tf_keras.utils.set_random_seed(0)
        return build_repnet("ckpt-70", num_frames=64, image_size=32)
    return _once("repnet", make)


def repnet_weights(base: Path) -> Path:
    """A RepNet weights folder (``checkpoint`` + ``ckpt-1.*``), as `count --weights` takes."""
    def make():
        import tensorflow as tf

        folder = base / "repnet_weights"
        tf.train.Checkpoint(model=tiny_repnet(base)).save(str(folder / "ckpt"))
        return folder
    return _once("weights", make)


def repnet_export(base: Path) -> Path:
    """An export-counter folder with only repnet_fp32.tflite (+ repnet.json)."""
    def make():
        from movinet_crossfit.repnet.export import export_repnet

        folder = base / "repnet_export"
        export_repnet(tiny_repnet(base), folder, formats=["fp32"])
        return folder
    return _once("repnet_export", make)


def countable_video(base: Path) -> Path:
    """A generated thruster video: 175 frames (5.8 s at 30 fps), enough to count and for a timeline."""
    def make():
        from movinet_crossfit.synthetic import generate_corpus

        generate_corpus(base / "corpus", classes=["thruster"], clips_per_class=1, size=(160, 120), workers=1)
        video = next((base / "corpus").rglob("*.mp4"))
        # A plain name: the page and the results show it.
        return Path(shutil.copy(video, base / "thruster_workout.mp4"))
    return _once("countable", make)


def analyser(model_dir: Path, counter_dir: Path):
    """One ``Analyser`` with the flags (SavedModel + the exported tiny counter), shared like the
    models it caches."""
    def make():
        from movinet_crossfit.app.analysis import Analyser

        return Analyser(model_dir, counter_dir)
    return _once(f"analyser:{model_dir}:{counter_dir}", make)


def pose_analyser():
    """The ``Analyser`` of `movinet-crossfit app` with no flags: BlazePose and the built-in standards."""
    def make():
        from movinet_crossfit.app.analysis import Analyser

        return Analyser()
    return _once("pose_analyser", make)


REAL_SET_CLIPS = ("thruster_1.mp4", "thruster_2.mp4", "thruster_3.mp4", "thruster_4.mp4")


def real_set(base: Path, clips_dir: Path) -> Path:
    """Four real one-rep thruster clips (cfmove) joined into one set, as a judge would see it."""
    def make():
        from movinet_crossfit.data.clips import join_clips

        base.mkdir(parents=True, exist_ok=True)
        return join_clips([clips_dir / "thruster" / name for name in REAL_SET_CLIPS], base / "thruster_set.mp4")[0]
    return _once("real_set", make)


def real_analysis(base: Path, clips_dir: Path):
    """``(Analysis, progress stages)`` of the real set by the no-flags analyser, its overlay drawn
    into ``base/real_job`` (kept for the session)."""
    def make():
        stages: list[tuple[str, float]] = []
        folder = base / "real_job"
        folder.mkdir(parents=True, exist_ok=True)
        result = pose_analyser().analyse(real_set(base, clips_dir), overlay_dir=folder,
                                         progress=lambda stage, fraction: stages.append((stage, fraction)))
        return result, stages
    return _once("real_analysis", make)


def count_probes(monkeypatch) -> list[str]:
    """Record every ``video.probe`` from now on (the file names probed, in order)."""
    from movinet_crossfit.core import video

    calls: list[str] = []
    probe = video.probe

    def counted(path, *args, **kwargs):
        calls.append(Path(path).name)
        return probe(path, *args, **kwargs)

    monkeypatch.setattr(video, "probe", counted)
    return calls


def save_artifact(path: Path) -> Path:
    """Copy a screenshot (or timings file) into test-artifacts/ as well."""
    ARTIFACTS.mkdir(exist_ok=True)
    return Path(shutil.copy(path, ARTIFACTS / path.name))


# -- the Dash callback endpoint and a served `movinet-crossfit app` ---------------------------------

UPDATE_OUTPUTS = ("job.data", "poll.disabled", "message.children", "progress.children", "result.children")


def update_request(payload=None, job=None, movement="", trigger: str = "payload.data", flip: bool = False) -> dict:
    """The JSON the page POSTs to ``/_dash-update-component`` for the upload/poll callback
    (``trigger``: ``payload.data`` an upload, ``poll.n_intervals`` a poll; ``flip``: the "the other
    end" box ticked)."""
    return {"output": ".." + "...".join(UPDATE_OUTPUTS) + "..",
            "outputs": [dict(zip(("id", "property"), name.split("."))) for name in UPDATE_OUTPUTS],
            "inputs": [{"id": "payload", "property": "data", "value": payload},
                       {"id": "poll", "property": "n_intervals", "value": 1}],
            "changedPropIds": [trigger],
            "state": [{"id": "job", "property": "data", "value": job},
                      {"id": "movement-choice", "property": "value", "value": movement},
                      {"id": "flip-choice", "property": "value", "value": ["flip"] if flip else []}]}


def long_video(base: Path, clips_dir: Path, loops: int = 40) -> Path:
    """A real clip played ``loops`` times (920 frames, 35 s, 4 MB): an analysis that takes a while."""
    def make():
        import subprocess

        from movinet_crossfit.core.video import ffmpeg_executable

        base.mkdir(parents=True, exist_ok=True)
        out = base / "long_thrusters.mp4"
        subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-y", "-stream_loop", str(loops - 1), "-i",
                        str(clips_dir / "thruster" / "thruster_1.mp4"), "-map", "0:v", "-c", "copy", str(out)],
                       check=True, timeout=120)
        return out
    return _once("long_video", make)


def still_8k(base: Path) -> Path:
    """The probe's 8K still video: 7680x4320, 90 frames (one encoded frame copied 90 times)."""
    def make():
        import subprocess

        from movinet_crossfit.core.video import ffmpeg_executable

        base.mkdir(parents=True, exist_ok=True)
        one, out = base / "still8k_1.mp4", base / "still8k.mp4"
        run = [ffmpeg_executable(), "-loglevel", "error", "-y"]
        subprocess.run(run + ["-f", "lavfi", "-i", "color=c=gray:s=7680x4320:r=30", "-frames:v", "1", "-c:v",
                              "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(one)], check=True,
                       timeout=300)
        subprocess.run(run + ["-stream_loop", "89", "-i", str(one), "-c", "copy", str(out)], check=True, timeout=120)
        return out
    return _once("still_8k", make)


STILL_S = 2  # seconds of still frames before and after the set in the fake camera's file


def thruster_y4m(base: Path, clips_dir: Path, fps: float = 15.0) -> Path:
    """Every real thruster clip (cfmove, in order) joined into one set and converted to raw y4m at
    ``fps`` (854x480), with ``STILL_S`` of its first frame before and of its last frame after (the athlete
    standing): what chromium's fake camera plays (``--use-file-for-fake-video-capture``). The fake
    camera runs from the moment it opens, so the page misses its first few frames and, sending as
    many frames as the file has, ends that many frames into its next loop: both in the still part."""
    def make():
        import subprocess

        from movinet_crossfit.core.video import ffmpeg_executable
        from movinet_crossfit.data.clips import join_clips

        base.mkdir(parents=True, exist_ok=True)
        paths = sorted((clips_dir / "thruster").glob("*.mp4"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        joined, _ = join_clips(paths, base / "thrusters_all.mp4")
        out = base / f"thrusters_{fps:g}fps.y4m"
        still = f"tpad=start_duration={STILL_S}:stop_duration={STILL_S}:start_mode=clone:stop_mode=clone"
        subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-y", "-i", str(joined), "-vf",
                        f"fps={fps:g},scale=854:480,{still}", "-pix_fmt", "yuv420p", str(out)], check=True, timeout=300)
        return out
    return _once(f"thruster_y4m:{fps}", make)


def props(layout: str, element: str) -> dict | None:
    """The props of the element with id ``element`` in a Dash JSON answer (the page's
    ``/_dash-layout``, a callback's ``/_dash-update-component``)."""
    import json

    def find(node):
        if isinstance(node, dict) and isinstance(node.get("props"), dict) and node["props"].get("id") == element:
            return node["props"]
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        return next((found for found in map(find, children) if found is not None), None)

    return find(json.loads(layout))
