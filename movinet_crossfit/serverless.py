"""AWS Lambda: ``handler(event, context)`` analyses one video from poses: the movement, the reps and
each rep judged against the movement's standards, the same JSON as ``movinet-crossfit analyze``.

The video comes from S3 (``{"bucket": ..., "key": ...}``, or an S3 event notification record) or
in the request body as base64 (API Gateway / function URL proxy events, ``isBase64Encoded``). The
answer is an API Gateway proxy response: ``statusCode`` 200 and a JSON ``body`` that is
``analysis.footage.FootageAnalysis.to_dict()`` (docs/analyze.md) with the download time added to
its ``timings`` (and ``repnet`` when a RepNet counter is configured); 4xx with ``{"error": message}``
for a request the caller can fix (not a video, no such S3 object, too large, unknown movement,
unknown event, a bucket or key outside ``MOVINET_CROSSFIT_ALLOWED_S3``), 500 for a broken deployment.

The analysis is ``analyse_footage``, the one the app and the CLI run: BlazePose poses of the athlete,
the reps, the movement (the request's ``movement``, else a MoViNet model's label when one is
configured, else recognised from the poses; ``flip_rest``: its other convention), the verdicts. The
video is probed once (``analysis.inputs.check_video``, the content check) and that probe is passed
along. Nothing of the app (or Dash) is imported here.

Configuration (environment), all optional:

* ``MOVINET_CROSSFIT_POSE_MODELS``: the BlazePose folder (the container recipe puts them in
  ``/opt/pose_models``; ``python -m movinet_crossfit.pose.model_files DIR`` fetches them).
* ``MOVINET_CROSSFIT_MODEL``: a MoViNet export folder or a ``model_*.tflite`` file (with
  ``labels.txt`` beside it), local or ``s3://bucket/key``, to name the movement (the pose guess is
  kept beside it). S3 models are downloaded once per container into ``$MOVINET_CROSSFIT_CACHE``
  (default ``/tmp/movinet-crossfit``) and reused. ``MOVINET_CROSSFIT_VARIANT``: which
  ``model_<variant>.tflite`` of an export folder (fp32).
* ``MOVINET_CROSSFIT_COUNTER``: an ``export-counter`` folder or a ``repnet_*.tflite`` with
  ``repnet.json`` beside it, local or s3://: RepNet's count is added as ``repnet``.
* ``MOVINET_CROSSFIT_STANDARDS``: a standards YAML adding to (or replacing) the built-in movements.
* ``MOVINET_CROSSFIT_POSE_FPS``: poses per second of video (default 30: every frame up to 30 fps).
* ``MOVINET_CROSSFIT_OVERLAY_S3``: ``s3://bucket/prefix``: also draw the overlay video and upload
  it there (``overlay`` in the body is its URI). Off by default: it costs an encode of the video.
* ``MOVINET_CROSSFIT_MAX_VIDEO_MB``: largest video accepted (100).
* ``MOVINET_CROSSFIT_ALLOWED_S3``: the buckets, or bucket/key prefixes, a request (or an S3 event)
  may name, comma-separated: ``videos,uploads-bucket/incoming/``. Any other bucket or key is a 403
  before S3 is asked anything (so a refused caller learns nothing of what exists); unset, every
  bucket/key request is refused and only videos in the request body are analysed.

Only LiteRT runs here, never TensorFlow: BlazePose is TFLite, the pose analysis is numpy, and a
movement model runs through ``analysis.NumpyMovement`` (TFLite + ``numpy_preprocess``, one clip per
video), so the container needs neither TensorFlow nor tf_keras (see ``deploy/lambda/``).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import os
import re
import shutil
import secrets
import threading
import time
import types
import urllib.parse
from pathlib import Path

from movinet_crossfit.analysis import (Counter, NotAVideoError, NumpyMovement, check_video, decoded_size, format_mb,
                                       safe_name)
from movinet_crossfit.analysis.footage import DEFAULT_POSE_FPS, analyse_footage, resolve_movement
from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import atomic_path

log = logging.getLogger("movinet_crossfit.serverless")
log.setLevel(logging.INFO)

MODEL_ENV = "MOVINET_CROSSFIT_MODEL"
VARIANT_ENV = "MOVINET_CROSSFIT_VARIANT"
COUNTER_ENV = "MOVINET_CROSSFIT_COUNTER"
CACHE_ENV = "MOVINET_CROSSFIT_CACHE"
MAX_VIDEO_ENV = "MOVINET_CROSSFIT_MAX_VIDEO_MB"
STANDARDS_ENV = "MOVINET_CROSSFIT_STANDARDS"
POSE_FPS_ENV = "MOVINET_CROSSFIT_POSE_FPS"
OVERLAY_ENV = "MOVINET_CROSSFIT_OVERLAY_S3"
ALLOWED_S3_ENV = "MOVINET_CROSSFIT_ALLOWED_S3"
DEFAULT_MAX_VIDEO_MB = 100.0


class RequestError(UserError):
    """A request the caller can fix; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class DeploymentError(UserError):
    """The function is configured wrongly (model missing or unreadable): a 500 the operator fixes."""


def _cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, "/tmp/movinet-crossfit"))


def _max_bytes() -> int:
    text = os.environ.get(MAX_VIDEO_ENV, "").strip()
    try:
        megabytes = float(text) if text else DEFAULT_MAX_VIDEO_MB
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and megabytes > 0):
        raise DeploymentError(f"{MAX_VIDEO_ENV}={text!r}: not a positive number of megabytes")
    return int(megabytes * 1e6)


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def allowed_s3() -> list[tuple[str, str]]:
    """``$MOVINET_CROSSFIT_ALLOWED_S3`` as ``(bucket, key prefix)`` pairs ("" for a whole bucket)."""
    allowed = []
    for entry in os.environ.get(ALLOWED_S3_ENV, "").split(","):
        entry = entry.strip()
        if entry.startswith("s3://"):
            entry = entry[5:]
        if not entry:
            continue
        bucket, _, prefix = entry.partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise DeploymentError(f"{ALLOWED_S3_ENV}: {entry!r} is not BUCKET or BUCKET/KEY-PREFIX")
        allowed.append((bucket, prefix))
    return allowed


def check_allowed(bucket: str, key: str) -> None:
    """A 403 ``RequestError`` unless ``$MOVINET_CROSSFIT_ALLOWED_S3`` names the bucket (and a prefix
    of the key). Nothing is asked of S3 first, so the answer is the same whether the object exists."""
    parts = key.split("/")
    if key and "." not in parts and ".." not in parts and any(
            bucket == allowed and key.startswith(prefix) for allowed, prefix in allowed_s3()):
        return
    log.warning("refused %r: not under %s (%s)", f"s3://{bucket}/{key}", ALLOWED_S3_ENV,  # %r: one log line
                os.environ.get(ALLOWED_S3_ENV, "unset"))
    raise RequestError(f"s3://{bucket}/{key}: not a bucket or key this function reads", 403)


# ---------------------------------------------------------------------------------------------
# S3


def _s3():
    import boto3

    return boto3.client("s3")


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise DeploymentError(f"{uri}: not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


def _s3_error_code(exc) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _download(bucket: str, key: str, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        _s3().download_file(bucket, key, str(tmp))
    return dest


def fetch_s3_model(uri: str, files: tuple[str, ...]) -> Path:
    """Download ``uri`` into the cache, once per container: one ``.tflite`` key and ``files`` beside
    it (-> the local file), or a prefix holding ``files`` (-> the local folder)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3_uri(uri)
    local = _cache_dir() / "models" / hashlib.sha256(uri.encode()).hexdigest()[:16]
    single = key.endswith(".tflite")
    if single:
        prefix, _, first = key.rpartition("/")
        names = [first, *files]
    else:
        prefix, names = key.strip("/"), list(files)
    name = names[0]
    try:
        for name in names:
            if not (local / name).is_file():  # a warm container reuses what it downloaded
                _download(bucket, f"{prefix}/{name}" if prefix else name, local / name)
    except (ClientError, BotoCoreError) as exc:
        raise DeploymentError(f"{uri}: could not download {name} ({_s3_error_code(exc) or exc}); the function's "
                              "role needs s3:GetObject on it") from exc
    return local / names[0] if single else local


# ---------------------------------------------------------------------------------------------
# Models, loaded once per container

_models: dict = {}
_models_lock = threading.Lock()


def load_model():
    """The ``predict.TFLitePredictor`` for ``$MOVINET_CROSSFIT_MODEL`` (cached), or ``None`` when it
    is unset (the movement is then recognised from the poses)."""
    from movinet_crossfit.core.tflite import tflite_filename
    from movinet_crossfit.movinet.export import TFLITE_PREFIX
    from movinet_crossfit.movinet.predict import TFLitePredictor, resolve_model
    from movinet_crossfit.core.runs import LABELS_FILE

    location = os.environ.get(MODEL_ENV, "").strip()
    variant = os.environ.get(VARIANT_ENV, "fp32").strip() or "fp32"
    if not location:
        return None
    cache_key = ("model", location, variant)
    with _models_lock:
        if cache_key not in _models:
            if location.startswith("s3://"):
                local = fetch_s3_model(location, (LABELS_FILE,) if location.endswith(".tflite")
                                       else (tflite_filename(TFLITE_PREFIX, variant), LABELS_FILE))
            else:
                local = Path(location)
            _, path = resolve_model(local, "tflite", variant)
            _models[cache_key] = TFLitePredictor(path)
        return _models[cache_key]


def load_counter():
    """An ``analysis.Counter`` (a RepNet TFLite runner) for ``$MOVINET_CROSSFIT_COUNTER``, or
    ``None`` when it is unset (cached)."""
    from movinet_crossfit.core.tflite import tflite_filename
    from movinet_crossfit.repnet.export import CONFIG_FILE, TFLITE_PREFIX, TFLiteRunner

    location = os.environ.get(COUNTER_ENV, "").strip()
    if not location:
        return None
    cache_key = ("counter", location)
    with _models_lock:
        if cache_key not in _models:
            if location.startswith("s3://"):
                local = fetch_s3_model(location, (CONFIG_FILE,) if location.endswith(".tflite")
                                       else (tflite_filename(TFLITE_PREFIX, "fp32"), CONFIG_FILE))
            else:
                local = Path(location)
            path = local if local.suffix == ".tflite" else local / tflite_filename(TFLITE_PREFIX, "fp32")
            config_file = path.with_name(CONFIG_FILE)
            if not path.is_file() or not config_file.is_file():
                raise DeploymentError(f"{location}: expected {path.name} and {CONFIG_FILE} (write them with "
                                      "`movinet-crossfit export-counter`)")
            # repnet.export.load_runner builds a RepNetConfig, which imports TensorFlow; the
            # runner only reads these fields, straight from the export's repnet.json.
            config = types.SimpleNamespace(**json.loads(config_file.read_text()))
            _models[cache_key] = Counter.from_runner(path, TFLiteRunner(path, config))
        return _models[cache_key]


def load_tracker():
    """BlazePose following the athlete (``pose.people``, ``person="auto"``), its model files from
    ``$MOVINET_CROSSFIT_POSE_MODELS`` (cached; reset for each video by the analysis)."""
    from movinet_crossfit.pose.extract import make_backend
    from movinet_crossfit.pose.model_files import model_dir

    with _models_lock:
        try:
            folder = model_dir()
        except UserError as exc:
            raise DeploymentError(str(exc)) from exc
        cache_key = ("tracker", str(folder))
        if cache_key not in _models:
            _models[cache_key] = make_backend("blazepose", person="auto", model_dir=folder)
        return _models[cache_key]


def load_standards():
    """The movement standards: built in, plus ``$MOVINET_CROSSFIT_STANDARDS`` when set (cached)."""
    from movinet_crossfit.judging import load_standards as load

    location = os.environ.get(STANDARDS_ENV, "").strip() or None
    cache_key = ("standards", location)
    with _models_lock:
        if cache_key not in _models:
            try:
                _models[cache_key] = load(location)
            except UserError as exc:
                raise DeploymentError(f"{STANDARDS_ENV}: {exc}") from exc
        return _models[cache_key]


def _pose_fps() -> float:
    text = os.environ.get(POSE_FPS_ENV, "").strip()
    try:
        return float(text) if text else DEFAULT_POSE_FPS
    except ValueError:
        raise DeploymentError(f"{POSE_FPS_ENV}={text!r}: not a number of poses per second") from None


# ---------------------------------------------------------------------------------------------
# One video


def analyse_file(path: Path, predictor=None, counter: Counter | None = None, name: str = "", *,
                 movement: str | None = None, tracker=None, standards=None, pose_fps: float = DEFAULT_POSE_FPS,
                 overlay: Path | None = None, flip_rest: bool = False) -> dict:
    """``analyse_footage`` on the video at ``path``: the JSON-ready result the handler returns.
    ``predictor``: a ``predict.TFLitePredictor`` (``load_model``) naming the movement, or None;
    ``counter``: RepNet, whose count is added as ``repnet``; ``movement``: the caller's word (a
    ``RequestError`` when the standards do not know it); ``overlay``: where to draw the overlay;
    ``flip_rest``: the movement's other convention (``analyze --flip-rest``)."""
    name = name or path.name
    standards = standards if standards is not None else load_standards()
    check_movement(standards, movement, flip_rest)
    tick = time.perf_counter()
    try:
        info = check_video(path, name, verb="send")  # the one probe of this video
    except NotAVideoError as exc:
        raise RequestError(str(exc), 415) from exc
    checked = time.perf_counter() - tick
    try:
        result = analyse_footage(path, info, movement_model=NumpyMovement(predictor) if predictor else None,
                                 movement=movement or None, standards=standards, pose_fps=pose_fps,
                                 tracker=tracker if tracker is not None else load_tracker(), name=name,
                                 flip_rest=flip_rest)
        if overlay is not None:
            from movinet_crossfit.analysis.overlay import write_overlay

            tick = time.perf_counter()
            write_overlay(path, result, overlay)
            result.timings["overlay"] = time.perf_counter() - tick
        out = result.to_dict()
        if counter is not None:
            out["repnet"] = _repnet(path, info, counter, name, out["timings"])
    except video.VideoError as exc:  # probed, yet it does not decode
        raise RequestError(str(exc), 415) from exc
    out["timings"] = {"check": round(checked, 3), **out["timings"]}
    return out


def check_movement(standards, movement: str | None, flip_rest: bool = False) -> None:
    """A ``RequestError`` (400, listing the known names) for a movement neither the standards nor the
    pose counter know, or ``flip_rest`` without one or with a judged one
    (``analysis.footage.resolve_movement``)."""
    try:
        resolve_movement(standards, movement)
    except UserError as exc:
        raise RequestError(f"movement: {exc}") from exc
    if flip_rest:
        try:
            resolve_movement(standards, movement, flip_rest, words=("movement", "flip_rest"))
        except UserError as exc:
            raise RequestError(str(exc)) from exc


def _repnet(path: Path, info: video.VideoInfo, counter: Counter, name: str, timings: dict) -> dict:
    """RepNet's count beside the pose count: ``{"count": CountResult.to_dict() | None, "message"}``."""
    tick = time.perf_counter()
    count, message = counter.count_beside(path, info, name)
    timings["repnet"] = round(time.perf_counter() - tick, 3)
    return {"count": None if count is None else count.to_dict(per_frame=False), "message": message}


def _event_field(event, key: str):
    """``key`` in the event, else in its ``?key=`` query parameters (a proxy event), else in its
    JSON body (an empty value falls through); None when none has it."""
    if not isinstance(event, dict):
        return None
    query = event.get("queryStringParameters")
    found = event.get(key)
    if found in (None, "") and isinstance(query, dict):
        found = query.get(key)
    body = event.get("body")
    if found in (None, "") and not event.get("isBase64Encoded") and isinstance(body, str) \
            and body.lstrip().startswith("{"):
        try:
            inner = json.loads(body)
        except (json.JSONDecodeError, RecursionError):
            return None  # _event_video says so
        found = inner.get(key) if isinstance(inner, dict) else None
    return found


def _event_movement(event) -> str | None:
    """The movement the caller names: ``"movement"`` in the event or its JSON body, or the
    ``?movement=`` query parameter of a proxy event."""
    found = _event_field(event, "movement")
    return (str(found).strip() or None) if found else None


def _event_flip_rest(event) -> bool:
    """``"flip_rest"`` (as ``movement`` is given): the movement's other convention
    (``analyze --flip-rest``); true / false, or "true" / "false" / "1" / "0" in a query."""
    found = _event_field(event, "flip_rest")
    if found is None or isinstance(found, bool):
        return bool(found)
    text = str(found).strip().lower()
    if text in ("true", "1", "yes", "false", "0", "no", ""):
        return text in ("true", "1", "yes")
    raise RequestError(f"flip_rest {found!r}: true or false")


def _upload_overlay(path: Path, request_id: str) -> str:
    """Put the overlay video under ``$MOVINET_CROSSFIT_OVERLAY_S3``: its ``s3://`` URI."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split_s3_uri(os.environ[OVERLAY_ENV].strip().rstrip("/") + "/")
    key = f"{prefix}{request_id if request_id != '-' else secrets.token_hex(8)}.mp4"
    try:
        _s3().upload_file(str(path), bucket, key, ExtraArgs={"ContentType": "video/mp4"})
    except (ClientError, BotoCoreError) as exc:
        raise DeploymentError(f"s3://{bucket}/{key}: could not upload the overlay ({_s3_error_code(exc) or exc}); "
                              "the function's role needs s3:PutObject on it") from exc
    return f"s3://{bucket}/{key}"


def _event_video(event: dict, folder: Path) -> tuple[Path, str, float]:
    """Write the event's video into ``folder``: ``(path, name to report, download seconds)``."""
    if not isinstance(event, dict):
        raise RequestError("the event must be a JSON object")
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict) and "s3" in records[0]:
        try:
            s3 = records[0]["s3"]
            # S3 notifications URL-encode the key (spaces arrive as '+').
            bucket, key = str(s3["bucket"]["name"]), urllib.parse.unquote_plus(str(s3["object"]["key"]))
        except (KeyError, TypeError):
            raise RequestError("S3 event record without s3.bucket.name and s3.object.key") from None
    elif "bucket" in event and "key" in event:
        bucket, key = str(event["bucket"]), str(event["key"])
    elif "body" in event:
        body = event["body"]
        if not event.get("isBase64Encoded") and isinstance(body, str) and body.lstrip().startswith("{"):
            try:
                inner = json.loads(body)
            except json.JSONDecodeError:
                raise RequestError("the body looks like JSON but does not parse") from None
            except RecursionError:
                raise RequestError("the JSON body is nested too deeply: send {\"bucket\": ..., \"key\": ...}") from None
            return _event_video(inner, folder)  # a JSON body: {"bucket", "key"}
        if not isinstance(body, str) or not body:
            raise RequestError("empty body: send the video as base64 (isBase64Encoded) or an S3 bucket and key")
        size = decoded_size(body)
        if size > _max_bytes():
            raise RequestError(f"the video is {format_mb(size)}, over the {format_mb(_max_bytes())} limit", 413)
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError("the body is not base64: send the video bytes base64-encoded") from None
        if not data:
            raise RequestError("empty body: send the video as base64")
        path = folder / f"{secrets.token_hex(8)}-upload"
        path.write_bytes(data)
        return path, "request body", 0.0
    else:
        raise RequestError('expected {"bucket": ..., "key": ...}, an S3 event record, or a base64 video body')
    return _fetch_video(bucket, key, folder)


def _fetch_video(bucket: str, key: str, folder: Path) -> tuple[Path, str, float]:
    from botocore.exceptions import BotoCoreError, ClientError

    uri = f"s3://{bucket}/{key}"
    check_allowed(bucket, key)  # before S3 is asked anything
    tick = time.perf_counter()
    client = _s3()
    try:
        size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        if size > _max_bytes():
            raise RequestError(f"{uri}: {format_mb(size)}, over the {format_mb(_max_bytes())} limit", 413)
        path = folder / f"{secrets.token_hex(8)}-{safe_name(key)}"
        client.download_file(bucket, key, str(path))
    except ClientError as exc:
        code = _s3_error_code(exc)
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            raise RequestError(f"{uri}: no such object", 404) from exc
        if code in ("403", "AccessDenied"):
            raise RequestError(f"{uri}: access denied (the function's role needs s3:GetObject)", 403) from exc
        raise RequestError(f"{uri}: S3 error {code or exc}", 502) from exc
    except BotoCoreError as exc:
        raise RequestError(f"{uri}: S3 unreachable ({exc})", 502) from exc
    return path, uri, time.perf_counter() - tick


def _response(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def handler(event, context=None) -> dict:
    """The Lambda entry point (``movinet_crossfit.serverless.handler``)."""
    started = time.perf_counter()
    request_id = getattr(context, "aws_request_id", "-")
    folder = _cache_dir() / "videos" / secrets.token_hex(8)
    try:
        predictor, counter, tracker = load_model(), load_counter(), load_tracker()
        standards, pose_fps = load_standards(), _pose_fps()
        _max_bytes(), allowed_s3()  # a broken setting is the deployment's error, whatever the request
        movement, flip_rest = _event_movement(event), _event_flip_rest(event)
        check_movement(standards, movement, flip_rest)  # before any download
        folder.mkdir(parents=True, exist_ok=True)
        path, name, download_s = _event_video(event, folder)
        overlay = folder / "overlay.mp4" if os.environ.get(OVERLAY_ENV, "").strip() else None
        result = analyse_file(path, predictor, counter, name, movement=movement, tracker=tracker,
                              standards=standards, pose_fps=pose_fps, overlay=overlay, flip_rest=flip_rest)
        if overlay is not None:
            result["overlay"] = _upload_overlay(overlay, request_id)
        result["timings"] = {"download": round(download_s, 3), **result["timings"],
                             "total": round(time.perf_counter() - started, 3)}
        log.info("%s: %s -> %s (%s), %d reps, %d valid (%.2f s)", request_id, name, result["movement"],
                 result["movement_source"], result["count"], result["valid_count"], result["timings"]["total"])
        return _response(200, result)
    except RequestError as exc:
        log.warning("%s: %d %s", request_id, exc.status, exc)
        return _response(exc.status, {"error": str(exc)})
    except DeploymentError as exc:
        log.error("%s: deployment: %s", request_id, exc)
        return _response(500, {"error": str(exc)})
    except UserError as exc:  # the model files themselves are damaged or mismatched
        log.error("%s: %s", request_id, exc)
        return _response(500, {"error": str(exc)})
    except Exception as exc:  # noqa: BLE001 - answer, log, and keep the container usable
        log.exception("%s: failed", request_id)
        return _response(500, {"error": f"internal error ({type(exc).__name__}); logged as request {request_id}"})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
