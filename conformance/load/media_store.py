"""Media stored once per cassette folder by digest: cassettes stay small and readable, replay stays exact.

A multimodal request carries its images, audio and video inline (data URIs, raw base64 fields,
multipart file parts), and a cassette would repeat them in every file. `externalize` (on save)
replaces each media payload by a short token and `restore` (on load) puts the exact bytes back, so
the restored request body is byte-identical to the recorded one and vcrpy's body matcher still
matches the request the runner builds.

Tokens (plain ASCII inside the body, so JSON stays valid and `conformance validate` can read a
cassette even without restoring it):

    media:fixture:<name>:sha256:<hex>[:<encoding>]   a fixture of conformance.load.media: regenerated, not stored
    media:sha256:<hex>[:<encoding>]                  any other payload: <media dir>/<hex>.<ext>, raw bytes
    media:url:<name>                                 a fixture URL on the local media server (its port varies)

<encoding> says how the payload was written in the body, so restore rebuilds it exactly: absent for
standard base64 with padding, `b64-nopad`, `b64url`, `b64url-nopad`, or `raw` (the bytes themselves:
a multipart file part or a whole binary body).

What is replaced (payloads shorter than the thresholds stay inline):
- a base64 run that decodes to a known fixture (>= 64 characters), wherever it is;
- the payload of a `data:<mime>;base64,` URI (>= MIN_CHARS characters), whatever the media type;
- a bare base64 run (>= MIN_CHARS) that decodes to a recognisable media file (PNG, JPEG, GIF, WebP,
  WAV, MP3, AAC, FLAC, Ogg, MP4/QuickTime, WebM, AIFF, TIFF, PDF): other long base64 in bodies
  (encrypted reasoning, signatures) is left alone, it is not media and would only add files;
- multipart/form-data file parts and whole binary (non-UTF-8) bodies of at least MIN_CHARS bytes.
Responses get the same treatment (generated images, speech), which matters only for size: replay
never matches on them.

Stored payloads are raw binary files named by the sha256 of their bytes: 25% smaller than base64,
self-verifying (`sha256sum` equals the name), openable with any viewer, and never diffed by git
since content-addressed files never change. The folder is `<cassettes>/_media/` (see media_dir_for).
"""
from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

from conformance.load import media

MIN_CHARS = 256  # unknown payloads shorter than this (base64 characters or raw bytes) stay inline
MIN_FIXTURE_CHARS = 64  # a known fixture is replaced from this length on (its token is ~100 characters)
MEDIA_DIR = "_media"

_B64 = rb"A-Za-z0-9+/_\-"  # standard and URL-safe base64 alphabets
_RUN = re.compile(
    rb"(?<![" + _B64 + rb"=])"
    rb"(data:[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+(?:;[A-Za-z0-9.+_=-]+)*;base64,)?"
    rb"([" + _B64 + rb"]{%d,}={0,2})(?![" % MIN_FIXTURE_CHARS + _B64 + rb"=])")
TOKEN = re.compile(
    rb"media:(?:url:([A-Za-z0-9._-]+)|(?:fixture:([A-Za-z0-9._-]+):)?sha256:([0-9a-f]{64})"
    rb"(?::(b64-nopad|b64url-nopad|b64url|raw))?)")
_URL = re.compile(media.url_pattern().pattern.encode())
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)

_MIME_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
             "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3",
             "audio/flac": "flac", "audio/ogg": "ogg", "audio/aac": "aac", "audio/webm": "webm",
             "video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm", "application/pdf": "pdf",
             "text/plain": "txt"}


class MediaStoreError(Exception):
    """A token that cannot be restored: payload file missing or damaged, or a fixture that changed."""


# -- the folder ---------------------------------------------------------------------------------
def media_dir_for(cassette_path: str | os.PathLike) -> Path:
    """Where the payloads of this cassette live: the nearest existing `_media` folder among the
    cassette's four enclosing folders, else `_media` in the nearest folder named `cassettes`, else in
    the cassettes root of the standard layout <root>/<target>/<api>/<feature>/<case>.yaml."""
    path = Path(cassette_path).absolute()
    parents = list(path.parents)[:4]
    for folder in parents:
        if (folder / MEDIA_DIR).is_dir():
            return folder / MEDIA_DIR
    for folder in parents:
        if folder.name == "cassettes":
            return folder / MEDIA_DIR
    return (parents[3] if len(parents) >= 4 else path.parent) / MEDIA_DIR


# -- encodings ----------------------------------------------------------------------------------
def _encode(data: bytes, encoding: str | None) -> bytes:
    if encoding == "raw":
        return data
    if encoding in ("b64url", "b64url-nopad"):
        text = base64.urlsafe_b64encode(data)
    else:
        text = base64.b64encode(data)
    return text.rstrip(b"=") if encoding and encoding.endswith("-nopad") else text


def _decode_exact(run: bytes) -> tuple[bytes, str | None] | None:
    """The bytes and encoding name of a base64 run, if re-encoding them gives the run back exactly."""
    urlsafe = b"-" in run or b"_" in run
    if urlsafe and (b"+" in run or b"/" in run):
        return None
    padded = run + b"=" * (-len(run) % 4)
    try:
        data = base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    for encoding in ((None, "b64-nopad") if not urlsafe else ("b64url", "b64url-nopad")):
        if _encode(data, encoding) == run:
            return data, encoding
    return None


def sniff(data: bytes) -> str | None:
    """The file extension of a recognisable media file, from its magic bytes; None otherwise."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}[head[8:12]]
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "aac" if head[1] & 0x06 == 0 else "mp3"  # ADTS has layer 00; MPEG audio layers I-III do not
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return {b"qt  ": "mov", b"M4A ": "m4a", b"heic": "heic", b"avif": "avif"}.get(brand, "mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


# -- externalize --------------------------------------------------------------------------------
class _Externalizer:
    def __init__(self, media_dir: Path | None):
        self.media_dir = Path(media_dir) if media_dir is not None else None
        self.fixtures = media.known_digests()
        self.written: set[str] = set()

    def token(self, data: bytes, encoding: str | None, ext: str | None) -> bytes:
        digest = hashlib.sha256(data).hexdigest()
        suffix = f":{encoding}" if encoding else ""
        name = self.fixtures.get(digest)
        if name is not None:
            return f"media:fixture:{name}:sha256:{digest}{suffix}".encode()
        self.store(digest, data, ext or sniff(data) or "bin")
        return f"media:sha256:{digest}{suffix}".encode()

    def store(self, digest: str, data: bytes, ext: str) -> None:
        if digest in self.written:
            return
        if self.media_dir is None:
            raise MediaStoreError("a media payload must be stored but no media folder was given")
        if not any(self.media_dir.glob(f"{digest}.*")):
            self.media_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.media_dir, prefix=f".{digest}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, self.media_dir / f"{digest}.{ext}")
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        self.written.add(digest)

    def body(self, body: Any, content_type: str) -> Any:
        if body is None or isinstance(body, (bytes, str)) is False:
            return body
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if not raw:
            return body
        out = self._multipart(raw, content_type) if "multipart/" in content_type.lower() else raw
        if out is raw and len(raw) >= MIN_CHARS and not _is_utf8(raw) and not TOKEN.fullmatch(raw):
            out = self.token(raw, "raw", sniff(raw))
        out = _RUN.sub(self._run, out)
        out = _URL.sub(lambda m: b"media:url:" + m.group(1) if media.exists(m.group(1).decode()) else m.group(0), out)
        return _as_given(body, raw, out)

    def _run(self, m: re.Match) -> bytes:
        prefix, run = m.group(1) or b"", m.group(2)
        decoded = _decode_exact(run)
        if decoded is None:
            return m.group(0)
        data, encoding = decoded
        if hashlib.sha256(data).hexdigest() in self.fixtures:
            return prefix + self.token(data, encoding, None)
        if len(run) < MIN_CHARS:
            return m.group(0)
        if prefix:
            mime = prefix[5:].split(b";", 1)[0].decode("ascii", "replace").lower()
            return prefix + self.token(data, encoding, _MIME_EXT.get(mime) or sniff(data))
        ext = sniff(data)
        return prefix + self.token(data, encoding, ext) if ext else m.group(0)

    def _multipart(self, raw: bytes, content_type: str) -> bytes:
        """File parts of a multipart body (RFC 7578) become raw tokens; the framing is kept byte for byte."""
        m = _BOUNDARY.search(content_type)
        if not m:
            return raw
        delimiter = b"--" + m.group(1).encode("latin-1")
        pieces = raw.split(delimiter)
        changed = False
        for i, piece in enumerate(pieces[1:-1], 1):  # before the first and after the last: preamble, epilogue
            head, sep, content = piece.partition(b"\r\n\r\n")
            if not sep or not content.endswith(b"\r\n"):
                continue
            payload = content[:-2]
            if len(payload) < MIN_CHARS and hashlib.sha256(payload).hexdigest() not in self.fixtures:
                continue
            if _is_utf8(payload) and not sniff(payload):
                continue  # a text field or text file: readable as it is
            part_type = re.search(rb"content-type:\s*([^\r\n;]+)", head, re.I)
            ext = _MIME_EXT.get(part_type.group(1).decode("latin-1").strip().lower()) if part_type else None
            pieces[i] = head + sep + self.token(payload, "raw", ext or sniff(payload)) + b"\r\n"
            changed = True
        return delimiter.join(pieces) if changed else raw


def _as_given(body: Any, raw: bytes, out: bytes) -> Any:
    """The rewritten body in the type it came in (the same object when nothing changed); a str body
    whose new bytes are no longer UTF-8 (a raw payload put back) becomes bytes."""
    if out == raw:
        return body
    if isinstance(body, str):
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError:
            return out
    return out


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- restore ------------------------------------------------------------------------------------
class _Restorer:
    def __init__(self, media_dir: Path | None, strict: bool):
        self.media_dir = Path(media_dir) if media_dir is not None else None
        self.strict = strict
        self.loaded: dict[str, bytes] = {}

    def payload(self, name: str | None, digest: str) -> bytes | None:
        if digest in self.loaded:
            return self.loaded[digest]
        data = None
        if name is not None and media.exists(name) and media.sha256(name) == digest:
            data = media.data(name)
        if data is None and self.media_dir is not None:
            for path in sorted(self.media_dir.glob(f"{digest}.*")):
                got = path.read_bytes()
                if hashlib.sha256(got).hexdigest() != digest:
                    if self.strict:
                        raise MediaStoreError(f"media payload {path} is damaged: its sha256 is not {digest}")
                    continue
                data = got
                break
        if data is None:
            if not self.strict:
                return None
            if name is not None and media.exists(name):
                raise MediaStoreError(
                    f"media fixture {name} no longer encodes to sha256:{digest} (now {media.sha256(name)}): "
                    "an encoder library changed version; pin it back or re-record")
            where = self.media_dir if self.media_dir is not None else "(no media folder)"
            raise MediaStoreError(f"media payload sha256:{digest} is missing from {where}")
        self.loaded[digest] = data
        return data

    def _token(self, m: re.Match) -> bytes:
        url_name, name, digest, encoding = (g.decode("ascii") if g else None for g in m.groups())
        if url_name is not None:
            if not media.exists(url_name):
                if self.strict:
                    raise MediaStoreError(f"media fixture {url_name} (in a media:url token) does not exist")
                return m.group(0)
            return media.fixture_url(url_name).encode()
        data = self.payload(name, digest or "")
        return m.group(0) if data is None else _encode(data, encoding)

    def body(self, body: Any) -> Any:
        if body is None or not isinstance(body, (bytes, str)):
            return body
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if b"media:" not in raw:
            return body
        out = TOKEN.sub(self._token, raw)
        return _as_given(body, raw, out)


# -- cassette shapes ----------------------------------------------------------------------------
def _content_type(headers: Any) -> str:
    if headers is None:
        return ""
    for k in list(headers.keys()):
        if str(k).lower() == "content-type":
            v = headers[k]
            return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return ""


def _map_request(request: Any, fn) -> Any:
    if isinstance(request, dict):  # serialized form: {"body": str|bytes, "headers": {k: [v]}, ...}
        if "body" not in request:
            return request
        new_body = fn(request["body"], _content_type(request.get("headers")))
        return request if new_body is request["body"] else {**request, "body": new_body}
    if hasattr(request, "body") and hasattr(request, "headers"):  # vcr.request.Request
        body = request.body_bytes if hasattr(request, "body_bytes") else request.body
        new_body = fn(body, _content_type(request.headers))
        if new_body is body:
            return request
        new = copy.copy(request)
        new._was_file = new._was_iter = False  # noqa: SLF001 (the body is now plain bytes)
        new.body = new_body
        return new
    return request


def _map_response(response: Any, fn) -> Any:
    if not isinstance(response, dict):
        return response
    body = response.get("body")
    if not isinstance(body, dict) or "string" not in body:  # a base64_string body is not text to rewrite
        return response
    key = "string"
    new_string = fn(body[key], _content_type(response.get("headers")))
    if new_string is body[key]:
        return response
    return {**response, "body": {**body, key: new_string}}


def _map_cassette(cassette: Any, on_request, on_response) -> Any:
    if isinstance(cassette, tuple) or (isinstance(cassette, list) and len(cassette) in (2, 3)
                                       and all(isinstance(x, list) for x in cassette[:2])):
        requests = [_map_request(r, on_request) for r in cassette[0]]
        responses = [_map_response(r, on_response) for r in cassette[1]]
        rest = list(cassette[2:])
        return type(cassette)([requests, responses, *rest]) if isinstance(cassette, list) \
            else (requests, responses, *rest)
    if isinstance(cassette, dict) and "interactions" in cassette:
        out = []
        for it in cassette["interactions"] or []:
            if isinstance(it, dict):
                it = {**it}
                if "request" in it:
                    it["request"] = _map_request(it["request"], on_request)
                if "response" in it:
                    it["response"] = _map_response(it["response"], on_response)
            out.append(it)
        return {**cassette, "interactions": out}
    if isinstance(cassette, dict) and ("requests" in cassette or "responses" in cassette):
        return {**cassette,
                "requests": [_map_request(r, on_request) for r in cassette.get("requests", [])],
                "responses": [_map_response(r, on_response) for r in cassette.get("responses", [])]}
    raise TypeError(f"not a vcrpy cassette: {type(cassette).__name__}")


def externalize(cassette: Any, media_dir: str | os.PathLike | None = None) -> Any:
    """A copy of the cassette with media payloads replaced by tokens; payloads that are not known
    fixtures are written once to `media_dir`/<sha256>.<ext> (only if absent).

    Accepts what vcrpy's persister saves ({"requests": [Request], "responses": [dict]}), the
    serialized form ({"interactions": [...]}) and what vcrpy's deserialize returns (a tuple)."""
    ext = _Externalizer(Path(media_dir) if media_dir is not None else None)
    return _map_cassette(cassette, ext.body, ext.body)


def restore(cassette: Any, media_dir: str | os.PathLike | None = None, strict: bool = True) -> Any:
    """The inverse of externalize, same shapes accepted. With strict=False a token whose payload
    cannot be found stays as it is (for reading cassettes, e.g. `conformance validate`); with
    strict=True (replay) it raises MediaStoreError."""
    res = _Restorer(Path(media_dir) if media_dir is not None else None, strict)
    return _map_cassette(cassette, lambda b, _ct: res.body(b), lambda b, _ct: res.body(b))


# -- housekeeping -------------------------------------------------------------------------------
def referenced_digests(cassettes_dir: str | os.PathLike) -> set[str]:
    """sha256 digests of stored payloads referenced by any cassette under the folder (tokens in
    `!!binary` bodies included, so the YAML is parsed rather than grepped)."""
    import yaml
    try:
        from yaml import CSafeLoader as Loader
    except ImportError:  # pragma: no cover
        from yaml import SafeLoader as Loader
    found: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, (str, bytes)):
            raw = v.encode("utf-8") if isinstance(v, str) else v
            for m in TOKEN.finditer(raw):
                if m.group(3):
                    found.add(m.group(3).decode())
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for path in sorted(Path(cassettes_dir).rglob("*.y*ml")):
        if MEDIA_DIR in path.parts:
            continue
        try:
            walk(yaml.load(path.read_text(encoding="utf-8"), Loader=Loader))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
    return found


def prune(cassettes_dir: str | os.PathLike, dry_run: bool = False) -> list[Path]:
    """Delete stored payloads no cassette refers to any more (after re-recording); returns them."""
    folder = Path(cassettes_dir) / MEDIA_DIR
    if not folder.is_dir():
        return []
    keep = referenced_digests(cassettes_dir)
    gone = [p for p in sorted(folder.iterdir()) if p.is_file() and p.name.split(".", 1)[0] not in keep]
    if not dry_run:
        for p in gone:
            p.unlink()
    return gone


def total_size(paths: Iterable[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())
