"""People in the picture who are not the athlete: a judge standing beside the bar, a spectator
walking across. They make the generated scenes as crowded as real gym footage, so that choosing the
athlete (``pose.people``) can be tested where the truth is known: the ground truth and the
keypoints stay the athlete's.

A bystander is placed in picture coordinates (a share of the frame's width), so that it stays in
view whatever the camera's zoom on the athlete; it is drawn with the athlete's figure and colours.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movinet_crossfit.synthetic import figure, scene

# A walker's step: thighs swing this many degrees either way, once a second.
STEP_DEGREES, STEP_SECONDS = 28.0, 1.0


@dataclass(frozen=True)
class Bystander:
    """``place``: where in the picture (0 = left edge, 1 = right edge). ``to``: None for someone
    standing still (a judge, who shifts weight a little); otherwise a spectator walking from
    ``place`` to ``to`` over the whole video. ``heading``: which way the body faces (degrees)."""

    place: float = 0.85
    to: float | None = None
    heading: float = 0.0

    @property
    def walking(self) -> bool:
        return self.to is not None


def bystander_params(person: Bystander, look: scene.Look, frames: int, fps: float) -> np.ndarray:
    """Pose rows ``(frames, len(figure.PARAMS))`` of one bystander, in the athlete's world metres."""
    from movinet_crossfit.synthetic.timeline import stand_row

    width, _ = look.size
    t = np.arange(frames) / fps
    share = np.full(frames, person.place) if not person.walking else \
        person.place + (person.to - person.place) * np.arange(frames) / max(frames - 1, 1)
    if look.mirror:  # to_pixels mirrors the picture: place the body where it will be seen
        share = 1.0 - share
    x = (share * width - width / 2) / np.asarray(look.scale, np.float64)
    rows = np.stack([stand_row(float(xi), person.heading) for xi in x])
    if person.walking:
        swing = STEP_DEGREES * np.sin(2 * np.pi * t / STEP_SECONDS)
        rows[:, figure.P["l_th"]] += swing
        rows[:, figure.P["r_th"]] -= swing
        rows[:, figure.P["l_sh"]] += np.clip(-swing, 0, None) * 1.2
        rows[:, figure.P["r_sh"]] += np.clip(swing, 0, None) * 1.2
        rows[:, figure.P["l_ua"]] -= 0.6 * swing
        rows[:, figure.P["r_ua"]] += 0.6 * swing
    else:  # a judge shifts weight and moves the arms a little, slowly and irregularly
        sway = 3.0 * np.sin(2 * np.pi * t / 7.3) + 2.0 * np.sin(2 * np.pi * t / 3.1 + 1.0)
        rows[:, figure.P["trunk"]] += sway
        rows[:, figure.P["l_ua"]] += 2 * sway
    rows[:, figure.P["py"]] = -figure.lowest_contact(figure.forward_kinematics(rows))
    return rows


def bystander_primitives(rows: np.ndarray, frame: int, thickness: float) -> list[tuple]:
    """Drawing primitives of a bystander at ``frame`` (drawn behind the athlete)."""
    joints = figure.forward_kinematics(rows[frame:frame + 1])[0]
    return [(depth - 10.0, *rest) for depth, *rest in figure.figure_primitives(joints, thickness)]
