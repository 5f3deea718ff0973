"""Media fixtures made from code: small, deterministic images, audio, video and a PDF for multimodal cases.

Nothing binary is committed: every fixture is generated on first use and cached per process. With
the encoder libraries pinned (pyproject.toml) the bytes are identical on every run and machine, so a
cassette can name a fixture by its sha256 instead of carrying it (see media_store.py). Every encoder
option that could vary is set explicitly; the Ogg serial number, which libsndfile draws at random,
is rewritten to a constant. How each fixture is made: docs/media.md.

Case files refer to fixtures anywhere in a request body with a mapping
    {media: red-square.png, as: data-uri | base64 | url | mime | format | filename}
which `resolve` replaces by the string: a `data:<mime>;base64,...` URI, raw base64, the URL of the
fixture on a local HTTP server (127.0.0.1, started on demand), its media type, its short format name
(`png`, `wav`: OpenAI `input_audio.format`) or its file name.
"""
from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import hashlib
import io
import math
import os
import re
import struct
import subprocess
import sys
import threading
import wave
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, unquote

from conformance.load.yamlsource import SourceError

SERVER_PREFIX = "/media/"  # URL path under which the local server serves fixtures by name
REFERENCE_FORMS = ("data-uri", "base64", "url", "mime", "format", "filename")
SAMPLE_RATE = 16_000
TONE_HZ = 440
OGG_SERIAL = 0x0C0F0A11  # constant Ogg stream serial number (libsndfile picks a random one)
MAX_NOISE_MB = 64  # on-demand oversized fixtures are capped so a typo cannot exhaust memory
NOISE = re.compile(r"^noise-([1-9][0-9]*)mb\.png$")


class MediaReferenceError(SourceError):
    """A `{media: ..., as: ...}` reference in a case that names no fixture or no known form."""


@dataclass(frozen=True)
class Fixture:
    name: str
    mime: str
    format: str  # short format name, as APIs spell it (input_audio.format: wav, mp3)
    description: str
    make: Callable[[], bytes]
    oversized: bool = False  # generated only when asked for by name; never stored in cassettes


# -- images (Pillow) ----------------------------------------------------------------------------
def _red_square():
    from PIL import Image
    return Image.new("RGB", (64, 64), (255, 0, 0))


def _blue_circle():
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (64, 64), (255, 255, 255))
    ImageDraw.Draw(img).ellipse((8, 8, 55, 55), fill=(0, 0, 255))
    return img


# Options set explicitly so a Pillow default change cannot silently change the bytes; Pillow adds no
# timestamp or text chunks unless asked (no pnginfo, exif or icc_profile is passed).
_IMAGE_OPTIONS: dict[str, dict[str, Any]] = {
    "PNG": {"optimize": False, "compress_level": 9},
    "JPEG": {"quality": 90, "subsampling": "4:2:0", "optimize": False, "progressive": False, "dpi": (72, 72)},
    "WEBP": {"lossless": False, "quality": 80, "method": 4, "exact": False},
    "GIF": {"optimize": False},
}


def _image(draw: Callable[[], Any], fmt: str) -> Callable[[], bytes]:
    def make() -> bytes:
        buf = io.BytesIO()
        draw().save(buf, format=fmt, **_IMAGE_OPTIONS[fmt])
        return buf.getvalue()
    return make


def _noise_png(megabytes: int) -> bytes:
    """Just over `megabytes` MB (10^6 bytes): random RGB pixels stored uncompressed (zlib level 0).

    The pixels come from SHAKE-256 of a fixed seed, so they are the same everywhere; random data
    does not compress, and level 0 keeps encoding fast and the size predictable."""
    from PIL import Image
    width = 1000
    height = -(-megabytes * 1_000_000 // (width * 3))
    pixels = hashlib.shake_256(f"conformance-noise-{megabytes}mb".encode()).digest(width * height * 3)
    buf = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(buf, format="PNG", optimize=False, compress_level=0)
    return buf.getvalue()


# -- audio (stdlib wave; soundfile = libsndfile with libFLAC, libvorbis, LAME) --------------------
def _tone_samples() -> list[int]:
    """1 s of a 440 Hz sine at half amplitude, 16 kHz, as 16-bit integers (rounded, so any libm
    agrees: a last-bit difference in sin() cannot move a value across a rounding boundary here)."""
    return [round(16383 * math.sin(2 * math.pi * TONE_HZ * i / SAMPLE_RATE)) for i in range(SAMPLE_RATE)]


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(struct.pack(f"<{SAMPLE_RATE}h", *_tone_samples()))
    return buf.getvalue()


def _sndfile(fmt: str, subtype: str, **options: Any) -> Callable[[], bytes]:
    def make() -> bytes:
        import numpy as np
        import soundfile as sf
        buf = io.BytesIO()
        buf.name = f"tone.{fmt.lower()}"  # libsndfile only needs the format; a name keeps it quiet
        with sf.SoundFile(buf, "w", samplerate=SAMPLE_RATE, channels=1, format=fmt, subtype=subtype,
                          **options) as f:
            f.write(np.array(_tone_samples(), dtype=np.int16))
        data = buf.getvalue()
        return _ogg_fixed_serial(data) if fmt == "OGG" else data
    return make


def _ogg_fixed_serial(data: bytes) -> bytes:
    """Rewrite every Ogg page's stream serial number to a constant and recompute its CRC.

    libsndfile seeds the serial number from the clock (RFC 3533 only asks it be unique within a
    physical stream), so two encodings would differ in those 4 bytes of each page and its checksum."""
    out = bytearray(data)
    pos = 0
    while pos + 27 <= len(out):
        if out[pos:pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        nseg = out[pos + 26]
        size = 27 + nseg + sum(out[pos + 27:pos + 27 + nseg])
        struct.pack_into("<I", out, pos + 14, OGG_SERIAL)
        struct.pack_into("<I", out, pos + 22, 0)
        struct.pack_into("<I", out, pos + 22, _ogg_crc(bytes(out[pos:pos + size])))
        pos += size
    return bytes(out)


@lru_cache(maxsize=1)
def _ogg_crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return tuple(table)


def _ogg_crc(page: bytes) -> int:
    """CRC-32 of RFC 3533 (polynomial 0x04C11DB7, not reflected, initial value and final XOR 0)."""
    table, crc = _ogg_crc_table(), 0
    for b in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) & 0xFF) ^ b]
    return crc


# -- video (PyAV = ffmpeg with libx264) ---------------------------------------------------------
CLIP_CONTAINERS = ("mp4", "mov")


def _clip(container: str) -> Callable[[], bytes]:
    """1 s, 32x32, 10 fps H.264 whose colour goes from red to blue, one step per frame.

    `fflags=+bitexact` keeps ffmpeg's version string and any creation time out of the file; x264
    runs on one thread (its output depends on the thread count) with its preset and rate control
    named explicitly. x264's own SEI carries its build number, fixed by the pinned PyAV wheel.

    The encoding runs in a fresh interpreter: in a long-lived process (a full test session with
    live gateways, threads and SDKs) the same call was seen to give different bytes now and then,
    never in a fresh one, and a fixture whose bytes drift no longer matches its cassettes. One
    interpreter encodes every container (see encode_clips_ahead)."""
    def make() -> bytes:
        return _clips().result()[container]
    return make


_clips_lock = threading.Lock()
_clips_future: concurrent.futures.Future[dict[str, bytes]] | None = None


def encode_clips_ahead(needed: set[str]) -> None:
    """Start encoding the video clips now, in the background (a child process, so on another core),
    when a run needs one of them (`needed`: fixture names) and the disk cache has them not."""
    clips = {f"clip.{c}" for c in CLIP_CONTAINERS}
    if needed & clips and (_disk is None or any(_from_disk(name) is None for name in clips)):
        _clips()


def _clips() -> concurrent.futures.Future[dict[str, bytes]]:
    """Every clip container, encoded once per process by one fresh interpreter."""
    global _clips_future
    with _clips_lock:
        if _clips_future is None:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="conformance-clips")
            _clips_future = pool.submit(_encode_clips_in_child)
            pool.shutdown(wait=False)
        return _clips_future


def _encode_clips_in_child() -> dict[str, bytes]:
    code = ("import sys; from conformance.load.media import CLIP_CONTAINERS, _encode_clip\n"
            "for c in CLIP_CONTAINERS:\n"
            "    clip = _encode_clip(c)\n"
            "    sys.stdout.buffer.write(len(clip).to_bytes(8, 'big') + clip)\n")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "SYSTEMROOT")}
    # The child imports this very package, wherever it was imported from.
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent)]
                                        + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, env=env, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"encoding the video clips failed: {done.stderr.decode(errors='replace')[-500:]}")
    out, rest = {}, done.stdout
    for container in CLIP_CONTAINERS:
        size = int.from_bytes(rest[:8], "big")
        out[container], rest = rest[8:8 + size], rest[8 + size:]
    return out


def _encode_clip(container: str) -> bytes:
    """The encoding itself (see _clip); called in a fresh interpreter."""
    import av
    import numpy as np
    buf = io.BytesIO()
    with av.open(buf, "w", format=container, options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libx264", rate=10, options={
            "threads": "1", "preset": "medium", "crf": "23"})
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        for i in range(10):
            frame = np.zeros((32, 32, 3), dtype=np.uint8)
            frame[..., 0] = 255 - 25 * i
            frame[..., 2] = 25 * i
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


# -- documents (stdlib) ---------------------------------------------------------------------------
def _pdf() -> bytes:
    """A one-page PDF 1.4 saying "Hello, conformance" in Helvetica; written by hand so it carries no
    producer or creation date."""
    content = b"BT /F1 18 Tf 20 40 Td (Hello, conformance) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 240 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _catalog() -> dict[str, Fixture]:
    fixtures = []
    for stem, draw, what in (("red-square", _red_square, "64x64 solid red square"),
                             ("blue-circle", _blue_circle, "64x64 blue disc on white")):
        for ext, fmt, mime in (("png", "PNG", "image/png"), ("jpg", "JPEG", "image/jpeg"),
                               ("webp", "WEBP", "image/webp"), ("gif", "GIF", "image/gif")):
            fixtures.append(Fixture(f"{stem}.{ext}", mime, "jpeg" if ext == "jpg" else ext,
                                    f"{what}, {fmt}", _image(draw, fmt)))
    tone = "1 s 440 Hz sine, 16 kHz mono"
    fixtures += [
        Fixture("tone-440.wav", "audio/wav", "wav", f"{tone}, 16-bit PCM WAV", _wav),
        Fixture("tone-440.mp3", "audio/mpeg", "mp3", f"{tone}, MP3 (LAME, constant bitrate)",
                _sndfile("MP3", "MPEG_LAYER_III", bitrate_mode="CONSTANT", compression_level=0.5)),
        Fixture("tone-440.flac", "audio/flac", "flac", f"{tone}, FLAC 16-bit",
                _sndfile("FLAC", "PCM_16", compression_level=0.5)),
        Fixture("tone-440.ogg", "audio/ogg", "ogg", f"{tone}, Ogg Vorbis",
                _sndfile("OGG", "VORBIS", compression_level=0.5)),
        Fixture("clip.mp4", "video/mp4", "mp4", "1 s 32x32 10 fps H.264, red fading to blue, MP4", _clip("mp4")),
        Fixture("clip.mov", "video/quicktime", "mov", "1 s 32x32 10 fps H.264, red fading to blue, QuickTime",
                _clip("mov")),
        Fixture("hello.pdf", "application/pdf", "pdf", "one-page PDF saying 'Hello, conformance'", _pdf),
    ]
    return {f.name: f for f in fixtures}


FIXTURES: dict[str, Fixture] = _catalog()


def names(oversized: bool = False) -> list[str]:
    """The fixtures' names; the oversized family `noise-<N>mb.png` is generated on demand only."""
    return sorted(FIXTURES) + (["noise-12mb.png"] if oversized else [])


def fixture(name: str) -> Fixture:
    """The fixture called `name`; KeyError if there is none (`noise-<N>mb.png` for 1 <= N <= 64 exists)."""
    if name in FIXTURES:
        return FIXTURES[name]
    m = NOISE.match(name)
    if m and int(m.group(1)) <= MAX_NOISE_MB:
        mb = int(m.group(1))
        return Fixture(name, "image/png", "png", f"random RGB noise, just over {mb} MB, PNG stored uncompressed",
                       lambda: _noise_png(mb), oversized=True)
    raise KeyError(name)


def exists(name: str) -> bool:
    try:
        fixture(name)
    except KeyError:
        return False
    return True


_lock = threading.Lock()
_cache: dict[str, bytes] = {}
_disk: Path | None = None  # where generated fixtures are kept between runs (use_disk_cache)


def use_disk_cache(folder: Path | None) -> None:
    """Keep generated fixtures in `folder`/media/ between runs (None: generate them every run).

    Encoding the audio and video takes about a second per run (the clips in a fresh interpreter);
    a replay then reads a few kilobytes instead. The entries are keyed by a digest of this module's
    source and of the encoders' versions, so a change to either regenerates them; each file is
    named by its sha256 and checked on reading, so a damaged one is generated again."""
    global _disk
    _disk = Path(folder) / "media" / _generator_digest() if folder is not None else None


@lru_cache(maxsize=1)
def _generator_digest() -> str:
    from importlib.metadata import PackageNotFoundError, version
    parts = [Path(__file__).read_bytes()]
    for dist in ("pillow", "soundfile", "av", "numpy"):
        try:
            parts.append(f"{dist}={version(dist)}".encode())
        except PackageNotFoundError:
            parts.append(f"{dist}=none".encode())
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _from_disk(name: str) -> bytes | None:
    if _disk is None or fixture(name).oversized:
        return None
    for path in _disk.glob(f"{name}.*"):
        got = path.read_bytes()
        if hashlib.sha256(got).hexdigest() == path.suffix[1:]:
            return got
    return None


def _to_disk(name: str, made: bytes) -> None:
    if _disk is None or fixture(name).oversized:
        return
    try:
        _disk.mkdir(parents=True, exist_ok=True)
        final = _disk / f"{name}.{hashlib.sha256(made).hexdigest()}"
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        tmp.write_bytes(made)
        os.replace(tmp, final)  # readers never see half a file; parallel writers write the same bytes
    except OSError:
        pass  # a read-only or full disk only costs the regeneration next time


def data(name: str) -> bytes:
    """The fixture's bytes (generated once per process, or read from the disk cache)."""
    got = _cache.get(name)
    if got is None:
        made = _from_disk(name)
        if made is None:
            made = fixture(name).make()
            _to_disk(name, made)
        with _lock:
            got = _cache.setdefault(name, made)
    return got


def mime(name: str) -> str:
    return fixture(name).mime


@lru_cache(maxsize=None)
def b64(name: str) -> str:
    """Standard base64 with padding, no line breaks (what every API here expects)."""
    return base64.b64encode(data(name)).decode("ascii")


def data_uri(name: str) -> str:
    return f"data:{mime(name)};base64,{b64(name)}"


@lru_cache(maxsize=None)
def sha256(name: str) -> str:
    return hashlib.sha256(data(name)).hexdigest()


def known_digests() -> dict[str, str]:
    """sha256 -> name for every regular fixture and every oversized one generated in this process."""
    out = {sha256(n): n for n in FIXTURES}
    for n in list(_cache):
        out.setdefault(sha256(n), n)
    return out


# -- the local HTTP server ----------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server_version = "conformance-media"
    sys_version = ""

    def do_GET(self):  # noqa: N802 (http.server naming)
        self._serve(body=True)

    def do_HEAD(self):  # noqa: N802
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        name = unquote(path[len(SERVER_PREFIX):]) if path.startswith(SERVER_PREFIX) else ""
        if not name or "/" in name or not exists(name):
            self.send_error(404, "no such media fixture")
            return
        payload = data(name)
        self.send_response(200)
        self.send_header("Content-Type", mime(name))
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "public, max-age=3600")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format, *args):  # quiet: a run prints its own progress
        pass


class MediaServer:
    """A threaded HTTP server on 127.0.0.1 serving every fixture at /media/<name> with its media type.

    Use as a context manager for a private one, or `server()` for the process-wide one."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="conformance-media", daemon=True)
        self._thread.start()
        self.pid = os.getpid()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, name: str) -> str:
        fixture(name)  # KeyError for an unknown name, before anyone fetches it
        return f"{self.base_url}{SERVER_PREFIX}{quote(name)}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "MediaServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_server: MediaServer | None = None


def server() -> MediaServer:
    """The process-wide server, started on first use (again in a forked child, whose thread is gone)."""
    global _server
    with _lock:
        if _server is None or _server.pid != os.getpid():
            _server = MediaServer()
        return _server


def fixture_url(name: str, server_base_url: str | None = None) -> str:
    base = (server_base_url or server().base_url).rstrip("/")
    return f"{base}{SERVER_PREFIX}{quote(name)}"


def url_pattern() -> re.Pattern[str]:
    """Matches a fixture URL on any local media server (any port): group 1 is the fixture name."""
    return re.compile(r"http://127\.0\.0\.1:[0-9]{1,5}" + re.escape(SERVER_PREFIX) + r"([A-Za-z0-9._-]+)")


# -- references in case request bodies ----------------------------------------------------------
def is_reference(value: Any) -> bool:
    """A mapping with `media` and `as` keys (extra keys make it an invalid reference), or `media`
    alone naming a fixture (a forgotten `as`); `{media: <anything else>}` is left alone, since API
    bodies may hold such user data (e.g. OpenAI `metadata`)."""
    if not isinstance(value, dict) or "media" not in value:
        return False
    return "as" in value or (len(value) == 1 and isinstance(value["media"], str) and exists(value["media"]))


def check(request_body: Any, where: str = "case") -> list[MediaReferenceError]:
    """Every invalid reference in the body (empty when all are valid); nothing is generated."""
    problems: list[MediaReferenceError] = []
    _walk(request_body, "request", where, problems, False)
    return problems


def resolve(request_body: Any, server_base_url: str | None = None, where: str = "case") -> Any:
    """A copy of the body with every `{media: <name>, as: <form>}` mapping replaced by its string.

    `url` uses `server_base_url` when given, else the process-wide server (started on demand).
    Raises MediaReferenceError naming `where` (the case) and the field for an unknown fixture or form.
    A body without references is returned unchanged (the same object)."""
    problems: list[MediaReferenceError] = []
    if not _has_reference(request_body):
        return request_body
    out = _walk(request_body, "request", where, problems, server_base_url)
    if problems:
        raise problems[0]
    return out


def resolve_case(case):
    """The case with its request's media references resolved (the same case when it has none)."""
    if not _has_reference(case.request):
        return case
    where = f"{case.source} ({case.key})" if case.source else case.key
    return dataclasses.replace(case, request=resolve(case.request, where=where))


def referenced(value: Any) -> set[str]:
    """The names of the fixtures `value` (a request body, a case's options) refers to: media
    references, and the `media` of a Files API upload option."""
    if isinstance(value, dict):
        own = {value["media"]} if isinstance(value.get("media"), str) else set()
        return own.union(*(referenced(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value))
    return set()


def _has_reference(value: Any) -> bool:
    if isinstance(value, dict):
        return is_reference(value) or any(
            _has_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_reference(v) for v in value)
    return False


def _error(where: str, field: str, message: str) -> MediaReferenceError:
    return MediaReferenceError(where, None, field, message)


def _walk(value: Any, path: str, where: str, problems: list, base: str | None | bool) -> Any:
    # base: the server's base URL, None for the process-wide server, False to check without generating
    if isinstance(value, dict):
        if is_reference(value):
            return _reference(value, path, where, problems, base)
        return {k: _walk(v, f"{path}.{k}", where, problems, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, f"{path}[{i}]", where, problems, base) for i, v in enumerate(value)]
    return value


def _reference(ref: dict, path: str, where: str, problems: list, base: str | None | bool) -> Any:
    name, form = ref.get("media"), ref.get("as")
    extra = sorted(set(ref) - {"media", "as"})
    if extra:
        problems.append(_error(where, path, f"a media reference takes only `media` and `as`, not {extra}"))
        return ref
    if not isinstance(name, str) or not exists(name):
        problems.append(_error(where, f"{path}.media", f"unknown media fixture {name!r}; known: "
                                                       f"{', '.join(names())}, noise-<N>mb.png (N <= {MAX_NOISE_MB})"))
        return ref
    if "as" not in ref:
        problems.append(_error(where, f"{path}.as", f"missing; a media reference needs `as`: one of "
                                                   f"{', '.join(REFERENCE_FORMS)}"))
        return ref
    if form not in REFERENCE_FORMS:
        problems.append(_error(where, f"{path}.as", f"unknown form {form!r}; use one of {', '.join(REFERENCE_FORMS)}"))
        return ref
    if base is False:  # checking only
        return ref
    if form == "data-uri":
        return data_uri(name)
    if form == "base64":
        return b64(name)
    if form == "url":
        return fixture_url(name, base if isinstance(base, str) else None)
    if form == "mime":
        return mime(name)
    if form == "format":
        return fixture(name).format
    return name  # filename


def write_all(folder: Path, include_oversized: bool = False) -> list[Path]:
    """Write every fixture to `folder` (to look at them, or to serve them elsewhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names(oversized=include_oversized):
        (folder / name).write_bytes(data(name))
        paths.append(folder / name)
    return paths
