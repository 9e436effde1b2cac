"""The articulated figure: proportions, forward kinematics, COCO-17 keypoints and its drawing.

Coordinates are metres in a right-handed frame: ``x`` to the right of the picture, ``y`` up
(the floor is ``y = 0``), ``z`` toward the camera. The camera is orthographic, so a point's
picture position is its ``(x, y)`` and ``z`` only orders what is drawn over what.

A pose is one row of ``PARAMS``: the pelvis position, the body's heading (a rotation about
the vertical axis; 0 faces ``+x``) and *absolute* segment angles in degrees in the body's
sagittal plane, measured from straight down toward the front: 0 points down, 90 forward,
180 up, 270 (or -90) backward. Absolute angles make keyframes easy to read ("forearm
vertical" is 180 whatever the trunk does) and make interpolation between poses well behaved.
The body's right side is ``+z`` when it faces ``+x``.
"""
from __future__ import annotations

import numpy as np

TRUNK = 0.52  # pelvis -> shoulder line
NECK = 0.24  # shoulder line -> head centre
HEAD_R = 0.11
UPPER_ARM = 0.30
FOREARM = 0.28
THIGH = 0.44
SHIN = 0.43
FOOT = 0.20
HEEL = 0.07  # ankle height above the sole
SHOULDER_HALF = 0.19
HIP_HALF = 0.11
CONTACT_RADIUS = 0.05  # half a limb's thickness, for "what touches the floor"

PARAMS = ("px", "py", "pz", "heading", "trunk", "neck",
          "l_ua", "l_fa", "r_ua", "r_fa", "l_th", "l_sh", "l_ft", "r_th", "r_sh", "r_ft", "armz")
P = {name: i for i, name in enumerate(PARAMS)}
ANGLES = PARAMS[4:16]

JOINTS = ("pelvis", "neck", "head",
          "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
          "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
          "l_toe", "r_toe", "l_heel", "r_heel",
          "nose", "l_eye", "r_eye", "l_ear", "r_ear")
J = {name: i for i, name in enumerate(JOINTS)}

COCO17 = ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
          "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")
COCO17_INDEX = np.array([J[name] for name in COCO17])
# Index permutation that swaps every left/right pair of COCO-17 (used when the picture is mirrored).
COCO17_FLIP = np.array([COCO17.index(name.replace("l_", "#").replace("r_", "l_").replace("#", "r_"))
                        for name in COCO17])

# Points that can rest on the floor, with how far the body's surface lies below each.
_CONTACTS = (("l_toe", 0.0), ("r_toe", 0.0), ("l_heel", 0.0), ("r_heel", 0.0),
             ("l_wrist", 0.02), ("r_wrist", 0.02), ("l_knee", CONTACT_RADIUS), ("r_knee", CONTACT_RADIUS),
             ("l_elbow", CONTACT_RADIUS), ("r_elbow", CONTACT_RADIUS), ("head", HEAD_R),
             ("neck", 0.08), ("pelvis", 0.08))
_CONTACT_INDEX = np.array([J[name] for name, _ in _CONTACTS])
_CONTACT_DEPTH = np.array([depth for _, depth in _CONTACTS])


def direction(degrees) -> np.ndarray:
    """Unit vector(s) ``(x, y)`` of a sagittal angle: 0 down, 90 forward, 180 up."""
    a = np.radians(degrees)
    return np.stack([np.sin(a), -np.cos(a)], axis=-1)


def body_frame(params: np.ndarray) -> np.ndarray:
    """Joint positions ``(T, len(JOINTS), 3)`` relative to the pelvis, before heading is applied."""
    params = np.atleast_2d(params)
    T = len(params)
    out = np.zeros((T, len(JOINTS), 3))

    def angle(name):
        return params[:, P[name]]

    neck = TRUNK * direction(angle("trunk"))
    head_axis = angle("trunk") + angle("neck")
    head = neck + NECK * direction(head_axis)
    out[:, J["neck"], :2] = neck
    out[:, J["head"], :2] = head
    armz = params[:, P["armz"]]
    for side, sign in (("l", -1.0), ("r", 1.0)):
        elbow = neck + UPPER_ARM * direction(angle(f"{side}_ua"))
        wrist = elbow + FOREARM * direction(angle(f"{side}_fa"))
        knee = THIGH * direction(angle(f"{side}_th"))
        ankle = knee + SHIN * direction(angle(f"{side}_sh"))
        foot = angle(f"{side}_ft")
        toe = ankle + FOOT * direction(foot)
        heel = ankle + HEEL * direction(foot - 90) - 0.03 * direction(foot)
        for name, xy, z in ((f"{side}_shoulder", neck, SHOULDER_HALF),
                            (f"{side}_elbow", elbow, SHOULDER_HALF + 0.5 * armz),
                            (f"{side}_wrist", wrist, SHOULDER_HALF + armz),
                            (f"{side}_hip", 0.0, HIP_HALF), (f"{side}_knee", knee, HIP_HALF),
                            (f"{side}_ankle", ankle, HIP_HALF), (f"{side}_toe", toe, HIP_HALF),
                            (f"{side}_heel", heel, HIP_HALF)):
            out[:, J[name], :2] = xy
            out[:, J[name], 2] = sign * z
    forward = direction(head_axis - 90)
    up = direction(head_axis)
    out[:, J["nose"], :2] = head + 0.95 * HEAD_R * forward
    for side, sign in (("l", -1.0), ("r", 1.0)):
        out[:, J[f"{side}_eye"], :2] = head + HEAD_R * (0.6 * forward + 0.3 * up)
        out[:, J[f"{side}_eye"], 2] = sign * 0.35 * HEAD_R
        out[:, J[f"{side}_ear"], :2] = head + HEAD_R * (-0.15 * forward + 0.05 * up)
        out[:, J[f"{side}_ear"], 2] = sign * 0.9 * HEAD_R
    return out


def rotate_y(points: np.ndarray, heading) -> np.ndarray:
    """Rotate ``(..., 3)`` points about the vertical axis; heading 0 leaves them, pi turns them round."""
    heading = np.asarray(heading, dtype=float)
    c, s = np.cos(heading), np.sin(heading)
    while c.ndim < points.ndim - 1:
        c, s = c[..., None], s[..., None]
    x, z = points[..., 0], points[..., 2]
    out = points.copy()
    out[..., 0] = x * c - z * s
    out[..., 2] = x * s + z * c
    return out


def forward_kinematics(params: np.ndarray) -> np.ndarray:
    """World joint positions ``(T, len(JOINTS), 3)`` of pose rows ``(T, len(PARAMS))``."""
    params = np.atleast_2d(params)
    rel = rotate_y(body_frame(params), params[:, P["heading"]])
    return rel + params[:, None, P["px"]:P["pz"] + 1]


def lowest_contact(joints: np.ndarray) -> np.ndarray:
    """Height of the body's lowest surface point, per frame, from joint positions ``(T, J, 3)``."""
    return (joints[:, _CONTACT_INDEX, 1] - _CONTACT_DEPTH).min(axis=1)


# --- drawing -------------------------------------------------------------------------------

# (first joint, second joint, width as a multiple of the limb thickness, colour key)
_LIMBS = (("l_shoulder", "l_elbow", 1.0, "shirt"), ("l_elbow", "l_wrist", 0.85, "skin"),
          ("r_shoulder", "r_elbow", 1.0, "shirt"), ("r_elbow", "r_wrist", 0.85, "skin"),
          ("l_hip", "l_knee", 1.15, "shorts"), ("l_knee", "l_ankle", 0.95, "skin"),
          ("l_ankle", "l_toe", 0.8, "shoes"),
          ("r_hip", "r_knee", 1.15, "shorts"), ("r_knee", "r_ankle", 0.95, "skin"),
          ("r_ankle", "r_toe", 0.8, "shoes"))
_LIMB_INDEX = [(J[a], J[b], w, c) for a, b, w, c in _LIMBS]


def figure_primitives(joints: np.ndarray, thickness: float) -> list[tuple]:
    """Drawing primitives of one frame's figure: ``(depth, kind, geometry..., colour key)``.

    The trunk is one thick stroke between the hip and shoulder lines; limbs are round-capped
    strokes; the far side is drawn in a darker shade so the two legs stay apart in a side view.
    """
    prims: list[tuple] = []
    centre_z = joints[J["pelvis"], 2]
    for a, b, width, colour in _LIMB_INDEX:
        pa, pb = joints[a], joints[b]
        depth = 0.5 * (pa[2] + pb[2])
        shade = colour if depth >= centre_z else colour + "_far"
        prims.append((depth, "line", np.stack([pa[:2], pb[:2]]), width * thickness, shade))
    pelvis, neck, head = joints[J["pelvis"]], joints[J["neck"]], joints[J["head"]]
    hip_mid = pelvis[:2]
    trunk = np.stack([hip_mid + 0.12 * (neck[:2] - hip_mid), neck[:2] - 0.05 * (neck[:2] - hip_mid)])
    prims.append((centre_z, "line", trunk, 1.9 * thickness, "shirt"))
    prims.append((centre_z + 0.001, "line", np.stack([hip_mid, hip_mid + 0.3 * (neck[:2] - hip_mid)]),
                  1.75 * thickness, "shorts"))
    prims.append((centre_z + 0.002, "line", np.stack([neck[:2], neck[:2] + 0.6 * (head[:2] - neck[:2])]),
                  0.7 * thickness, "skin"))
    prims.append((centre_z + 0.003, "circle", head[:2], HEAD_R, "skin"))
    # Hair on the back of the head tells which way the figure faces, as a face would.
    back = 2 * head - joints[J["nose"]]
    prims.append((centre_z + 0.004, "circle", head[:2] + 0.45 * (back[:2] - head[:2]), 0.75 * HEAD_R, "hair"))
    return prims
