"""What judging returns: one ``Check`` per standard of a movement, one ``RepVerdict`` per rep, and
``MovementGuess`` for the movement recognised from poses. Frames here are pose-sequence indices;
the analysis (``analysis.footage``) turns them into video frames and seconds."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Check:
    """One standard on one rep. ``passed``: True, False, or None when it cannot be told (a joint
    hidden, a camera angle that hides it); ``detail`` says why in words."""

    id: str  # the standard's id in the standards file ("depth", "lockout", ...)
    text: str  # the standard in words
    passed: bool | None
    frame: int | None = None  # the frame that decided (best frame when passed, closest miss when failed)
    value: float | None = None  # the measured margin (>= 0 passes), in the condition's units
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RepVerdict:
    """One repetition judged. ``valid`` True (every standard met), False (one failed: ``reason``
    names it), None (none failed but at least one could not be checked: ``reason`` says which and why)."""

    index: int  # 1-based
    start_frame: int
    end_frame: int  # inclusive
    valid: bool | None
    reason: str | None
    frame: int  # the deciding frame: the failed check's, else the unverifiable one's, else the last check's
    checks: list[Check] = field(default_factory=list)
    reason_id: str | None = None  # the id of the standard that failed or could not be told
    window_start: int | None = None  # the frames judged (the rep placed on the movement's turn)
    window_end: int | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["checks"] = [c.to_dict() for c in self.checks]
        return out


@dataclass
class MovementGuess:
    """The movement recognised from poses: ``label`` (None when nothing fits) and every
    movement's score in [0, 1]."""

    label: str | None
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)
