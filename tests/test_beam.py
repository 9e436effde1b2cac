"""split / records / poses on Apache Beam (``--runner``) give the local path's output, on the
DirectRunner with 2 workers: the same clips, byte-identical shards and the same dataset_info, a bad
video reported while the rest completes, and a re-run after an interruption without duplicates."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("apache_beam")

from movinet_crossfit.core.beam import BeamSettings  # noqa: E402
from movinet_crossfit.core.errors import UserError  # noqa: E402
from movinet_crossfit.core.fileio import sha256_file  # noqa: E402
from movinet_crossfit.core.video import probe  # noqa: E402
from movinet_crossfit.data.records import INFO_FILE, RecordsConfig, write_records  # noqa: E402

DIRECT = BeamSettings("DirectRunner", workers=2)
# What a Beam build adds to dataset_info.json, and what differs between any two builds.
BEAM_ONLY = {"build_seconds", "runner", "beam_plan"}


def _files(folder: Path, pattern: str) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob(pattern))}


def _info(folder: Path) -> dict:
    info = json.loads((folder / INFO_FILE).read_text())
    return {k: v for k, v in info.items() if k not in BEAM_ONLY}


def _same_build(beam_dir: Path, local_dir: Path) -> None:
    assert _files(beam_dir, "*.tfrecord") == _files(local_dir, "*.tfrecord")  # names and bytes
    beam_info, local_info = _info(beam_dir), _info(local_dir)
    assert beam_info == local_info
    assert not [p.name for p in beam_dir.iterdir() if p.name.startswith(".beam")]  # staging and scratch gone


@pytest.fixture(scope="module")
def beam_clips(generated_pipeline, tmp_path_factory):
    from movinet_crossfit.data.beam_pipeline import split_clips_beam

    out = tmp_path_factory.mktemp("beam") / "clips"
    report = split_clips_beam(generated_pipeline["root"] / "manifest.json", out, settings=DIRECT)
    return out, report


def test_split_on_beam_cuts_the_local_clips(generated_pipeline, beam_clips):
    out, report = beam_clips
    local = generated_pipeline["split_report"]
    assert not report.failed and sorted(report.done) == sorted(local.done)
    assert report.frames == local.frames
    # the same ffmpeg threads as the local run: the same bytes
    assert _files(out, "*.mp4") == _files(generated_pipeline["root"] / "clips", "*.mp4")


def test_split_rerun_after_an_interruption_redoes_only_the_missing_clip(generated_pipeline, beam_clips, tmp_path):
    from movinet_crossfit.data.beam_pipeline import split_clips_beam

    out, _ = beam_clips
    copy = tmp_path / "clips"
    shutil.copytree(out, copy)
    victim = sorted(copy.rglob("*.mp4"))[0]
    victim.unlink()
    stray = victim.with_name(f".{victim.name}.part-999999")  # what a killed ffmpeg worker left
    stray.write_bytes(b"half a clip")
    report = split_clips_beam(generated_pipeline["root"] / "manifest.json", copy, settings=DIRECT)
    assert len(report.done) == 1 and report.done[0].endswith(victim.stem)
    assert len(report.skipped) == len(_files(out, "*.mp4")) - 1
    # one clip to cut gets every core's ffmpeg threads (as locally), so only its frames are compared
    redone = victim.relative_to(copy).as_posix()
    assert {k: v for k, v in _files(copy, "*.mp4").items() if k != redone} == \
        {k: v for k, v in _files(out, "*.mp4").items() if k != redone}
    assert report.frames[report.done[0]] == probe(victim).num_frames == probe(out / redone).num_frames
    assert not list(copy.rglob(".*"))  # the stray temp file and Beam's scratch are gone


def test_records_on_beam_are_the_local_records(generated_pipeline, tmp_path):
    from movinet_crossfit.data.beam_pipeline import write_records_beam

    root = generated_pipeline["root"]
    result = write_records_beam(tmp_path / "records", clips_dir=root / "clips", manifest=root / "manifest.json",
                                config=RecordsConfig(num_frames=8, size=64, seed=3), settings=DIRECT)
    local = generated_pipeline["records"]
    assert result.report.done == local.report.done and not result.report.failed
    _same_build(tmp_path / "records", root / "records")
    assert result.info["runner"] == "DirectRunner"
    # a second run finds this very build and does nothing
    again = write_records_beam(tmp_path / "records", clips_dir=root / "clips", manifest=root / "manifest.json",
                               config=RecordsConfig(num_frames=8, size=64, seed=3), settings=DIRECT)
    assert not again.report.done and len(again.report.skipped) == len(local.report.done)


def test_records_rerun_after_an_interruption_completes_without_duplicates(generated_pipeline, tmp_path):
    """An interrupted build: its plan's staging folder holds some shards, one deleted, a temp file of a
    killed writer beside them. The re-run encodes only the missing shard and publishes each clip once."""
    from movinet_crossfit.core.progress import BatchReport
    from movinet_crossfit.data import beam_pipeline as bp

    root = generated_pipeline["root"]
    config = RecordsConfig(num_frames=8, size=64, seed=3, clips_per_shard=4)
    local = write_records(tmp_path / "local", clips_dir=root / "clips", manifest=root / "manifest.json",
                          config=RecordsConfig(num_frames=8, size=64, seed=3, clips_per_shard=4))
    # the first run, stopped after its shards were encoded (before publishing)
    report = BatchReport("records")
    classes, sources = bp._records_sources(str(root / "clips"), str(root / "manifest.json"), report)
    digests = {s.id: sha256_file(s.path) for _, s in sources}
    config.ratios = bp.normalise_ratios(config.ratios)
    plan = bp._plan_records(sources, classes, digests, config, report)
    staging = tmp_path / "beam" / (bp.STAGING_PREFIX + plan.fingerprint[:16])
    bp._encode_shards(plan, config, str(staging), DIRECT)
    shards = sorted(staging.glob("*.tfrecord"))
    assert len(shards) > 3
    shards[1].unlink()
    (staging / f".{shards[1].name}.part-999999").write_bytes(b"half a shard")
    redone = shards[1].name
    stamps = {p.name: p.stat().st_mtime_ns for p in shards if p.name != redone}

    result = bp.write_records_beam(tmp_path / "beam", clips_dir=root / "clips", manifest=root / "manifest.json",
                                   config=RecordsConfig(num_frames=8, size=64, seed=3, clips_per_shard=4),
                                   settings=DIRECT)
    assert sorted(result.report.done) == sorted(local.report.done)  # each clip once
    assert len(result.report.done) == len(set(result.report.done))
    _same_build(tmp_path / "beam", tmp_path / "local")
    kept = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "beam").glob("*.tfrecord") if p.name in stamps}
    assert kept == stamps  # finished shards were moved into place, not encoded again


def test_a_bad_clip_is_reported_and_the_rest_completes(generated_pipeline, tmp_path):
    from movinet_crossfit.data.beam_pipeline import write_records_beam

    root = generated_pipeline["root"]
    clips = tmp_path / "clips"
    shutil.copytree(root / "clips", clips)
    bad = sorted(clips.rglob("*.mp4"))[2]
    bad.write_bytes(b"not a video at all")
    result = write_records_beam(tmp_path / "records", clips_dir=clips, manifest=root / "manifest.json",
                                config=RecordsConfig(num_frames=8, size=64, seed=3), settings=DIRECT)
    total = len(generated_pipeline["records"].report.done)
    assert [item for item, _ in result.report.failed] == [str(bad)]
    assert len(result.report.done) == total - 1
    assert sum(split["clips"] for split in result.info["splits"].values()) == total - 1
    assert result.info["failed"][0]["item"] == str(bad)


@pytest.mark.slow
def test_records_of_real_clips_on_beam_equal_the_local_ones(cfmove_clips, tmp_path):
    from movinet_crossfit.data.beam_pipeline import write_records_beam

    clips = tmp_path / "clips"
    for label_dir in sorted(p for p in cfmove_clips.iterdir() if p.is_dir())[:3]:
        (clips / label_dir.name).mkdir(parents=True)
        for path in sorted(label_dir.glob("*.mp4"))[:3]:
            shutil.copy(path, clips / label_dir.name / path.name)
    config = dict(num_frames=4, size=32, ratios={"train": 0.5, "test": 0.5})
    local = write_records(tmp_path / "local", clips_dir=clips, config=RecordsConfig(**config))
    result = write_records_beam(tmp_path / "beam", clips_dir=clips, config=RecordsConfig(**config), settings=DIRECT)
    assert result.report.done == local.report.done and len(result.report.done) >= 4
    assert result.report.warnings == local.report.warnings and not result.report.failed
    _same_build(tmp_path / "beam", tmp_path / "local")


def test_beam_options_become_pipeline_flags_and_mistakes_are_user_errors():
    flags = BeamSettings("DirectRunner", ("direct_running_mode=multi_processing", "--job_name=x"), 3).flags()
    assert flags == ["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--job_name=x",
                     "--direct_num_workers=3"]
    assert BeamSettings("DataflowRunner", ("project=p",)).flags() == ["--runner=DataflowRunner", "--project=p"]
    with pytest.raises(UserError, match="unknown Beam runner"):
        BeamSettings("Direct").flags()
    with pytest.raises(UserError, match="KEY=VALUE"):
        BeamSettings("DirectRunner", ("not an option",)).flags()


def test_poses_on_beam_are_the_local_poses_and_a_bad_video_is_reported(cfmove_clips, tmp_path):
    import numpy as np

    from movinet_crossfit.pose.beam_poses import write_poses_beam
    from movinet_crossfit.pose.extract import write_poses

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(sorted((cfmove_clips / "thruster").glob("*.mp4"))[0], videos / "good.mp4")
    (videos / "bad.mp4").write_bytes(b"not a video")
    inputs = sorted(videos.iterdir())
    local = write_poses(inputs, tmp_path / "local", every=8, person="first")
    result = write_poses_beam(inputs, tmp_path / "beam", settings=DIRECT, every=8, person="first")
    assert result.report.done == local.report.done == [str(videos / "good.mp4")]
    assert result.report.failed == local.report.failed and len(result.report.failed) == 1
    with np.load(tmp_path / "beam" / "good.npz") as beam_npz, np.load(tmp_path / "local" / "good.npz") as local_npz:
        assert sorted(beam_npz.files) == sorted(local_npz.files)
        for key in local_npz.files:
            assert np.array_equal(beam_npz[key], local_npz[key], equal_nan=local_npz[key].dtype.kind == "f"), key
