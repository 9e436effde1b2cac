"""Train/val/test assignment: stratified by label, grouped by source, deterministic.

The default is train / val / test (0.7 / 0.1 / 0.2): training chooses its epoch and stops early
on ``val``, so ``test`` is scored by a model that never looked at it. No group (source video, or
athlete when known) ever has clips in two splits, so a model is never tested on frames of a
video it trained on. Groups are placed one at a time, largest first (ties broken by a seeded
hash, so the result depends only on the data and the seed), into the split whose per-label quota
is furthest from filled.
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Mapping, Sequence

# As the pose pipeline (keypoints/config.py): a val split of its own, so no model is chosen on test.
DEFAULT_RATIOS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}


def parse_ratios(text: str) -> dict[str, float]:
    """``"train=0.8,val=0.1,test=0.1"`` -> dict; values are normalised to sum to 1."""
    from movinet_crossfit.core.errors import UserError

    ratios: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            ratios[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"split ratio {part!r}: expected NAME=FRACTION, e.g. 'train=0.8,test=0.2'") from None
    return normalise_ratios(ratios)


def format_ratios(ratios: Mapping[str, float]) -> str:
    """The inverse of ``parse_ratios``: ``{"train": 0.8, "test": 0.2}`` -> ``"train=0.8,test=0.2"``."""
    return ",".join(f"{name}={value:g}" for name, value in ratios.items())


def normalise_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    from movinet_crossfit.core.errors import UserError

    kept = {name: float(value) for name, value in ratios.items() if value > 0}
    if not kept or any(v < 0 for v in ratios.values()):
        raise UserError(f"split ratios {dict(ratios)}: need at least one positive fraction and none negative")
    total = sum(kept.values())
    return {name: value / total for name, value in kept.items()}


def _hash(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}\0{text}".encode("utf-8")).hexdigest()


def assign_splits(labels: Sequence[str], groups: Sequence[str],
                  ratios: Mapping[str, float] = DEFAULT_RATIOS, seed: int = 0) -> list[str]:
    """The split of each item (same order as ``labels``)."""
    if len(labels) != len(groups):
        raise ValueError("labels and groups must have the same length")
    ratios = normalise_ratios(ratios)
    per_group: dict[str, Counter] = defaultdict(Counter)
    for label, group in zip(labels, groups):
        per_group[group][label] += 1
    totals = Counter(labels)
    filled = {split: Counter() for split in ratios}
    # Ties in deficit go to the larger split: with very few groups, train is served first.
    split_order = sorted(ratios, key=lambda s: -ratios[s])

    def deficit(split: str, counts: Counter) -> float:
        # How much of this split's quota, per label, the group would fill (label-weighted).
        score = 0.0
        for label, n in counts.items():
            target = ratios[split] * totals[label]
            score += (target - filled[split][label]) / totals[label] * n
        return score / sum(counts.values())

    group_split: dict[str, str] = {}
    for group in sorted(per_group, key=lambda g: (-sum(per_group[g].values()), _hash(seed, g))):
        counts = per_group[group]
        best = max(split_order, key=lambda s: deficit(s, counts))
        group_split[group] = best
        filled[best].update(counts)
    return [group_split[g] for g in groups]


def split_warnings(labels: Sequence[str], groups: Sequence[str], splits: Sequence[str],
                   ratios: Mapping[str, float]) -> list[str]:
    """Human-readable problems with an assignment (labels missing from a split, and why)."""
    ratios = normalise_ratios(ratios)
    messages = []
    groups_per_label: dict[str, set] = defaultdict(set)
    clips_per_label: Counter = Counter(labels)
    present: dict[str, set] = defaultdict(set)
    for label, group, split in zip(labels, groups, splits):
        groups_per_label[label].add(group)
        present[label].add(split)
    for label in sorted(groups_per_label):
        missing = [s for s in ratios if s not in present[label]]
        if missing:
            n, clips = len(groups_per_label[label]), clips_per_label[label]
            shares = ", ".join(f"{s} {ratios[s]:.0%} = {ratios[s] * clips:.1f}" for s in missing)
            consequence = (" (validation accuracy and the epoch chosen on it will not cover this class)"
                           if "val" in missing else "")
            messages.append(f"class {label!r} has no clips in {', '.join(missing)}{consequence}: its {clips} clips "
                            f"come from {n} source group{'s' if n != 1 else ''} and a group never straddles splits, so "
                            f"the share ({shares} clips) got no whole group; "
                            "label more source videos of it")
    if "val" in ratios and "val" not in set(splits):
        messages.append(f"the val split is empty ({ratios['val']:.0%} of {len(labels)} clips from "
                        f"{len(set(groups))} source groups got no whole group): `train` will choose its epoch "
                        "on the test clips, so the test score will be optimistic; label more source videos")
    return messages
