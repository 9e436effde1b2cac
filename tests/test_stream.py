"""Causal training and the stream model: `train --causal`, `export RUN --stream`, StreamClassifier.

One tiny causal run (a0, 4 frames of 32 px, trained one step through the CLI on the tiny records)
and its stream export are made once a session; every test reads them.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from movinet_crossfit.core.errors import UserError
from tests.conftest import TINY_FRAMES, TINY_SIZE

# Measured on the tiny run (8 clips): fp16 moves the probabilities by up to 5.6e-5, dynamic-range
# (int8 weights) by up to 2.3e-3; the bounds leave ~10x room.
FP16_TOLERANCE = 1e-3
DYNAMIC_TOLERANCE = 2e-2


def _main(*args) -> int:
    from movinet_crossfit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


@pytest.fixture(scope="session")
def causal_run(tiny_records, tmp_path_factory):
    run = tmp_path_factory.mktemp("causal") / "run"
    # One step: every training clip in one batch, one epoch.
    code = _main("train", "--records", tiny_records, "--out", run, "--model-id", "a0", "--causal",
                 "--from-scratch", "--epochs", "1", "--batch-size", "256", "--no-select-best")
    assert code == 0
    return run


@pytest.fixture(scope="session")
def stream_export(causal_run, tiny_records, tmp_path_factory):
    from movinet_crossfit.movinet.stream import export_stream

    out = tmp_path_factory.mktemp("stream") / "export"
    return out, export_stream(causal_run, out, records_dir=tiny_records, parity_clips=8, calibration_clips=8)


@pytest.fixture(scope="session")
def parity_clips(tiny_records):
    from movinet_crossfit.movinet.export import _records_frames

    return _records_frames(tiny_records, ["test"], 6, TINY_FRAMES, TINY_SIZE)[0]


@pytest.fixture(scope="session")
def clip_reference(causal_run, parity_clips):
    from movinet_crossfit.movinet.export import keras_probabilities
    from movinet_crossfit.movinet.model import load_trained_classifier, spec_of

    model = load_trained_classifier(causal_run)[0]
    assert spec_of(model).causal
    return keras_probabilities(model, parity_clips)


def test_train_causal_records_it_in_config_summary_and_card(causal_run, stream_export):
    import yaml

    assert yaml.safe_load((causal_run / "config.yaml").read_text())["causal"] is True
    assert json.loads((causal_run / "train_summary.json").read_text())["causal"] is True
    out, _ = stream_export
    card = (out / "README.md").read_text()
    assert "stream" in card and "`image`" in card and "int8" in card


def test_export_stream_writes_every_file_and_the_contract(stream_export):
    out, report = stream_export
    info = json.loads((out / "stream.json").read_text())
    assert info["classes"] == report.classes and len(info["classes"]) >= 2
    assert info["size"] == TINY_SIZE and info["signature"] == "serving_default" and info["model_id"] == "a0"
    assert info["frame_rate"] is None or info["frame_rate"] > 0
    for variant in ("fp32", "fp16", "dynamic"):
        assert info["variants"][variant] == f"movinet_stream_{variant}.tflite"
        assert (out / info["variants"][variant]).stat().st_size > 0
    # int8 is shipped only above the agreement target; otherwise the reason is recorded.
    assert ("int8" in info["variants"]) == bool(info["int8"]["shipped"])
    assert info["int8"]["shipped"] or info["int8"]["reason"]
    assert set(info["state_names"]) == set(info["states"]) and len(info["state_names"]) > 10
    assert (out / "labels.txt").read_text().split() == info["classes"]
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert not list(out.glob(".*part*"))  # no temp file left behind


@pytest.mark.parametrize("variant", ["fp32", "fp16", "dynamic"])
def test_tflite_signature_is_named_and_builtin_only(stream_export, variant):
    from movinet_crossfit.core.tflite import describe_signature, tflite_op_names

    out, _ = stream_export
    info = json.loads((out / "stream.json").read_text())
    path = out / info["variants"][variant]
    signature = describe_signature(path)
    assert list(signature) == ["serving_default"]
    inputs, outputs = signature["serving_default"]["inputs"], signature["serving_default"]["outputs"]
    assert inputs["image"] == {"dtype": "uint8", "shape": [1, 1, TINY_SIZE, TINY_SIZE, 3]}
    assert outputs["probabilities"]["shape"] == [1, len(info["classes"])]
    assert set(inputs) - {"image"} == set(outputs) - {"probabilities"} == set(info["state_names"])
    for name in info["state_names"]:  # a state goes back in as it came out
        assert inputs[name] == outputs[name] == info["states"][name]
    ops = tflite_op_names(path)
    assert not [op for op in ops if op.startswith(("CUSTOM", "Flex"))], ops


def test_fp32_stream_fed_frame_by_frame_equals_the_causal_clip_model(stream_export, parity_clips, clip_reference):
    from movinet_crossfit.movinet.stream import StreamClassifier

    out, report = stream_export
    stream = StreamClassifier.load(out, "fp32")
    finals = []
    for clip in parity_clips:
        stream.reset()
        for frame in clip:
            probs = stream(frame)
        finals.append(probs)
    diff = np.abs(np.stack(finals) - clip_reference).max()
    assert diff <= 1e-4, diff
    assert report.parity["variants"]["fp32"]["max_abs_diff"] <= 1e-4
    assert report.parity["variants"]["saved_model"]["max_abs_diff"] <= 1e-4


def test_saved_model_init_states_and_call_signatures(stream_export, parity_clips, clip_reference):
    import tensorflow as tf

    out, _ = stream_export
    loaded = tf.saved_model.load(str(out / "saved_model"))
    assert {"init_states", "call"} <= set(loaded.signatures)
    states = loaded.signatures["init_states"]()
    assert all(float(tf.reduce_sum(tf.abs(tf.cast(v, tf.float32)))) == 0 for v in states.values())
    for frame in parity_clips[0]:
        result = loaded.signatures["call"](image=tf.constant(frame[None, None]), **states)
        probs = result.pop("probabilities").numpy()[0]
        states = result
    assert np.abs(probs - clip_reference[0]).max() <= 1e-4


def test_reset_makes_two_passes_identical_and_any_frame_size_is_preprocessed(stream_export, cfmove_clips):
    from movinet_crossfit.core.numpy_preprocess import preprocess_frames_numpy
    from movinet_crossfit.core.clip_sampling import sample_video
    from movinet_crossfit.movinet.stream import StreamClassifier

    out, _ = stream_export
    stream = StreamClassifier.load(out)
    assert stream.classes == json.loads((out / "stream.json").read_text())["classes"] and stream.size == TINY_SIZE
    video = sorted(next(p for p in sorted(cfmove_clips.iterdir()) if p.is_dir()).glob("*.mp4"))[0]
    frames = sample_video(video, 6).frames[0]  # full-size RGB frames
    stream.warm_up()
    first = [stream(f) for f in frames]
    second_without_reset = [stream(f) for f in frames]
    stream.reset()
    second = [stream(f) for f in frames]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))
    assert np.abs(np.stack(first) - np.stack(second_without_reset)).max() > 0  # the states do carry over
    stream.reset()
    preprocessed = [stream(f) for f in preprocess_frames_numpy(frames, TINY_SIZE)]
    np.testing.assert_array_equal(np.stack(first), np.stack(preprocessed))
    np.testing.assert_allclose(first[-1].sum(), 1.0, atol=1e-5)


def test_fp16_and_dynamic_stay_close_to_fp32(stream_export):
    out, report = stream_export
    fp32 = report.parity["variants"]["fp32"]["max_abs_diff"]
    assert report.parity["variants"]["fp16"]["max_abs_diff"] <= FP16_TOLERANCE + fp32
    assert report.parity["variants"]["dynamic"]["max_abs_diff"] <= DYNAMIC_TOLERANCE + fp32


def test_non_causal_run_is_refused_in_one_line(tiny_run, tmp_path, capsys):
    code = _main("export", tiny_run, "--stream", "-o", tmp_path / "out")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--causal" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_causal_options_are_checked_before_any_work(tmp_path):
    from movinet_crossfit.movinet.config import TrainConfig
    from movinet_crossfit.movinet.stream import StreamClassifier

    with pytest.raises(UserError, match="a0, a1, a2"):
        TrainConfig(model_id="a3", causal=True, from_scratch=True).validate()
    with pytest.raises(UserError, match="movinet_a0_stream.tar.gz"):
        TrainConfig(model_id="a0", causal=True).validate()
    with pytest.raises(UserError, match="stream.json"):
        StreamClassifier.load(tmp_path)


def test_a_truncated_stream_file_is_one_line_naming_it(stream_export, tmp_path):
    import shutil

    from movinet_crossfit.core.errors import UserError
    from movinet_crossfit.movinet.stream import STREAM_FILE, StreamClassifier, stream_filename

    out, _ = stream_export
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(out / STREAM_FILE, broken / STREAM_FILE)
    (broken / stream_filename("fp32")).write_bytes((out / stream_filename("fp32")).read_bytes()[:2000])
    with pytest.raises(UserError, match=r"movinet_stream_fp32\.tflite: not a readable TFLite model .*export it again"):
        StreamClassifier.load(broken)
