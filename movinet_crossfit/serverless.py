"""AWS Lambda: ``handler(event, context)`` classifies one video (and counts its reps) with TFLite.

The video comes from S3 (``{"bucket": ..., "key": ...}``, or an S3 event notification record) or
in the request body as base64 (API Gateway / function URL proxy events, ``isBase64Encoded``). The
answer is an API Gateway proxy response: ``statusCode`` 200 and a JSON ``body`` with the movement,
every class's probability, the top 5, the video's size and length, the count (when a counter is
configured) and the time each step took; 4xx with ``{"error": message}`` for a request the caller
can fix (not a video, no such S3 object, too large, unknown event), 500 for a broken deployment.

The analysis is ``movinet_crossfit.analysis.analyse_video``, the one the app runs, so the body is
``VideoAnalysis.to_dict()`` (the app's result in the same JSON form) plus the download time. The
video is probed once (``analysis.inputs.check_video``, the content check) and that probe is passed
along. Nothing of the app (or Dash) is imported here.

Configuration (environment):

* ``MOVINET_CROSSFIT_MODEL`` (required): an export folder or a ``model_*.tflite`` file (with
  ``labels.txt`` beside it), local or ``s3://bucket/key``. S3 models are downloaded once per
  container into ``$MOVINET_CROSSFIT_CACHE`` (default ``/tmp/movinet-crossfit``) and reused.
* ``MOVINET_CROSSFIT_VARIANT``: which ``model_<variant>.tflite`` of an export folder (fp32).
* ``MOVINET_CROSSFIT_COUNTER`` (optional): an ``export-counter`` folder or a ``repnet_*.tflite``
  with ``repnet.json`` beside it, local or s3://, to count repetitions as well.
* ``MOVINET_CROSSFIT_MAX_VIDEO_MB``: largest video accepted (100).

Only LiteRT runs here, never TensorFlow: ``analysis.NumpyMovement`` sends the sampled frames
through ``numpy_preprocess`` (the training preprocessing in numpy; see that module for how close it
is), so the container needs neither TensorFlow nor tf_keras (see ``deploy/lambda/``). Every video
is classified as one clip (``clip_seconds=None``: no timeline, which needs TensorFlow's
preprocessing frame by frame); only its sampled frames are kept while decoding, whatever its length.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import shutil
import secrets
import threading
import time
import types
import urllib.parse
from pathlib import Path

from movinet_crossfit.analysis import (Counter, NotAVideoError, NumpyMovement, analyse_video, check_video,
                                       decoded_size, format_mb, safe_name)
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
    return int(float(os.environ.get(MAX_VIDEO_ENV, DEFAULT_MAX_VIDEO_MB)) * 1e6)


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
    """The ``predict.TFLitePredictor`` for ``$MOVINET_CROSSFIT_MODEL`` (cached)."""
    from movinet_crossfit.core.tflite import tflite_filename
    from movinet_crossfit.movinet.export import TFLITE_PREFIX
    from movinet_crossfit.movinet.predict import TFLitePredictor, resolve_model
    from movinet_crossfit.core.runs import LABELS_FILE

    location = os.environ.get(MODEL_ENV, "").strip()
    variant = os.environ.get(VARIANT_ENV, "fp32").strip() or "fp32"
    if not location:
        raise DeploymentError(f"{MODEL_ENV} is not set: point it at an export folder or a model_*.tflite "
                              "(local path or s3://bucket/key)")
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


# ---------------------------------------------------------------------------------------------
# One video


def analyse_file(path: Path, predictor, counter: Counter | None = None, name: str = "") -> dict:
    """Classify (and count) the video at ``path`` with ``analysis.analyse_video``: the JSON-ready
    result the handler returns. ``predictor``: a ``predict.TFLitePredictor`` (``load_model``)."""
    name = name or path.name
    tick = time.perf_counter()
    try:
        info = check_video(path, name, verb="send")  # the one probe of this video
    except NotAVideoError as exc:
        raise RequestError(str(exc), 415) from exc
    checked = time.perf_counter() - tick
    try:
        result = analyse_video(path, info, NumpyMovement(predictor), counter, name=name, clip_seconds=None,
                               no_counter_message="no counter configured")
    except video.VideoError as exc:  # probed, yet it does not decode
        raise RequestError(str(exc), 415) from exc
    result.timings = {"check": checked, **result.timings}
    return result.to_dict()


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
                return _event_video(json.loads(body), folder)  # a JSON body: {"bucket", "key"}
            except json.JSONDecodeError:
                raise RequestError("the body looks like JSON but does not parse") from None
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
        predictor, counter = load_model(), load_counter()
        folder.mkdir(parents=True, exist_ok=True)
        path, name, download_s = _event_video(event, folder)
        result = analyse_file(path, predictor, counter, name)
        result["timings"] = {"download": download_s, **result["timings"],
                             "total": time.perf_counter() - started}
        log.info("%s: %s -> %s %.2f (%.2f s)", request_id, name, result["movement"], result["probability"],
                 result["timings"]["total"])
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
