"""TFRecords of clips: writing (``write_records``) and reading (``load_dataset``).

One ``tf.train.SequenceExample`` per clip, keys as TF Model Garden's video reader expects:
context ``clip/label/index``, ``clip/label/text``, ``clip/id``, ``clip/group``, ``clip/start_time``,
``clip/end_time``, ``clip/fps``, ``image/height``, ``image/width``; feature list ``image/encoded``
with one JPEG per sampled frame. Frames go through ``clip_sampling.load_clip`` (sample + THE
preprocessing), the same path predict uses. Shards are written under temp names and renamed
when complete; ``dataset_info.json`` describes what was built and hashes the shard contents.

One build at a time per output folder (``fileio.folder_lock``); the same inputs and config give
byte-identical shards; Ctrl-C drops the queued clips at once and keeps no shard of the unfinished
build, leaving the folder's previous build as it was.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import folder_lock, remove_stale_temps, sha256_file, temp_path_for, write_json_atomic
from movinet_crossfit.data.manifest import Manifest
from movinet_crossfit.core.progress import BatchReport, progress_bar
from movinet_crossfit.data.splits import DEFAULT_RATIOS, assign_splits, normalise_ratios, split_warnings
from movinet_crossfit.core.clip_sampling import DEFAULT_NUM_FRAMES, DEFAULT_SIZE, load_clip_with_fps
from movinet_crossfit.core.video import VIDEO_SUFFIXES, VideoError

INFO_FILE = "dataset_info.json"
logger = logging.getLogger(__name__)


@dataclass
class RecordsConfig:
    num_frames: int = DEFAULT_NUM_FRAMES
    size: int = DEFAULT_SIZE
    # Huffman-optimised JPEG at 60 keeps records smaller than the h264 clips they
    # come from (benchmarks/bench_records.py); raise it when disk is cheaper than fidelity.
    jpeg_quality: int = 60
    ratios: dict = field(default_factory=lambda: dict(DEFAULT_RATIOS))
    seed: int = 0
    clips_per_shard: int = 256
    workers: Optional[int] = None


@dataclass
class ClipSource:
    """One clip to encode: where it is and what it is."""

    id: str
    path: Path
    label: str
    group: str
    start_time: float = 0.0
    end_time: float = 0.0
    fps: float = 0.0
    key: tuple = ()  # (video, start_frame, end_frame) when known, for same-range duplicates


def clips_from_manifest(manifest_path: Path, clips_dir: Path) -> tuple[list[str], list[ClipSource]]:
    manifest = Manifest.load(manifest_path)
    sources = [ClipSource(c.id, clips_dir / c.clip_filename(), c.label, c.group, c.start_time or 0.0,
                          c.end_time or 0.0, c.fps or 0.0, (c.video, c.start_frame, c.end_frame))
               for c in manifest.clips]
    return list(manifest.classes), sources


def clips_from_folder(clips_dir: Path) -> tuple[list[str], list[ClipSource]]:
    """The original tool's layout, ``<label>/<clip>.mp4``: each clip is its own group."""
    if not clips_dir.is_dir():
        raise UserError(f"{clips_dir}: clip folder not found; cut clips with `movinet-crossfit split`")
    labels = sorted(p.name for p in clips_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    sources = []
    for label in labels:
        for path in sorted((clips_dir / label).iterdir()):
            if path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith("."):
                sources.append(ClipSource(f"{label}/{path.stem}", path, label, f"{label}/{path.stem}"))
    if not sources:
        raise UserError(f"{clips_dir}: no clips found; expected <label>/<clip>.mp4 files")
    return labels, sources


def drop_duplicates(sources: list[ClipSource], report: BatchReport,
                    digests: Optional[dict[str, Optional[str]]] = None) -> list[ClipSource]:
    """Drop clips whose source range or whose bytes repeat an earlier clip's. ``digests``: each
    clip's SHA-256 by id (None: no file) when workers computed them (``data.beam_pipeline``);
    by default the files are hashed here."""
    seen_keys: dict[tuple, str] = {}
    seen_bytes: dict[str, str] = {}
    kept = []
    for source in sources:
        if source.key and source.key in seen_keys:
            report.warn(f"{source.id}: same source and frame range as {seen_keys[source.key]}; dropped")
            continue
        digest = (digests.get(source.id) if digests is not None
                  else sha256_file(source.path) if source.path.is_file() else None)
        if digest is not None:
            if digest in seen_bytes:
                report.warn(f"{source.path}: byte-identical to {seen_bytes[digest]}; dropped")
                continue
            seen_bytes[digest] = str(source.path)
        if source.key:
            seen_keys[source.key] = source.id
        kept.append(source)
    return kept


def _bytes_feature(values: Iterable[bytes]):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int_feature(value: int):
    import tensorflow as tf

    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _float_feature(value: float):
    import tensorflow as tf

    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))


def encode_clip(source: ClipSource, label_index: int, config: RecordsConfig) -> bytes:
    """Decode, sample, preprocess and JPEG-encode one clip into a serialized SequenceExample."""
    import tensorflow as tf

    frames, decoded = load_clip_with_fps(source.path, config.num_frames, config.size)
    jpegs = [tf.io.encode_jpeg(frame, quality=config.jpeg_quality, optimize_size=True).numpy()
             for frame in frames]
    fps = source.fps or decoded.fps
    start, end = source.start_time, source.end_time
    if end <= start:
        end = start + (decoded.num_frames / fps if fps else 0.0)
    context = tf.train.Features(feature={
        "clip/label/index": _int_feature(label_index),
        "clip/label/text": _bytes_feature([source.label.encode()]),
        "clip/id": _bytes_feature([source.id.encode()]),
        "clip/group": _bytes_feature([source.group.encode()]),
        "clip/start_time": _float_feature(start),
        "clip/end_time": _float_feature(end),
        "clip/fps": _float_feature(fps),
        "image/height": _int_feature(config.size),
        "image/width": _int_feature(config.size),
    })
    frames_list = tf.train.FeatureList(feature=[_bytes_feature([jpeg]) for jpeg in jpegs])
    example = tf.train.SequenceExample(context=context,
                                       feature_lists=tf.train.FeatureLists(feature_list={"image/encoded": frames_list}))
    # deterministic: map fields (the context's features) in key order, not in this process's hash
    # order, so the same inputs and config give the same bytes in every run.
    return example.SerializeToString(deterministic=True)


@dataclass
class RecordsResult:
    out_dir: Path
    info: dict
    report: BatchReport


def write_records(out_dir: str | os.PathLike, *, clips_dir: str | os.PathLike,
                  manifest: str | os.PathLike | None = None, config: RecordsConfig | None = None,
                  classes: Optional[list[str]] = None) -> RecordsResult:
    """Encode every clip into sharded TFRecords split train/test(/val) by group.

    With ``manifest``, clips are ``clips_dir/<label>/<id>.mp4`` as ``split`` wrote them and are
    grouped by source video; without, ``clips_dir`` is a ``<label>/<clip>.mp4`` folder and every
    clip is its own group (a warning says so).
    """
    config = config or RecordsConfig()
    config.ratios = normalise_ratios(config.ratios)
    out_dir, clips_dir = Path(out_dir), Path(clips_dir)
    report = BatchReport("records")
    if manifest is not None:
        found_classes, sources = clips_from_manifest(Path(manifest), clips_dir)
    else:
        found_classes, sources = clips_from_folder(clips_dir)
        report.warn(f"{clips_dir}: no manifest, so the source video of each clip is unknown and the split "
                    "cannot be grouped: clips of one video may land in both train and test, which "
                    "overstates test accuracy. Build records from a manifest to group them.")
    classes = list(classes or found_classes)
    unknown = sorted({s.label for s in sources} - set(classes))
    if unknown:
        raise UserError(f"labels {unknown} are not among the classes {classes}")
    sources = drop_duplicates(sources, report)
    missing = [s for s in sources if not s.path.is_file()]
    for source in missing:
        report.fail(str(source.path), "clip file not found; run `movinet-crossfit split` first")
    sources = [s for s in sources if s.path.is_file()]
    if not sources:
        report.log(logger)
        raise UserError(f"{clips_dir}: no usable clips")

    by_split = split_sources(sources, config, report)

    started = time.perf_counter()
    counts: dict[str, Counter] = {name: Counter() for name in by_split}
    shard_files: dict[str, list[Path]] = {}
    temp_files: list[Path] = []
    published = False
    try:
        # One writer per folder: two builds into one folder would mix their shards.
        with folder_lock(out_dir, "a `records` run"):
            for stale in remove_stale_temps(out_dir):
                logger.info("%s: removed (left by a writer that was killed)", stale)
            _encode_shards(out_dir, by_split, classes, config, report, counts, shard_files, temp_files)
            if not report.done:
                report.log(logger)
                raise UserError(_nothing_encoded(clips_dir, len(sources), report))
            digests = {name: (sha256_file(temp_path_for(name)), _identity(temp_path_for(name)))
                       for names in shard_files.values() for name in names}
            with _ctrl_c_deferred():
                published = True
                info = _publish(out_dir, shard_files, digests,
                                build_info(classes, config, counts, manifest, clips_dir, report, started))
    except KeyboardInterrupt as exc:
        if published:
            raise KeyboardInterrupt(f"the build had finished: {out_dir} holds it whole") from exc
        raise KeyboardInterrupt(f"records stopped after {len(report.done)} of {len(sources)} clips; an "
                                f"interrupted build keeps no shards, and {out_dir} holds what it held before "
                                "(rerun to build)") from exc
    finally:
        for temp in temp_files:
            if temp.exists():
                temp.unlink()
    return RecordsResult(out_dir, info, report)


def split_sources(sources: list[ClipSource], config: RecordsConfig, report: BatchReport) -> dict[str, list[ClipSource]]:
    """The clips of each split, in id order (the order of their shards): ``splits.assign_splits`` by
    source video, its warnings into ``report``. The one plan of ``write_records`` and its Beam twin."""
    splits = assign_splits([s.label for s in sources], [s.group for s in sources], config.ratios, config.seed)
    for message in split_warnings([s.label for s in sources], [s.group for s in sources], splits, config.ratios):
        report.warn(message)
    by_split: dict[str, list[ClipSource]] = {name: [] for name in config.ratios}
    for source, split in zip(sources, splits):
        by_split[split].append(source)
    for items in by_split.values():
        items.sort(key=lambda s: s.id)
    return by_split


def shard_names(split: str, clips: int, clips_per_shard: int) -> list[str]:
    """The shard file names of a split of ``clips`` clips; clip ``position`` (in id order) goes to
    ``shard_of(position, len(names), clips)``. One layout for ``write_records`` and its Beam twin,
    whose shards must be the same files byte for byte."""
    n_shards = max(1, -(-clips // clips_per_shard))
    return [f"{split}-{i:05d}-of-{n_shards:05d}.tfrecord" for i in range(n_shards)]


def shard_of(position: int, shards: int, clips: int) -> int:
    return position * shards // clips


def build_info(classes: list[str], config: RecordsConfig, counts: dict[str, Counter], manifest, clips_dir,
               report: BatchReport, started: float) -> dict:
    """``dataset_info.json`` before its shards are listed (``_publish`` adds them)."""
    return {
        "version": 1,
        "classes": classes,
        "num_frames": config.num_frames,
        "size": config.size,
        "splits": {split: {"clips": sum(counts[split].values()),
                           "per_class": dict(sorted(counts[split].items()))} for split in counts},
        "grouped": manifest is not None,
        "source": {"manifest": str(manifest) if manifest else None, "clips_dir": str(clips_dir)},
        "config": {k: v for k, v in asdict(config).items() if k != "workers"},
        "failed": [{"item": i, "reason": r} for i, r in report.failed],
        "warnings": report.warnings,
        "build_seconds": round(time.perf_counter() - started, 2),
    }


def _encode_shards(out_dir: Path, by_split: dict[str, list[ClipSource]], classes: list[str],
                   config: RecordsConfig, report: BatchReport, counts: dict[str, Counter],
                   shard_files: dict[str, list[Path]], temp_files: list[Path]) -> None:
    """Encode each split's clips (in id order) into its shards' temp files; ``counts``,
    ``shard_files`` and ``temp_files`` are filled in as it goes, so the caller can clean up."""
    import tensorflow as tf

    pool = concurrent.futures.ThreadPoolExecutor(config.workers or os.cpu_count() or 1,
                                                 thread_name_prefix="records")
    try:
        with progress_bar(sum(len(items) for items in by_split.values()), "records") as advance:
            for split, items in by_split.items():
                names = [out_dir / name for name in shard_names(split, len(items), config.clips_per_shard)]
                n_shards = len(names)
                shard_files[split] = names
                temps = [temp_path_for(name) for name in names]
                temp_files.extend(temps)
                writers = [tf.io.TFRecordWriter(str(t)) for t in temps]
                try:
                    futures = [pool.submit(encode_clip, s, classes.index(s.label), config) for s in items]
                    for position, (source, future) in enumerate(zip(items, futures)):
                        try:
                            record = future.result()
                        except (VideoError, UserError) as exc:
                            report.fail(str(source.path), str(exc))
                        except Exception as exc:  # noqa: BLE001 - one bad clip must not stop the batch
                            report.fail(str(source.path), f"{type(exc).__name__}: {exc}")
                        else:
                            writers[shard_of(position, n_shards, len(items))].write(record)
                            counts[split][source.label] += 1
                            report.ok(source.id)
                        advance(1)
                finally:
                    for writer in writers:
                        writer.close()
    finally:
        # On Ctrl-C the queued clips are dropped at once; only those being decoded run to their end
        # (a terminal's Ctrl-C stops their ffmpegs too).
        pool.shutdown(wait=True, cancel_futures=True)


def _nothing_encoded(clips_dir: Path, total: int, report: BatchReport) -> str:
    reasons = [reason if item in reason else f"{item}: {reason}" for item, reason in report.failed]
    more = f"; and {len(reasons) - 3} more" if len(reasons) > 3 else ""
    return f"{clips_dir}: none of the {total} clips could be encoded: {'; '.join(reasons[:3])}{more}"


def _identity(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_dev, stat.st_ino, stat.st_size


def _publish(out_dir: Path, shard_files: dict[str, list[Path]], digests: dict[Path, tuple[str, tuple]],
             info: dict) -> dict:
    """Replace the folder's build with this one, and describe what is then on disk in ``INFO_FILE``.

    The old info file goes first and the new one comes last, so a folder caught half-way (a kill)
    has none and is refused by ``load_dataset`` rather than read as a mix of two builds. The shards
    listed are the ones present, checked to be the very files this build wrote and hashed.
    """
    (out_dir / INFO_FILE).unlink(missing_ok=True)
    for old in out_dir.glob("*.tfrecord"):
        old.unlink()
    for names in shard_files.values():
        for name in names:
            os.replace(temp_path_for(name), name)
    present = sorted(out_dir.glob("*.tfrecord"))
    ours = sorted(name for names in shard_files.values() for name in names)
    strangers = [p.name for p in present if p not in digests or _identity(p) != digests[p][1]]
    if present != ours or strangers:
        raise UserError(f"{out_dir}: another program wrote shards here during this build "
                        f"({', '.join(strangers or sorted({p.name for p in ours} - {p.name for p in present}))}); "
                        "build into a folder nothing else writes to")
    digest = hashlib.sha256()
    for split, names in shard_files.items():
        on_disk = [p for p in present if p in names]
        for name in on_disk:
            digest.update(name.name.encode())
            digest.update(digests[name][0].encode())
        info["splits"][split]["shards"] = [p.name for p in on_disk]
        info["splits"][split]["bytes"] = sum(p.stat().st_size for p in on_disk)
    info["total_bytes"] = sum(entry["bytes"] for entry in info["splits"].values())
    info["content_sha256"] = digest.hexdigest()
    write_json_atomic(out_dir / INFO_FILE, info)
    return info


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C during the block (a few renames and one small file) takes effect right after it, so the
    folder holds one whole build, never half of two. Only the main thread receives Ctrl-C."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def read_info(records_dir: str | os.PathLike) -> dict:
    path = Path(records_dir) / INFO_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found; build records with `movinet-crossfit records`")
    return json.loads(path.read_text(encoding="utf-8"))


def decode_frames(encoded, num_frames: int, size: int):
    """``num_frames`` JPEG strings -> uint8 ``[num_frames, size, size, 3]``.

    The loop is unrolled into the graph (the frame count is fixed per dataset): one decode op
    per frame is several times faster than ``tf.map_fn`` over a 10-element tensor.
    """
    import tensorflow as tf

    encoded = tf.ensure_shape(encoded, [num_frames])
    frames = [tf.io.decode_jpeg(encoded[i], channels=3) for i in range(num_frames)]
    return tf.ensure_shape(tf.stack(frames), [num_frames, size, size, 3])


def to_unit_float(frames):
    """uint8 frames -> float32 in [0, 1] in one fused op: ``clip_sampling.to_model_input`` for tf.data.

    ``Dequantize`` computes ``x * float32(1/255)`` in a single pass, where ``to_model_input``
    runs a cast and then a division (two passes over a 4x larger tensor); the two agree to
    1 ulp (at most 6e-8; ``tests/test_records.py`` checks all 256 values). Not for exported
    graphs: ``quint8`` and ``Bitcast`` are not TFLite builtins, which is why ``to_model_input``
    stays the definition.
    """
    import tensorflow as tf

    return tf.quantization.dequantize(tf.bitcast(frames, tf.quint8), 0.0, 1.0, mode="MIN_COMBINED")


def parse_example(serialized, num_frames: int, size: int):
    """A serialized SequenceExample -> dict with uint8 ``frames [num_frames, size, size, 3]`` and context."""
    import tensorflow as tf

    context_spec = {
        "clip/label/index": tf.io.FixedLenFeature([], tf.int64),
        "clip/label/text": tf.io.FixedLenFeature([], tf.string),
        "clip/id": tf.io.FixedLenFeature([], tf.string),
        "clip/group": tf.io.FixedLenFeature([], tf.string),
    }
    sequence_spec = {"image/encoded": tf.io.FixedLenSequenceFeature([], tf.string)}
    context, sequence = tf.io.parse_single_sequence_example(serialized, context_spec, sequence_spec)
    frames = decode_frames(sequence["image/encoded"], num_frames, size)
    return {"frames": frames, "label": context["clip/label/index"], "label_text": context["clip/label/text"],
            "id": context["clip/id"], "group": context["clip/group"]}


def augment_clip(frames, seed=None):
    """Random spatial/photometric change applied identically to every frame of a clip.

    ``frames``: float32 ``[T, H, W, 3]`` in [0, 1]. Frame order is never changed.
    """
    import tensorflow as tf

    shape = tf.shape(frames)
    size_h, size_w = shape[1], shape[2]
    flip = tf.random.uniform([]) < 0.5
    frames = tf.cond(flip, lambda: tf.reverse(frames, axis=[2]), lambda: frames)
    scale = tf.random.uniform([], 0.8, 1.0)
    crop_h = tf.cast(tf.cast(size_h, tf.float32) * scale, tf.int32)
    crop_w = tf.cast(tf.cast(size_w, tf.float32) * scale, tf.int32)
    top = tf.random.uniform([], 0, size_h - crop_h + 1, dtype=tf.int32)
    left = tf.random.uniform([], 0, size_w - crop_w + 1, dtype=tf.int32)
    frames = frames[:, top:top + crop_h, left:left + crop_w, :]
    frames = tf.image.resize(frames, (size_h, size_w), method="bilinear")
    frames = frames + tf.random.uniform([], -0.1, 0.1)
    mean = tf.reduce_mean(frames)
    frames = (frames - mean) * tf.random.uniform([], 0.8, 1.2) + mean
    return tf.clip_by_value(frames, 0.0, 1.0)


def shard_paths(records_dir: str | os.PathLike, split: str) -> list[str]:
    files = sorted(str(p) for p in Path(records_dir).glob(f"{split}-*-of-*.tfrecord"))
    if not files:
        available = sorted({p.name.split("-")[0] for p in Path(records_dir).glob("*.tfrecord")})
        raise UserError(f"{records_dir}: no '{split}' shards (splits present: {available or 'none'})")
    return files


def load_dataset(records_dir: str | os.PathLike, split: str = "train", batch_size: Optional[int] = 8, *,
                 shuffle: Optional[bool] = None, augment: bool = False, repeat: bool = False,
                 with_metadata: bool = False, seed: Optional[int] = None, drop_remainder: bool = False,
                 uint8: bool = False):
    """A ``tf.data.Dataset`` of ``(frames, label)``: float32 frames in [0, 1],
    ``[num_frames, size, size, 3]`` per clip, batched when ``batch_size`` is set.

    Parsing and JPEG decoding run in parallel; shuffling defaults to on for ``train``. With
    ``with_metadata`` each element is ``(frames, label, metadata_dict)``.

    ``uint8``: frames stay uint8 in [0, 255] (not with ``augment``), for a model that converts them
    itself (``clip_sampling.to_model_input`` inside the step, on the accelerator). This is how
    ``train`` (wherever it does not augment) and ``evaluate`` read: the float32 conversion writes 4
    bytes per decoded byte and holds the float path to about 0.8 of the JPEG-decoding rate, where
    uint8 keeps up with it (benchmarks/bench_records.py, docs/records.md). The default stays float32:
    code that feeds these frames to a model directly gets the [0, 1] the model was built for, where
    uint8 would be read as 0-255 without any error.
    """
    import tensorflow as tf

    info = read_info(records_dir)
    num_frames, size = int(info["num_frames"]), int(info["size"])
    files = shard_paths(records_dir, split)
    shuffle = (split == "train") if shuffle is None else shuffle
    autotune = tf.data.AUTOTUNE
    # Interleaving shards pays off only when there are several; with one it is pure overhead.
    dataset = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 8) if len(files) > 1 else None)
    if shuffle:
        dataset = dataset.shuffle(2048, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    # Without augmentation frames stay uint8 through batching (a quarter of the bytes to copy)
    # and become float32 in one op per batch; augmentation works on float32 per clip.
    if uint8 and augment:
        raise ValueError("uint8 frames cannot be augmented (augment_clip works on float32)")
    convert_per_batch = bool(batch_size) and not augment and not uint8

    def to_element(serialized):
        parsed = parse_example(serialized, num_frames, size)
        frames = parsed["frames"]
        if not convert_per_batch and not uint8:
            frames = to_unit_float(frames)
        if augment:
            frames = augment_clip(frames)
        label = tf.cast(parsed["label"], tf.int32)
        if with_metadata:
            return frames, label, {k: parsed[k] for k in ("id", "group", "label_text")}
        return frames, label

    dataset = dataset.map(to_element, num_parallel_calls=autotune, deterministic=not shuffle)
    if batch_size:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if convert_per_batch:
        dataset = dataset.map(lambda frames, *rest: (to_unit_float(frames), *rest),
                              num_parallel_calls=autotune, deterministic=not shuffle)
    return dataset.prefetch(autotune)
