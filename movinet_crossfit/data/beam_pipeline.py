"""``split`` and ``records`` as Apache Beam pipelines (``--runner``): the same clips and the same
records as the local path, built by a Beam runner's workers (docs/scale.md).

Every per-item step is the library's own: ``clips.index_source`` and ``clips.cut_clip`` cut a
clip, ``records.encode_clip`` encodes one, ``splits.assign_splits`` places it; the launcher plans
(which clips, which split, which shard) exactly as the local path does and the workers do the items.

* ``split``: index each source video once, then cut each clip (a Reshuffle spreads both); a clip is
  renamed into place when whole, so an existing clip is finished work, skipped by a re-run (and by
  a retried worker).
* ``records``: a hash pass (for the byte-identical duplicate check and the plan's fingerprint), then
  an encode pass: clips -> ``(shard, position, record)`` -> GroupByKey -> one writer per shard, which
  writes the shard in position order into a staging folder named by the plan's fingerprint, its
  outcomes first (``<shard>.json``), then the shard itself under a temp name renamed when complete.
  A shard is assigned by position alone, so a retry rewrites the same shard, never a second one; a
  re-run after an interruption finds the finished shards in the staging folder and encodes only the
  rest. When every shard is there the launcher publishes them as the local path does (the same file
  names, bytes and ``dataset_info.json``, plus ``runner`` and ``beam_plan``).

A bad clip or video fails only itself and is reported; the rest completes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from movinet_crossfit.core import beam as core_beam
from movinet_crossfit.core.beam import BeamSettings
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import sha256_file
from movinet_crossfit.core.progress import BatchReport
from movinet_crossfit.core.video import VideoError
from movinet_crossfit.data.clips import (DEFAULT_CRF, DEFAULT_PRESET, FPS_TOLERANCE, COPY_WARNING, ClipError,
                                         SplitReport, cut_clip, index_source, resolve_source)
from movinet_crossfit.data.manifest import Manifest
from movinet_crossfit.data.records import (INFO_FILE, ClipSource, RecordsConfig, RecordsResult, clips_from_folder,
                                           build_info, clips_from_manifest, drop_duplicates, encode_clip,
                                           shard_names as layout, shard_of, split_sources)
from movinet_crossfit.data.splits import normalise_ratios

logger = logging.getLogger(__name__)
STAGING_PREFIX = ".beam-build-"


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if core_beam.is_remote(path) else str(Path(path).parent)


def _failure(exc: BaseException, prefix: str = "") -> str:
    if isinstance(exc, (UserError, VideoError)):
        return str(exc)
    return f"{prefix}{type(exc).__name__}: {exc}"


# --- split -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _CutJob:
    order: int
    clip_id: str
    source: str  # the source video (local path or URL)
    start: int
    end: int
    fps: float
    out: str


def _index(uri: str):
    """``(uri, SourceIndex)``, or ``(uri, message)`` when the video cannot be read."""
    try:
        with core_beam.local_copy(uri) as local:
            try:
                return uri, index_source(local)
            except VideoError as exc:
                return uri, str(exc).replace(str(local), uri)
    except Exception as exc:  # noqa: BLE001 - an unreadable remote file fails its clips, not the job
        return uri, f"{uri}: {type(exc).__name__}: {exc}"


def _pair(keyed) -> list:
    _, groups = keyed
    index = list(groups["index"])[0]
    return [(job, index) for job in groups["jobs"]]


def _cut(pair, reencode: bool, crf: int, preset: str, threads: int, overwrite: bool) -> dict:
    job, index = pair
    outcome = {"item": job.clip_id, "order": job.order, "out": job.out, "status": "failed", "warnings": []}
    try:
        if isinstance(index, str):
            raise ClipError(index)
        if not overwrite and core_beam.exists(job.out):  # a retried bundle: this clip is finished
            return {**outcome, "status": "skipped", "reason": "already cut"}
        notes = []
        if job.fps and index.fps and abs(index.fps - job.fps) > FPS_TOLERANCE * job.fps:
            notes.append(f"{job.source}: the manifest says {job.fps:g} fps, the video runs at "
                         f"{index.fps:.3f}; is this the encode the manifest was made from?")
        with core_beam.local_copy(job.source) as local:
            source = dataclasses.replace(index, path=local)
            options = dict(reencode=reencode, crf=crf, preset=preset, threads=threads)
            if core_beam.is_remote(job.out):
                folder = tempfile.mkdtemp(prefix="movinet-crossfit-")
                try:
                    target = Path(folder) / job.out.rsplit("/", 1)[1]
                    frames, more = cut_clip(source, job.start, job.end, target, **options)
                    core_beam.publish(target, job.out)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
            else:
                frames, more = cut_clip(source, job.start, job.end, job.out, **options)
        return {**outcome, "status": "ok", "frames": frames, "warnings": notes + more}
    except Exception as exc:  # noqa: BLE001 - one bad clip is reported, the others go on
        return {**outcome, "reason": _failure(exc, f"{job.clip_id}: ")}


def _source_of(clip, manifest_path: str, videos: Optional[str]) -> str:
    if not core_beam.is_remote(videos or manifest_path):
        return str(resolve_source(clip, Path(manifest_path).parent, Path(videos) if videos else None))
    candidates = ([core_beam.join(videos, clip.video), core_beam.join(videos, Path(clip.video).name)] if videos
                  else [core_beam.join(_parent(manifest_path), clip.video)])
    for candidate in candidates:
        if core_beam.exists(candidate):
            return candidate
    raise ClipError(f"{clip.video}: source video not found (looked for {', '.join(dict.fromkeys(candidates))}); "
                    "check --videos")


def split_clips_beam(manifest_path: str | os.PathLike, out_dir: str | os.PathLike, *, settings: BeamSettings,
                     videos_dir: str | os.PathLike | None = None, reencode: bool = True, overwrite: bool = False,
                     crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET) -> SplitReport:
    """``clips.split_clips`` on a Beam runner: the same clips in ``out_dir/<label>/<id>.mp4``."""
    import apache_beam as beam

    settings.flags()  # a mistaken runner or option is refused before any work
    manifest_path, out_dir = str(manifest_path), str(out_dir)
    videos = str(videos_dir) if videos_dir is not None else None
    if videos is not None and not core_beam.is_remote(videos) and not Path(videos).is_dir():
        raise UserError(f"{videos}: videos folder not found")
    if not 0 <= crf <= 51:
        raise UserError(f"crf {crf}: x264's quality scale runs from 0 (lossless) to 51")
    with core_beam.local_copy(manifest_path) as local_manifest:
        manifest = Manifest.load(local_manifest)
    report = SplitReport(title=f"split {manifest_path}", out_dir=Path(out_dir))
    if not reencode:
        report.warn(COPY_WARNING)
    jobs: list[_CutJob] = []
    seen: set[str] = set()
    for order, clip in enumerate(manifest.clips):
        out = core_beam.join(out_dir, clip.clip_filename())
        if out in seen:
            report.skip(clip.id, "listed twice in the manifest; cut once")
            continue
        seen.add(out)
        if not overwrite and core_beam.exists(out):
            report.skip(clip.id, "already cut")
            report.outputs[clip.id] = Path(out)
            continue
        try:
            source = _source_of(clip, manifest_path, videos)
        except UserError as exc:
            report.fail(clip.id, str(exc))
            continue
        jobs.append(_CutJob(order, clip.id, source, clip.start_frame, clip.end_frame, clip.fps or 0.0, out))
    if not jobs:
        return report
    # As the local path: one ffmpeg thread per clip when every core is busy (the same threads give
    # the same bytes); on a cluster each worker core takes a clip.
    cores = os.cpu_count() or 1
    threads = (max(1, cores // max(1, min(settings.workers or cores, len(jobs)))) if settings.local else 1)

    def build(pipeline):
        indexes = (pipeline | "sources" >> beam.Create(sorted({job.source for job in jobs}))
                   | "spread sources" >> beam.Reshuffle() | "index" >> beam.Map(_index))
        keyed = pipeline | "clips" >> beam.Create([(job.source, job) for job in jobs])
        return ({"index": indexes, "jobs": keyed} | "by source" >> beam.CoGroupByKey()
                | "pair" >> beam.FlatMap(_pair) | "spread clips" >> beam.Reshuffle()
                | "cut" >> beam.Map(_cut, reencode, crf, preset, threads, overwrite))

    outcomes = core_beam.run_collect(build, settings, out_dir, "split")
    warnings: list[str] = []
    for outcome in sorted(outcomes, key=lambda o: o["order"]):
        if outcome["status"] == "failed":
            report.fail(outcome["item"], outcome["reason"])
            continue
        report.outputs[outcome["item"]] = Path(outcome["out"])
        if outcome["status"] == "skipped":
            report.skip(outcome["item"], outcome["reason"])
            continue
        report.ok(outcome["item"])
        report.frames[outcome["item"]] = outcome["frames"]
        warnings.extend(outcome["warnings"])
    for message in dict.fromkeys(warnings):
        report.warn(message)
    return report


# --- records -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _EncodeTask:
    shard: str  # the shard's file name
    position: int  # within its split, in id order: the record's place in the shard
    uri: str
    source: ClipSource
    label_index: int


@dataclass
class _Plan:
    classes: list[str]
    shard_names: dict[str, list[str]]  # split -> its shards' file names
    tasks: list[_EncodeTask]
    fingerprint: str
    report: BatchReport
    clips: int


def _digest(item: tuple[str, str]) -> dict:
    clip_id, uri = item
    try:
        if not core_beam.is_remote(uri):
            return {"item": clip_id, "sha256": sha256_file(uri)}
        from apache_beam.io.filesystems import FileSystems

        digest = hashlib.sha256()
        with FileSystems.open(uri) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return {"item": clip_id, "sha256": digest.hexdigest()}
    except Exception:  # noqa: BLE001 - a file that is missing or cannot be opened counts as missing
        return {"item": clip_id, "sha256": None}


def _plan_records(sources: list[tuple[str, ClipSource]], classes: list[str], digests: dict[str, Optional[str]],
                  config: RecordsConfig, report: BatchReport) -> _Plan:
    """As ``write_records``: drop duplicates and missing clips, assign splits, and place each clip
    in its shard (split in id order, shard ``position * shards // clips``)."""
    uris = {source.id: uri for uri, source in sources}
    kept = drop_duplicates([source for _, source in sources], report, digests)
    for source in kept:
        if digests.get(source.id) is None:
            report.fail(str(source.path), "clip file not found; run `movinet-crossfit split` first")
    kept = [s for s in kept if digests.get(s.id) is not None]
    shard_names, tasks = {}, []
    for split, items in split_sources(kept, config, report).items():
        shard_names[split] = layout(split, len(items), config.clips_per_shard)
        for position, source in enumerate(items):
            shard = shard_names[split][shard_of(position, len(shard_names[split]), len(items))]
            tasks.append(_EncodeTask(shard, position, uris[source.id], source, classes.index(source.label)))
    settings = {k: v for k, v in asdict(config).items() if k != "workers"}
    fingerprint = hashlib.sha256(json.dumps(
        {"classes": classes, "config": settings, "shards": shard_names,
         "tasks": [(t.shard, t.position, t.source.id, digests[t.source.id], t.label_index, t.source.label,
                    t.source.group, t.source.start_time, t.source.end_time, t.source.fps) for t in tasks]},
        sort_keys=True).encode()).hexdigest()
    return _Plan(classes, shard_names, tasks, fingerprint, report, len(kept))


def _encode(task: _EncodeTask, config: RecordsConfig):
    """``(shard, (position, record or None, failed item, reason, label, id))``."""
    item = str(task.source.path)
    try:
        with core_beam.local_copy(task.uri) as local:
            try:
                record = encode_clip(dataclasses.replace(task.source, path=local), task.label_index, config)
            except Exception as exc:  # noqa: BLE001 - reported in the shard's outcomes
                return task.shard, (task.position, None, item, _failure(exc).replace(str(local), item),
                                    task.source.label, task.source.id)
    except Exception as exc:  # noqa: BLE001 - the copy itself failed
        return task.shard, (task.position, None, item, _failure(exc), task.source.label, task.source.id)
    return task.shard, (task.position, record, item, "", task.source.label, task.source.id)


def _write_shard(keyed, staging: str) -> dict:
    """Write one shard in position order: its outcomes (``<shard>.json``) first, then the shard, each
    renamed into place when complete. Run again (a retry), it rewrites the same two files."""
    import tensorflow as tf

    name, entries = keyed
    entries = sorted(entries, key=lambda entry: entry[0])
    outcomes = {"shard": name, "done": [], "failed": [], "counts": Counter()}
    remote = core_beam.is_remote(staging)
    folder = tempfile.mkdtemp(prefix="movinet-crossfit-") if remote else staging
    temp = Path(folder) / f".{name}.part-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        with tf.io.TFRecordWriter(str(temp)) as writer:
            for _, record, item, reason, label, clip_id in entries:
                if record is None:
                    outcomes["failed"].append([item, reason])
                    continue
                writer.write(record)
                outcomes["done"].append(clip_id)
                outcomes["counts"][label] += 1
        core_beam.write_bytes_atomic(core_beam.join(staging, f"{name}.json"),
                                     json.dumps(outcomes, sort_keys=True).encode())
        core_beam.publish(temp, core_beam.join(staging, name))
    finally:
        temp.unlink(missing_ok=True)
        if remote:
            shutil.rmtree(folder, ignore_errors=True)
    return {"shard": name, "clips": len(outcomes["done"])}


def _encode_shards(plan: _Plan, config: RecordsConfig, staging: str, settings: BeamSettings) -> None:
    """Encode the clips of every shard the staging folder does not hold yet (finished work stays)."""
    import apache_beam as beam

    if not core_beam.is_remote(staging):
        Path(staging).mkdir(parents=True, exist_ok=True)
    done = {name for names in plan.shard_names.values() for name in names
            if core_beam.exists(core_beam.join(staging, name))}
    tasks = [task for task in plan.tasks if task.shard not in done]
    with_tasks = {task.shard for task in plan.tasks}
    for names in plan.shard_names.values():  # an empty split still gets its (empty) shard, as locally
        for name in names:
            if name not in done and name not in with_tasks:
                _write_shard((name, []), staging)
    if not tasks:
        return

    def build(pipeline):
        return (pipeline | "clips" >> beam.Create(tasks) | "spread" >> beam.Reshuffle()
                | "encode" >> beam.Map(_encode, config) | "by shard" >> beam.GroupByKey()
                | "write" >> beam.Map(_write_shard, staging))

    core_beam.run_collect(build, settings, staging, "records")


def _records_sources(clips_dir: str, manifest: Optional[str], report: BatchReport):
    if manifest is None:
        if core_beam.is_remote(clips_dir):
            raise UserError(f"{clips_dir}: records from a remote clip folder need the MANIFEST `split` used")
        classes, sources = clips_from_folder(Path(clips_dir))
        report.warn(f"{clips_dir}: no manifest, so the source video of each clip is unknown and the split "
                    "cannot be grouped: clips of one video may land in both train and test, which "
                    "overstates test accuracy. Build records from a manifest to group them.")
        return classes, [(str(s.path), s) for s in sources]
    with core_beam.local_copy(manifest) as local:
        # Remote clips: paths relative to the folder (the report's names), URLs for the workers.
        base = Path() if core_beam.is_remote(clips_dir) else Path(clips_dir)
        classes, sources = clips_from_manifest(local, base)
    if core_beam.is_remote(clips_dir):
        return classes, [(core_beam.join(clips_dir, str(s.path)), s) for s in sources]
    return classes, [(str(s.path), s) for s in sources]


def write_records_beam(out_dir: str | os.PathLike, *, clips_dir: str | os.PathLike, settings: BeamSettings,
                       manifest: str | os.PathLike | None = None, config: RecordsConfig | None = None,
                       classes: Optional[list[str]] = None) -> RecordsResult:
    """``records.write_records`` on a Beam runner: the same shards (names and bytes) and the same
    ``dataset_info.json`` (plus ``runner`` and ``beam_plan``). Resumable: see the module docstring."""
    import apache_beam as beam

    settings.flags()  # a mistaken runner or option is refused before any work
    started = time.perf_counter()
    config = config or RecordsConfig()
    config.ratios = normalise_ratios(config.ratios)
    out, clips = str(out_dir), str(clips_dir)
    manifest_text = str(manifest) if manifest is not None else None
    report = BatchReport("records")
    found_classes, sources = _records_sources(clips, manifest_text, report)
    classes = list(classes or found_classes)
    unknown = sorted({s.label for _, s in sources} - set(classes))
    if unknown:
        raise UserError(f"labels {unknown} are not among the classes {classes}")

    def hash_pass(pipeline):
        return (pipeline | "clips" >> beam.Create([(s.id, uri) for uri, s in sources])
                | "spread" >> beam.Reshuffle() | "sha256" >> beam.Map(_digest))

    digests = {o["item"]: o["sha256"] for o in core_beam.run_collect(hash_pass, settings, out, "records (hashes)")}
    plan = _plan_records(sources, classes, digests, config, report)
    if not plan.clips:
        report.log(logger)
        raise UserError(f"{clips}: no usable clips")
    info_path = core_beam.join(out, INFO_FILE)
    if core_beam.exists(info_path):
        info = json.loads(core_beam.read_bytes(info_path))
        if info.get("beam_plan") == plan.fingerprint:  # this very build is there: nothing to do
            for task in plan.tasks:
                report.skip(task.source.id, "already built")
            return RecordsResult(Path(out), info, report)
    staging = core_beam.join(out, STAGING_PREFIX + plan.fingerprint[:16])
    _encode_shards(plan, config, staging, settings)

    counts: dict[str, Counter] = {split: Counter() for split in plan.shard_names}
    for split, names in plan.shard_names.items():
        for name in names:
            sidecar = core_beam.join(staging, f"{name}.json")
            if not core_beam.exists(core_beam.join(staging, name)) or not core_beam.exists(sidecar):
                raise UserError(f"{staging}: shard {name} was not written; rerun the same command to finish")
            outcomes = json.loads(core_beam.read_bytes(sidecar))
            for clip_id in outcomes["done"]:
                report.ok(clip_id)
            for item, reason in outcomes["failed"]:
                report.fail(item, reason)
            counts[split].update(outcomes["counts"])
    if not report.done:
        from movinet_crossfit.data.records import _nothing_encoded

        report.log(logger)
        raise UserError(_nothing_encoded(Path(clips), plan.clips, report))
    info = {**build_info(classes, config, counts, manifest_text, clips, report, started),
            "runner": settings.runner, "beam_plan": plan.fingerprint}
    info = _publish_staged(out, staging, plan.shard_names, info)
    return RecordsResult(Path(out), info, report)


def _publish_staged(out: str, staging: str, shard_names: dict[str, list[str]], info: dict) -> dict:
    """Replace the folder's build with the staged one, as ``records._publish`` does locally."""
    if not core_beam.is_remote(out):
        from movinet_crossfit.core.fileio import folder_lock, temp_path_for
        from movinet_crossfit.data.records import _ctrl_c_deferred, _identity, _publish

        out_path = Path(out)
        shard_files = {split: [out_path / name for name in names] for split, names in shard_names.items()}
        with folder_lock(out_path, "a `records --runner` run"):
            digests = {}
            for names in shard_files.values():
                for final in names:
                    temp = temp_path_for(final)
                    os.replace(Path(staging) / final.name, temp)
                    digests[final] = (sha256_file(temp), _identity(temp))
            with _ctrl_c_deferred():
                info = _publish(out_path, shard_files, digests, info)
        shutil.rmtree(staging, ignore_errors=True)
        return info
    from apache_beam.io.filesystems import FileSystems

    core_beam.remove([core_beam.join(out, INFO_FILE)] + core_beam.matching(core_beam.join(out, "*.tfrecord")))
    digest = hashlib.sha256()
    for split, names in shard_names.items():
        finals = [core_beam.join(out, name) for name in names]
        FileSystems.rename([core_beam.join(staging, name) for name in names], finals)
        size = 0
        for name, final in zip(names, finals):
            data = core_beam.read_bytes(final)
            digest.update(name.encode())
            digest.update(hashlib.sha256(data).hexdigest().encode())
            size += len(data)
        info["splits"][split]["shards"] = list(names)
        info["splits"][split]["bytes"] = size
    info["total_bytes"] = sum(entry["bytes"] for entry in info["splits"].values())
    info["content_sha256"] = digest.hexdigest()
    core_beam.write_bytes_atomic(core_beam.join(out, INFO_FILE), json.dumps(info, indent=2).encode())
    core_beam.remove(core_beam.matching(core_beam.join(staging, "*")))
    return info
