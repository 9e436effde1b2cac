"""The poses ``.npz``: one keypoint sequence, whatever estimator produced it.

Keys (``version`` 1)::

    keypoints   float32 (T, K, C)  x, y in image pixels (C = 2), plus z (C = 3, BlazePose: relative
                                   depth in pixels of the same scale, hips at about 0); NaN where
                                   nothing was detected, never zeros
    fps         float              frames per second of the source
    layout      str                "mediapipe33" or "coco17" (joint order, see JOINT_NAMES)
    confidence  float32 (T,)       per-frame pose score (BlazePose's pose flag, a detector's person
                                   score); 0 where nobody was found
    visibility  float32 (T, K)     per-joint confidence 0..1; NaN where nothing was detected
    presence    float32 (T, K)     BlazePose only: per-joint presence 0..1
    roi_source  int8 (T,)          BlazePose only: 0 no pose, 1 detector, 2 tracked, 3 repeated
    image_size  int32 (2,)         width, height when known
    source, backend  str           what was read and by what

``load_poses`` reads the keypoints, fps and layout of these files, of the generated corpus's
``keypoints`` files, of ViTPose exports with a ``reconstruction`` array and of RepCount pose
``.npy`` files (``read_repcount``; what the pose counter needs); ``read_poses`` returns everything.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import atomic_path

FORMAT_VERSION = 1
MEDIAPIPE33 = ("nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer", "l_ear",
               "r_ear", "mouth_l", "mouth_r", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist",
               "r_wrist", "l_pinky", "r_pinky", "l_index", "r_index", "l_thumb", "r_thumb", "l_hip", "r_hip",
               "l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel", "l_foot_index", "r_foot_index")
COCO17 = ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
          "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")
JOINT_NAMES = {"mediapipe33": MEDIAPIPE33, "coco17": COCO17}
# Where each COCO-17 joint is in the MediaPipe 33: the common layout every source can give.
MEDIAPIPE_TO_COCO = tuple(MEDIAPIPE33.index(name) for name in COCO17)


def flip_permutation(layout: str) -> np.ndarray:
    """Joint permutation that swaps every left/right pair (for mirroring)."""
    names = JOINT_NAMES[layout]

    def other(name: str) -> str:
        for a, b in (("l_", "r_"), ("_l", "_r")):
            if name.startswith(a) or name.endswith(a):
                return name.replace(a, "#").replace(b, a).replace("#", b)
            if name.startswith(b) or name.endswith(b):
                return name.replace(b, "#").replace(a, b).replace("#", a)
        return name

    return np.array([names.index(other(n)) for n in names])


def convert_layout(keypoints: np.ndarray, layout: str, target: str) -> np.ndarray:
    """The same poses in another joint order: ``mediapipe33`` -> ``coco17`` keeps the 17 joints both
    have; anything -> itself is a copy. The reverse cannot be made up and is an error."""
    if layout == target:
        return np.array(keypoints)
    if layout == "mediapipe33" and target == "coco17":
        return np.asarray(keypoints)[:, MEDIAPIPE_TO_COCO]
    raise UserError(f"keypoints in layout {layout}: cannot be turned into {target} "
                    "(only mediapipe33 -> coco17 exists); train the classifier with --layout coco17")


@dataclass
class PoseSequence:
    keypoints: np.ndarray  # (T, K, C)
    fps: float
    layout: str
    confidence: np.ndarray | None = None  # (T,)
    visibility: np.ndarray | None = None  # (T, K)
    presence: np.ndarray | None = None  # (T, K)
    roi_source: np.ndarray | None = None  # (T,)
    image_size: tuple[int, int] | None = None
    source: str = ""
    backend: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, np.float32)
        if self.layout not in JOINT_NAMES:
            raise UserError(f"{self.source or 'poses'}: unknown layout {self.layout!r}; "
                            f"expected one of {', '.join(JOINT_NAMES)}")
        k = len(JOINT_NAMES[self.layout])
        if self.keypoints.ndim != 3 or self.keypoints.shape[1] != k or self.keypoints.shape[2] not in (2, 3):
            raise UserError(f"{self.source or 'poses'}: keypoints of shape {self.keypoints.shape}; "
                            f"expected (frames, {k}, 2 or 3) for {self.layout}")
        # A joint is either fully there or fully missing: no half-NaN points.
        missing = ~np.isfinite(self.keypoints).all(-1)
        self.keypoints[missing] = np.nan
        if self.visibility is not None:
            self.visibility = np.asarray(self.visibility, np.float32).copy()
            self.visibility[missing] = np.nan

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def detected(self) -> np.ndarray:
        """(T,) True where at least one joint was found."""
        return np.isfinite(self.keypoints[..., 0]).any(axis=1)

    def summary(self) -> str:
        rate = self.detected.mean() if self.num_frames else 0.0
        return (f"{self.num_frames} frames at {self.fps:g} fps, {self.layout} ({self.keypoints.shape[2]} channels), "
                f"pose found in {rate:.0%} of frames" + (f"; {self.extra['note']}" if self.extra.get("note") else ""))

    def to_arrays(self) -> dict:
        arrays = {"version": np.int32(FORMAT_VERSION), "keypoints": self.keypoints, "fps": np.float64(self.fps),
                  "layout": np.array(self.layout), "source": np.array(self.source),
                  "backend": np.array(self.backend)}
        for name in ("confidence", "visibility", "presence"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value, np.float32)
        if self.roi_source is not None:
            arrays["roi_source"] = np.asarray(self.roi_source, np.int8)
        if self.image_size is not None:
            arrays["image_size"] = np.asarray(self.image_size, np.int32)
        return arrays


def save_poses(path: str | os.PathLike, poses: PoseSequence) -> Path:
    """Write ``poses`` as a compressed ``.npz`` atomically (nothing half-written at ``path``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:  # a handle: numpy would append ".npz" to the temp name
            np.savez_compressed(handle, **poses.to_arrays())
    return path


def split_score_channel(points: np.ndarray, path) -> tuple[np.ndarray, np.ndarray | None]:
    """(T, 17, 3) -> ((T, 17, 2) and scores (T, 17)) when the third channel is a score (every value
    in [0, 1], as ViTPose/COCO exports store it), else unchanged (a depth)."""
    third = points[..., 2]
    finite = third[np.isfinite(third)]
    if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
        return np.ascontiguousarray(points[..., :2]), third.astype(np.float32)
    return points, None


# RepCount pose files record no frame rate; most of their source videos run at 25-30 fps.
REPCOUNT_FPS = 30.0


def read_repcount(path: str | os.PathLike, fps: float | None = None) -> PoseSequence:
    """A RepCount pose ``.npy`` (RepCount-Using-Skeleton-Information): ``(frames, 104)`` float, the
    33 BlazePose landmarks x, y, z min-max normalised per frame (columns 0-98), then five joint
    angles (ignored). An all-zero row is a frame where nobody was found: it becomes NaN here and
    its confidence 0. ``fps`` None: ``REPCOUNT_FPS``, said in ``extra["note"]``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such RepCount pose file")
    try:
        rows = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable .npy ({exc})") from exc
    if rows.ndim != 2 or rows.shape[1] < 99:
        raise UserError(f"{path}: array of shape {rows.shape}; a RepCount pose file is (frames, 104)")
    nobody = ~np.any(rows != 0, axis=1)
    keypoints = rows[:, :99].reshape(len(rows), 33, 3).astype(np.float32)
    keypoints[nobody] = np.nan
    extra = {} if fps else {"note": f"frame rate not recorded: {REPCOUNT_FPS:g} fps assumed (pass --fps)"}
    return PoseSequence(keypoints, float(fps or REPCOUNT_FPS), "mediapipe33",
                        confidence=(~nobody).astype(np.float32), source=str(path), backend="repcount", extra=extra)


def load_poses(path: str | os.PathLike) -> tuple[np.ndarray, float, str]:
    """``(keypoints (T, K, C), fps, layout)`` from a poses ``.npz`` or a RepCount ``.npy``.

    Reads our own files (``keypoints``, ``fps``, ``layout``), the generated corpus's (COCO-17
    ``keypoints``), ViTPose-style exports with a ``reconstruction`` array ``(T, 17, 3)``, and
    RepCount pose files (``read_repcount``: min-max normalised shapes, 30 fps assumed).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such poses file (write one with `movinet-crossfit poses`)")
    if path.suffix.lower() == ".npy":
        poses = read_repcount(path)
        return poses.keypoints.astype(np.float64), poses.fps, poses.layout
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable .npz ({exc})") from exc
    key = next((k for k in ("keypoints", "reconstruction", "poses") if k in data.files), None)
    if key is None:
        raise UserError(f"{path}: no 'keypoints' (or 'reconstruction') array; holds {', '.join(data.files)}")
    points = np.asarray(data[key], np.float64)
    if points.ndim == 4:  # (1, T, K, C) as some exporters write
        points = points[0]
    layout = str(data["layout"]) if "layout" in data.files else {17: "coco17", 33: "mediapipe33"}.get(
        points.shape[1] if points.ndim == 3 else -1, "")
    if not layout:
        raise UserError(f"{path}: keypoints of shape {points.shape}; cannot tell the layout (17 or 33 joints)")
    fps = float(data["fps"]) if "fps" in data.files else 0.0
    return points, fps, layout


def read_poses(path: str | os.PathLike) -> PoseSequence:
    """A poses ``.npz`` (ours, the generated corpus's, or a ViTPose ``reconstruction`` export) with
    every array it holds (a RepCount ``.npy``: ``read_repcount``). Keypoints, fps and layout come
    from ``load_poses``."""
    path = Path(path)
    if path.suffix.lower() == ".npy" and path.is_file():
        return read_repcount(path)
    keypoints, fps, layout = load_poses(path)
    data = np.load(path, allow_pickle=False)
    optional = {name: data[name] for name in ("confidence", "visibility", "presence", "roi_source")
                if name in data.files}
    if "keypoints" not in data.files and keypoints.shape[-1] == 3:
        # A ViTPose/COCO export: the third channel is the estimator's score.
        keypoints, score = split_score_channel(keypoints, path)
        if score is not None:
            optional["visibility"] = score
    size = tuple(int(v) for v in data["image_size"]) if "image_size" in data.files else None
    text = {name: str(data[name]) for name in ("source", "backend") if name in data.files}
    return PoseSequence(keypoints, fps, layout, image_size=size, **optional,
                        source=text.get("source", str(path)), backend=text.get("backend", ""))


def keypoint_errors(detected: np.ndarray, layout: str, true: np.ndarray, true_layout: str = "coco17") -> dict:
    """How close detected joints are to known ones, on the joints both layouts have.

    Errors are in torso lengths of the true pose (shoulder centre to hip centre, per frame), so
    the numbers do not depend on the picture's size. ``detected_frames``: share of frames with a
    pose; the other numbers are over detected frames: median error, PCK (share of joints within
    0.2 / 0.5 torso lengths) and the median error per joint.
    """
    target = "coco17" if "coco17" in (layout, true_layout) else layout
    found = convert_layout(np.asarray(detected, np.float64), layout, target)[..., :2]
    truth = convert_layout(np.asarray(true, np.float64), true_layout, target)[..., :2]
    if len(found) != len(truth):
        raise ValueError(f"{len(found)} detected frames for {len(truth)} true ones")
    names = JOINT_NAMES[target]
    hips = [names.index("l_hip"), names.index("r_hip")]
    shoulders = [names.index("l_shoulder"), names.index("r_shoulder")]
    torso = np.linalg.norm(truth[:, shoulders].mean(1) - truth[:, hips].mean(1), axis=-1)
    error = np.linalg.norm(found - truth, axis=-1) / np.maximum(torso, 1e-9)[:, None]  # (T, K)
    seen = np.isfinite(found).all(-1).any(-1)
    valid = error[seen]
    finite = valid[np.isfinite(valid)]
    return {"frames": int(len(found)), "detected_frames": float(seen.mean()) if len(seen) else 0.0,
            "median_error": float(np.median(finite)) if finite.size else None,
            "pck_0.2": float((finite < 0.2).mean()) if finite.size else None,
            "pck_0.5": float((finite < 0.5).mean()) if finite.size else None,
            "per_joint_median": {name: (float(np.nanmedian(valid[:, k])) if np.isfinite(valid[:, k]).any() else None)
                                 for k, name in enumerate(names)}}
