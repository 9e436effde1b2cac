"""BlazePose (MediaPipe Pose, full model) on LiteRT: the MediaPipe graph re-implemented in numpy.

Per frame, as ``mediapipe/modules/pose_landmark/pose_landmark_cpu.pbtxt`` does it:

1. **Detector** (only when nothing is tracked): the frame letterboxed into 224x224, values in
   [-1, 1]; 2254 SSD anchors (strides 8, 16, 32, 32, 32; two anchors of size 1 per cell); boxes
   and 4 keypoints decoded against the anchors (scale 224), scores through a sigmoid (clipped at
   +-100), kept over ``min_detection_score``; weighted non-maximum suppression (IoU 0.3); the
   letterbox removed. Keypoint 0 is the mid-hip centre, keypoint 1 encodes the body's size and
   rotation.
2. **ROI**: centred on the hip centre, side 2 x |kp1 - kp0| x 1.25 (square in pixels), rotated so
   that kp0 -> kp1 points up (target angle 90 degrees).
3. **Landmarks**: the ROI warped (rotation included) into 256x256, values in [0, 1]; 39 landmarks
   of (x, y, z, visibility, presence) in crop pixels, sigmoid on visibility and presence; x, y
   refined from the 64x64 heatmaps (7x7 window, sigmoid weights, when the window's peak >= 0.5);
   projected back to image pixels through the ROI. The pose flag (already a probability) under
   ``min_tracking_score`` means no pose: the frame is NaN and the next frame runs the detector.
4. **Tracking**: landmarks 33 (hip centre) and 34 (size/rotation point) give the next frame's ROI
   the same way the detector's keypoints do.

What MediaPipe does that this does not: its landmark smoothing filter (one-euro; the counter and
the classifiers cope with jitter themselves) and the segmentation mask. Tensor shapes are checked
against the model files when they are loaded.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movinet_crossfit.core.errors import UserError

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_ANCHORS = 2254
NUM_LANDMARKS = 33
NUM_ALL_LANDMARKS = 39  # 33 + 2 auxiliary (hip centre, size/rotation point) + 4 unused
ROI_SCALE = 1.25
NMS_IOU = 0.3
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
REPEATED = 3  # FramePose.roi_source of a camera's repeated frame: the pose before it, not looked for


@dataclass
class Roi:
    """A square region in image pixels: centre, side, rotation (radians, clockwise in the image)."""

    cx: float
    cy: float
    size: float
    rotation: float

    def crop_matrix(self, out_size: int) -> np.ndarray:
        """2x3 affine from output pixel (u, v) to source pixel (cv2 convention, pixel centres at integers)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.size / out_size
        # source = centre + R @ (k * (u + 0.5) - size / 2), then -0.5 to cv2's integer-centred pixels
        linear = np.array([[c * k, -s * k], [s * k, c * k]])
        offset = np.array([self.cx, self.cy]) + linear @ np.array([0.5, 0.5]) \
            - np.array([[c, -s], [s, c]]) @ np.array([self.size / 2, self.size / 2]) - 0.5
        return np.concatenate([linear, offset[:, None]], axis=1)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Points normalised to the ROI ([0, 1] across it) -> image pixels (continuous coordinates)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        offsets = (np.asarray(points, np.float64) - 0.5) * self.size
        x = c * offsets[..., 0] - s * offsets[..., 1] + self.cx
        y = s * offsets[..., 0] + c * offsets[..., 1] + self.cy
        return np.stack([x, y], axis=-1)


def ssd_anchors() -> np.ndarray:
    """(2254, 2) anchor centres in [0, 1], as MediaPipe's SsdAnchorsCalculator with the pose options
    (num_layers 5, strides 8/16/32/32/32, aspect ratio 1 + one interpolated, fixed anchor size)."""
    strides = (8, 16, 32, 32, 32)
    centres = []
    layer = 0
    while layer < len(strides):
        # Layers with the same stride share a feature map; each layer adds 2 anchors per cell.
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = 2 * (last - layer)
        cells = math.ceil(DETECTOR_SIZE / strides[layer])
        for y in range(cells):
            for x in range(cells):
                centres.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell)
        layer = last
    anchors = np.array(centres, np.float64)
    assert len(anchors) == NUM_ANCHORS, len(anchors)
    return anchors


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                      min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` as (xmin, ymin, xmax, ymax), keypoints ``(N, 4, 2)`` and scores ``(N,)``, all
    normalised to the 224x224 input, for the anchors scoring at least ``min_score``."""
    scores = sigmoid(np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0))
    keep = np.flatnonzero(scores >= min_score)
    raw = raw_boxes.reshape(-1, 12)[keep].astype(np.float64) / DETECTOR_SIZE
    centre = anchors[keep]
    # reverse_output_order: the model writes x before y
    cx = raw[:, 0] + centre[:, 0]
    cy = raw[:, 1] + centre[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keypoints = raw[:, 4:12].reshape(-1, 4, 2) + centre[:, None, :]
    return boxes, keypoints, scores[keep]


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = NMS_IOU) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's WEIGHTED non-maximum suppression: each kept detection is the score-weighted mean
    of the boxes and keypoints overlapping the best remaining one by more than ``iou_threshold``;
    its score stays the best one's. Best first."""
    order = np.argsort(-scores, kind="stable")
    remaining = order
    kept = []
    while len(remaining):
        top = remaining[0]
        overlap = _iou(boxes[top], boxes[remaining])
        members = remaining[overlap > iou_threshold]
        if top not in members:  # a degenerate box overlaps nothing, not even itself
            members = np.append(members, top)
        weights = scores[members] / scores[members].sum()
        kept.append(((boxes[members] * weights[:, None]).sum(0),
                     (keypoints[members] * weights[:, None, None]).sum(0), float(scores[top])))
        remaining = remaining[~np.isin(remaining, members)]
    return kept


def roi_from_alignment(centre: np.ndarray, scale_point: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """MediaPipe's AlignmentPointsRectsCalculator + RectTransformationCalculator (square_long), in
    pixels: side = 2 |scale_point - centre| x scale, rotation turning centre -> scale_point upright."""
    dx, dy = float(scale_point[0] - centre[0]), float(scale_point[1] - centre[1])
    size = 2.0 * math.hypot(dx, dy) * scale
    rotation = math.pi / 2 - math.atan2(-dy, dx)
    rotation = rotation - 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
    return Roi(float(centre[0]), float(centre[1]), size, rotation)


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL,
                        min_confidence: float = HEATMAP_MIN_CONFIDENCE) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator: ``xy`` (N, 2) normalised to the crop,
    ``heatmap`` (H, W, N) raw logits. All landmarks at once (one gather of their ``kernel`` x
    ``kernel`` windows): a loop over the 39 landmarks cost ~7 ms a frame, half a landmark invoke."""
    height, width, _ = heatmap.shape
    out = np.array(xy, np.float64)
    offset = (kernel - 1) // 2
    with np.errstate(invalid="ignore"):
        # trunc, not floor: MediaPipe's int cast, so a point just left of the map is still on it
        cols, rows = np.trunc(out[:, 0] * width), np.trunc(out[:, 1] * height)
        inside = np.flatnonzero((cols >= 0) & (cols < width) & (rows >= 0) & (rows < height))
    if not len(inside):
        return out
    steps = np.arange(-offset, offset + 1)
    r = rows[inside].astype(np.int64)[:, None] + steps  # (n, kernel): the window's rows
    c = cols[inside].astype(np.int64)[:, None] + steps
    logits = heatmap[np.clip(r, 0, height - 1)[:, :, None], np.clip(c, 0, width - 1)[:, None, :],
                     inside[:, None, None]]
    # cells off the map count for nothing (MediaPipe clips the window to the map)
    on_map = ((r >= 0) & (r < height))[:, :, None] & ((c >= 0) & (c < width))[:, None, :]
    confidence = np.where(on_map, sigmoid(logits.astype(np.float64)), 0.0)
    total = confidence.sum(axis=(1, 2))
    refined = (confidence.max(axis=(1, 2)) >= min_confidence) & (total > 0)
    total = np.where(refined, total, 1.0)
    x = (confidence * c[:, None, :]).sum(axis=(1, 2)) / width / total
    y = (confidence * r[:, :, None]).sum(axis=(1, 2)) / height / total
    out[inside[refined], 0] = x[refined]
    out[inside[refined], 1] = y[refined]
    return out


def _check_tensors(interpreter, path: Path, inputs: list[tuple], outputs: list[tuple]) -> None:
    found_in = [tuple(d["shape"]) for d in interpreter.get_input_details()]
    found_out = sorted(tuple(d["shape"]) for d in interpreter.get_output_details())
    if found_in != inputs or found_out != sorted(outputs):
        raise UserError(f"{path}: tensors in {found_in} / out {found_out}, expected in {inputs} / out {outputs}; "
                        "this is not the BlazePose model this code decodes (use the files from mediapipe 0.10.21)")


@dataclass
class FramePose:
    """One frame's result. ``keypoints`` (33, 3): x, y in image pixels, z in pixels of the same scale
    (relative depth, smaller = nearer the camera, hips at about 0); NaN when no pose was found."""

    keypoints: np.ndarray
    visibility: np.ndarray  # (33,) 0..1, NaN when no pose
    presence: np.ndarray  # (33,) 0..1, NaN when no pose
    score: float  # pose flag of the landmark model (0..1); 0 when the detector found nobody
    roi_source: int  # 0 none, 1 from the detector, 2 tracked from the previous frame, 3 REPEATED


class BlazePose:
    """Stateful per-video pose tracker; ``reset()`` before a new video."""

    name = "blazepose"
    layout = "mediapipe33"

    def __init__(self, model_dir: str | os.PathLike | None = None, *, min_detection_score: float = 0.5,
                 min_tracking_score: float = 0.5, refine: bool = True, num_threads: int | None = None):
        from movinet_crossfit.core.tflite import make_interpreter
        from movinet_crossfit.pose.model_files import DETECTOR, LANDMARKER, model_dir as find_models

        folder = find_models(model_dir)
        self.detector = make_interpreter(folder / DETECTOR, num_threads=num_threads)
        self.landmarker = make_interpreter(folder / LANDMARKER, num_threads=num_threads)
        for interpreter in (self.detector, self.landmarker):
            interpreter.allocate_tensors()
        _check_tensors(self.detector, folder / DETECTOR, [(1, DETECTOR_SIZE, DETECTOR_SIZE, 3)],
                       [(1, NUM_ANCHORS, 12), (1, NUM_ANCHORS, 1)])
        _check_tensors(self.landmarker, folder / LANDMARKER, [(1, LANDMARK_SIZE, LANDMARK_SIZE, 3)],
                       [(1, NUM_ALL_LANDMARKS * 5), (1, 1), (1, LANDMARK_SIZE, LANDMARK_SIZE, 1),
                        (1, 64, 64, NUM_ALL_LANDMARKS), (1, NUM_ALL_LANDMARKS * 3)])
        self._det_in = self.detector.get_input_details()[0]["index"]
        det_out = {tuple(d["shape"]): d["index"] for d in self.detector.get_output_details()}
        self._det_boxes, self._det_scores = det_out[(1, NUM_ANCHORS, 12)], det_out[(1, NUM_ANCHORS, 1)]
        self._lm_in = self.landmarker.get_input_details()[0]["index"]
        lm_out = {tuple(d["shape"]): d["index"] for d in self.landmarker.get_output_details()}
        self._lm_points = lm_out[(1, NUM_ALL_LANDMARKS * 5)]
        self._lm_flag = lm_out[(1, 1)]
        self._lm_heatmap = lm_out[(1, 64, 64, NUM_ALL_LANDMARKS)]
        self.anchors = ssd_anchors()
        self.min_detection_score = min_detection_score
        self.min_tracking_score = min_tracking_score
        self.refine = refine
        self.reset()

    def reset(self) -> None:
        self._roi: Roi | None = None
        self._last: FramePose | None = None  # what the last frame gave (``repeat``)

    # --- the two models ----------------------------------------------------------------------

    def detect(self, image: np.ndarray, region: Roi | None = None) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Person detections in image pixels: (box (4,), keypoints (4, 2), score), best first.
        ``region``: the square the detector looks at (default: the whole frame, letterboxed)."""
        import cv2

        height, width = image.shape[:2]
        if region is None:
            region = Roi(width / 2, height / 2, float(max(width, height)), 0.0)
        tensor = cv2.warpAffine(image, region.crop_matrix(DETECTOR_SIZE), (DETECTOR_SIZE, DETECTOR_SIZE),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0)
        self.detector.set_tensor(self._det_in, (tensor.astype(np.float32) / 127.5 - 1.0)[None])
        self.detector.invoke()
        boxes, keypoints, scores = decode_detections(self.detector.get_tensor(self._det_boxes),
                                                     self.detector.get_tensor(self._det_scores),
                                                     self.anchors, self.min_detection_score)
        found = []
        for box, points, score in weighted_nms(boxes, keypoints, scores):
            corners = region.to_image(box.reshape(2, 2)).reshape(4)
            found.append((corners, region.to_image(points), score))
        return found

    def detect_everyone(self, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """``detect`` on the whole frame and on overlapping squares along its long side (a square as
        tall as the frame, every half height): people far from the camera, a few pixels tall in the
        224-pixel view of the whole frame, are found at twice the scale. Merged by weighted NMS."""
        height, width = image.shape[:2]
        side, long = float(min(width, height)), max(width, height)
        regions = [None]
        if long > 1.25 * side:
            steps = max(1, int(math.ceil((long - side) / (side / 2))))
            for k in range(steps + 1):
                offset = side / 2 + k * (long - side) / steps
                cx, cy = (offset, height / 2) if width >= height else (width / 2, offset)
                regions.append(Roi(cx, cy, side, 0.0))
        found = [d for region in regions for d in self.detect(image, region)]
        if len(regions) == 1 or not found:
            return found
        boxes = np.stack([d[0] for d in found])
        points = np.stack([d[1] for d in found])
        scores = np.array([d[2] for d in found])
        return weighted_nms(boxes, points, scores)

    def landmarks(self, image: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """(39, 5) landmarks in image pixels (x, y, z, visibility, presence) and the pose flag."""
        import cv2

        crop = cv2.warpAffine(image, roi.crop_matrix(LANDMARK_SIZE), (LANDMARK_SIZE, LANDMARK_SIZE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0)
        self.landmarker.set_tensor(self._lm_in, (crop.astype(np.float32) / 255.0)[None])
        self.landmarker.invoke()
        raw = self.landmarker.get_tensor(self._lm_points).reshape(NUM_ALL_LANDMARKS, 5).astype(np.float64)
        flag = float(self.landmarker.get_tensor(self._lm_flag).reshape(()))
        xy = raw[:, :2] / LANDMARK_SIZE
        if self.refine:
            xy = refine_from_heatmap(xy, self.landmarker.get_tensor(self._lm_heatmap)[0])
        out = np.empty((NUM_ALL_LANDMARKS, 5))
        out[:, :2] = roi.to_image(xy)
        out[:, 2] = raw[:, 2] / LANDMARK_SIZE * roi.size
        out[:, 3] = sigmoid(raw[:, 3])
        out[:, 4] = sigmoid(raw[:, 4])
        return out, flag

    # --- the tracker ---------------------------------------------------------------------------

    def __call__(self, image: np.ndarray) -> FramePose:
        """One RGB uint8 frame (H, W, 3) of the video being tracked."""
        self._last = self._track(np.ascontiguousarray(image[..., :3], dtype=np.uint8))
        return self._last

    def repeat(self) -> FramePose:
        """The frame just tracked, again (a camera's repeat, ``analysis.live``): its pose, marked
        ``REPEATED``, without running the models."""
        if self._last is None or not self._last.roi_source:
            return no_pose(0.0)
        return dataclasses.replace(self._last, roi_source=REPEATED)

    def _track(self, image: np.ndarray) -> FramePose:
        source = 2
        roi = self._roi
        if roi is None:
            detections = self.detect(image)
            if not detections:
                return no_pose(0.0)
            _, points, _ = detections[0]
            roi = roi_from_alignment(points[0], points[1])
            source = 1
        points, flag = self.landmarks(image, roi)
        if flag < self.min_tracking_score:
            self._roi = None
            if source == 2:  # lost the track: look again in this very frame
                return self._track(image)
            return no_pose(flag)
        self._roi = roi_from_alignment(points[33, :2], points[34, :2])
        body = points[:NUM_LANDMARKS]
        return FramePose(body[:, :3].astype(np.float32), body[:, 3].astype(np.float32),
                         body[:, 4].astype(np.float32), flag, source)


def no_pose(score: float) -> FramePose:
    nan = np.full(NUM_LANDMARKS, np.nan, np.float32)
    return FramePose(np.full((NUM_LANDMARKS, 3), np.nan, np.float32), nan, nan.copy(), float(score), 0)
