"""Media stored once by digest: externalize/restore round-trip exactly, so replay still matches."""
from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
import yaml
from vcr.request import Request
from vcr.serialize import deserialize, serialize
from vcr.serializers import yamlserializer

from conformance.judge import validate
from conformance.load import captured, media, media_store
from conformance.run import recording, runner
from tests.localserver import LocalServer, json_reply
from tests.support import projects

ROOT = Path(__file__).resolve().parent.parent
CHAT_REPLY = projects.chat_reply("red")


def _png(color: tuple[int, int, int], size=(48, 48)) -> bytes:
    """An image that is no fixture, so it must be stored: a colour with a speckle that does not compress away."""
    from PIL import Image
    speckle = hashlib.shake_256(bytes(color)).digest(size[0] * size[1])
    pixels = b"".join(bytes((color[0], color[1], s // 4)) for s in speckle)
    img = Image.frombytes("RGB", size, pixels)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_noise() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    noise = Image.frombytes("RGB", (40, 40), hashlib.shake_256(b"jpeg").digest(40 * 40 * 3))
    noise.save(buf, format="JPEG", quality=70)
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _body(obj) -> bytes:
    return json.dumps(obj).encode()  # as conformance/run/transport.py sends it


def _request(url: str, obj, content_type="application/json") -> Request:
    return Request("POST", url, _body(obj) if not isinstance(obj, bytes) else obj,
                   {"content-type": content_type, "accept": "application/json"})


def _response(body: bytes, content_type="application/json") -> dict:
    return {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": [content_type]},
            "body": {"string": body}}


GREEN = _png((0, 160, 0))
NOISE_JPEG = _jpeg_noise()
REPLY_PNG = _png((1, 2, 3), (80, 80))  # a generated image in a reply


def realistic_cassette() -> dict:
    """What vcrpy hands the persister: Request objects and response dicts, several APIs' media shapes."""
    openai = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Which colours?"},
        {"type": "image_url", "image_url": {"url": media.data_uri("red-square.png")}},
        {"type": "image_url", "image_url": {"url": media.data_uri("blue-circle.jpg"), "detail": "low"}},
        {"type": "image_url", "image_url": {"url": media.data_uri("red-square.png")}},  # the same twice
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + _b64(GREEN)}},
        {"type": "input_audio", "input_audio": {"data": media.b64("tone-440.wav"), "format": "wav"}},
    ]}]}
    gemini = {"contents": [{"role": "user", "parts": [
        {"text": "Describe"},
        {"inlineData": {"mimeType": "image/jpeg", "data": _b64(NOISE_JPEG)}},
        {"inlineData": {"mimeType": "audio/mpeg", "data": media.b64("tone-440.mp3")}},
        {"inline_data": {"mime_type": "image/png", "data": _b64(GREEN)}},  # same payload as in openai
    ]}], "generationConfig": {"maxOutputTokens": 8}}
    anthropic = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [
        {"type": "image",
         "source": {"type": "base64", "media_type": "image/png", "data": media.b64("blue-circle.png")}},
        {"type": "document",
         "source": {"type": "base64", "media_type": "application/pdf", "data": media.b64("hello.pdf")}},
        {"type": "image", "source": {"type": "url", "url": media.server().url("red-square.gif")}},
        {"type": "text", "text": "What is this?"},
    ]}]}
    image_reply = {"created": 1, "data": [{"b64_json": _b64(REPLY_PNG)}]}
    return {
        "requests": [
            _request("http://127.0.0.1:4000/v1/chat/completions", openai),
            _request("http://127.0.0.1:4000/v1beta/models/m:generateContent", gemini),
            _request("http://127.0.0.1:4000/v1/messages", anthropic),
            _request("http://127.0.0.1:4000/v1/images/generations", {"model": "m", "prompt": "a dot"}),
        ],
        "responses": [_response(_body(CHAT_REPLY)), _response(b'{"candidates": []}'),
                      _response(b'{"content": []}'), _response(_body(image_reply))],
    }


def _as_yaml(cassette: dict) -> str:
    return serialize(cassette, yamlserializer)


def test_round_trip_restores_byte_identical_requests_and_stores_each_payload_once(tmp_path):
    original = realistic_cassette()
    before = [r.body for r in original["requests"]]
    reply = original["responses"][3]["body"]["string"]
    out = media_store.externalize(original, tmp_path / "_media")
    assert [r.body for r in original["requests"]] == before  # the input is not modified
    text = _as_yaml(out)
    assert len(text) < 12_000, len(text)  # ~70 KB of media inline before
    assert len(_as_yaml(copy.deepcopy(original))) > 60_000  # (vcrpy's serialize converts bodies in place)
    for payload in (media.b64("tone-440.wav"), _b64(GREEN), _b64(NOISE_JPEG), media.b64("hello.pdf")):
        assert payload[:80] not in text
    assert "data:image/png;base64,media:fixture:red-square.png:sha256:" + media.sha256("red-square.png") in text
    port = media.server().base_url.rsplit(":", 1)[1]
    assert "media:url:red-square.gif" in text and f"127.0.0.1:{port}" not in text
    # Only payloads that are no fixture are stored, once each, as raw bytes named by their sha256.
    stored = sorted(p.name for p in (tmp_path / "_media").iterdir())
    assert stored == sorted(f"{hashlib.sha256(d).hexdigest()}.{ext}"
                            for d, ext in ((GREEN, "png"), (NOISE_JPEG, "jpg"), (REPLY_PNG, "png")))
    for p in (tmp_path / "_media").iterdir():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name.split(".")[0]
    # Load as the persister would: deserialize, then restore.
    requests, responses = media_store.restore(deserialize(text, yamlserializer), tmp_path / "_media")
    assert [r.body for r in requests] == before
    assert responses[3]["body"]["string"] == reply
    for recorded, sent in zip(requests, original["requests"], strict=True):
        recording.json_body_matcher(recorded, sent)  # raises when vcrpy would not match


def test_serialized_form_round_trips_too(tmp_path):
    """The on-disk shape ({"interactions": [...]}, bodies as text) is accepted as well (validate)."""
    data = yaml.safe_load(_as_yaml(realistic_cassette()))
    out = media_store.externalize(data, tmp_path)
    assert out != data
    assert media_store.restore(out, tmp_path) == data
    assert media_store.externalize(out, tmp_path) == out  # idempotent


def test_validate_reads_externalized_cassettes_with_and_without_restoring(tmp_path):
    cassette = tmp_path / "cassettes" / "t" / "openai-chat" / "vision" / "x--m.yaml"
    cassette.parent.mkdir(parents=True)
    one = realistic_cassette()
    one = {"requests": one["requests"][:1], "responses": one["responses"][:1]}
    cassette.write_text(_as_yaml(media_store.externalize(one, media_store.media_dir_for(cassette))))
    [verdict] = validate.validate_file(cassette)  # tokens are plain strings inside valid JSON
    assert verdict.verdict == "conform", verdict
    interactions = captured.read_cassette(cassette)
    restored = media_store.restore({"interactions": interactions}, media_store.media_dir_for(cassette),
                                   strict=False)["interactions"]
    assert restored[0]["request"]["body"].encode() == one["requests"][0].body
    assert validate.judge_interaction(0, restored[0]).verdict == "conform"


def test_non_media_base64_stays_inline_and_short_payloads_too(tmp_path):
    secret_blob = _b64(os.urandom(900))  # e.g. encrypted reasoning: long base64, but not media
    tiny = _b64(_png((9, 9, 9), (2, 2)))  # a data URI shorter than the threshold
    body = {"input": [{"type": "reasoning", "encrypted_content": secret_blob}],
            "image": "data:image/png;base64," + tiny, "hash": "a" * 300}
    cassette = {"requests": [_request("http://h/v1/responses", body)], "responses": [_response(b"{}")]}
    out = media_store.externalize(cassette, tmp_path)
    assert out["requests"][0].body == cassette["requests"][0].body
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize("encode, suffix", [
    (lambda d: base64.b64encode(d).decode().rstrip("="), ":b64-nopad"),
    (lambda d: base64.urlsafe_b64encode(d).decode(), ":b64url"),
    (lambda d: base64.urlsafe_b64encode(d).decode().rstrip("="), ":b64url-nopad"),
])
def test_base64_variants_are_restored_exactly(tmp_path, encode, suffix):
    data = NOISE_JPEG + b"\xfb\xff" + b"\xfb" * ((len(NOISE_JPEG) + 2) % 3 == 0)
    assert len(data) % 3  # so the padded and unpadded forms differ
    text = encode(data)
    cassette = {"requests": [_request("http://h/x", {"data": text})], "responses": [_response(b"{}")]}
    out = media_store.externalize(cassette, tmp_path)
    assert f'"media:sha256:{hashlib.sha256(data).hexdigest()}{suffix}"'.encode() in out["requests"][0].body
    assert media_store.restore(out, tmp_path)["requests"][0].body == cassette["requests"][0].body


def test_multipart_file_parts_become_raw_tokens(tmp_path):
    boundary = "b0undary42"
    parts = [
        (b'Content-Disposition: form-data; name="model"', b"whisper-1"),
        (b'Content-Disposition: form-data; name="file"; filename="tone.wav"\r\nContent-Type: audio/wav',
         media.data("tone-440.wav")),
        (b'Content-Disposition: form-data; name="extra"; filename="x.bin"\r\nContent-Type: application/octet-stream',
         b"\x00\xff" * 400),
    ]
    raw = (b"".join(b"--%s\r\n%s\r\n\r\n%s\r\n" % (boundary.encode(), h, c) for h, c in parts)
           + b"--%s--\r\n" % boundary.encode())
    req = Request("POST", "http://h/v1/audio/transcriptions", raw,
                  {"content-type": f"multipart/form-data; boundary={boundary}"})
    cassette = {"requests": [req], "responses": [_response(b'{"text": ""}')]}
    out = media_store.externalize(cassette, tmp_path)
    body = out["requests"][0].body
    assert len(body) < 700 and b"whisper-1" in body
    assert b"media:fixture:tone-440.wav:sha256:" + media.sha256("tone-440.wav").encode() + b":raw" in body
    assert list(tmp_path.glob("*.bin"))  # the unknown binary part is stored
    text = _as_yaml(out)
    assert "!!binary" not in text  # the body became readable text
    [back], _ = media_store.restore(deserialize(text, yamlserializer), tmp_path)
    assert back.body == raw


def test_binary_response_bodies_are_stored_whole(tmp_path):
    mp3 = media.data("tone-440.mp3")
    unknown = b"ID3" + bytes(range(256)) * 4
    cassette = {"requests": [_request("http://h/v1/audio/speech", {"input": "hi"})] * 2,
                "responses": [_response(mp3, "audio/mpeg"), _response(unknown, "audio/mpeg")]}
    out = media_store.externalize(cassette, tmp_path)
    token = f"media:fixture:tone-440.mp3:sha256:{media.sha256('tone-440.mp3')}:raw"
    assert out["responses"][0]["body"]["string"] == token.encode()
    assert out["responses"][1]["body"]["string"].startswith(b"media:sha256:")
    assert list(tmp_path.glob("*.mp3"))
    back = media_store.restore(deserialize(_as_yaml(out), yamlserializer), tmp_path)
    assert [r["body"]["string"] for r in back[1]] == [mp3, unknown]


def test_fixture_url_follows_the_server_of_the_replaying_process(tmp_path, monkeypatch):
    body = {"image": "http://127.0.0.1:54321/media/clip.mp4", "other": "http://127.0.0.1:4000/media/clip.mp4x",
            "unknown": "http://127.0.0.1:54321/media/nope.png"}
    cassette = {"requests": [_request("http://h/x", body)], "responses": [_response(b"{}")]}
    out = media_store.externalize(cassette, tmp_path)
    stored = json.loads(out["requests"][0].body)
    assert stored["image"] == "media:url:clip.mp4"
    assert stored["unknown"] == body["unknown"] and stored["other"] == body["other"]
    back = json.loads(media_store.restore(out, tmp_path)["requests"][0].body)
    assert back["image"] == media.server().url("clip.mp4")


def test_missing_or_damaged_payloads_fail_clearly_unless_lenient(tmp_path):
    cassette = {"requests": [_request("http://h/x", {"d": "data:image/png;base64," + _b64(GREEN)})],
                "responses": [_response(b"{}")]}
    out = media_store.externalize(cassette, tmp_path / "m")
    [path] = (tmp_path / "m").iterdir()
    path.write_bytes(b"tampered")
    with pytest.raises(media_store.MediaStoreError, match="damaged"):
        media_store.restore(out, tmp_path / "m")
    path.unlink()
    with pytest.raises(media_store.MediaStoreError, match=r"sha256:[0-9a-f]{64} is missing from"):
        media_store.restore(out, tmp_path / "m")
    lenient = media_store.restore(out, tmp_path / "m", strict=False)
    assert lenient["requests"][0].body == out["requests"][0].body


def test_a_fixture_that_no_longer_encodes_the_same_says_so(tmp_path):
    token = f"media:fixture:red-square.png:sha256:{'0' * 64}"
    cassette = {"requests": [_request("http://h/x", {"d": token})], "responses": [_response(b"{}")]}
    with pytest.raises(media_store.MediaStoreError, match="encoder library changed version"):
        media_store.restore(cassette, tmp_path)


def test_oversized_fixture_is_named_not_stored(tmp_path):
    big = media.data_uri("noise-12mb.png")
    cassette = {"requests": [_request("http://h/x", {"images": [big] * 3})], "responses": [_response(b"{}")]}
    out = media_store.externalize(cassette, tmp_path)
    assert len(out["requests"][0].body) < 600
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    assert media_store.restore(out, tmp_path)["requests"][0].body == cassette["requests"][0].body


def test_media_dir_for_follows_the_cassette_layout(tmp_path):
    c = tmp_path / "cassettes" / "t" / "api" / "feature" / "case--m.yaml"
    assert media_store.media_dir_for(c) == tmp_path / "cassettes" / "_media"
    other = tmp_path / "elsewhere" / "t" / "api" / "feature" / "case--m.yaml"
    assert media_store.media_dir_for(other) == tmp_path / "elsewhere" / "_media"
    (tmp_path / "elsewhere" / "t" / "_media").mkdir(parents=True)  # an existing folder wins
    assert media_store.media_dir_for(other) == tmp_path / "elsewhere" / "t" / "_media"


def test_prune_removes_only_unreferenced_payloads(tmp_path):
    root = tmp_path / "cassettes"
    keep = root / "t" / "a" / "f" / "keep--m.yaml"
    keep.parent.mkdir(parents=True)
    c = {"requests": [_request("http://h/x", {"d": "data:image/png;base64," + _b64(GREEN)})],
         "responses": [_response(b"{}")]}
    keep.write_text(_as_yaml(media_store.externalize(c, media_store.media_dir_for(keep))))
    orphan = media_store.media_dir_for(keep) / ("f" * 64 + ".png")
    orphan.write_bytes(b"old")
    assert media_store.prune(root, dry_run=True) == [orphan] and orphan.exists()
    assert media_store.prune(root) == [orphan] and not orphan.exists()
    assert len(list(media_store.media_dir_for(keep).iterdir())) == 1


# -- end to end: record, then replay offline (the runner resolves media references, the recorder
# stores payloads by digest and puts them back on load) ---------------------------------------------

def test_record_then_replay_a_multimodal_case(tmp_path, monkeypatch):
    projects.write_cases(
        tmp_path, "  - id: images\n    request:\n      max_tokens: 8\n      messages:\n        - role: user\n"
        "          content:\n"
        "            - {type: image_url, image_url: {url: {media: red-square.png, as: data-uri}}}\n"
        "            - {type: image_url, image_url: {url: {media: red-square.png, as: data-uri}}}\n"
        "            - {type: image_url, image_url: {url: {media: blue-circle.webp, as: url}}}\n"
        f"            - {{type: image_url, image_url: {{url: 'data:image/png;base64,{_b64(GREEN)}'}}}}\n"
        "            - {type: input_audio, input_audio: {data: {media: tone-440.mp3, as: base64}, "
        "format: {media: tone-440.mp3, as: format}}}\n"
        "    expect: {status: 200}\n", feature="vision")

    def item():
        return projects.plan_item(tmp_path)

    with LocalServer(lambda *a: json_reply(CHAT_REPLY)) as server:
        projects.write_target(tmp_path, f"{server.base}/v1", auth=None,
                              limits="connect_timeout_s: 2, read_timeout_s: 5, total_timeout_s: 10")
        recorded = runner.run(item(), "record", tmp_path / "cassettes", root=tmp_path)
        assert recorded.verdict == "pass", recorded
        sent = json.loads(server.requests[0]["body"])
    content = sent["messages"][0]["content"]
    assert content[0]["image_url"]["url"] == media.data_uri("red-square.png")
    assert content[2]["image_url"]["url"] == media.server().url("blue-circle.webp")
    cassette = projects.cassette_of(tmp_path, "images", feature="vision")
    text = cassette.read_text()
    assert len(text) < 5_000 and media.b64("tone-440.mp3")[:100] not in text
    stored = [p.name for p in (tmp_path / "cassettes" / "_media").iterdir()]
    assert stored == [hashlib.sha256(GREEN).hexdigest() + ".png"]
    # Replay in what looks like another process: a fresh media server on another port, no cache.
    old = media.server()
    monkeypatch.setattr(media, "_server", None)
    monkeypatch.setattr(media, "_cache", {})
    try:
        assert media.server().base_url != old.base_url
        replayed = runner.run(item(), "replay", tmp_path / "cassettes", root=tmp_path)
        assert replayed.verdict == "pass", replayed
        sent_again = replayed.exchange.request.json_body["messages"][0]["content"]
        assert sent_again[2]["image_url"]["url"] == media.server().url("blue-circle.webp")
    finally:
        media.server().close()


def test_shipped_cassettes_stay_under_5_mb():
    folder = ROOT / "cassettes"
    if not folder.is_dir():
        pytest.skip("no cassettes folder")
    total = media_store.total_size(folder.rglob("*"))
    assert total < 5 * 1024 * 1024, f"cassettes/ holds {total / 1e6:.1f} MB"
