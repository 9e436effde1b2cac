"""Corpus statistics per class: clips, frames and duration (mean ± std), as a table and a chart."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import atomic_path, save_figure, write_json_atomic
from movinet_crossfit.data.manifest import Manifest
from movinet_crossfit.core.progress import BatchReport, progress_bar
from movinet_crossfit.core.video import VideoError, probe


@dataclass
class CorpusStats:
    clips: pd.DataFrame  # one row per clip: label, frames, duration
    table: pd.DataFrame  # one row per class (+ TOTAL): clips, frames mean/std, duration mean/std
    report: BatchReport


def clip_table_from_manifest(manifest_path: str | os.PathLike) -> pd.DataFrame:
    manifest = Manifest.load(manifest_path)
    rows = []
    for clip in manifest.clips:
        duration = clip.num_frames / clip.fps if clip.fps else float("nan")
        rows.append({"id": clip.id, "label": clip.label, "frames": clip.num_frames, "duration": duration,
                     "group": clip.group})
    return pd.DataFrame(rows, columns=["id", "label", "frames", "duration", "group"])


def clip_table_from_folder(clips_dir: str | os.PathLike, report: BatchReport) -> pd.DataFrame:
    from movinet_crossfit.data.records import clips_from_folder

    _, sources = clips_from_folder(Path(clips_dir))
    rows = []
    with progress_bar(len(sources), "probing clips") as advance:
        for source in sources:
            try:
                info = probe(source.path)
            except VideoError as exc:
                report.fail(str(source.path), str(exc))
            else:
                duration = info.num_frames / info.fps if info.fps else info.duration
                rows.append({"id": source.id, "label": source.label, "frames": info.num_frames,
                             "duration": duration, "group": source.group})
                report.ok(source.id)
            advance(1)
    return pd.DataFrame(rows, columns=["id", "label", "frames", "duration", "group"])


def summarise(clips: pd.DataFrame, classes: Optional[list[str]] = None) -> pd.DataFrame:
    """Per-class table in the layout of the original report's Table 3.1 (std is the sample std)."""
    if clips.empty:
        raise UserError("no clips to summarise")
    grouped = clips.groupby("label", sort=False)
    table = pd.DataFrame({
        "clips": grouped.size(),
        "frames_mean": grouped["frames"].mean(),
        "frames_std": grouped["frames"].std(ddof=1),
        "duration_mean": grouped["duration"].mean(),
        "duration_std": grouped["duration"].std(ddof=1),
    })
    order = [c for c in (classes or []) if c in table.index] + sorted(set(table.index) - set(classes or []))
    table = table.loc[order]
    total = pd.DataFrame({
        "clips": [len(clips)],
        "frames_mean": [clips["frames"].mean()], "frames_std": [clips["frames"].std(ddof=1)],
        "duration_mean": [clips["duration"].mean()], "duration_std": [clips["duration"].std(ddof=1)],
    }, index=["TOTAL"])
    table = pd.concat([table, total])
    table.index.name = "class"
    return table


def corpus_stats(*, manifest: str | os.PathLike | None = None,
                 clips_dir: str | os.PathLike | None = None) -> CorpusStats:
    report = BatchReport("stats")
    classes = None
    if manifest is not None:
        clips = clip_table_from_manifest(manifest)
        classes = Manifest.load(manifest).classes
        report.done.extend(clips["id"])
        if clips["duration"].isna().any():
            report.warn(f"{manifest}: some clips have no fps, so their durations are unknown; "
                        "rebuild the manifest with --videos or --fps")
    elif clips_dir is not None:
        clips = clip_table_from_folder(clips_dir, report)
    else:
        raise UserError("stats needs a manifest or a clip folder")
    return CorpusStats(clips, summarise(clips, classes), report)


def plot_stats(stats: CorpusStats, path: str | os.PathLike) -> Path:
    """Bar chart of clips per class beside box plots of clip duration; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = stats.table.drop(index="TOTAL")
    labels = list(table.index)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.45 * len(labels) + 2.2))
    left.barh(labels, table["clips"], color="#3b7dd8")
    left.invert_yaxis()
    left.set_xlabel("clips")
    left.set_title("clips per class")
    for y, value in enumerate(table["clips"]):
        left.text(value, y, f" {int(value)}", va="center")
    data = [stats.clips.loc[stats.clips["label"] == label, "duration"].dropna().to_numpy() for label in labels]
    if any(len(d) for d in data):
        right.boxplot(data, vert=False, tick_labels=labels)
        right.invert_yaxis()
    right.set_xlabel("seconds")
    right.set_title("clip duration")
    fig.tight_layout()
    return save_figure(fig, path)


def write_stats(stats: CorpusStats, out_dir: str | os.PathLike) -> dict[str, Path]:
    """``stats.csv``, ``stats.json`` and ``stats.png`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "stats.csv"
    with atomic_path(csv_path) as tmp:
        stats.table.to_csv(tmp, float_format="%.4f")
    json_path = out_dir / "stats.json"
    write_json_atomic(json_path, {label: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                                  for label, row in stats.table.iterrows()})
    return {"csv": csv_path, "json": json_path, "png": plot_stats(stats, out_dir / "stats.png")}
