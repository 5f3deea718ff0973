"""Media fixtures: they decode as what they claim to be, are byte-stable, and resolve in case bodies."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import wave

import httpx
import pytest

from conformance.load import media
from conformance.load.cases import Case

IMAGES = [n for n in media.names() if media.mime(n).startswith("image/")]
AUDIO = [n for n in media.names() if media.mime(n).startswith("audio/")]
VIDEO = [n for n in media.names() if media.mime(n).startswith("video/")]
PIL_FORMAT = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "gif": "GIF"}


def test_catalog_covers_every_asked_format():
    exts = {n.rsplit(".", 1)[1] for n in media.names()}
    assert {"png", "jpg", "webp", "gif", "wav", "mp3", "flac", "ogg", "mp4", "mov", "pdf"} <= exts
    for name in ("red-square.png", "blue-circle.png", "tone-440.wav", "tone-440.mp3", "clip.mp4"):
        assert media.exists(name)


@pytest.mark.parametrize("name", IMAGES)
def test_images_reopen_with_their_size_and_format(name):
    from PIL import Image
    img = Image.open(io.BytesIO(media.data(name)))
    assert img.format == PIL_FORMAT[name.rsplit(".", 1)[1]]
    assert img.size == (64, 64)
    rgb = img.convert("RGB")

    def close(a, b):  # JPEG/WebP are lossy
        return all(abs(x - y) <= 8 for x, y in zip(a, b, strict=True))

    if name.startswith("red-square"):
        assert close(rgb.getpixel((32, 32)), (255, 0, 0))
    else:
        assert close(rgb.getpixel((32, 32)), (0, 0, 255))
        assert close(rgb.getpixel((1, 1)), (255, 255, 255))


def test_wav_is_one_second_of_440_hz_at_16_khz_mono():
    with wave.open(io.BytesIO(media.data("tone-440.wav"))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16000, 16000)
        samples = struct.unpack("<16000h", w.readframes(16000))
    assert _zero_crossings(samples) in range(875, 885)  # 2 per period


@pytest.mark.parametrize("name", AUDIO)
def test_audio_decodes_with_soundfile(name):
    import soundfile as sf
    samples, rate = sf.read(io.BytesIO(media.data(name)), dtype="int16")
    assert rate == 16000
    assert samples.ndim == 1
    assert 15000 <= len(samples) <= 17500  # lossy codecs pad to whole frames
    assert _zero_crossings(samples.tolist()) in range(860, 900)
    if name.endswith((".wav", ".flac")):  # lossless: exactly the generated samples
        assert samples.tolist() == media._tone_samples()


def test_ogg_pages_carry_a_constant_serial_and_valid_checksums():
    data = media.data("tone-440.ogg")
    pos = pages = 0
    while pos < len(data):
        assert data[pos:pos + 4] == b"OggS"
        nseg = data[pos + 26]
        size = 27 + nseg + sum(data[pos + 27:pos + 27 + nseg])
        page = bytearray(data[pos:pos + size])
        assert struct.unpack_from("<I", page, 14)[0] == media.OGG_SERIAL
        crc = struct.unpack_from("<I", page, 22)[0]
        struct.pack_into("<I", page, 22, 0)
        assert media._ogg_crc(bytes(page)) == crc
        pos += size
        pages += 1
    assert pages >= 3  # identification, comment/setup, audio


@pytest.mark.parametrize("name", VIDEO)
def test_video_decodes_ten_frames_from_red_to_blue(name):
    import av
    with av.open(io.BytesIO(media.data(name))) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 10
    assert frames[0].shape == (32, 32, 3)
    first, last = frames[0][16, 16].tolist(), frames[-1][16, 16].tolist()
    assert first[0] > 200 and first[2] < 60
    assert last[2] > 180 and last[0] < 80
    brand = media.data(name)[8:12]
    assert brand == (b"qt  " if name.endswith(".mov") else b"isom")


def test_pdf_cross_reference_table_points_at_its_objects():
    data = media.data("hello.pdf")
    assert data.startswith(b"%PDF-1.4") and data.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)", data).group(1))
    assert data[startxref:].startswith(b"xref")
    offsets = [int(x) for x in re.findall(rb"(\d{10}) 00000 n", data)]
    for n, off in enumerate(offsets, 1):
        assert data[off:].startswith(b"%d 0 obj" % n)
    assert b"(Hello, conformance) Tj" in data


def test_generation_is_byte_identical_in_process_and_in_a_fresh_process():
    here = {n: hashlib.sha256(media.fixture(n).make()).hexdigest() for n in media.names()}
    assert here == {n: media.sha256(n) for n in media.names()}
    code = ("import json; from conformance.load import media; "
            "print(json.dumps({n: media.sha256(n) for n in media.names()}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "TZ": "Pacific/Kiritimati", "PATH": ""})
    assert json.loads(out.stdout) == here


def test_oversized_noise_is_just_over_its_size_and_stable():
    from PIL import Image
    data = media.data("noise-12mb.png")
    assert 12_000_000 < len(data) < 12_100_000
    assert len(media.b64("noise-12mb.png")) > 10 * 1024 * 1024  # over a 10 MB payload limit either way
    assert Image.open(io.BytesIO(data)).size == (1000, 4000)
    assert media.fixture("noise-12mb.png").oversized
    assert hashlib.sha256(media._noise_png(12)).hexdigest() == media.sha256("noise-12mb.png")
    assert media.exists("noise-1mb.png") and not media.exists("noise-65mb.png") and not media.exists("noise-0mb.png")


@pytest.mark.parametrize("name", media.names())
def test_data_uri_parses_back_to_the_bytes(name):
    uri = media.data_uri(name)
    m = re.fullmatch(r"data:([a-z]+/[a-z0-9.+-]+);base64,([A-Za-z0-9+/]*={0,2})", uri)
    assert m, uri[:60]
    assert m.group(1) == media.mime(name)
    assert base64.b64decode(m.group(2), validate=True) == media.data(name)
    assert m.group(2) == media.b64(name)


def test_server_serves_every_fixture_with_its_content_type():
    srv = media.server()
    assert srv is media.server()  # one per process
    assert srv.base_url.startswith("http://127.0.0.1:")
    with httpx.Client(timeout=10) as client:
        for name in media.names():
            r = client.get(srv.url(name))
            assert r.status_code == 200
            assert r.headers["content-type"] == media.mime(name)
            assert r.content == media.data(name)
        head = client.head(srv.url("clip.mp4"))
        assert head.status_code == 200 and head.headers["content-length"] == str(len(media.data("clip.mp4")))
        assert head.content == b""
        assert client.get(srv.base_url + "/media/nope.png").status_code == 404
        assert client.get(srv.base_url + "/media/../pyproject.toml").status_code == 404
        assert client.get(srv.base_url + "/red-square.png").status_code == 404


def test_private_server_as_context_manager():
    with media.MediaServer() as srv:
        r = httpx.get(srv.url("tone-440.wav"), timeout=10)
        assert r.headers["content-type"] == "audio/wav"
    with pytest.raises(httpx.TransportError):
        httpx.get(srv.url("tone-440.wav"), timeout=2)


# -- references --------------------------------------------------------------------------------
def test_resolve_replaces_every_reference_form_anywhere():
    body = {
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": {"media": "red-square.png", "as": "data-uri"}}},
            {"type": "image_url", "image_url": {"url": {"media": "blue-circle.jpg", "as": "url"}}},
            {"type": "input_audio", "input_audio": {"data": {"media": "tone-440.wav", "as": "base64"},
                                                    "format": {"media": "tone-440.wav", "as": "format"}}},
        ]}],
        "contents": [{"parts": [{"inlineData": {"mimeType": {"media": "clip.mp4", "as": "mime"},
                                                "data": {"media": "clip.mp4", "as": "base64"}}}]}],
        "file": {"filename": {"media": "hello.pdf", "as": "filename"}},
        "max_tokens": 8,
    }
    out = media.resolve(body, "http://127.0.0.1:9999")
    parts = out["messages"][0]["content"]
    assert parts[0]["image_url"]["url"] == media.data_uri("red-square.png")
    assert parts[1]["image_url"]["url"] == "http://127.0.0.1:9999/media/blue-circle.jpg"
    assert parts[2]["input_audio"] == {"data": media.b64("tone-440.wav"), "format": "wav"}
    assert out["contents"][0]["parts"][0]["inlineData"] == {"mimeType": "video/mp4", "data": media.b64("clip.mp4")}
    assert out["file"] == {"filename": "hello.pdf"}
    assert out["max_tokens"] == 8
    assert body["messages"][0]["content"][0]["image_url"]["url"] == {"media": "red-square.png", "as": "data-uri"}


def test_resolve_url_defaults_to_the_process_server():
    out = media.resolve({"u": {"media": "red-square.png", "as": "url"}})
    assert out["u"] == media.server().url("red-square.png")


def test_resolve_without_references_returns_the_same_body():
    body = {"messages": [{"role": "user", "content": "hi"}], "metadata": {"media": "not a reference, no as"}}
    assert media.resolve(body) is body


@pytest.mark.parametrize("ref, field, words", [
    ({"media": "purple-square.png", "as": "data-uri"}, "request.x.media", "unknown media fixture 'purple-square.png'"),
    ({"media": "red-square.png", "as": "datauri"}, "request.x.as", "unknown form 'datauri'"),
    ({"media": "red-square.png"}, "request.x.as", "missing; a media reference needs `as`"),
    ({"media": "red-square.png", "as": "url", "copies": 3}, "request.x", "only `media` and `as`"),
    ({"media": 7, "as": "base64"}, "request.x.media", "unknown media fixture 7"),
])
def test_invalid_references_name_the_case_and_field(ref, field, words):
    with pytest.raises(media.MediaReferenceError) as info:
        media.resolve({"x": ref}, "http://127.0.0.1:1", where="cases/openai-chat/vision.yaml:12 (openai-chat/vision/x)")
    text = str(info.value)
    assert text.startswith("cases/openai-chat/vision.yaml:12 (openai-chat/vision/x): ")
    assert field in text and words in text
    assert media.check({"x": ref}, where="c")  # the check-only walk finds it too


def test_resolve_case_keeps_the_case_and_names_it_in_errors():
    case = Case(api="openai-chat", feature="vision", id="image", expect={}, requires=(),
                request={"messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": {"media": "red-square.webp", "as": "data-uri"}}}]}]},
                source="cases/openai-chat/vision.yaml:4")
    resolved = media.resolve_case(case)
    assert resolved.request["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/webp;base64,")
    assert (resolved.id, resolved.source) == (case.id, case.source)
    plain = Case(api="openai-chat", feature="text", id="t", expect={}, requires=(), request={"messages": []})
    assert media.resolve_case(plain) is plain
    bad = Case(api="openai-chat", feature="vision", id="bad", expect={}, requires=(),
               request={"messages": [{"media": "nope.png", "as": "url"}]}, source="cases/openai-chat/vision.yaml:9")
    with pytest.raises(media.MediaReferenceError, match=r"vision\.yaml:9 \(openai-chat/vision/bad\).*nope\.png"):
        media.resolve_case(bad)


def test_write_all_writes_the_catalog(tmp_path):
    paths = media.write_all(tmp_path)
    assert sorted(p.name for p in paths) == media.names()
    assert (tmp_path / "clip.mov").read_bytes() == media.data("clip.mov")


def _zero_crossings(samples) -> int:
    return sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))


def test_the_disk_cache_keeps_fixtures_between_runs_and_regenerates_damaged_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(media, "_cache", {})
    media.use_disk_cache(tmp_path)
    try:
        first = media.data("tone-440.flac")
        [stored] = (tmp_path / "media").rglob("tone-440.flac.*")
        assert stored.read_bytes() == first and stored.suffix == "." + hashlib.sha256(first).hexdigest()
        # A later run reads the file instead of encoding.
        monkeypatch.setattr(media, "_cache", {})
        calls = []
        real = media.fixture

        def counting(name):
            f = real(name)
            return dataclasses.replace(f, make=lambda: calls.append(name) or f.make())
        monkeypatch.setattr(media, "fixture", counting)
        assert media.data("tone-440.flac") == first and calls == []
        # A damaged file (its content no longer hashes to its name) is ignored and regenerated.
        stored.write_bytes(b"damaged")
        monkeypatch.setattr(media, "_cache", {})
        assert media.data("tone-440.flac") == first and calls == ["tone-440.flac"]
        # Oversized fixtures are never written to disk.
        assert len(media.data("noise-1mb.png")) > 1_000_000
        assert not list((tmp_path / "media").rglob("noise-*"))
    finally:
        media.use_disk_cache(None)
