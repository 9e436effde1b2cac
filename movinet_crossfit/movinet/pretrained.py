"""The official Kinetics-600 *base* checkpoints by name (``train --pretrained a2``; with ``--causal``
the *stream* ones, ``movinet_<id>_stream.tar.gz``): downloaded once
with ``tf_keras.utils.get_file``, checked against a pinned SHA-256 where one is known, and cached.

* Cache: ``$MOVINET_CROSSFIT_CACHE`` or ``~/.cache/movinet-crossfit``, in ``pretrained/``; each
  archive keeps its SHA-256 beside it (``movinet_a2_base.tar.gz.sha256``, ``sha256sum`` format).
* URL: Model Garden's bucket (``model.checkpoint_url``), or ``$MOVINET_CROSSFIT_PRETRAINED_URL`` +
  ``/movinet_<id>_base.tar.gz`` (a mirror, or a test server).
* Offline, the error says which file to fetch from where and where to put it (or ``--archive``).

No checksums for these archives published by Google were found, and this project's machines
cannot reach the bucket, so the pins below were NOT computed here: a1, a2 and a3 come from one
third-party download log that lists each archive's size and SHA-256; a0, a4 and a5 are unknown. An
archive without a pin is trusted on first download: its SHA-256 is logged and recorded beside it,
and every later use of the cached file is checked against that record.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import sha256_file, temp_path_for, write_text_atomic

logger = logging.getLogger(__name__)

CACHE_ENV = "MOVINET_CROSSFIT_CACHE"
URL_ENV = "MOVINET_CROSSFIT_PRETRAINED_URL"
CACHE_SUBDIR = "pretrained"
HASH_SUFFIX = ".sha256"
PINNED = "pinned"  # fetch_pretrained's default: the hash in PINS

_THIRD_PARTY_LOG = "one third-party download log (2026-04); not from Google, not verified here"


@dataclass(frozen=True)
class Pin:
    """What the official archive of one model id is known to be."""

    sha256: Optional[str]  # None: unknown (trusted on first download, then recorded)
    size: Optional[int]  # bytes, for the record
    source: str  # where the hash comes from


PINS: dict[str, Pin] = {
    "a0": Pin(None, None, "unknown"),
    "a1": Pin("4c80bd477321d2483279358049191e151cb071a762efbe4efc9afa953e29920f", 18_995_200, _THIRD_PARTY_LOG),
    "a2": Pin("478f2ac53744ec81309c37c8ed9fae627dccb382bab181569d7943fe81ca775e", 21_258_240, _THIRD_PARTY_LOG),
    "a3": Pin("1cd1a8c00e9692a982619a12df68c1b30f95af970258b1c63f477f1dc1f02b0c", 29_941_760, _THIRD_PARTY_LOG),
    "a4": Pin(None, None, "unknown"),
    "a5": Pin(None, None, "unknown"),
}


class PretrainedDownloadError(UserError):
    """The archive could not be downloaded, or is not the file it should be."""


@dataclass(frozen=True)
class PretrainedArchive:
    """A cached official archive, ready for ``load_pretrained(archive=path)``."""

    model_id: str
    path: Path
    url: str
    sha256: str
    verified: bool  # True: matched the pinned hash; False: no pin known, hash recorded on first download
    downloaded: bool  # False: served from the cache

    def summary(self) -> str:
        check = "matches the pinned SHA-256" if self.verified else "no pinned SHA-256 known; recorded beside it"
        where = f"downloaded from {self.url}" if self.downloaded else "from the cache"
        return f"{self.path.name} {where} -> {self.path} (sha256 {self.sha256}, {check})"

    def to_dict(self) -> dict:
        return {"model_id": self.model_id, "path": str(self.path), "url": self.url, "sha256": self.sha256,
                "verified": self.verified, "downloaded": self.downloaded}


def archive_name(model_id: str, causal: bool = False) -> str:
    return f"movinet_{model_id}_{'stream' if causal else 'base'}.tar.gz"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "movinet-crossfit").expanduser()


def cached_path(model_id: str, causal: bool = False) -> Path:
    """Where the archive of ``model_id`` is kept (and where to place one by hand)."""
    return cache_root() / CACHE_SUBDIR / archive_name(model_id, causal)


def archive_url(model_id: str, causal: bool = False) -> str:
    from movinet_crossfit.movinet.model import checkpoint_url

    base = os.environ.get(URL_ENV)
    return f"{base.rstrip('/')}/{archive_name(model_id, causal)}" if base else checkpoint_url(model_id, causal)


def fetch_pretrained(model_id: str, *, sha256: Optional[str] = PINNED, causal: bool = False) -> PretrainedArchive:
    """The official archive of ``model_id``, from the cache or downloaded into it.

    ``causal``: the *stream* archive (no pins are known for those: trusted on first download).
    ``sha256``: the expected hash; ``PINNED`` (the default) takes ``PINS``, ``None`` trusts the
    file on first download. A download that does not match is removed and nothing is cached; a
    cached file that does not match (its pin, or the hash recorded when it was downloaded) is an
    error naming it. Network failures are one ``PretrainedDownloadError`` line saying which file
    to fetch from where, and where to place it.
    """
    from movinet_crossfit.movinet.model import check_model_id

    model_id = check_model_id(model_id)
    expected = (None if causal else PINS[model_id].sha256) if sha256 == PINNED else sha256
    path, url = cached_path(model_id, causal), archive_url(model_id, causal)
    if path.is_file():
        return _from_cache(model_id, path, url, expected)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PretrainedDownloadError(f"{path.parent}: cannot create the weights cache ({exc.strerror}); "
                                      f"set {CACHE_ENV} to a writable folder") from exc
    part = temp_path_for(path)
    logger.info("downloading %s -> %s", url, path)
    try:
        # get_file prints its progress bar on stdout, which is for results: send it to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            _get_file(part, url, expected)
    except Exception as exc:
        # get_file keeps a download whose hash does not match (ValueError); a failed fetch it removes.
        digest = sha256_file(part) if isinstance(exc, ValueError) and part.is_file() else None
        _remove(part)
        if digest is not None:
            raise _mismatch(url, digest, expected) from exc
        raise PretrainedDownloadError(_offline_message(model_id, url, path, exc, causal)) from exc
    except BaseException:
        _remove(part)
        raise
    digest = sha256_file(part)
    if expected is not None and digest != expected:
        _remove(part)
        raise _mismatch(url, digest, expected)
    write_text_atomic(path.with_name(path.name + HASH_SUFFIX), f"{digest}  {path.name}\n")
    os.replace(part, path)
    if expected is None:
        logger.warning("%s: no pinned SHA-256 is known for it; downloaded with sha256 %s, recorded in %s%s "
                       "(compare it with a trusted copy)", path.name, digest, path.name, HASH_SUFFIX)
    return PretrainedArchive(model_id, path, url, digest, expected is not None, True)


def _get_file(part: Path, url: str, expected: Optional[str]) -> None:
    import tf_keras

    _remove(part)  # a stale temp file would be taken as already downloaded
    # An absolute fname is where get_file writes; cache_dir only has to be writable.
    tf_keras.utils.get_file(fname=str(part), origin=url, cache_dir=str(part.parent), cache_subdir=".",
                            file_hash=expected, hash_algorithm="sha256")


def _from_cache(model_id: str, path: Path, url: str, expected: Optional[str]) -> PretrainedArchive:
    digest = sha256_file(path)
    record = path.with_name(path.name + HASH_SUFFIX)
    recorded = record.read_text(encoding="utf-8").split()[0] if record.is_file() else None
    reference, what = (expected, "the pinned") if expected else (recorded, f"the one recorded in {record.name},")
    if reference is not None and digest != reference:
        raise PretrainedDownloadError(
            f"{path}: SHA-256 {digest} is not {what} {reference}; delete it to download it again, "
            "or, if you trust this file, pass it as --archive FILE")
    if recorded != digest:  # placed by hand (the offline route): record it from now on
        write_text_atomic(record, f"{digest}  {path.name}\n")
        if expected is None:
            logger.warning("%s: no pinned SHA-256 is known for it; recorded its sha256 %s in %s%s",
                           path, digest, path.name, HASH_SUFFIX)
    return PretrainedArchive(model_id, path, url, digest, expected is not None, False)


def _mismatch(url: str, digest: str, expected: Optional[str]) -> PretrainedDownloadError:
    return PretrainedDownloadError(f"{url}: the download's SHA-256 is {digest}, not the pinned {expected}; nothing was "
                                   "cached (if the archive was republished, check it and pass it as --archive FILE)")


def _offline_message(model_id: str, url: str, path: Path, exc: Exception, causal: bool = False) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return (f"{url}: could not download the MoViNet-{model_id} Kinetics-600 weights ({reason[:200]}); "
            f"without network access here, download {archive_name(model_id, causal)} from {url} elsewhere and place "
            f"it at {path} (or pass it as --archive FILE)")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
