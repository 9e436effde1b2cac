"""Movement standards as data: what a rep of each movement is and what makes it count.

The built-in file is ``standards.yaml`` beside this module (the 9 default movements and wall-ball,
the worked example of an addition); ``load_standards(path)`` reads it and then a user's YAML of the
same shape, whose movements are added or replace the built-in ones of the same name. The format,
every condition and how a rep is decided are documented in docs/judging.md; in short::

    movements:
      thruster:
        display: thruster
        aliases: [thrusters]
        rep: front rack, squat below parallel, stand and press to lockout overhead
        standards:                       # every one must pass for the rep to count
          - id: depth                    # the id a no-rep names (and the generator's fault label)
            text: hip crease below the top of the knee at the bottom
            when: any                    # on some frame of the rep (``all``: on ``share`` of them)
            check:                       # all of these on the same frame
              - {below: hip, ref: knee, by: 0.0}
            view:                        # a miss cannot be trusted when the thigh points at the camera
              - {segment: thigh, min: 0.55}
        signature:                       # what the movement looks like, for recognition
          - {when: any, check: [{above: wrist, ref: nose, by: 0.3}]}
"""
from __future__ import annotations

import os
import reprlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.movements import slugify

BUILTIN = Path(__file__).with_name("standards.yaml")
# Values a standards file may hold, aliases expanded (the built-in one: ~1,300).
MAX_NODES = 100_000

Point = Literal["nose", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"]
Joint = Literal["shoulder", "elbow", "hip", "knee"]
Segment = Literal["torso", "upper_arm", "forearm", "thigh", "shin"]
KINDS = ("angle", "above", "below", "tilt", "rise", "past", "travel")


class Condition(BaseModel):
    """One geometric test on one frame (``travel``: on the whole rep). Exactly one kind key:

    - ``angle: JOINT`` with ``min``/``max`` degrees (180 = straight): the inner angle at the
      shoulder (hip-shoulder-elbow), elbow, hip (shoulder-hip-knee) or knee.
    - ``above: POINT, ref: POINT, by: T`` / ``below``: the point is higher / lower than ``ref`` by at
      least ``by`` torso lengths (negative: may fall short by that much).
    - ``tilt: torso`` with ``min``/``max`` degrees from upright (0 standing, 90 lying, 180 inverted).
    - ``rise: POINT, by: T``: the point is ``by`` torso lengths above where it rests (the line through
      its lowest positions early and late in the rep): airtime for the ankles.
    - ``past: POINT, from: A, to: B, by: T``: the point reaches ``by`` torso lengths beyond ``B``
      along the line from ``A`` to ``B`` (the hands past the knees, whichever way the athlete faces).
    - ``travel: POINT`` with ``min``/``max`` torso lengths: how far the point moves up and down over
      the rep (hands that hang from a bar barely move).

    ``sides: each`` asks every side seen to meet it (both feet off the floor); by default the sides
    seen are averaged.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    angle: Joint | None = None
    above: Point | None = None
    below: Point | None = None
    tilt: Literal["torso"] | None = None
    rise: Point | None = None
    past: Point | None = None
    travel: Point | None = None
    ref: Point | None = None
    from_: Point | None = Field(None, alias="from")
    to: Point | None = None
    by: float = 0.0
    min: float | None = None
    max: float | None = None
    sides: Literal["seen", "each"] = "seen"  # the sides seen averaged, or each side seen must meet it

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a condition needs exactly one of {', '.join(KINDS)}; got "
                             f"{', '.join(kinds) or 'none'}")
        kind = kinds[0]
        if kind in ("above", "below") and self.ref is None:
            raise ValueError(f"'{kind}' needs 'ref' (the point it is compared with)")
        if kind == "past" and (self.from_ is None or self.to is None):
            raise ValueError("'past' needs 'from' and 'to' (the line it is measured along)")
        if kind in ("angle", "tilt", "travel") and self.min is None and self.max is None:
            raise ValueError(f"'{kind}' needs 'min' or 'max'")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def unit(self) -> str:
        return "deg" if self.kind in ("angle", "tilt") else "torso"

    def describe(self) -> str:
        kind, what = self.kind, getattr(self, self.kind)
        bounds = " ".join(f"{name} {value:g}" for name, value in (("min", self.min), ("max", self.max))
                          if value is not None)
        if kind in ("above", "below"):
            return f"{what} {kind} {self.ref} by {self.by:g}"
        if kind == "past":
            return f"{what} past {self.to} (from {self.from_}) by {self.by:g}"
        if kind == "rise":
            return f"{what} rises {self.by:g}"
        return f"{kind} {what} {bounds}".strip()


class ViewCheck(BaseModel):
    """A miss is only believed when ``segment`` is seen at ``min`` or more of its full length on the
    deciding frame; shorter, it points at the camera and the condition cannot be told in 2-D."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    segment: Segment
    min: float = Field(0.45, gt=0.0, le=1.0)


class Clause(BaseModel):
    """Conditions that must hold together on one frame: on some frame of the rep (``when: any``,
    the best frame decides) or on ``share`` of its frames (``when: all``, the worst frame decides);
    ``part``: the whole rep, or only its frames ``before`` / ``after`` the movement's turn; ``hold``:
    with ``when: any``, the seconds the conditions must hold together (a pose passed through in a
    frame is not a position reached)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    text: str = ""
    when: Literal["any", "all"] = "any"
    share: float = Field(0.85, gt=0.0, le=1.0)
    part: Literal["rep", "before", "after"] = "rep"
    hold: float = Field(0.0, ge=0.0, le=5.0)  # ``when: any``: seconds the conditions must hold together
    check: list[Condition] = Field(min_length=1)


class Turn(BaseModel):
    """The moment a rep turns (the bottom of a squat, the top of a pull): the frame where ``point``
    is ``highest`` or ``lowest`` in the picture, ``at`` that share of the rep (0.35: a third of the
    way in). The rep is judged on one rep's length placed so around it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    highest: Point | None = None
    lowest: Point | None = None
    at: float = Field(0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one(self):
        if (self.highest is None) == (self.lowest is None):
            raise ValueError("a turn is one of 'highest: POINT' or 'lowest: POINT'")
        return self

    @property
    def point(self) -> str:
        return self.highest or self.lowest


class Standard(Clause):
    """One condition a rep must meet: ``id`` names it in a no-rep."""

    id: str
    text: str
    view: list[ViewCheck] = Field(default_factory=list)


class MovementStandard(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = ""  # the key in the file
    display: str = ""
    aliases: list[str] = Field(default_factory=list)
    rep: str = ""  # what one repetition is, in words
    turn: Turn | None = None  # where a rep turns; None: the rep's own bounds are judged
    standards: list[Standard] = Field(min_length=1)
    signature: list[Clause] = Field(default_factory=list)
    recognise: bool = True  # take part in recognition from poses (False: only when named)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self):
        ids = [s.id for s in self.standards]
        if len(set(ids)) != len(ids):
            raise ValueError(f"standard ids repeat: {', '.join(ids)}")
        return self

    def checks(self) -> list[dict]:
        return [{"id": s.id, "text": s.text} for s in self.standards]


class StandardsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    version: int = 1
    movements: dict[str, MovementStandard] = Field(default_factory=dict)


class Standards(BaseModel):
    """Every known movement's standards, by name; ``sources`` are the files read, in order."""

    movements: dict[str, MovementStandard]
    sources: list[str] = Field(default_factory=list)

    def names(self) -> list[str]:
        return list(self.movements)

    def resolve(self, name: str) -> str | None:
        """The movement a name or alias means (case, spaces and plural forgiven), or None."""
        slug = slugify(name)
        for candidate in (slug, slug[:-1] if slug.endswith("s") else None, slug + "s"):
            if candidate is None:
                continue
            if candidate in self.movements:
                return candidate
            for key, move in self.movements.items():
                if candidate in {slugify(a) for a in move.aliases} or candidate == slugify(move.display or key):
                    return key
        return None

    def get(self, name: str) -> MovementStandard:
        key = self.resolve(name)
        if key is None:
            raise UserError(f"movement {name!r}: no standards for it; known: {', '.join(self.names())} "
                            f"(add it to a standards YAML, see docs/judging.md)")
        return self.movements[key]


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after",) and not str(part).startswith(("function-", "literal[")):
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _too_large(data, limit: int = MAX_NODES) -> bool:
    """Whether ``data`` holds more than ``limit`` values once YAML aliases are expanded (a few
    lines of ``*alias`` can stand for billions of values: counted without expanding them)."""
    stack, seen = [data], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _read(path: Path) -> StandardsFile:
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give the standards YAML file in it (docs/judging.md)")
    if not path.is_file():
        raise UserError(f"{path}: no such standards file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: not valid YAML ({first})") from exc
    except RecursionError:
        raise UserError(f"{path}: not valid standards YAML (nested too deeply)") from None
    if _too_large(data):
        raise UserError(f"{path}: too large once its aliases (*) are expanded (over {MAX_NODES:,} values); "
                        "a standards file is a few movements (docs/judging.md)")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with 'movements:' at the top, got {type(data).__name__}")
    try:
        parsed = StandardsFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        got = error.get("input")
        # reprlib: the repr of a huge input would be built whole before being cut.
        got_text = "" if isinstance(got, dict) else f", got {reprlib.repr(got)}"[:80]
        raise UserError(f"{path}: key {_where(error['loc'])}: {error['msg']}{got_text} "
                        "(see docs/judging.md for the format)") from None
    named: dict[str, str] = {}
    for key, move in parsed.movements.items():
        slug = slugify(key)
        if not slug:
            raise UserError(f"{path}: movement {key!r}: a movement needs a name (letters or digits), "
                            "e.g. 'wall-ball' (docs/judging.md)")
        if slug in named:
            raise UserError(f"{path}: movements {named[slug]!r} and {key!r} are the same name ({slug}); "
                            "keep one")
        named[slug] = key
        move.name = slug
        move.display = move.display or key
    parsed.movements = {slugify(k): v for k, v in parsed.movements.items()}
    return parsed


@lru_cache(maxsize=4)
def _builtin(mtime: float) -> StandardsFile:
    return _read(BUILTIN)


def load_standards(path: str | os.PathLike | None = None) -> Standards:
    """The built-in standards, plus ``path`` (a user YAML) whose movements are added or replace
    those of the same name. A mistake in the file is one ``UserError`` naming the file and key."""
    movements = {k: v.model_copy(deep=True) for k, v in _builtin(BUILTIN.stat().st_mtime).movements.items()}
    sources = [str(BUILTIN)]
    if path is not None:
        movements.update(_read(Path(path)).movements)
        sources.append(str(path))
    return Standards(movements=movements, sources=sources)
