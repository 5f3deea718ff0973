"""Media through the whole runner: references resolved, payloads stored once by digest, exact replay."""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from conformance.load import cases, media, media_store, plan
from conformance.load.yamlsource import SourceError
from conformance.run import runner
from tests.localserver import LocalServer, json_reply
from tests.support import projects
from tests.support.projects import CHAT_REPLY

# A payload no fixture produces (a "generated" PNG a model might send back), so it must be stored.
GENERATED_PNG = b"\x89PNG\r\n\x1a\n" + hashlib.sha256(b"conformance").digest() * 40


def write_project(root: Path, base_url: str, content: str) -> None:
    """One case, `pic`, whose user message's content is `content` (the YAML items of that list)."""
    projects.write_project(root, f"{base_url}/v1",
                           "  - id: pic\n    request:\n      messages:\n        - role: user\n          content:\n"
                           f"{content}      max_tokens: 16\n    expect: {{status: 200}}\n",
                           feature="image", requires=("vision",), auth="auth: {bearer: 'k-0123456789'}")


TWO_IMAGES = ("            - {type: image_url, image_url: {url: {media: red-square.png, as: data-uri}}}\n"
              "            - {type: image_url, image_url: {url: {media: blue-circle.png, as: url}}}\n"
              "            - {type: image_url, image_url: {url: {media: red-square.png, as: data-uri}}}\n")


def the_item(root: Path) -> plan.PlanItem:
    return projects.plan_item(root)


def cassette_of(root: Path) -> Path:
    return projects.cassette_of(root, "pic", feature="image")


def reply_with_generated_image(method, path, headers, body):
    return json_reply({**CHAT_REPLY, "generated": base64.b64encode(GENERATED_PNG).decode()})


def test_the_request_carries_the_fixture_and_the_cassette_only_its_token(tmp_path):
    with LocalServer(reply_with_generated_image) as server:
        write_project(tmp_path, server.base, TWO_IMAGES)
        outcome = runner.run(the_item(tmp_path), "record", tmp_path / "cassettes", root=tmp_path)
        assert outcome.verdict == "pass", outcome
        sent = json.loads(server.requests[0]["body"])
    parts = sent["messages"][0]["content"]
    assert parts[0]["image_url"]["url"] == media.data_uri("red-square.png")
    assert parts[1]["image_url"]["url"] == media.fixture_url("blue-circle.png")
    text = cassette_of(tmp_path).read_text()
    assert media.b64("red-square.png") not in text
    assert text.count(f"media:fixture:red-square.png:sha256:{media.sha256('red-square.png')}") == 2
    assert "media:url:blue-circle.png" in text and media.server().base_url not in text
    # The reply's non-fixture image went to the shared folder, once, under its digest.
    stored = list((tmp_path / "cassettes" / media_store.MEDIA_DIR).iterdir())
    assert [p.name for p in stored] == [hashlib.sha256(GENERATED_PNG).hexdigest() + ".png"]
    assert stored[0].read_bytes() == GENERATED_PNG

    # Offline, the replayed request matches the one the runner builds again, and the reply is whole.
    replayed = runner.run(the_item(tmp_path), "replay", tmp_path / "cassettes", root=tmp_path)
    assert replayed.verdict == "pass", replayed
    assert base64.b64decode(replayed.exchange.json()["generated"]) == GENERATED_PNG


def test_a_url_reference_replays_whatever_port_the_media_server_has_now(tmp_path, monkeypatch):
    with LocalServer(reply_with_generated_image) as server:
        write_project(tmp_path, server.base, TWO_IMAGES)
        assert runner.run(the_item(tmp_path), "record", tmp_path / "cassettes", root=tmp_path).verdict == "pass"
    with media.MediaServer() as other:  # a later run: the process-wide server listens elsewhere
        monkeypatch.setattr(media, "_server", other)
        assert other.base_url != server.base
        replayed = runner.run(the_item(tmp_path), "replay", tmp_path / "cassettes", root=tmp_path)
    assert replayed.verdict == "pass", replayed
    content = replayed.exchange.request.json_body["messages"][0]["content"]
    assert content[1]["image_url"]["url"].startswith(other.base_url)


def test_a_missing_media_payload_is_an_error_naming_it_and_how_to_rerecord(tmp_path):
    with LocalServer(reply_with_generated_image) as server:
        write_project(tmp_path, server.base, TWO_IMAGES)
        assert runner.run(the_item(tmp_path), "record", tmp_path / "cassettes", root=tmp_path).verdict == "pass"
    [stored] = (tmp_path / "cassettes" / media_store.MEDIA_DIR).iterdir()
    stored.unlink()
    outcome = runner.run(the_item(tmp_path), "replay", tmp_path / "cassettes", root=tmp_path)
    assert outcome.verdict == "error"
    assert hashlib.sha256(GENERATED_PNG).hexdigest() in outcome.reason
    assert "is missing" in outcome.reason and "--mode record" in outcome.reason


def test_a_changed_media_reference_no_longer_matches_its_cassette(tmp_path):
    with LocalServer(reply_with_generated_image) as server:
        write_project(tmp_path, server.base, TWO_IMAGES)
        assert runner.run(the_item(tmp_path), "record", tmp_path / "cassettes", root=tmp_path).verdict == "pass"
    write_project(tmp_path, "http://127.0.0.1:9", TWO_IMAGES.replace("red-square.png", "red-square.jpg", 1))
    outcome = runner.run(the_item(tmp_path), "replay", tmp_path / "cassettes", root=tmp_path)
    assert outcome.verdict == "error"
    assert "no longer matches its cassette" in outcome.reason
    assert "content[0].image_url.url" in outcome.reason


@pytest.mark.parametrize("content, field, message", [
    ("            - {type: image_url, image_url: {url: {media: purple.png, as: data-uri}}}\n",
     "image_url.url.media", "unknown media fixture 'purple.png'"),
    ("            - {type: image_url, image_url: {url: {media: red-square.png, as: datauri}}}\n",
     "image_url.url.as", "unknown form 'datauri'"),
    ("            - {type: image_url, image_url: {url: {media: red-square.png}}}\n",
     "image_url.url.as", "missing"),
])
def test_a_bad_media_reference_is_a_case_file_error_with_file_line_and_field(tmp_path, content, field, message):
    write_project(tmp_path, "http://127.0.0.1:9", content)
    path = tmp_path / "cases" / "openai-chat" / "image.yaml"
    with pytest.raises(SourceError) as err:
        cases.load_file(path, tmp_path)
    text = str(err.value)
    assert text.startswith("cases/openai-chat/image.yaml:10: ")  # the line of the offending part
    assert f"cases[0].request.messages[0].content[0].{field}" in text and message in text
    # Loading the folder keeps going: the bad file becomes one error entry.
    loaded = cases.load_dir(tmp_path / "cases", tmp_path)
    assert loaded.cases == [] and len(loaded.errors) == 1


def test_shipped_cassettes_hold_no_inline_fixture_payload():
    """Every fixture a shipped cassette uses is a token, so the cassettes stay small."""
    root = Path(__file__).resolve().parent.parent / "cassettes"
    payloads = {name: media.b64(name)[:80] for name in media.names()}
    offenders = [(str(p), name) for p in root.rglob("*.yaml") for name, head in payloads.items()
                 if head in p.read_text(encoding="utf-8")]
    assert offenders == []
    tokens = sum("media:fixture:" in p.read_text(encoding="utf-8") for p in root.rglob("*.yaml"))
    assert tokens > 0, "no shipped cassette uses a media fixture"
