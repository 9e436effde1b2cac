"""The Lambda handler, invoked directly on real clips; S3 through moto (no network)."""
from __future__ import annotations

import base64
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

import app_support
from movinet_crossfit import serverless

CLIPS = ("thruster/thruster_1.mp4", "thruster/thruster_8.mp4", "chest-to-bar/chest-to-bar_1.mp4",
         "chest-to-bar/chest-to-bar_8.mp4")


@pytest.fixture
def pose_env(tmp_path, monkeypatch):
    """The handler's environment with no movement model (poses only): a private cache, fake AWS keys."""
    monkeypatch.setenv(serverless.CACHE_ENV, str(tmp_path / "cache"))
    for name in (serverless.MODEL_ENV, serverless.COUNTER_ENV, serverless.VARIANT_ENV, serverless.STANDARDS_ENV,
                 serverless.POSE_FPS_ENV, serverless.OVERLAY_ENV, serverless.MAX_VIDEO_ENV, serverless.ALLOWED_S3_ENV,
                 "MOVINET_CROSSFIT_POSE_MODELS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    serverless._models.clear()
    yield tmp_path / "cache"
    serverless._models.clear()


@pytest.fixture
def lambda_env(tiny_export, pose_env, monkeypatch):
    """The handler's environment with the tiny export as a local model."""
    monkeypatch.setenv(serverless.MODEL_ENV, str(tiny_export[0]))
    return pose_env


@pytest.fixture
def s3(pose_env, monkeypatch):
    """moto's S3 with a bucket "videos" that the deployment allows (``MOVINET_CROSSFIT_ALLOWED_S3``)."""
    from moto import mock_aws

    monkeypatch.setenv(serverless.ALLOWED_S3_ENV, "videos")

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


@pytest.fixture(scope="module")
def footage_keys(cfmove_clips) -> set[str]:
    """The keys of ``analyse_footage(...).to_dict()``, the JSON the handler answers."""
    from movinet_crossfit.analysis.footage import analyse_footage

    return set(analyse_footage(cfmove_clips / "thruster" / "thruster_1.mp4").to_dict())


def test_without_a_model_the_body_is_analyse_footages_json(pose_env, cfmove_clips, footage_keys):
    from movinet_crossfit.analysis.footage import analyse_footage

    clip = cfmove_clips / "thruster" / "thruster_8.mp4"
    status, body = _call(_body_event(clip))
    assert status == 200, body
    assert set(body) == footage_keys
    expected = json.loads(json.dumps(analyse_footage(clip, name="request body").to_dict()))
    for key in footage_keys - {"timings"}:
        assert body[key] == expected[key], key
    assert body["model_movement"] is None and body["movement_source"] in ("pose", None)
    assert body["frames"] == 24 and body["width"] == 854 and body["overlay"] is None
    assert {"download", "check", "poses", "count", "total"} <= set(body["timings"])
    _no_videos_left(pose_env)


def test_base64_bodies_of_real_clips_match_predict(lambda_env, tiny_export, cfmove_clips, footage_keys):
    from movinet_crossfit.movinet.predict import predict_video

    totals = []
    for name in CLIPS:
        clip = cfmove_clips / name
        status, body = _call(_body_event(clip))
        assert status == 200, body
        assert set(body) == footage_keys
        expected = predict_video(clip, tiny_export[0], backend="tflite")
        # Same model file; the numpy preprocessing is within one grey level of TensorFlow's.
        model = body["model_movement"]
        for label, p in model["top_k"]:
            assert p == pytest.approx(expected.probabilities[label], abs=2e-3)
        margin = sorted(expected.probabilities.values())[-1] - sorted(expected.probabilities.values())[-2]
        if margin > 4e-3:
            assert model["label"] == expected.label
        assert body["movement_source"] == "model" and body["movement_probability"] == model["probability"]
        assert body["pose_movement"] is None or body["pose_movement"]["label"] in (None, "thruster", "chest-to-bar",
                                                                                  *body["pose_movement"]["scores"])
        assert body["frames"] == expected.video_frames and body["width"] == 854
        assert len(model["top_k"]) == 3 and "repnet" not in body
        assert {"download", "check", "movement_model", "poses", "total"} <= set(body["timings"])
        totals.append(body["timings"]["total"])
    _no_videos_left(lambda_env)
    # Per clip, warm (the first call also loads the models).
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
    assert direct[1]["model_movement"] == record[1]["model_movement"] == proxied[1]["model_movement"]
    assert direct[1]["reps"] == record[1]["reps"] == proxied[1]["reps"]
    _no_videos_left(lambda_env)


def test_the_caller_can_name_the_movement(s3, cfmove_clips, pose_env, monkeypatch):
    from movinet_crossfit import serverless

    clip = cfmove_clips / "thruster" / "thruster_6.mp4"
    told, analyse = [], serverless.analyse_footage

    def recorded(*args, flip_rest=False, **kwargs):
        if flip_rest:
            told.append(flip_rest)
        return analyse(*args, flip_rest=flip_rest, **kwargs)

    monkeypatch.setattr(serverless, "analyse_footage", recorded)
    s3.upload_file(str(clip), "videos", "t.mp4")
    status, body = _call({"bucket": "videos", "key": "t.mp4", "movement": "Thruster"})
    assert status == 200 and body["movement"] == "thruster" and body["movement_source"] == "user", body
    status, body = _call({**_body_event(clip), "queryStringParameters": {"movement": "OHS"}})
    assert status == 200 and body["movement"] == "ohs" and body["movement_source"] == "user", body
    assert body["standards"]["movement"] == "ohs"
    status, body = _call({"bucket": "videos", "key": "t.mp4", "movement": "zumba"})
    assert status == 400 and body["error"].startswith("movement: ") and "thruster" in body["error"], body
    assert "push-up" in body["error"]  # the movements counted without judging are named too
    status, body = _call({"bucket": "videos", "key": "t.mp4", "movement": "air squat"})  # counted, not judged
    assert status == 200 and (body["movement"], body["movement_source"]) == ("air-squat", "user"), body
    assert body["standards"] is None and {r["valid"] for r in body["reps"]} <= {None}, body
    # its other convention (analyze --flip-rest): in the event, the query or the body
    status, body = _call({**_body_event(clip), "queryStringParameters": {"movement": "squat", "flip_rest": "true"}})
    assert status == 200 and (body["movement"], body["movement_source"]) == ("squat", "user"), body
    assert told == [True], told  # what the analysis was asked (this 1-s clip holds no rep to cut)
    status, body = _call({"body": json.dumps({"bucket": "videos", "key": "t.mp4", "movement": "sit-up",
                                              "flip_rest": True})})  # a JSON body
    assert status == 200 and body["movement"] == "sit-up" and told == [True, True], (body, told)
    for event, words in (({"movement": "thruster", "flip_rest": True}, "flip_rest with movement 'thruster': its reps"),
                         ({"flip_rest": True}, "flip_rest needs movement"),
                         ({"movement": "squat", "flip_rest": "maybe"}, "flip_rest 'maybe': true or false")):
        status, body = _call({"bucket": "videos", "key": "t.mp4", **event})
        assert status == 400 and body["error"].startswith(words), body
    _no_videos_left(pose_env)


def test_the_overlay_goes_to_s3_when_asked(s3, cfmove_clips, pose_env, monkeypatch):
    from movinet_crossfit.core import video

    monkeypatch.setenv(serverless.OVERLAY_ENV, "s3://videos/overlays/")
    clip = cfmove_clips / "thruster" / "thruster_6.mp4"
    status, body = _call(_body_event(clip))
    assert status == 200, body
    assert re.fullmatch(r"s3://videos/overlays/[0-9a-f]{16}\.mp4", body["overlay"]), body["overlay"]
    key = body["overlay"].split("/", 3)[3]
    head = s3.head_object(Bucket="videos", Key=key)
    assert head["ContentType"] == "video/mp4"
    local = pose_env / "overlay.mp4"
    s3.download_file("videos", key, str(local))
    drawn = video.probe(local)
    assert drawn.codec == "h264" and drawn.num_frames == video.probe(clip).num_frames
    assert "overlay" in body["timings"]
    _no_videos_left(pose_env)


def test_a_model_on_s3_is_downloaded_once(s3, tiny_export, cfmove_clips, lambda_env, monkeypatch):
    export_dir = tiny_export[0]
    s3.create_bucket(Bucket="models")
    for name in ("model_int8.tflite", "model_fp32.tflite", "labels.txt"):
        s3.upload_file(str(export_dir / name), "models", f"crossfit/v1/{name}")
    monkeypatch.setenv(serverless.MODEL_ENV, "s3://models/crossfit/v1")
    monkeypatch.setenv(serverless.VARIANT_ENV, "int8")
    event = _body_event(cfmove_clips / "thruster" / "thruster_3.mp4")
    status, body = _call(event)
    assert status == 200 and body["model_movement"] is not None, body
    assert Path(serverless.load_model().source).name == "model_int8.tflite"
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
    assert status == 200 and body["model_movement"] is not None, body
    assert Path(serverless.load_model().source).name == "model_fp32.tflite"


@pytest.mark.parametrize("event,status,match", [
    ({"body": base64.b64encode(b"21-15-9 thrusters and pull-ups").decode(), "isBase64Encoded": True}, 415,
     "not a readable video"),
    ({"body": "this is not base64 !!", "isBase64Encoded": True}, 400, "not base64"),
    ({"body": "", "isBase64Encoded": True}, 400, "empty body"),
    ({"body": "{not json", "isBase64Encoded": False}, 400, "does not parse"),
    ({"video": "clip.mp4"}, 400, "expected"),
    ({"body": json.dumps({"bucket": "b", "key": "k", "movement": "zumba"}), "isBase64Encoded": False}, 400,
     "movement: "),
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


def test_a_broken_deployment_is_a_500_that_says_what_to_fix(lambda_env, monkeypatch, cfmove_clips, tmp_path):
    event = _body_event(cfmove_clips / "thruster" / "thruster_1.mp4")
    monkeypatch.setenv(serverless.MODEL_ENV, "/nowhere/export")
    status, body = _call(event)
    assert status == 500 and "/nowhere/export" in body["error"]
    monkeypatch.delenv(serverless.MODEL_ENV)
    monkeypatch.setenv("MOVINET_CROSSFIT_POSE_MODELS", str(tmp_path))
    status, body = _call(event)
    assert status == 500 and "no BlazePose model file" in body["error"] and "model_files" in body["error"]
    monkeypatch.delenv("MOVINET_CROSSFIT_POSE_MODELS")
    (tmp_path / "bad.yaml").write_text("movements: [1, 2]\n")
    monkeypatch.setenv(serverless.STANDARDS_ENV, str(tmp_path / "bad.yaml"))
    status, body = _call(event)
    assert status == 500 and body["error"].startswith(serverless.STANDARDS_ENV) and "bad.yaml" in body["error"]
    _no_videos_left(lambda_env)


def test_the_counter_counts_long_videos_and_says_when_a_clip_is_too_short(lambda_env, monkeypatch, cfmove_clips,
                                                                         tmp_path_factory, footage_keys):
    base = tmp_path_factory.getbasetemp() / "app_support"
    monkeypatch.setenv(serverless.COUNTER_ENV, str(app_support.repnet_export(base)))
    status, body = _call(_body_event(app_support.countable_video(base)))
    assert status == 200, body
    assert set(body) == footage_keys | {"repnet"}
    repnet = body["repnet"]
    assert repnet["count"]["num_frames"] == 175 and repnet["count"]["count"] >= 0 and repnet["message"] == ""
    assert "repnet" in body["timings"]
    status, body = _call(_body_event(cfmove_clips / "thruster" / "thruster_1.mp4"))
    assert status == 200 and body["repnet"]["count"] is None
    assert body["repnet"]["message"].startswith("too short to count: 23 frames")


def test_a_request_is_probed_once(lambda_env, monkeypatch, tmp_path_factory):
    """The content check's probe is passed along: the model, the poses and RepNet do not probe."""
    base = tmp_path_factory.getbasetemp() / "app_support"
    monkeypatch.setenv(serverless.COUNTER_ENV, str(app_support.repnet_export(base)))
    probes = app_support.count_probes(monkeypatch)
    status, body = _call(_body_event(app_support.countable_video(base)))
    assert status == 200 and body["repnet"]["count"] is not None, body
    assert len(probes) == 1, probes


def test_the_app_and_the_handler_give_the_same_json(lambda_env, tiny_export, cfmove_clips, monkeypatch,
                                                    tmp_path_factory):
    """One analysis: the same fields, reps, verdicts and RepNet count; the model's probabilities
    within the numpy preprocessing's tolerance (the app preprocesses with TensorFlow, the handler
    with numpy)."""
    from movinet_crossfit.app.analysis import Analyser

    base = tmp_path_factory.getbasetemp() / "app_support"
    model, counter = tiny_export[0] / "model_fp32.tflite", app_support.repnet_export(base)
    monkeypatch.setenv(serverless.MODEL_ENV, str(model))
    monkeypatch.setenv(serverless.COUNTER_ENV, str(counter))
    app = Analyser(model, counter, warm_up=False)
    for video in (cfmove_clips / "thruster" / "thruster_2.mp4", app_support.countable_video(base)):
        status, handler = _call(_body_event(video))
        assert status == 200, handler
        # "request body" is what the handler calls a body upload; the app is told the same name.
        from_app = json.loads(json.dumps(app.analyse(video, "request body").to_dict()))
        assert set(from_app) == set(handler)
        for key in set(handler) - {"timings", "model_movement", "movement_probability", "repnet"}:
            assert from_app[key] == handler[key], key
        for (label, p), (other, q) in zip(from_app["model_movement"]["top_k"], handler["model_movement"]["top_k"]):
            assert q == pytest.approx(p, abs=2e-3)
        assert from_app["repnet"]["message"] == handler["repnet"]["message"]
        if handler["repnet"]["count"] is not None:
            assert from_app["repnet"]["count"]["count"] == pytest.approx(handler["repnet"]["count"]["count"], abs=0.5)
    assert handler["repnet"]["count"]["num_frames"] == 175


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
import base64, json, os, sys
from pathlib import Path
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "keras"):
            raise ImportError(f"{name} is not in the Lambda image")
sys.meta_path.insert(0, Block())
from movinet_crossfit import serverless
runs, answers = json.loads(sys.argv[1]), []
for run in runs:
    for name, value in run["env"].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    event = {"body": base64.b64encode(open(run["video"], "rb").read()).decode(), "isBase64Encoded": True}
    response = serverless.handler(event, None)
    answers.append({"status": response["statusCode"], "body": json.loads(response["body"])})
# The overlay too (the handler uploads it to S3 when asked; here it is drawn only).
drawn = Path(os.environ[serverless.CACHE_ENV]) / "overlay.mp4"
serverless.analyse_file(Path(runs[0]["video"]), overlay=drawn)
print(json.dumps({"answers": answers, "overlay": drawn.stat().st_size,
                  "tensorflow": any(m.split(".")[0] in ("tensorflow", "tf_keras", "keras") for m in sys.modules),
                  "app": sorted(m for m in sys.modules if m.split(".")[0] in ("dash", "flask", "plotly")
                                or m.startswith("movinet_crossfit.app"))}))
"""


def test_the_handler_runs_without_tensorflow(tiny_export, cfmove_clips, tmp_path, tmp_path_factory, footage_keys):
    """What the container holds: LiteRT, numpy, ffmpeg, no TensorFlow (imports of it fail here):
    with a movement model and RepNet, and with neither (poses only)."""
    base = tmp_path_factory.getbasetemp() / "app_support"
    flags = {serverless.MODEL_ENV: str(tiny_export[0] / "model_fp32.tflite"),
             serverless.COUNTER_ENV: str(app_support.repnet_export(base))}
    clip = str(cfmove_clips / "thruster" / "thruster_2.mp4")
    runs = [{"env": flags, "video": clip}, {"env": flags, "video": str(app_support.countable_video(base))},
            {"env": {name: None for name in flags}, "video": clip}]
    env = {**os.environ, serverless.CACHE_ENV: str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _NO_TENSORFLOW, json.dumps(runs)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["tensorflow"] is False and out["app"] == [] and out["overlay"] > 1000
    with_model, counted, poses_only = out["answers"]
    assert with_model["status"] == 200 and with_model["body"]["movement_source"] == "model", with_model
    assert with_model["body"]["repnet"]["message"].startswith("too short to count"), with_model
    assert counted["status"] == 200 and counted["body"]["repnet"]["count"]["num_frames"] == 175, counted
    assert poses_only["status"] == 200 and set(poses_only["body"]) == footage_keys, poses_only
    assert poses_only["body"]["model_movement"] is None
    # The same poses: the same reps, whichever movement names them.
    assert poses_only["body"]["count"] == with_model["body"]["count"]
    assert [(r["start_frame"], r["end_frame"]) for r in poses_only["body"]["reps"]] == \
        [(r["start_frame"], r["end_frame"]) for r in with_model["body"]["reps"]]



# -- what a caller may make the function read, and requests built to break it ----------------------

def _no_s3(*args, **kwargs):
    raise AssertionError("S3 was asked")


def test_buckets_and_keys_outside_the_allow_list_are_403_without_asking_s3(s3, cfmove_clips, pose_env,
                                                                          monkeypatch):
    clip = cfmove_clips / "thruster" / "thruster_6.mp4"
    s3.create_bucket(Bucket="private")
    for bucket, key in (("videos", "public/wod.mp4"), ("videos", "secret/wod.mp4"), ("private", "wod.mp4")):
        s3.upload_file(str(clip), bucket, key)
    monkeypatch.setenv(serverless.ALLOWED_S3_ENV, " videos/public/ , s3://other-bucket ")
    with monkeypatch.context() as patched:
        patched.setattr(serverless, "_s3", _no_s3)
        refused = _refusals()
    # An existing object and a missing one get the same answer (only the name they gave differs).
    assert len(refused) == 8
    for (bucket, key), error in refused.items():
        assert error == f"s3://{bucket}/{key}: not a bucket or key this function reads"
    # The allowed prefix is read, from a request and from the bucket's event notification.
    status, body = _call({"bucket": "videos", "key": "public/wod.mp4"})
    assert status == 200 and body["video"] == "s3://videos/public/wod.mp4", body
    status, body = _call({"Records": [{"s3": {"bucket": {"name": "videos"}, "object": {"key": "public/wod.mp4"}}}]})
    assert status == 200 and body["video"] == "s3://videos/public/wod.mp4", body
    _no_videos_left(pose_env)


def _refusals() -> dict:
    """Each request outside ``videos/public/``, as a direct invoke, a JSON body and an S3 event:
    all 403; the error of each."""
    refused = {}
    for bucket, key in (("videos", "secret/wod.mp4"), ("videos", "secret/missing.mp4"), ("private", "wod.mp4"),
                        ("private", "missing.mp4"), ("videos", "public/../secret/wod.mp4"),
                        ("videos", "public/./x.mp4"), ("videos", ""), ("videos-2", "public/wod.mp4")):
        for event in ({"bucket": bucket, "key": key},
                      {"body": json.dumps({"bucket": bucket, "key": key}), "isBase64Encoded": False},
                      {"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}):
            status, body = _call(event)
            assert status == 403, (event, body)
            refused[(bucket, key)] = body["error"]
    return refused


def test_without_an_allow_list_only_body_videos_are_analysed(pose_env, cfmove_clips, monkeypatch):
    monkeypatch.setattr(serverless, "_s3", _no_s3)
    status, body = _call({"bucket": "videos", "key": "wod.mp4"})
    assert status == 403 and body["error"] == "s3://videos/wod.mp4: not a bucket or key this function reads"
    assert _call(_body_event(cfmove_clips / "thruster" / "thruster_6.mp4"))[0] == 200


@pytest.mark.parametrize("name,value,match", [
    (serverless.MAX_VIDEO_ENV, "abc", "MOVINET_CROSSFIT_MAX_VIDEO_MB='abc': not a positive number of megabytes"),
    (serverless.MAX_VIDEO_ENV, "0", "MOVINET_CROSSFIT_MAX_VIDEO_MB='0'"),
    (serverless.MAX_VIDEO_ENV, "nan", "MOVINET_CROSSFIT_MAX_VIDEO_MB='nan'"),
    (serverless.MAX_VIDEO_ENV, "inf", "MOVINET_CROSSFIT_MAX_VIDEO_MB='inf'"),
    (serverless.ALLOWED_S3_ENV, "videos,Bad_Bucket!", "MOVINET_CROSSFIT_ALLOWED_S3: 'Bad_Bucket!' is not BUCKET"),
])
def test_a_bad_setting_is_a_deployment_error_naming_the_variable(pose_env, cfmove_clips, monkeypatch, name, value,
                                                                 match):
    monkeypatch.setenv(name, value)
    status, body = _call(_body_event(cfmove_clips / "thruster" / "thruster_6.mp4"))
    assert status == 500 and body["error"].startswith(match), body
    assert "internal error" not in body["error"]


@pytest.mark.parametrize("shape", ["list", "object"])
def test_a_json_body_nested_100000_deep_is_a_400(pose_env, shape):
    depth = 100_000
    nested = "[" * depth + "]" * depth if shape == "list" else '{"a":' * depth + "1" + "}" * depth
    body = '{"movement": "thruster", "bucket": ' + nested + ', "key": "k"}'
    status, answer = _call({"body": body, "isBase64Encoded": False})
    assert status == 400 and answer["error"].startswith("the JSON body is nested too deeply"), answer
    _no_videos_left(pose_env)
