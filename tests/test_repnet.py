"""RepNet: checkpoint layout of the public weights, loading, the official counting rules, streaming,
export parity, and the `count` command. Models are built at 32 px (the trunk is the same at any
size) and shared: each build costs ~12 s."""
from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from movinet_crossfit.repnet.infer import (CountOptions, count_frames, count_video, decide_count,
                                              frame_scores, plot_count, rep_boundaries)
from movinet_crossfit.core.errors import UserError

SIZE = 32


@pytest.fixture(scope="session")
def repnet70():
    from movinet_crossfit.repnet.model import build_repnet

    import tf_keras

    tf_keras.utils.set_random_seed(1)
    return build_repnet("ckpt-70", num_frames=64, image_size=SIZE)


@pytest.fixture(scope="session")
def repnet88():
    from movinet_crossfit.repnet.model import build_repnet

    return build_repnet("ckpt-88", num_frames=64, image_size=SIZE)


def _save(model, folder):
    import tensorflow as tf

    return tf.train.Checkpoint(model=model).save(str(folder / "ckpt"))


@pytest.fixture(scope="session")
def weights70(repnet70, tmp_path_factory):
    folder = tmp_path_factory.mktemp("repnet70")
    _save(repnet70, folder)
    return folder


def _moving_square_frames(n, period, size=(96, 72), seed=0, noise=6):
    """A bright square going round a circle once every ``period`` frames, on a noisy background."""
    rng = np.random.default_rng(seed)
    width, height = size
    for i in range(n):
        frame = np.full((height, width, 3), 40, np.uint8)
        angle = 2 * np.pi * i / period
        cx, cy = int(width / 2 + 25 * np.cos(angle)), int(height / 2 + 20 * np.sin(angle))
        frame[max(cy - 8, 0):cy + 8, max(cx - 8, 0):cx + 8] = (230, 200, 40)
        frame = np.clip(frame.astype(np.int16) + rng.integers(-noise, noise + 1, frame.shape), 0, 255)
        yield frame.astype(np.uint8)


@pytest.fixture(scope="session")
def periodic_video(tmp_path_factory):
    from movinet_crossfit.synthetic.encode import write_mp4

    path = tmp_path_factory.mktemp("videos") / "circles.mp4"
    write_mp4(path, _moving_square_frames(150, 12), (96, 72), 30)
    return path


# --- checkpoint layout --------------------------------------------------------------------------

def _keys(prefix):
    import tensorflow as tf

    return {name.replace("/.ATTRIBUTES/VARIABLE_VALUE", ""): shape for name, shape in tf.train.list_variables(prefix)}


def _object_paths(prefix):
    """Every path in the checkpoint's object graph (a variable can be reached by several)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    reader = tf.train.load_checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    paths, stack = set(), [(0, "")]
    seen = set()
    while stack:
        node, path = stack.pop()
        if (node, path) in seen or path.count("/") > 6:
            continue
        seen.add((node, path))
        paths.add(path)
        for child in graph.nodes[node].children:
            stack.append((child.node_id, f"{path}/{child.local_name}".lstrip("/")))
    return paths


def test_checkpoint_layout_is_the_official_one(repnet70, weights70):
    import tensorflow as tf

    keys = _keys(tf.train.latest_checkpoint(str(weights70)))
    assert keys["model/pos_encoding"] == [1, 64, 512] and keys["model/pos_encoding2"] == [1, 64, 512]
    assert keys["model/temporal_conv_layers/0/kernel"] == [3, 3, 3, 1024, 512]
    assert "model/temporal_bn_layers/0/moving_variance" in keys
    assert keys["model/conv_3x3_layer/kernel"] == [3, 3, 1, 32]
    assert keys["model/input_projection/kernel"] == [64 * 32, 512] == keys["model/input_projection2/kernel"]
    assert keys["model/fc_layers/2/kernel"] == [512, 64]
    assert keys["model/within_period_fc_layers/2/kernel"] == [512, 1]
    for branch in ("transformer_layers", "transformer_layers2"):
        for part in ("mha/wq", "mha/wk", "mha/wv", "mha/dense", "layernorm1", "layernorm2"):
            assert any(k.startswith(f"model/{branch}/0/{part}/") for k in keys), (branch, part)
    # ResNet50V2's first conv, as a functional model's layers are named in checkpoints.
    assert keys["model/base_model/layer_with_weights-0/kernel"] == [7, 7, 3, 64]
    paths = _object_paths(tf.train.latest_checkpoint(str(weights70)))
    assert {"model/transformer_layers/0/ffn/layer-0", "model/transformer_layers/0/ffn/layer-1",
            "model/base_model/layer-2"} <= paths
    # Nothing but the model (and the checkpoint's own counter) is in the file.
    assert {k.split("/")[0] for k in keys} <= {"model", "save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"}
    trunk_convs = [k for k in keys if k.startswith("model/base_model/") and k.endswith("/kernel")]
    assert len(trunk_convs) == len([v for v in repnet70.base_model.trainable_variables if "kernel" in v.name])


def test_ckpt88_variant_layout(repnet88, tmp_path):
    prefix = _save(repnet88, tmp_path)
    keys = _keys(prefix)
    assert keys["model/pos_encoding"] == [1, 64, 1]
    assert keys["model/fc_layers/2/kernel"] == [512, 32]
    assert repnet88.config.period_offset == 1


def test_a_checkpoint_written_with_write_and_its_recorded_size_load(repnet70, tmp_path):
    import tensorflow as tf

    from movinet_crossfit.repnet.model import load_repnet

    tf.train.Checkpoint(model=repnet70).write(str(tmp_path / "ckpt-7"))  # no save_counter, no 'checkpoint' file
    (tmp_path / "repnet.json").write_text(json.dumps({"image_size": SIZE}))
    loaded = load_repnet(tmp_path)
    assert loaded.config.image_size == SIZE
    frames = tf.random.uniform([1, 64, SIZE, SIZE, 3], -1, 1, seed=4)
    np.testing.assert_array_equal(repnet70(frames)[1].numpy(), loaded(frames)[1].numpy())


def test_restore_into_a_fresh_model_gives_identical_outputs(repnet70, weights70):
    import tensorflow as tf

    from movinet_crossfit.repnet.model import load_repnet

    frames = tf.random.uniform([1, 64, SIZE, SIZE, 3], -1, 1, seed=3)
    loaded = load_repnet(weights70, image_size=SIZE)
    assert loaded.config.variant == "ckpt-70" and loaded.config.num_frames == 64
    for a, b in zip(repnet70(frames), loaded(frames)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_wrong_or_missing_weights_are_clear_errors(repnet70, repnet88, weights70, tmp_path):
    from movinet_crossfit.repnet.model import RepNetWeightsError, load_repnet, restore_weights

    with pytest.raises(RepNetWeightsError, match="ckpt-70.index.*storage.googleapis.com/repnet_ckpt"):
        load_repnet(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RepNetWeightsError, match="empty: no RepNet checkpoint"):
        load_repnet(tmp_path / "empty")
    with pytest.raises(RepNetWeightsError, match="holds a ckpt-70 RepNet, the model is ckpt-88"):
        restore_weights(repnet88, weights70)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "ckpt-1.index").write_bytes(b"\x00garbage")
    with pytest.raises(RepNetWeightsError, match="not a readable TensorFlow checkpoint"):
        load_repnet(broken)


def test_a_checkpoint_with_other_frames_does_not_silently_load(weights70):
    from movinet_crossfit.repnet.model import RepNetWeightsError, build_repnet, restore_weights

    model16 = build_repnet("ckpt-70", num_frames=16, image_size=SIZE)
    with pytest.raises(RepNetWeightsError, match="does not fit a ckpt-70 RepNet with 16 frames"):
        restore_weights(model16, weights70)


def test_temporal_conv_taps_equal_the_dilated_conv3d():
    import tensorflow as tf
    import tf_keras

    from movinet_crossfit.repnet.model import temporal_conv

    conv = tf_keras.layers.Conv3D(16, 3, padding="same", dilation_rate=(3, 1, 1))
    x = tf.random.normal([2, 10, 5, 5, 8], seed=1)
    reference = conv(x)
    assert float(tf.reduce_max(tf.abs(reference - temporal_conv(conv, x)))) < 1e-4


# --- the official counting rules on hand-made logits ---------------------------------------------

def _logits(rows, period_class, classes=64, periodic=5.0, peak=12.0):
    period = np.zeros((rows, classes), np.float32)
    period[:, period_class] = peak
    return period, np.full(rows, periodic, np.float32)


def test_count_is_frames_over_stride_times_period():
    period, periodic = _logits(128, 8)
    decided = decide_count({1: period}, {1: periodic}, 128, 0)
    assert decided["stride"] == 1
    assert decided["per_frame_counts"].sum() == pytest.approx(128 / 8, rel=1e-3)
    assert np.allclose(decided["period"][2:-2], 8)


def test_the_stride_with_the_best_score_wins_and_scales_the_period():
    weak, weak_p = _logits(128, 10, periodic=-1.0)
    strong, strong_p = _logits(64, 6)
    decided = decide_count({1: weak, 2: strong}, {1: weak_p, 2: strong_p}, 128, 0)
    assert decided["stride"] == 2
    assert decided["per_frame_counts"].sum() == pytest.approx(128 / 12, rel=1e-3)


def test_periods_under_three_frames_and_low_scores_count_nothing():
    short, periodic = _logits(64, 2)
    assert frame_scores(short, periodic, 0).max() == 0.0
    decided = decide_count({1: short}, {1: periodic}, 64, 0)
    assert decided["per_frame_counts"].sum() == 0.0 and "no repetition" in decided["note"]
    aperiodic, low = _logits(64, 8, periodic=-6.0)
    assert decide_count({1: aperiodic}, {1: low}, 64, 0)["per_frame_counts"].sum() == 0.0


def test_median_filter_drops_isolated_frames_and_fully_periodic_keeps_them():
    period, periodic = _logits(64, 8)
    periodic[::7] = -8.0  # isolated non-periodic frames
    filtered = decide_count({1: period}, {1: periodic}, 64, 0)
    raw = decide_count({1: period}, {1: periodic}, 64, 0, CountOptions(median_filter=False))
    assert filtered["per_frame_counts"].sum() > raw["per_frame_counts"].sum()
    full = decide_count({1: period}, {1: periodic}, 64, 0, CountOptions(median_filter=False, fully_periodic=True))
    assert full["per_frame_counts"].sum() == pytest.approx(64 / 8, rel=1e-3)


def test_constant_speed_and_the_ckpt88_offset():
    period, periodic = _logits(96, 7, classes=32)
    decided = decide_count({1: period}, {1: periodic}, 96, 1, CountOptions(constant_speed=True))
    assert decided["per_frame_counts"].sum() == pytest.approx(96 / 8, rel=1e-3)  # class 7 = 8 frames


def test_rep_boundaries_from_per_frame_counts():
    counts = np.r_[np.zeros(4), np.full(12, 0.25), np.zeros(4)]
    reps = rep_boundaries(counts, fps=10.0)
    assert [(r.start_frame, r.end_frame) for r in reps] == [(4, 7), (8, 11), (12, 15)]
    assert reps[1].start_time == pytest.approx(0.8) and reps[2].end_time == pytest.approx(1.5)


# --- streaming ------------------------------------------------------------------------------------

class _RecordingRunner:
    """Records which frames each chunk holds (frames are painted with their index) and answers
    a fixed period of 8 with high confidence."""

    def __init__(self, classes=64):
        self.chunks, self.classes = [], classes

    def __call__(self, batch):
        self.chunks.extend(batch[:, :, 0, 0, 0].astype(int).tolist())
        n, t = batch.shape[:2]
        period = np.zeros((n, t, self.classes), np.float32)
        period[..., 8] = 12.0
        return period, np.full((n, t, 1), 5.0, np.float32), np.zeros((n, t, 4), np.float32)


def test_chunks_follow_the_official_sampling_and_padding():
    n = 150
    frames = (np.full((40, 40, 3), i, np.uint8) for i in range(n))
    runner = _RecordingRunner()
    result = count_frames(frames, runner, num_frames=64, image_size=SIZE, fps=30.0,
                          options=CountOptions(strides=(1, 3)))
    expected = []
    for stride in (1, 3):
        for chunk in range(int(np.ceil(n / 64 / stride))):
            expected.append([min(chunk * 64 * stride + j * stride, n - 1) for j in range(64)])
    assert sorted(runner.chunks) == sorted(expected)
    assert result.num_frames == n and result.count == pytest.approx(n / 8, rel=0.05)
    assert len(result.reps) == int(result.count)


def test_a_long_video_is_counted_in_bounded_memory():
    def frames():
        for i in range(3000):  # 3000 x 240x320 RGB = 690 MB if held
            yield np.full((240, 320, 3), i % 200, np.uint8)

    tracemalloc.start()
    result = count_frames(frames(), _RecordingRunner(), num_frames=64, image_size=SIZE)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.num_frames == 3000
    assert peak < 40e6, f"peak {peak / 1e6:.0f} MB"


def test_too_short_and_static_videos(repnet70, tmp_path):
    from movinet_crossfit.repnet.infer import keras_runner
    from movinet_crossfit.synthetic.encode import write_mp4

    runner = keras_runner(repnet70)
    with pytest.raises(UserError, match="40 frames; RepNet needs at least 64 frames"):
        count_frames((np.zeros((32, 32, 3), np.uint8) for _ in range(40)), runner, num_frames=64,
                     image_size=SIZE)
    padded = count_frames((np.full((32, 32, 3), i, np.uint8) for i in range(40)), _RecordingRunner(),
                          num_frames=64, image_size=SIZE, options=CountOptions(strides=(1,), pad_short=True))
    assert padded.num_frames == 40 and len(padded.periodicity) == 40
    still = tmp_path / "still.mp4"
    write_mp4(still, (np.full((64, 64, 3), 120, np.uint8) for _ in range(90)), (64, 64), 30)
    result = count_video(still, model=repnet70, show_progress=False)
    assert result.count == 0.0 and "static" in result.note


def test_unreadable_video_is_a_clear_error(repnet70, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(UserError, match="notes.mp4"):
        count_video(bad, model=repnet70, show_progress=False)


def test_count_video_end_to_end_with_json_and_plot(repnet70, periodic_video, tmp_path):
    result = count_video(periodic_video, model=repnet70, show_progress=False)
    assert result.num_frames == 150 and result.fps == pytest.approx(30)
    assert len(result.periodicity) == len(result.period) == len(result.per_frame_counts) == 150
    assert result.stride in (1, 2, 3, 4) and set(result.stride_scores) == {1, 2, 3, 4}
    assert result.similarity.shape == (64, 64)
    np.testing.assert_allclose(result.similarity.sum(1), 1.0, rtol=1e-5)
    data = result.to_dict()
    assert data["count"] == pytest.approx(result.count, abs=1e-4)
    assert len(data["per_frame"]["cumulative_count"]) == 150
    png = plot_count(result, tmp_path / "count.png")
    assert png.stat().st_size > 10_000


# --- export and the command line ---------------------------------------------------------------

@pytest.fixture(scope="session")
def repnet_export(repnet70, tmp_path_factory):
    from movinet_crossfit.repnet.export import export_repnet

    out = tmp_path_factory.mktemp("repnet_export") / "export"
    return out, export_repnet(repnet70, out)


def test_export_parity_and_builtin_ops(repnet_export):
    from movinet_crossfit.repnet.export import FP32_TOLERANCE

    out, report = repnet_export
    for fmt in ("fp32", "fp16", "dynamic"):
        assert (out / f"repnet_{fmt}.tflite").is_file()
        assert not any(op.startswith(("CUSTOM", "Flex")) for op in report["files"][fmt]["ops"])
        assert report["parity"][fmt]["period_argmax_agreement"] >= 0.95
    assert "CONV_2D" in report["files"]["fp32"]["ops"] and "CONV_3D" not in report["files"]["fp32"]["ops"]
    for fmt in ("saved_model", "fp32"):
        assert report["parity"][fmt]["max_abs"] <= FP32_TOLERANCE * report["parity"][fmt]["scale"]
    assert json.loads((out / "repnet.json").read_text())["num_frames"] == 64


def test_exported_models_count_like_keras(repnet70, repnet_export, periodic_video):
    from movinet_crossfit.repnet.export import load_runner

    out, _ = repnet_export
    keras = count_video(periodic_video, model=repnet70, show_progress=False)
    for backend in ("tflite", "saved_model"):
        other = count_video(periodic_video, runner=load_runner(out, backend), show_progress=False)
        assert other.stride == keras.stride
        assert other.score == pytest.approx(keras.score, abs=1e-3)
        assert other.count == pytest.approx(keras.count, abs=0.05)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", *map(str, args)], capture_output=True,
                          text=True)


def test_count_command_writes_json_and_plot(weights70, periodic_video, repnet70, tmp_path):
    # load_repnet builds at the official 112 px; the weights are size-independent.
    done = _cli("count", periodic_video, "--weights", weights70, "--json", tmp_path / "r.json",
                "--plot", tmp_path / "r.png", "--strides", "1,2", "--format", "json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    written = json.loads((tmp_path / "r.json").read_text())
    assert printed["count"] == written["count"] and set(written["stride_scores"]) == {"1", "2"}
    assert len(written["per_frame"]["periodicity"]) == 150
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_count_command_without_weights_says_what_to_get(periodic_video, tmp_path):
    done = _cli("count", periodic_video, "--weights", tmp_path / "none")
    assert done.returncode == 2
    assert "ckpt-70.index" in done.stderr and "Traceback" not in done.stderr
