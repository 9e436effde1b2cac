"""What `download` costs on top of the transfer itself: the 30 real cfmove clips served from
127.0.0.1, fetched (a) by plain urllib, one after another (the floor), (b) by `download_sources`
with 1 and 2 workers (yt-dlp extraction + transfer + probe + metadata + archive), and (c) again,
when everything is already there (a rerun must cost next to nothing).

    python benchmarks/bench_download.py [--workers 1,2]
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import movinet_crossfit  # noqa: E402,F401
from movinet_crossfit.data.download import DownloadOptions, download_sources  # noqa: E402

CLIPS = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "cfmove" / "clips"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # yt-dlp's extractor hangs up after the headers of a direct video link


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()
    os.environ.setdefault("MOVINET_CROSSFIT_PROGRESS", "0")
    clips = sorted(CLIPS.glob("*/*.mp4"))
    server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(CLIPS)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    urls = [f"http://127.0.0.1:{server.server_port}/{p.relative_to(CLIPS).as_posix()}" for p in clips]
    total_mb = sum(p.stat().st_size for p in clips) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "urls.txt"
        sources.write_text("\n".join(urls) + "\n")
        start = time.perf_counter()
        for k, url in enumerate(urls):
            with urllib.request.urlopen(url) as response, open(Path(tmp) / f"plain{k}.mp4", "wb") as out:
                shutil.copyfileobj(response, out)
        plain = time.perf_counter() - start
        print(f"{len(urls)} clips, {total_mb:.1f} MB; plain urllib, sequential: {plain:.2f} s "
              f"({plain / len(urls) * 1000:.0f} ms/clip)")
        for workers in (int(w) for w in args.workers.split(",")):
            out = Path(tmp) / f"videos{workers}"
            start = time.perf_counter()
            report = download_sources([sources], out, DownloadOptions(workers=workers, retries=0))
            took = time.perf_counter() - start
            assert report.counts()["downloaded"] == len(urls), report.summary()
            start = time.perf_counter()
            again = download_sources([sources], out, DownloadOptions(workers=workers))
            rerun = time.perf_counter() - start
            assert again.counts()["present"] == len(urls), again.summary()
            print(f"download_sources, {workers} worker(s): {took:.2f} s ({took / len(urls) * 1000:.0f} ms/clip, "
                  f"{took / plain:.1f}x plain); rerun (all present): {rerun:.3f} s")
    server.shutdown()


if __name__ == "__main__":
    main()
