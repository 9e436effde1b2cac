"""``train --pretrained ID``: the official archive downloaded once, checked, cached, loaded.

A stand-in for Model Garden's bucket runs on 127.0.0.1 (http.server in a thread) and serves a
Kinetics-style archive the test writes: an a0 classifier with a 600-class head, seeded, saved as
``tf.train.Checkpoint(model=...)`` in ``movinet_a0_base/`` and tarred, as the official ones are.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import logging
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.movinet import pretrained
from movinet_crossfit.movinet.config import TrainConfig


@pytest.fixture(scope="module")
def served_folder(tmp_path_factory) -> Path:
    """A folder holding ``movinet_a0_base.tar.gz`` (seeded a0, 600 classes, the official layout)."""
    import tensorflow as tf
    import tf_keras

    from movinet_crossfit.movinet.model import KINETICS_600_CLASSES, build_classifier

    folder = tmp_path_factory.mktemp("bucket")
    tf_keras.utils.set_random_seed(5)
    model = build_classifier("a0", KINETICS_600_CLASSES, 4, 32)
    model.build([None, 4, 32, 32, 3])
    tf.train.Checkpoint(model=model).save(str(folder / "movinet_a0_base" / "ckpt"))
    with tarfile.open(folder / "movinet_a0_base.tar.gz", "w:gz") as tar:
        tar.add(folder / "movinet_a0_base", arcname="movinet_a0_base")
    return folder


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def bucket(served_folder, tmp_path, monkeypatch):
    """The stand-in bucket, serving until the test ends; the cache is the test's own folder.
    Yields ``(server, archive)``: ``server.shutdown()`` takes the bucket away mid-test."""
    handler = functools.partial(_Quiet, directory=str(served_folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(pretrained.URL_ENV, f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    try:
        yield server, served_folder / "movinet_a0_base.tar.gz"
    finally:
        server.shutdown()
        server.server_close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache_files(tmp_path: Path) -> list[str]:
    folder = tmp_path / "cache" / pretrained.CACHE_SUBDIR
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_download_caches_records_and_train_loads_it(bucket, tmp_path, tiny_records, caplog):
    server, archive = bucket
    caplog.set_level(logging.INFO, logger="movinet_crossfit")
    fetched = pretrained.fetch_pretrained("a0")
    assert fetched.downloaded and not fetched.verified  # no pin is known for a0: recorded, not verified
    assert fetched.path == tmp_path / "cache" / "pretrained" / "movinet_a0_base.tar.gz"
    assert fetched.path.read_bytes() == archive.read_bytes() and fetched.sha256 == _sha256(archive)
    assert fetched.url.startswith("http://127.0.0.1:") and fetched.url.endswith("/movinet_a0_base.tar.gz")
    record = fetched.path.with_name("movinet_a0_base.tar.gz.sha256")
    assert record.read_text() == f"{fetched.sha256}  movinet_a0_base.tar.gz\n"  # sha256sum -c reads it
    assert _cache_files(tmp_path) == ["movinet_a0_base.tar.gz", "movinet_a0_base.tar.gz.sha256"]
    assert any(fetched.sha256 in r.getMessage() and "no pinned SHA-256" in r.getMessage() for r in caplog.records)

    # The bucket goes away: the cache serves the archive, checked against its record.
    server.shutdown()
    again = pretrained.fetch_pretrained("a0")
    assert not again.downloaded and again.path == fetched.path and again.sha256 == fetched.sha256

    # train --pretrained a0 (without --model-id: the model is an a0) loads it through load_pretrained.
    from movinet_crossfit.movinet.train import train

    result = train(TrainConfig(records=str(tiny_records), out=str(tmp_path / "run"), pretrained="a0", epochs=0))
    assert result.config.model_id == "a0"
    assert result.summary["pretrained"]["sha256"] == fetched.sha256
    assert result.summary["pretrained"]["downloaded"] is False
    assert "330 variables restored from archive" in result.summary["weights"]
    assert str(fetched.path) in result.summary["weights"]

    # A cached file that no longer matches what was downloaded is refused, by name.
    fetched.path.write_bytes(b"not the archive")
    with pytest.raises(pretrained.PretrainedDownloadError, match=r"movinet_a0_base\.tar\.gz: SHA-256 \w+ is not the "
                                                                 r"one recorded in .*delete it"):
        pretrained.fetch_pretrained("a0")


def test_a_pinned_hash_is_verified(bucket, tmp_path):
    _, archive = bucket
    fetched = pretrained.fetch_pretrained("a0", sha256=_sha256(archive))
    assert fetched.verified and fetched.downloaded
    assert "matches the pinned SHA-256" in fetched.summary()


def test_a_hash_mismatch_caches_nothing(bucket, tmp_path):
    _, archive = bucket
    wrong = "0" * 64
    with pytest.raises(pretrained.PretrainedDownloadError) as error:
        pretrained.fetch_pretrained("a0", sha256=wrong)
    message = str(error.value)
    assert f"SHA-256 is {_sha256(archive)}, not the pinned {wrong}" in message
    assert "nothing was cached" in message and "--archive" in message
    assert _cache_files(tmp_path) == []  # no archive, no record, no temp file


def test_offline_says_which_file_to_put_where(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(pretrained.URL_ENV, f"http://127.0.0.1:{port}")
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with pytest.raises(UserError) as error:
        pretrained.fetch_pretrained("a2")
    message = str(error.value)
    url = f"http://127.0.0.1:{port}/movinet_a2_base.tar.gz"
    target = tmp_path / "cache" / "pretrained" / "movinet_a2_base.tar.gz"
    assert "\n" not in message
    assert f"download movinet_a2_base.tar.gz from {url}" in message
    assert f"place it at {target}" in message and "--archive FILE" in message
    assert "refused" in message.lower()  # the reason, as the network gave it
    assert _cache_files(tmp_path) == []


def test_without_a_mirror_the_url_is_model_gardens(monkeypatch):
    from movinet_crossfit.movinet.model import checkpoint_url

    monkeypatch.delenv(pretrained.URL_ENV, raising=False)
    assert pretrained.archive_url("a2") == checkpoint_url("a2") == (
        "https://storage.googleapis.com/tf_model_garden/vision/movinet/movinet_a2_base.tar.gz")
    monkeypatch.delenv(pretrained.CACHE_ENV, raising=False)
    assert pretrained.cached_path("a1") == Path.home() / ".cache" / "movinet-crossfit" / "pretrained" / (
        "movinet_a1_base.tar.gz")
    # Every model id has a registry entry; where no hash is known, it says so instead of inventing one.
    from movinet_crossfit.movinet.model import MODEL_IDS

    assert set(pretrained.PINS) == set(MODEL_IDS)
    for pin in pretrained.PINS.values():
        assert (pin.sha256 is None and pin.source == "unknown") or len(pin.sha256) == 64


def test_pretrained_is_a_fourth_source_of_weights():
    config = TrainConfig(pretrained="A0")
    config.validate()
    assert (config.model_id, config.pretrained) == ("a0", "a0")  # the model follows the weights
    config.validate()  # and stays valid: train validates again what the CLI validated
    config = TrainConfig(pretrained="a2", model_id="a2")
    config.validate()
    with pytest.raises(UserError, match="--pretrained a0 holds MoViNet-a0 weights, but the model is --model-id a2"):
        TrainConfig(pretrained="a0", model_id="a2").validate()
    with pytest.raises(UserError, match="give one pretrained source, not --archive and --pretrained"):
        TrainConfig(pretrained="a0", archive="x.tar.gz").validate()
    with pytest.raises(UserError, match="--from-scratch contradicts --pretrained"):
        TrainConfig(pretrained="a0", from_scratch=True).validate()
    with pytest.raises(UserError, match="unknown MoViNet model id 'a9'"):
        TrainConfig(pretrained="a9").validate()
    with pytest.raises(UserError, match=r"pass --pretrained a2 \(downloads and caches https://storage"):
        TrainConfig().validate()
