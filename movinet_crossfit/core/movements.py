"""The movement vocabulary: class names, display names and alias normalisation.

Class names are filesystem-safe slugs (they become folder names under ``clips/``); the
display name is what a coach reads. Labels coming from annotators are normalised once,
here, and nowhere else.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

DEFAULT_CLASSES: tuple[str, ...] = (
    "thruster",
    "chest-to-bar",
    "double-unders",
    "ghd",
    "power-clean",
    "deadlift",
    "shspu",
    "ohs",
    "bar-facing-burpee",
)

DISPLAY_NAMES: dict[str, str] = {
    "thruster": "thruster",
    "chest-to-bar": "chest-to-bar",
    "double-unders": "double-unders",
    "ghd": "GHD sit-up",
    "power-clean": "power clean",
    "deadlift": "deadlift",
    "shspu": "strict handstand push-up",
    "ohs": "overhead squat",
    "bar-facing-burpee": "bar-facing burpee",
}

# Spellings seen in labelling tools and in the prototype's wider vocabulary
# (../shared/data/cfmove/movements.txt), mapped onto the default classes.
DEFAULT_ALIASES: dict[str, str] = {
    "double-under": "double-unders",
    "du": "double-unders",
    "dus": "double-unders",
    "c2b": "chest-to-bar",
    "ctb": "chest-to-bar",
    "chest-to-bar-pull-up": "chest-to-bar",
    "ghd-sit-up": "ghd",
    "ghd-situp": "ghd",
    "ghd-sit-ups": "ghd",
    "handstand-push-up": "shspu",
    "strict-handstand-push-up": "shspu",
    "hspu": "shspu",
    "overhead-squat": "ohs",
    "bar-facing-burpees": "bar-facing-burpee",
    "bfb": "bar-facing-burpee",
    "burpee-over-the-bar": "bar-facing-burpee",
}


def slugify(name: str) -> str:
    """Lower-case, trim, and join words with single hyphens: ``"Power Clean"`` -> ``"power-clean"``."""
    return re.sub(r"[\s_\-]+", "-", name.strip().lower()).strip("-")


@dataclass(frozen=True)
class Vocabulary:
    """The classes a corpus is built for, and how annotator labels map onto them."""

    classes: tuple[str, ...] = DEFAULT_CLASSES
    aliases: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ALIASES))

    def normalise(self, label: str) -> str | None:
        """The class a raw label names, or ``None`` when it names none of ``classes``."""
        slug = slugify(label)
        known = set(self.classes)
        for candidate in (slug, slug[:-1] if slug.endswith("s") else None):
            if candidate is None:
                continue
            candidate = slugify(self.aliases.get(candidate, candidate))
            if candidate in known:
                return candidate
        return None

    def index(self, label: str) -> int:
        return self.classes.index(label)

    def with_aliases(self, extra: Mapping[str, str]) -> "Vocabulary":
        merged = dict(self.aliases)
        merged.update({slugify(k): slugify(v) for k, v in extra.items()})
        return Vocabulary(self.classes, merged)


def parse_alias_options(options: Iterable[str]) -> dict[str, str]:
    """Parse ``FROM=TO`` strings from the command line into an alias map."""
    aliases = {}
    for option in options:
        if "=" not in option:
            from movinet_crossfit.core.errors import UserError

            raise UserError(f"alias {option!r}: expected FROM=TO, e.g. 'hspu=shspu'")
        source, target = option.split("=", 1)
        aliases[slugify(source)] = slugify(target)
    return aliases


def display_name(label: str) -> str:
    return DISPLAY_NAMES.get(label, label.replace("-", " "))
