"""Corpus commands: download, manifest, split, records, stats, counting-manifest."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from movinet_crossfit.cli._common import app, choices, console, finish_batch, out, strict_option
from movinet_crossfit.core.beam import RUNNERS, BeamSettings
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.data.clips import DEFAULT_CRF, DEFAULT_PRESET, split_clips
from movinet_crossfit.data.counting_manifest import TIME_ORIGINS
from movinet_crossfit.data.download import DownloadOptions, download_sources, source_status
from movinet_crossfit.data.records import RecordsConfig, write_records
from movinet_crossfit.data.splits import format_ratios, parse_ratios

# The library's defaults, shown in --help.
_RECORDS = RecordsConfig()
_DOWNLOAD = DownloadOptions()
# x264's speed presets (ffmpeg -preset): anything else fails every clip.
X264Preset = choices("X264Preset", ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                                    "slower", "veryslow", "placebo"))
TimeOrigin = choices("TimeOrigin", TIME_ORIGINS)


def runner_option():
    """``--runner``: the corpus stages on Apache Beam (shared by split, records and poses)."""
    return typer.Option(None, "--runner", help=f"run on Apache Beam ({', '.join(RUNNERS)}; docs/scale.md); "
                        "default: this machine's process pool")


def beam_options_option():
    return typer.Option([], "--beam-option", help="Beam pipeline option KEY=VALUE for --runner (repeatable), e.g. "
                        "temp_location=gs://b/tmp or direct_running_mode=multi_processing")


def beam_settings(runner: Optional[str], options: List[str], workers: Optional[int]) -> Optional[BeamSettings]:
    """None (the local path) without ``--runner``; ``--workers`` is the DirectRunner's worker count."""
    if runner is None:
        if options:
            raise UserError("--beam-option needs --runner (e.g. --runner DirectRunner)")
        return None
    return BeamSettings(runner, tuple(options), workers)


@app.command()
def download(
    sources: List[str] = typer.Argument(..., help="URL lists (#title lines), CSVs (url or video_id), Countix CSVs, URLs"),
    output: Path = typer.Option(Path("videos"), "-o", "--output", help="videos folder (+ metadata, archive, report)"),
    format: str = typer.Option(_DOWNLOAD.format, "--format", help="yt-dlp format (mp4, height <= 720)"),
    workers: int = typer.Option(_DOWNLOAD.workers, "--workers", help="parallel downloads"),
    retries: int = typer.Option(_DOWNLOAD.retries, "--retries", help="retries per transfer, each resuming"),
    backoff: float = typer.Option(_DOWNLOAD.backoff, "--backoff", help="seconds before the first retry, doubling"),
    rate_limit: Optional[str] = typer.Option(None, "--rate-limit", help="bytes/s per download, e.g. 2M"),
    sleep: float = typer.Option(_DOWNLOAD.sleep, "--sleep", help="seconds to wait before each download"),
    max_sleep: Optional[float] = typer.Option(None, "--max-sleep", help="random wait in [--sleep, --max-sleep]"),
    sleep_requests: float = typer.Option(_DOWNLOAD.sleep_requests, "--sleep-requests",
                                         help="seconds between extraction requests"),
    whole_videos: bool = typer.Option(False, "--whole-videos", help="never cut to the Countix/CSV time range"),
    cookies: Optional[str] = typer.Option(None, "--cookies", help="Netscape cookie file for yt-dlp"),
    url_template: str = typer.Option(_DOWNLOAD.url_template, "--url-template", help="URL of a video id, with {id}"),
    report_stem: Optional[Path] = typer.Option(None, "--report", help="report stem (default: OUTPUT/download-report)"),
    status: bool = typer.Option(False, "--status", help="download nothing: present/missing, OUTPUT/missing.txt"),
    strict: bool = strict_option(),
) -> None:
    """Download source videos with yt-dlp: resumable, archived, reported (CSV + JSON)."""
    options = DownloadOptions(format=format, workers=workers, retries=retries, backoff=backoff,
                              rate_limit=rate_limit, sleep=sleep, max_sleep=max_sleep, sleep_requests=sleep_requests,
                              cut_ranges=not whole_videos, cookies=cookies, url_template=url_template)
    if status:
        result = source_status(sources, output, url_template=options.url_template)
        out.print(f"{result.summary()}; missing -> {result.write_missing(output / 'missing.txt')}", highlight=False)
        return
    try:
        report = download_sources(sources, output, options, report_path=report_stem)
    except KeyboardInterrupt:  # typer would turn it into a silent Exit(130)
        console.print("interrupted: the report lists what finished; rerun to resume the rest")
        raise typer.Exit(130) from None
    finish_batch(report, f"videos -> [bold]{output}[/bold], report -> [bold]{report.files['csv']}[/bold]",
                 strict, "videos")


@app.command()
def manifest(
    export: List[Path] = typer.Argument(..., help="Supervisely project folder(s), ann folders or *.json files"),
    output: Path = typer.Option(Path("manifest.json"), "-o", "--output", help="manifest.json to write"),
    videos: Optional[Path] = typer.Option(None, "--videos", help="folder of the source videos (fps, frame checks)"),
    fps: Optional[float] = typer.Option(None, "--fps", help="frame rate to assume when videos are absent"),
    alias: List[str] = typer.Option([], "--alias", help="extra label alias FROM=TO (repeatable)"),
    classes: Optional[str] = typer.Option(None, "--classes", help="comma-separated class list (default: the 9)"),
    keep_unknown: bool = typer.Option(False, "--keep-unknown", help="keep labels outside the class list"),
    keep_overlapping: bool = typer.Option(False, "--keep-overlapping",
                                          help="keep overlapping segments with different labels (default: drop both)"),
    strict: bool = strict_option(),
) -> None:
    """Turn a Supervisely export into a validated manifest.json."""
    from movinet_crossfit.data.annotations import summary_line, vocabulary_from_options, write_manifest

    result, report = write_manifest(export, output, videos_dir=videos, fps=fps,
                                    vocabulary=vocabulary_from_options(classes, alias),
                                    keep_unknown=keep_unknown, keep_overlapping=keep_overlapping)
    if not result.clips:
        report.print()
        console.print(f"{output}: nothing written, no clips")
        raise typer.Exit(1)
    finish_batch(report, summary_line(result, output), strict, "annotation items")


@app.command()
def split(
    manifest_path: Path = typer.Argument(..., metavar="MANIFEST", help="manifest.json"),
    videos: Optional[Path] = typer.Option(None, "--videos", help="folder of the source videos"),
    output: Path = typer.Option(Path("clips"), "-o", "--output", help="folder for <label>/<clip>.mp4"),
    copy: bool = typer.Option(False, "--copy", help="stream-copy (fast, cuts at keyframes, not frame-accurate)"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="parallel ffmpeg processes (default: cores)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="re-cut clips that already exist"),
    crf: int = typer.Option(DEFAULT_CRF, "--crf", min=0, max=51, help="x264 quality of re-encoded clips (lower = better)"),
    preset: X264Preset = typer.Option(X264Preset(DEFAULT_PRESET), "--preset",
                                      help="x264 speed preset of re-encoded clips"),
    runner: Optional[str] = runner_option(),
    beam_option: List[str] = beam_options_option(),
    strict: bool = strict_option(),
) -> None:
    """Cut the manifest's clips out of the source videos with ffmpeg (frame-accurate, resumable)."""
    cut, where = split_clips, {"workers": workers}
    settings = beam_settings(runner, beam_option, workers)
    if settings is not None:
        from movinet_crossfit.data.beam_pipeline import split_clips_beam

        cut, where = split_clips_beam, {"settings": settings}
    report = cut(manifest_path, output, videos_dir=videos, reencode=not copy, overwrite=overwrite, crf=crf,
                preset=preset.value, **where)
    finish_batch(report, f"clips -> [bold]{output}[/bold]", strict, "clips")


@app.command()
def records(
    manifest_path: Optional[Path] = typer.Argument(None, metavar="[MANIFEST]",
                                                   help="manifest.json; omit to read a <label>/<clip>.mp4 folder"),
    clips: Path = typer.Option(Path("clips"), "--clips", help="clip folder (from `split`, or <label>/<clip>.mp4)"),
    output: Path = typer.Option(Path("tfrecords"), "-o", "--output", help="folder for shards + dataset_info.json"),
    frames: int = typer.Option(_RECORDS.num_frames, "--frames", help="frames sampled evenly per clip"),
    size: int = typer.Option(_RECORDS.size, "--size", help="frame side in pixels after centre crop + resize"),
    ratios: str = typer.Option(format_ratios(_RECORDS.ratios), "--ratios",
                               help="split fractions, e.g. train=0.7,val=0.1,test=0.2"),
    seed: int = typer.Option(_RECORDS.seed, "--seed", help="split seed"),
    jpeg_quality: int = typer.Option(_RECORDS.jpeg_quality, "--jpeg-quality", min=1, max=100,
                                     help="JPEG quality of stored frames"),
    workers: Optional[int] = typer.Option(None, "--workers", help="parallel decoders (default: cores)"),
    runner: Optional[str] = runner_option(),
    beam_option: List[str] = beam_options_option(),
    strict: bool = strict_option(),
) -> None:
    """Write TFRecords of sampled, preprocessed clips, split by source video."""
    config = RecordsConfig(num_frames=frames, size=size, ratios=parse_ratios(ratios), seed=seed,
                           jpeg_quality=jpeg_quality, workers=workers)
    write, where = write_records, {}
    settings = beam_settings(runner, beam_option, workers)
    if settings is not None:
        from movinet_crossfit.data.beam_pipeline import write_records_beam

        write, where = write_records_beam, {"settings": settings}
    result = write(output, clips_dir=clips, manifest=manifest_path, config=config, **where)
    result.report.print()
    _print_records_info(result.info, output)
    finish_batch(result.report, None, strict, "clips", print_report=False)


def _print_records_info(info: dict, output: Path) -> None:
    from rich.table import Table

    splits = list(info["splits"])
    table = Table("class", *splits)
    for name in info["classes"]:
        table.add_row(name, *(str(info["splits"][s]["per_class"].get(name, 0)) for s in splits))
    table.add_row("[bold]clips", *(f"[bold]{info['splits'][s]['clips']}" for s in splits))
    table.add_row("MB", *(f"{info['splits'][s]['bytes'] / 1e6:.2f}" for s in splits))
    out.print(table)
    out.print(f"records ({info['num_frames']} frames, {info['size']}x{info['size']}) -> [bold]{output}[/bold]")


@app.command()
def stats(
    manifest_path: Optional[Path] = typer.Argument(None, metavar="[MANIFEST]", help="manifest.json"),
    clips: Optional[Path] = typer.Option(None, "--clips", help="or a <label>/<clip>.mp4 folder to probe"),
    output: Path = typer.Option(Path("stats"), "-o", "--output", help="folder for stats.csv/.json/.png"),
    strict: bool = strict_option(),
) -> None:
    """Per-class clip count, frames and duration (mean ± std), with a chart."""
    from movinet_crossfit.data.stats import corpus_stats, write_stats

    if manifest_path is None and clips is None:
        raise UserError("give a MANIFEST or --clips FOLDER")
    result = corpus_stats(manifest=manifest_path, clips_dir=clips)
    if result.report.failed or result.report.warnings:
        result.report.print()
    _print_stats_table(result.table)
    paths = write_stats(result, output)
    out.print(f"stats -> [bold]{paths['csv']}[/bold], chart -> [bold]{paths['png']}[/bold]", highlight=False)
    finish_batch(result.report, None, strict, "clips", print_report=False)


def _print_stats_table(table) -> None:
    from rich.table import Table

    shown = Table("class", "clips", "frames mean", "frames std", "seconds mean", "seconds std")
    for label, row in table.iterrows():
        shown.add_row(str(label), str(int(row["clips"])), *(f"{row[c]:.2f}" for c in
                      ("frames_mean", "frames_std", "duration_mean", "duration_std")))
    out.print(shown)


@app.command("counting-manifest")
def counting_manifest(
    output: Path = typer.Option(Path("counting.json"), "-o", "--output", help="counting manifest to write"),
    clip_manifest: List[Path] = typer.Option([], "--clip-manifest", help="manifest.json whose clips carry counts"),
    corpus: List[Path] = typer.Option([], "--corpus", help="generated corpus folder (ground_truth.json)"),
    countix: List[Path] = typer.Option([], "--countix", help="Countix CSV, e.g. countix_val.csv (repeatable)"),
    countix_videos: Optional[Path] = typer.Option(None, "--countix-videos", help="folder of <video_id>.mp4"),
    time_origin: TimeOrigin = typer.Option(TimeOrigin.auto, "--time-origin",
                                           help="Countix files: when their times count from"),
    strict: bool = strict_option(),
) -> None:
    """Videos (or ranges) with true rep counts, for evaluate-counter and train-counter."""
    from movinet_crossfit.data.counting_manifest import build_counting_manifest

    result, report = build_counting_manifest(output, clip_manifests=clip_manifest, corpora=corpus,
                                             countix_csvs=countix, countix_videos=countix_videos,
                                             time_origin=time_origin.value)
    report.print()
    for item, reason in report.skipped[:5]:
        console.print(f"  skipped {item}: {reason}", highlight=False)
    if not result.items:
        console.print(f"{output}: nothing written, no items")
        raise typer.Exit(1)
    finish_batch(report, f"{len(result.items)} items -> [bold]{output}[/bold]", strict, print_report=False)
