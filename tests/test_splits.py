"""Grouped, stratified, deterministic split assignment."""
from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.data.splits import assign_splits, parse_ratios, split_warnings


def _corpus(seed=1, videos=30, labels="abcdefghi", per_video=3, clips=5):
    rng = random.Random(seed)
    labels_out, groups = [], []
    for v in range(videos):
        for label in rng.sample(labels, per_video):
            for _ in range(rng.randint(1, clips)):
                labels_out.append(label)
                groups.append(f"video{v}")
    return labels_out, groups


def test_no_group_crosses_splits():
    labels, groups = _corpus()
    splits = assign_splits(labels, groups, {"train": 0.7, "val": 0.1, "test": 0.2})
    seen = defaultdict(set)
    for group, split in zip(groups, splits):
        seen[group].add(split)
    assert all(len(s) == 1 for s in seen.values())


def test_ratios_are_roughly_met_per_label():
    labels, groups = _corpus(videos=60)
    splits = assign_splits(labels, groups, {"train": 0.8, "test": 0.2})
    totals = Counter(labels)
    test = Counter(l for l, s in zip(labels, splits) if s == "test")
    for label, total in totals.items():
        assert 0.08 <= test[label] / total <= 0.35, (label, test[label], total)
    assert 0.15 <= sum(test.values()) / len(labels) <= 0.25


def test_deterministic_and_seed_dependent():
    labels, groups = _corpus()
    first = assign_splits(labels, groups, seed=3)
    assert first == assign_splits(labels, groups, seed=3)
    assert any(assign_splits(labels, groups, seed=s) != first for s in range(4, 10))


def test_order_of_items_does_not_matter():
    labels, groups = _corpus()
    base = dict(zip(groups, assign_splits(labels, groups)))
    pairs = list(zip(labels, groups))
    random.Random(0).shuffle(pairs)
    shuffled = assign_splits([p[0] for p in pairs], [p[1] for p in pairs])
    assert all(base[g] == s for (_, g), s in zip(pairs, shuffled))


def test_warning_names_class_that_cannot_be_split():
    labels = ["a"] * 4 + ["b"] * 4 + ["b"] * 4
    groups = ["v1"] * 4 + ["v2"] * 4 + ["v3"] * 4
    splits = assign_splits(labels, groups)
    messages = split_warnings(labels, groups, splits, {"train": 0.8, "test": 0.2})
    assert any("'a'" in m and "1 source group" in m for m in messages)


def test_parse_ratios():
    assert parse_ratios("train=0.7,val=0.1,test=0.2") == pytest.approx({"train": 0.7, "val": 0.1, "test": 0.2})
    assert parse_ratios("train=8,test=2") == pytest.approx({"train": 0.8, "test": 0.2})
    with pytest.raises(UserError, match="NAME=FRACTION"):
        parse_ratios("train=eighty")


def test_the_default_holds_out_a_val_split_of_every_class():
    """train / val / test by default, so training never chooses its model on the test clips."""
    from movinet_crossfit.data.splits import DEFAULT_RATIOS

    assert DEFAULT_RATIOS == pytest.approx({"train": 0.7, "val": 0.1, "test": 0.2})
    labels, groups = _corpus(videos=80)
    splits = assign_splits(labels, groups)
    for split in DEFAULT_RATIOS:
        assert {l for l, s in zip(labels, splits) if s == split} == set(labels), split
    assert split_warnings(labels, groups, splits, DEFAULT_RATIOS) == []


def test_too_few_videos_for_a_val_split_is_said():
    """Whole groups only: with 2 videos per class, val gets none, and the warnings say so and why."""
    from movinet_crossfit.data.splits import DEFAULT_RATIOS

    labels = ["a", "a", "b", "b", "b"]
    groups = ["v1", "v2", "v3", "v4", "v4"]
    splits = assign_splits(labels, groups)
    assert "val" not in splits and {"train", "test"} <= set(splits)
    messages = split_warnings(labels, groups, splits, DEFAULT_RATIOS)
    assert any(m.startswith("class 'a' has no clips in val (validation accuracy") and "2 source groups" in m
               and "val 10% = 0.2 clips" in m for m in messages)
    assert any("val split is empty" in m and "choose its epoch on the test clips" in m for m in messages)
