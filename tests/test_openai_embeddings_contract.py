"""The OpenAI Embeddings contract (conformance/apis/openai_embeddings/: family.py + spec.json).

1. Hand-written replies shaped like real OpenAI ones (float and base64) give no findings.
2. The recorded LiteLLM exchanges (cassettes/litellm-local/openai-embeddings/) are judged exactly as
   pinned below, and each rule is shown on them: one thing changed, the one finding it causes.
3. The real OpenAI embeddings exchanges in ../shared/recordings/openai/ (read in place, never copied)
   pass the contract; those tests skip when the folder is absent.
"""
from __future__ import annotations

import base64
import copy
import functools
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from conformance.apis import family
from conformance.apis.openai_embeddings.family import OpenAIEmbeddings, dimension_of, expected_count
from conformance.core.exchange import Exchange, Request
from conformance.core.rules import Severity
from conformance.judge.verdict import judge
from conformance.load.cases import load_file
from tests.support import exchanges, recordings

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = ROOT / "cassettes" / "litellm-local" / "openai-embeddings"
CASES = ROOT / "cases" / "openai-embeddings"
URL = "https://api.openai.com/v1/embeddings"
FAM = OpenAIEmbeddings()


# -- building exchanges -------------------------------------------------------------------------------

def make_request(**body: Any) -> Request:
    return exchanges.make_request(FAM, URL, {"model": "text-embedding-3-small", **body})


def exchange(body: Any, *, request: Request | None = None, **kw: Any) -> Exchange:
    """A reply (exchanges.reply: status, content_type, headers) to `request` (default: input "hello")."""
    return exchanges.reply(request or make_request(input="hello"), body, **kw)


found = functools.partial(exchanges.found, FAM)
# A required field whose schema allows null, left out: a deviation (absent reads as null), said in the message.
NULLABLE = " (the field may be null: absent reads as null)"


def rules_of(ex: Exchange) -> list[str]:
    """The rule id of each contract finding, in order."""
    return [f.rule for f in FAM.contract(ex)]


def b64(values: list[float]) -> str:
    """What the API sends for encoding_format base64: little-endian float32 values, standard base64."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def reply(vectors: list[Any], model: str = "text-embedding-3-small") -> dict[str, Any]:
    return {"object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "model": model, "usage": {"prompt_tokens": 8, "total_tokens": 8}}


VEC = [0.0023064255, -0.009327292, 0.015797347, -0.0028842222]


# == hand-written conforming replies =================================================================

def test_module_is_registered():
    assert isinstance(family("openai-embeddings"), OpenAIEmbeddings)


def test_conforming_float_reply():
    ex = exchange(reply([VEC]), request=make_request(input="hello", encoding_format="float"))
    assert found(ex) == []
    assert FAM.summary(ex) == {"status": 200, "text": None, "role": None, "finish_reason": None,
                               "usage": {"prompt_tokens": 8, "total_tokens": 8},
                               "count": 1, "dimension": 4, "encoding": "float"}


def test_conforming_float_reply_without_encoding_format():
    assert found(exchange(reply([VEC, VEC]), request=make_request(input=["a", "b"]))) == []


def test_conforming_base64_reply():
    ex = exchange(reply([b64(VEC), b64(VEC)]), request=make_request(input=["a", "b"], encoding_format="base64"))
    assert found(ex) == []
    summary = FAM.summary(ex)
    assert (summary["count"], summary["dimension"], summary["encoding"]) == (2, 4, "base64")


def test_base64_decodes_to_the_same_floats():
    raw = base64.b64decode(b64(VEC))
    assert struct.unpack("<4f", raw) == pytest.approx(VEC)
    assert dimension_of(b64(VEC)) == (4, "")


def test_extra_fields_are_not_violations():
    body = reply([VEC])
    body["usage"].update(completion_tokens=0, prompt_tokens_details=None)
    body["data"][0]["provider_specific_fields"] = {}
    body["id"] = "emb-1"
    assert found(exchange(body)) == []


@pytest.mark.parametrize("value,count", [
    ("one string", 1), (["a", "b", "c"], 3), ([1212, 318, 257], 1), ([[1212, 318], [257]], 2),
    ([], None), (None, None), (["a", 1], None),
])
def test_expected_count_per_documented_input_form(value, count):
    # CreateEmbeddingRequest.input: a string, an array of strings, an array of token ids (one input),
    # or an array of token arrays.
    assert expected_count(value) == count


def test_token_array_input_is_one_embedding():
    assert found(exchange(reply([VEC]), request=make_request(input=[1212, 318, 257]))) == []
    assert found(exchange(reply([VEC, VEC]), request=make_request(input=[1212, 318, 257]))) == [
        ("$.data", "expected 1 embedding (one per input), got 2")]


def test_unknown_encoding_format_is_not_held_to_an_encoding():
    assert found(exchange(reply([VEC]), request=make_request(input="x", encoding_format="binary"))) == []


def test_recognizes_the_endpoint_only():
    assert FAM.recognizes("POST", "https://api.openai.com/v1/embeddings")
    assert FAM.recognizes("post", "http://127.0.0.1:4000/v1/embeddings/")
    assert not FAM.recognizes("GET", "https://api.openai.com/v1/embeddings")
    assert not FAM.recognizes("POST", "https://api.openai.com/v1/chat/completions")
    assert not FAM.recognizes("POST", "https://x.googleapis.com/v1beta/models/m:batchEmbedContents")
    assert FAM.request_is_stream({"input": "x", "stream": True}, URL) is False


def test_array_item_of_wrong_type_is_flagged_at_its_path():
    assert found(exchange(reply([[0.1, "0.2", 0.3]]))) == [
        ("$.data[0].embedding[1]", "expected number, got string")]


def test_embedding_neither_array_nor_string():
    assert found(exchange(reply([5]))) == [("$.data[0].embedding", "expected array or string, got 5")]


def test_invalid_base64_is_flagged():
    ex = exchange(reply(["not base64!"]), request=make_request(input="x", encoding_format="base64"))
    assert [p for p, _ in found(ex)] == ["$.data[0].embedding"]
    assert found(ex)[0][1].startswith("not valid base64")
    assert FAM.summary(ex)["dimension"] is None


def test_line_wrapped_base64_is_flagged():
    # RFC 4648 section 3.1: no line feeds in base64 data unless the referring spec says so.
    wrapped = b64(VEC)[:8] + "\n" + b64(VEC)[8:]
    ex = exchange(reply([wrapped]), request=make_request(input="x", encoding_format="base64"))
    assert [p for p, _ in found(ex)] == ["$.data[0].embedding"]


def test_content_type_must_be_json():
    assert found(exchange(reply([VEC]), content_type="text/plain")) == [
        ("$headers.content-type", "expected application/json, got text/plain")]


def test_redirect_status_is_flagged():
    assert found(exchange(reply([VEC]), status=302)) == [("$status", "unexpected HTTP status 302")]


def test_body_not_json():
    assert [p for p, _ in found(exchange("<html>oops</html>"))] == ["$"]


# == the recorded LiteLLM exchanges =================================================================

def recorded(name: str) -> Exchange:
    """The one interaction of cassettes/litellm-local/openai-embeddings/<feature>/<case>--<model>.yaml."""
    return exchanges.from_cassette(CASSETTES / f"{name}.yaml", FAM.api)


def changed(ex: Exchange, body: Any = None, request_body: dict[str, Any] | None = None) -> Exchange:
    """The same exchange with another reply body and/or request body (fresh: nothing decoded yet)."""
    request = ex.request
    if request_body is not None:
        request = Request(method=request.method, url=request.url, headers=dict(request.headers), json_body=request_body)
    raw = ex.body if body is None else json.dumps(body).encode()
    return Exchange(request=request, status=ex.status, headers=dict(ex.headers), body=raw)


def as_base64(body: dict[str, Any]) -> dict[str, Any]:
    """The reply with its float vectors sent as base64, as the published API does for encoding_format base64."""
    out = copy.deepcopy(body)
    for item in out["data"]:
        item["embedding"] = b64(item["embedding"])
    return out


LIST = "text/list-of-strings--all-minilm-l6-v2"
ONE = "text/one-string--all-minilm-l6-v2"
BASE64 = "encoding/base64--all-minilm-l6-v2"
MISSING_INPUT = "errors/missing-input--all-minilm-l6-v2"
BASE64_AS_FLOATS = 'encoding_format "base64" was requested but the embedding is an array of floats, not a base64 string'

# Every recorded exchange and the findings judge() gives it (contract, then the case's own expectations).
# The two failures are LiteLLM (passing on llama-cpp-python's replies) deviating from the published API.
RECORDED: dict[str, list[tuple[str, str, str]]] = {
    ONE: [],
    LIST: [],
    "encoding/float--all-minilm-l6-v2": [],
    # encoding_format base64 is ignored: float arrays come back.
    BASE64: [
        ("contract", "$.data[0].embedding", BASE64_AS_FLOATS),
        ("contract", "$.data[1].embedding", BASE64_AS_FLOATS),
        ("case", "$.data[0].embedding", "expected type str, got list"),
        ("case", "$.data[1].embedding", "expected type str, got list"),
        ("case", "summary.encoding", "expected 'base64', got 'float'"),
    ],
    MISSING_INPUT: [],
    "errors/unknown-model--all-minilm-l6-v2": [],
    # input "" is embedded instead of refused ("cannot be an empty string").
    "errors/empty-string-input--all-minilm-l6-v2": [("case", "$status", "expected at least 400, got 200")],
    "errors/model-not-served--smollm2-135m": [],
}


def test_every_cassette_is_pinned():
    # auth, concurrency: pinned by the shipped baseline (tests/test_cli.py)
    on_disk = {str(p.relative_to(CASSETTES).with_suffix("")) for p in CASSETTES.glob("*/*.yaml")
               if p.parent.name not in ("auth", "concurrency")}
    assert on_disk == set(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_exchange_is_judged_as_pinned(name):
    feature, rest = name.split("/")
    case_id = rest.split("--")[0]
    case = {c.id: c for c in load_file(CASES / f"{feature}.yaml", ROOT)}[case_id]
    ex = recorded(name)
    assert [(f.layer, f.path, f.message) for f in judge(FAM, ex, case.expect)] == RECORDED[name]


def test_recorded_float_replies_measure_384_dimensions():
    # all-minilm-l6-v2 is declared with limits {dimensions: 384} in targets/litellm-local.yaml.
    for name in (ONE, LIST, "encoding/float--all-minilm-l6-v2"):
        assert FAM.summary(recorded(name))["dimension"] == 384
    assert FAM.summary(recorded(LIST))["count"] == 3


class TestRulesOnRecordedReplies:
    """Each rule, shown by changing one thing in a recorded LiteLLM reply."""

    def test_wrong_count(self):
        ex = recorded(LIST)
        body = ex.json()
        del body["data"][2]
        assert found(changed(ex, body)) == [("$.data", "expected 3 embeddings (one per input), got 2")]
        assert rules_of(changed(ex, body)) == ["openai-embeddings.data.count"]

    def test_extra_item_for_a_single_string(self):
        ex = recorded(ONE)
        body = ex.json()
        body["data"].append({**body["data"][0], "index": 1})
        assert found(changed(ex, body)) == [("$.data", "expected 1 embedding (one per input), got 2")]

    def test_duplicate_index(self):
        ex = recorded(LIST)
        body = ex.json()
        body["data"][1]["index"] = 0
        assert found(changed(ex, body)) == [("$.data[1].index", "index 0 appears more than once (first at $.data[0])")]
        assert rules_of(changed(ex, body)) == ["openai-embeddings.data.index.unique"]

    def test_index_out_of_range(self):
        ex = recorded(LIST)
        body = ex.json()
        body["data"][2]["index"] = 3
        assert found(changed(ex, body)) == [
            ("$.data[2].index", "index 3 is out of range: 3 items carry indexes 0..2")]
        assert rules_of(changed(ex, body)) == ["openai-embeddings.data.index.range"]

    def test_items_in_another_order_conform(self):
        # Only the indexes tie items to inputs; nothing requires the list to be sorted.
        ex = recorded(LIST)
        body = ex.json()
        body["data"].reverse()
        assert found(changed(ex, body)) == []

    def test_index_of_wrong_type(self):
        ex = recorded(LIST)
        body = ex.json()
        body["data"][1]["index"] = "1"
        assert found(changed(ex, body)) == [("$.data[1].index", "expected integer, got string")]

    def test_differing_dimensions(self):
        ex = recorded(LIST)
        body = ex.json()
        body["data"][2]["embedding"] = body["data"][2]["embedding"][:383]
        assert found(changed(ex, body)) == [
            ("$.data[2].embedding", "has 383 dimensions but $.data[0].embedding has 384; "
                                    "the vectors of one reply share one dimension")]
        assert rules_of(changed(ex, body)) == ["openai-embeddings.data.embedding.same-dimension"]
        assert FAM.summary(changed(ex, body))["dimension"] is None

    def test_dimension_differs_from_the_requested_dimensions(self):
        ex = recorded(ONE)
        request_body = {**ex.request.json_body, "dimensions": 64}
        assert found(changed(ex, request_body=request_body)) == [
            ("$.data[0].embedding", "has 384 dimensions but the request asked for dimensions 64")]
        assert rules_of(changed(ex, request_body=request_body)) == ["openai-embeddings.data.embedding.dimensions"]
        assert found(changed(ex, request_body={**ex.request.json_body, "dimensions": 384})) == []

    def test_base64_reply_conforms_when_base64_was_asked(self):
        # What the published API sends for this very request: the same vectors as base64 float32.
        ex = recorded(BASE64)
        converted = changed(ex, as_base64(ex.json()))
        assert found(converted) == []
        assert FAM.summary(converted)["dimension"] == 384
        assert FAM.summary(converted)["encoding"] == "base64"

    def test_base64_of_wrong_length(self):
        ex = recorded(BASE64)
        body = as_base64(ex.json())
        raw = base64.b64decode(body["data"][1]["embedding"])
        body["data"][1]["embedding"] = base64.b64encode(raw[:-2]).decode()
        assert found(changed(ex, body)) == [
            ("$.data[1].embedding",
             "base64 decodes to 1534 bytes, not a whole number of float32 values (4 bytes each)")]
        assert rules_of(changed(ex, body)) == ["openai-embeddings.data.embedding.base64"]

    def test_base64_dimension_compared_across_items(self):
        ex = recorded(BASE64)
        body = as_base64(ex.json())
        raw = base64.b64decode(body["data"][1]["embedding"])
        body["data"][1]["embedding"] = base64.b64encode(raw[:-4]).decode()
        assert found(changed(ex, body)) == [
            ("$.data[1].embedding", "has 383 dimensions but $.data[0].embedding has 384; "
                                    "the vectors of one reply share one dimension")]

    def test_floats_returned_when_base64_was_asked(self):
        # The recorded LiteLLM reply itself.
        assert found(recorded(BASE64)) == [("$.data[0].embedding", BASE64_AS_FLOATS),
                                            ("$.data[1].embedding", BASE64_AS_FLOATS)]
        assert rules_of(recorded(BASE64)) == ["openai-embeddings.data.embedding.encoding"] * 2

    def test_base64_returned_when_float_is_the_default(self):
        ex = recorded(ONE)
        assert "encoding_format" not in ex.request.json_body
        assert found(changed(ex, as_base64(ex.json()))) == [
            ("$.data[0].embedding", 'encoding_format "float" is the default but the embedding is a string, '
                                    "not an array of floats")]

    def test_base64_returned_when_float_was_asked(self):
        ex = recorded("encoding/float--all-minilm-l6-v2")
        assert found(changed(ex, as_base64(ex.json()))) == [
            ("$.data[0].embedding", 'encoding_format "float" was requested but the embedding is a string, '
                                    "not an array of floats")]
        assert rules_of(changed(ex, as_base64(ex.json()))) == ["openai-embeddings.data.embedding.encoding"]

    def test_wrong_list_object(self):
        ex = recorded(ONE)
        body = ex.json()
        body["object"] = "embedding_list"
        assert found(changed(ex, body)) == [("$.object", 'must be "list", got "embedding_list"')]

    def test_wrong_item_object(self):
        ex = recorded(LIST)
        body = ex.json()
        body["data"][1]["object"] = "vector"
        assert found(changed(ex, body)) == [("$.data[1].object", 'must be "embedding", got "vector"')]

    @pytest.mark.parametrize("field", ["prompt_tokens", "total_tokens"])
    def test_missing_usage_field(self, field):
        ex = recorded(ONE)
        body = ex.json()
        del body["usage"][field]
        assert found(changed(ex, body)) == [(f"$.usage.{field}", "required field is missing")]

    def test_usage_total_is_the_prompt_count(self):
        # An embedding generates nothing: the request's total is its prompt.
        ex = recorded(LIST)
        body = ex.json()
        assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"]
        body["usage"]["total_tokens"] += 1
        findings = FAM.contract(changed(ex, body))
        assert [(f.rule, f.severity, f.path) for f in findings] == [
            ("openai-embeddings.usage.total", Severity.BREAKING, "$.usage.total_tokens")]

    @pytest.mark.parametrize("field", ["object", "model", "data", "usage"])
    def test_missing_top_level_field(self, field):
        ex = recorded(ONE)
        body = ex.json()
        del body[field]
        assert found(changed(ex, body)) == [(f"$.{field}", "required field is missing")]

    @pytest.mark.parametrize("field", ["index", "object", "embedding"])
    def test_missing_item_field(self, field):
        ex = recorded(ONE)
        body = ex.json()
        del body["data"][0][field]
        assert found(changed(ex, body)) == [(f"$.data[0].{field}", "required field is missing")]


class TestErrorEnvelope:
    def test_recorded_error_conforms(self):
        ex = recorded(MISSING_INPUT)
        assert ex.status == 400
        assert found(ex) == []
        assert FAM.summary(ex) == {"status": 400, "error": ex.json()["error"]}

    def test_openai_empty_input_error_conforms(self):
        # OpenAI's reply to input "" (quoted in aryn-ai/sycamore#943): param and code null.
        body = {"error": {"message": "'$.input' is invalid. Please check the API reference: "
                                     "https://platform.openai.com/docs/api-reference.",
                          "type": "invalid_request_error", "param": None, "code": None}}
        assert found(exchange(body, status=400, request=make_request(input=""))) == []

    @pytest.mark.parametrize("field, severity", [("message", Severity.BREAKING), ("type", Severity.BREAKING),
                                                 ("param", Severity.DEVIATION), ("code", Severity.DEVIATION)])
    def test_missing_error_field(self, field, severity):
        # Checked with the chat spec's ErrorResponse, under this API's ids; param and code are nullable.
        ex = recorded(MISSING_INPUT)
        body = ex.json()
        del body["error"][field]
        note = NULLABLE if severity is Severity.DEVIATION else ""
        assert found(changed(ex, body)) == [(f"$.error.{field}", "required field is missing" + note)]
        assert [(f.rule, f.severity) for f in FAM.contract(changed(ex, body))] == [
            (f"openai-embeddings.error.error.{field}.present", severity)]

    def test_numeric_code(self):
        ex = recorded(MISSING_INPUT)
        body = ex.json()
        body["error"]["code"] = 400
        assert found(changed(ex, body)) == [("$.error.code", "expected string or null, got integer")]

    def test_no_envelope(self):
        ex = recorded(MISSING_INPUT)
        assert found(changed(ex, {"detail": "input is required"})) == [("$.error", "required field is missing")]

    def test_error_body_not_json(self):
        ex = recorded(MISSING_INPUT)
        result = found(Exchange(request=ex.request, status=400, headers=dict(ex.headers), body=b"Bad Request"))
        assert [p for p, _ in result] == ["$"] and result[0][1].startswith("error reply body is not JSON")

    def test_error_envelope_asked_of_a_success_reply(self):
        # error_envelope() is what a case expecting an error gets judged by: a 200 is not an error.
        result = [(f.path, f.message) for f in FAM.error_envelope(recorded(ONE))]
        assert result == [("$status", "expected an error status (4xx/5xx), got 200"),
                          ("$.error", "required field is missing")]


# == real OpenAI recordings (development set outside the repo) =======================================

SHARED = "openai"  # the sub-folder of the recordings (tests/support/recordings.py)
SHARED_EMBEDDINGS = recordings.interactions_of(FAM.api, SHARED)


def shared_exchange(name: str, index: int) -> Exchange:
    return recordings.exchange(SHARED, name, index)


@recordings.needed(SHARED)
def test_shared_recordings_hold_embeddings_traffic():
    assert ("otel-emb-base64.yaml", 0) in SHARED_EMBEDDINGS


@recordings.needed(SHARED)
@pytest.mark.parametrize("name,index", SHARED_EMBEDDINGS or [("(none)", 0)], ids=lambda v: str(v))
def test_real_openai_embeddings_replies_pass_the_contract(name, index):
    if name == "(none)":
        recordings.unavailable(f"no embeddings interactions in {recordings.folder(SHARED)}")
    assert found(shared_exchange(name, index)) == []


@recordings.needed(SHARED)
def test_real_base64_reply_decodes_to_the_documented_dimension():
    # text-embedding-3-small vectors have 1536 dimensions (OpenAI embeddings guide): the float32
    # reading of the base64 string is the one the API uses.
    ex = shared_exchange("otel-emb-base64.yaml", 0)
    assert ex.request.json_body["encoding_format"] == "base64"
    summary = FAM.summary(ex)
    assert (summary["count"], summary["dimension"], summary["encoding"]) == (1, 1536, "base64")


@recordings.needed(SHARED)
def test_real_base64_reply_cut_short_is_flagged():
    ex = shared_exchange("otel-emb-base64.yaml", 0)
    body = ex.json()
    raw = base64.b64decode(body["data"][0]["embedding"])
    body["data"][0]["embedding"] = base64.b64encode(raw[:-1]).decode()
    assert found(changed(ex, body)) == [
        ("$.data[0].embedding", "base64 decodes to 6143 bytes, not a whole number of float32 values (4 bytes each)")]
    assert rules_of(changed(ex, body)) == ["openai-embeddings.data.embedding.base64"]
