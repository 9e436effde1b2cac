"""The Lambda handler, invoked directly on real clips; S3 through moto (no network)."""
from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

import app_support
from movinet_crossfit import serverless

CLIPS = ("thruster/thruster_1.mp4", "thruster/thruster_8.mp4", "chest-to-bar/chest-to-bar_1.mp4",
         "chest-to-bar/chest-to-bar_8.mp4")


@pytest.fixture
def lambda_env(tiny_export, tmp_path, monkeypatch):
    """The handler's environment: the tiny export as a local model, a private cache, fake AWS keys."""
    monkeypatch.setenv(serverless.MODEL_ENV, str(tiny_export[0]))
    monkeypatch.setenv(serverless.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(serverless.COUNTER_ENV, raising=False)
    monkeypatch.delenv(serverless.VARIANT_ENV, raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    serverless._models.clear()
    yield tmp_path / "cache"
    serverless._models.clear()


@pytest.fixture
def s3(lambda_env):
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="videos")
        yield client


def _body_event(path: Path) -> dict:
    return {"body": base64.b64encode(path.read_bytes()).decode(), "isBase64Encoded": True}


def _call(event) -> tuple[int, dict]:
    response = serverless.handler(event, None)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def _no_videos_left(cache: Path) -> None:
    assert not list((cache / "videos").glob("*/*")), "a video was left in the cache"


def test_base64_bodies_of_real_clips_match_predict(lambda_env, tiny_export, cfmove_clips):
    from movinet_crossfit.movinet.predict import predict_video

    totals = []
    for name in CLIPS:
        clip = cfmove_clips / name
        status, body = _call(_body_event(clip))
        assert status == 200, body
        expected = predict_video(clip, tiny_export[0], backend="tflite")
        # Same model file; the numpy preprocessing is within one grey level of TensorFlow's.
        for label, p in expected.probabilities.items():
            assert body["probabilities"][label] == pytest.approx(p, abs=2e-3)
        margin = sorted(expected.probabilities.values())[-1] - sorted(expected.probabilities.values())[-2]
        if margin > 4e-3:
            assert body["movement"] == expected.label
        assert body["frames"] == expected.video_frames and body["width"] == 854
        assert [k for k, _ in body["top_k"]][0] == body["movement"] and len(body["top_k"]) == 3
        assert body["count"] is None and body["count_message"] == "no counter configured"
        assert body["mode"] == "clip" and body["timeline"] is None and body["backend"] == "tflite"
        assert set(body["timings"]) == {"download", "check", "decode", "infer", "total"}
        totals.append(body["timings"]["total"])
    _no_videos_left(lambda_env)
    # Per clip, warm (the first call also loads the model).
    warm = statistics.median(totals[1:])
    app_support.ARTIFACTS.mkdir(exist_ok=True)
    (app_support.ARTIFACTS / "lambda_timings.json").write_text(json.dumps(
        {"first call incl. model load (s)": round(totals[0], 3), "warm median per clip (s)": round(warm, 3),
         "per clip (s)": [round(t, 3) for t in totals]}, indent=2) + "\n")
    print(f"\nLambda handler per clip: first {totals[0]:.2f} s, warm median {warm:.2f} s")


def test_an_s3_key_an_s3_event_record_and_a_json_body(s3, cfmove_clips, lambda_env):
    clip = cfmove_clips / "chest-to-bar" / "chest-to-bar_3.mp4"
    s3.upload_file(str(clip), "videos", "uploads/my wod.mp4")
    direct = _call({"bucket": "videos", "key": "uploads/my wod.mp4"})
    record = _call({"Records": [{"eventSource": "aws:s3", "s3": {
        "bucket": {"name": "videos"}, "object": {"key": "uploads/my+wod.mp4", "size": clip.stat().st_size}}}]})
    proxied = _call({"body": json.dumps({"bucket": "videos", "key": "uploads/my wod.mp4"}), "isBase64Encoded": False})
    for status, body in (direct, record, proxied):
        assert status == 200, body
        assert body["video"] == "s3://videos/uploads/my wod.mp4" and body["frames"] == 18
        assert body["timings"]["download"] > 0
    assert direct[1]["probabilities"] == record[1]["probabilities"] == proxied[1]["probabilities"]
    _no_videos_left(lambda_env)


def test_a_model_on_s3_is_downloaded_once(s3, tiny_export, cfmove_clips, lambda_env, monkeypatch):
    export_dir = tiny_export[0]
    s3.create_bucket(Bucket="models")
    for name in ("model_int8.tflite", "model_fp32.tflite", "labels.txt"):
        s3.upload_file(str(export_dir / name), "models", f"crossfit/v1/{name}")
    monkeypatch.setenv(serverless.MODEL_ENV, "s3://models/crossfit/v1")
    monkeypatch.setenv(serverless.VARIANT_ENV, "int8")
    event = _body_event(cfmove_clips / "thruster" / "thruster_3.mp4")
    status, body = _call(event)
    assert status == 200 and body["model"] == "model_int8.tflite", body
    cached = sorted(p.name for p in (lambda_env / "models").rglob("*") if p.is_file())
    assert cached == ["labels.txt", "model_int8.tflite"]

    def no_downloads(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(serverless, "_download", no_downloads)
    assert _call(event)[0] == 200  # the loaded model is reused
    serverless._models.clear()
    assert _call(event)[0] == 200  # a cold start in a warm container reuses /tmp

    # One .tflite key, with labels.txt beside it.
    monkeypatch.undo()
    monkeypatch.setenv(serverless.MODEL_ENV, "s3://models/crossfit/v1/model_fp32.tflite")
    monkeypatch.setenv(serverless.CACHE_ENV, str(lambda_env))
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    serverless._models.clear()
    status, body = _call(event)
    assert status == 200 and body["model"] == "model_fp32.tflite", body


@pytest.mark.parametrize("event,status,match", [
    ({"body": base64.b64encode(b"21-15-9 thrusters and pull-ups").decode(), "isBase64Encoded": True}, 415,
     "not a readable video"),
    ({"body": "this is not base64 !!", "isBase64Encoded": True}, 400, "not base64"),
    ({"body": "", "isBase64Encoded": True}, 400, "empty body"),
    ({"body": "{not json", "isBase64Encoded": False}, 400, "does not parse"),
    ({"video": "clip.mp4"}, 400, "expected"),
    (["not", "an", "object"], 400, "JSON object"),
])
def test_bad_requests_are_4xx_with_a_message(lambda_env, event, status, match):
    got, body = _call(event)
    assert got == status and match in body["error"], body
    _no_videos_left(lambda_env)


def test_missing_s3_object_is_404_and_too_large_is_413(s3, cfmove_clips, lambda_env, monkeypatch):
    status, body = _call({"bucket": "videos", "key": "nope.mp4"})
    assert status == 404 and body["error"] == "s3://videos/nope.mp4: no such object"
    clip = cfmove_clips / "thruster" / "thruster_4.mp4"
    s3.upload_file(str(clip), "videos", "big.mp4")
    monkeypatch.setenv(serverless.MAX_VIDEO_ENV, "0.05")
    status, body = _call({"bucket": "videos", "key": "big.mp4"})
    assert status == 413 and body["error"].startswith("s3://videos/big.mp4: ")
    assert "over the 50 kB limit" in body["error"]
    assert _call(_body_event(clip))[0] == 413
    _no_videos_left(lambda_env)


def test_a_missing_model_setting_is_a_500_that_says_what_to_set(lambda_env, monkeypatch, cfmove_clips):
    monkeypatch.delenv(serverless.MODEL_ENV)
    status, body = _call(_body_event(cfmove_clips / "thruster" / "thruster_1.mp4"))
    assert status == 500 and serverless.MODEL_ENV in body["error"]
    monkeypatch.setenv(serverless.MODEL_ENV, "/nowhere/export")
    status, body = _call(_body_event(cfmove_clips / "thruster" / "thruster_1.mp4"))
    assert status == 500 and "/nowhere/export" in body["error"]


def test_the_counter_counts_long_videos_and_says_when_a_clip_is_too_short(lambda_env, monkeypatch, cfmove_clips,
                                                                         tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "app_support"
    monkeypatch.setenv(serverless.COUNTER_ENV, str(app_support.repnet_export(base)))
    status, body = _call(_body_event(app_support.countable_video(base)))
    assert status == 200, body
    assert body["count"]["num_frames"] == 175 and body["count"]["count"] >= 0 and "count" in body["timings"]
    status, body = _call(_body_event(cfmove_clips / "thruster" / "thruster_1.mp4"))
    assert status == 200 and body["count"] is None
    assert body["count_message"].startswith("too short to count: 23 frames")


def test_a_request_is_probed_once(lambda_env, monkeypatch, tmp_path_factory):
    """The content check's probe is passed along: the sampled read and count_video do not probe."""
    base = tmp_path_factory.getbasetemp() / "app_support"
    monkeypatch.setenv(serverless.COUNTER_ENV, str(app_support.repnet_export(base)))
    probes = app_support.count_probes(monkeypatch)
    status, body = _call(_body_event(app_support.countable_video(base)))
    assert status == 200 and body["count"] is not None, body
    assert len(probes) == 1, probes


def test_the_app_and_the_handler_give_the_same_json(lambda_env, tiny_export, cfmove_clips, monkeypatch,
                                                    tmp_path_factory):
    """One analysis flow: the same fields, count and messages; the movement within the numpy
    preprocessing's tolerance (the app preprocesses with TensorFlow, the handler with numpy)."""
    from movinet_crossfit.app.analysis import Analyser

    base = tmp_path_factory.getbasetemp() / "app_support"
    model, counter = tiny_export[0] / "model_fp32.tflite", app_support.repnet_export(base)
    monkeypatch.setenv(serverless.MODEL_ENV, str(model))
    monkeypatch.setenv(serverless.COUNTER_ENV, str(counter))
    # The handler classifies every video as one clip; so does the app when its clips may be long.
    app = Analyser(model, counter, clip_seconds=60.0, warm_up=False)
    for video in (cfmove_clips / "thruster" / "thruster_2.mp4", app_support.countable_video(base)):
        status, handler = _call(_body_event(video))
        assert status == 200, handler
        # "request body" is what the handler calls a body upload; the app is told the same name.
        from_app = json.loads(json.dumps(app.analyse(video, "request body").to_dict()))
        assert set(from_app) == set(handler)
        for key in ("video", "frames", "fps", "duration", "width", "height", "model", "backend", "mode",
                    "timeline", "count", "count_message"):
            assert from_app[key] == handler[key], key
        assert from_app["probabilities"] == pytest.approx(handler["probabilities"], abs=2e-3)
        ranked = sorted(handler["probabilities"].values())
        if ranked[-1] - ranked[-2] > 4e-3:
            assert from_app["movement"] == handler["movement"]
        assert set(from_app["timings"]) == set(handler["timings"]) - {"download", "check"} | {"probe", "total"}
    assert handler["count"]["num_frames"] == 175 and handler["count"]["source"] == "request body"


_IMPORTS = """
import json, sys
from movinet_crossfit import serverless
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("dash", "flask", "plotly", "tensorflow",
                                                                        "tf_keras", "keras")
                        or m.startswith("movinet_crossfit.app"))))
"""


def test_importing_the_handler_imports_no_app_dash_or_tensorflow():
    done = subprocess.run([sys.executable, "-c", _IMPORTS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


_NO_TENSORFLOW = """
import base64, json, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "keras"):
            raise ImportError(f"{name} is not in the Lambda image")
sys.meta_path.insert(0, Block())
from movinet_crossfit import serverless
answers = []
for path in sys.argv[1:]:
    event = {"body": base64.b64encode(open(path, "rb").read()).decode(), "isBase64Encoded": True}
    response = serverless.handler(event, None)
    answers.append({"status": response["statusCode"], "body": json.loads(response["body"])})
print(json.dumps({"answers": answers, "tensorflow": any(m.split(".")[0] == "tensorflow" for m in sys.modules),
                  "app": sorted(m for m in sys.modules if m.split(".")[0] == "dash"
                                or m.startswith("movinet_crossfit.app"))}))
"""


def test_the_handler_runs_without_tensorflow(tiny_export, cfmove_clips, tmp_path, tmp_path_factory):
    """What the container holds: LiteRT, numpy, ffmpeg, no TensorFlow (imports of it fail here)."""
    base = tmp_path_factory.getbasetemp() / "app_support"
    env = {**os.environ, serverless.MODEL_ENV: str(tiny_export[0] / "model_fp32.tflite"),
           serverless.COUNTER_ENV: str(app_support.repnet_export(base)), serverless.CACHE_ENV: str(tmp_path)}
    videos = [cfmove_clips / "thruster" / "thruster_2.mp4", app_support.countable_video(base)]
    done = subprocess.run([sys.executable, "-c", _NO_TENSORFLOW, *map(str, videos)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["tensorflow"] is False and out["app"] == []
    clip, counted = out["answers"]
    assert clip["status"] == 200 and clip["body"]["count_message"].startswith("too short to count"), clip
    assert counted["status"] == 200 and counted["body"]["count"]["num_frames"] == 175, counted
