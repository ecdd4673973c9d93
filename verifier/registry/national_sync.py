"""Resumable download of national parts and deltas (HTTP Range + If-Range on the ETag).

A national part is hundreds of megabytes; a dropped connection resumes where it stopped
instead of starting over. The bytes are only trusted after ``snapshot import`` checks the
signature, so a resumed file that was spliced from two versions is refused there; If-Range
makes the server send the whole new file when the ETag changed, so that does not happen.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import httpx

from verifier.errors import OmsError
from verifier.private_files import private_opener
from verifier.safejson import loads_object

_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class DownloadError(OmsError):
    code = "download_failed"


def download_resumable(
    client: httpx.Client, url: str, dest: Path, *, max_bytes: int = 8 << 30
) -> Path:
    """Fetch ``url`` into ``dest``, continuing a ``dest.partial`` left by an earlier attempt."""
    partial = dest.with_name(dest.name + ".partial")
    meta = dest.with_name(dest.name + ".partial.json")
    have = partial.stat().st_size if partial.exists() else 0
    etag = None
    if have and meta.exists():
        with contextlib.suppress(OmsError, OSError):
            etag = loads_object(meta.read_bytes(), max_bytes=4096, what="download state").get(
                "etag"
            )
    headers = {"Accept-Encoding": "identity"}  # byte offsets must be the file's own
    if have and isinstance(etag, str):
        headers |= {"Range": f"bytes={have}-", "If-Range": etag}
    try:
        with client.stream("GET", url, headers=headers) as r:
            encoding = r.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                _forget(partial, meta)
                raise DownloadError(
                    f"{dest.name} came {encoding}-encoded", code="download_encoding"
                )
            if r.status_code == 416 and have:
                # Everything was already here (a crash between the last byte and the rename):
                # the server says so with "bytes */N". Anything else: start over next time.
                if r.headers.get("content-range", "") == f"bytes */{have}":
                    partial.replace(dest)
                    return dest
                _forget(partial, meta)
                raise DownloadError("server refused the resume offset", code="download_range")
            if r.status_code == 206:
                m = _RANGE.match(r.headers.get("content-range", ""))
                if m is None or int(m.group(1)) != have:
                    _forget(partial, meta)
                    raise DownloadError("server resumed at another offset", code="download_range")
                mode = "ab"
            elif r.status_code == 200:
                have, mode = 0, "wb"
                tag = r.headers.get("etag")
                with open(meta, "w", opener=private_opener) as f:
                    json.dump({"etag": tag}, f)
            else:
                raise DownloadError(f"download of {dest.name}: HTTP {r.status_code}")
            length = r.headers.get("content-length", "")
            if length.isascii() and length.isdigit() and have + int(length) > max_bytes:
                raise DownloadError(f"{dest.name} is larger than {max_bytes} bytes")
            with open(partial, mode, opener=private_opener) as out:
                # As the bytes arrive (no re-chunking, no decoding): a fixed chunk size
                # buffers up to a chunk that a dropped connection loses, and a resume would
                # start before it.
                for chunk in r.iter_raw():
                    have += len(chunk)
                    if have > max_bytes:
                        raise DownloadError(f"{dest.name} is larger than {max_bytes} bytes")
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise DownloadError(f"download of {dest.name} interrupted: {exc}") from exc
    partial.replace(dest)
    meta.unlink(missing_ok=True)
    return dest


def _forget(partial: Path, meta: Path) -> None:
    """Drop a partial file that cannot be continued, so the next round fetches it whole."""
    partial.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)
