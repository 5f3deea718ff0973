"""The Gemini API contract (conformance/apis/gemini/: family.py + spec.json).

1. Hand-written replies shaped like real Gemini API / Vertex AI ones: a conforming reply gives no
   findings; changing one thing gives the one finding that change causes (JSON path and message).
2. The project's LiteLLM cassettes (cassettes/litellm-local/gemini/): judge() gives the verdicts and
   findings listed in LITELLM (LiteLLM's documented deviations), and each stream rule is shown on a
   real recorded stream with one thing changed.
3. ../shared/recordings/gemini/ (real Gemini API and Vertex AI traffic, read in place, never copied):
   every generateContent / streamGenerateContent exchange conforms; the stream rules are shown on
   those streams too. These tests skip when the folder is absent (tests/support/recordings.py).
"""
from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from conformance.apis.gemini.family import FAMILY, SPEC, Gemini, camelize, decode_json_array, sse_cut_off, wants_sse
from conformance.core.exchange import Exchange, Request
from conformance.judge.verdict import judge
from conformance.load import media
from conformance.load.cases import Case, load_file
from conformance.load.targets import Auth, Surface
from tests.cassette_kinds import single
from tests.support import exchanges, recordings

FAM = Gemini()
ROOT = Path(__file__).resolve().parents[1]
BASE = "https://generativelanguage.googleapis.com"
MODEL = "gemini-2.5-flash"
URL = f"{BASE}/v1beta/models/{MODEL}:generateContent"
SSE_URL = f"{BASE}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
ARRAY_URL = f"{BASE}/v1beta/models/{MODEL}:streamGenerateContent"
VERTEX_URL = ("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/"
              "publishers/google/models/gemini-2.5-pro:generateContent")
# google-genai's FinishReason, in its order (the contract's derived layer); a value outside it names that SDK.
FINISH_REASONS = ["FINISH_REASON_UNSPECIFIED", "STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "LANGUAGE", "OTHER",
                  "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL", "IMAGE_SAFETY",
                  "IMAGE_PROHIBITED_CONTENT", "IMAGE_OTHER", "NO_IMAGE", "IMAGE_RECITATION", "UNEXPECTED_TOOL_CALL",
                  "TOO_MANY_TOOL_CALLS", "MISSING_THOUGHT_SIGNATURE", "MALFORMED_RESPONSE", "ESCALATION",
                  "PUP_LIMITED_DISABLED", "CONTINUATION", "MODEL_ARMOR", None]
NOT_A_FINISH_REASON = f'is not one of {json.dumps(FINISH_REASONS)} (the values {SPEC.source_label} types)'


# -- building exchanges -------------------------------------------------------------------------------

def make_request(url: str = URL) -> Request:
    """A request to `url`, which streams when the URL says so (streamGenerateContent)."""
    body = {"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
            "generationConfig": {"maxOutputTokens": 32}}
    return exchanges.make_request(FAM, url, body)


def exchange(body: Any, *, url: str = URL, content_type: str | None = "application/json; charset=UTF-8",
             **reply: Any) -> Exchange:
    """A reply (exchanges.reply: status, content_type, headers) to a request to `url`."""
    return exchanges.reply(make_request(url), body, content_type=content_type, **reply)


def sse(chunks: list[Any], sep: str = "\r\n\r\n") -> str:
    """`data:` events as Gemini sends them (CRLF CRLF after each); str items are sent as they are."""
    return "".join(f"data: {c if isinstance(c, str) else json.dumps(c)}{sep}" for c in chunks)


def array(chunks: list[Any]) -> str:
    """A JSON-array stream as Gemini sends it: `[{...}\n,\n{...}\n]`."""
    return "[" + "\n,\n".join(json.dumps(c, indent=2) for c in chunks) + "\n]"


def sse_exchange(chunks: list[Any], **kw: Any) -> Exchange:
    kw.setdefault("content_type", "text/event-stream")
    return exchange(sse(chunks), url=SSE_URL, **kw)


def array_exchange(chunks: list[Any], **kw: Any) -> Exchange:
    return exchange(array(chunks), url=ARRAY_URL, **kw)


found = functools.partial(exchanges.found, FAM)


# -- conforming replies, modelled on real ones ---------------------------------------------------------

USAGE = {"promptTokenCount": 5, "candidatesTokenCount": 8, "totalTokenCount": 13,
         "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}]}


def response() -> dict[str, Any]:
    return {
        "candidates": [{
            "content": {"parts": [{"text": "Hello! How can I help you today?"}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": copy.deepcopy(USAGE),
        "modelVersion": MODEL,
        "responseId": "fH8oaunbEbr9qtsPjYGX4A0",
    }


def chunk(text: str | None, finish: str | None = None, usage: Any = "absent", index: int | None = 0) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"parts": [] if text is None else [{"text": text}], "role": "model"}}
    if finish is not None:
        cand["finishReason"] = finish
    if index is not None:
        cand["index"] = index
    out: dict[str, Any] = {"candidates": [cand]}
    if usage != "absent":
        out["usageMetadata"] = usage
    out.update(modelVersion=MODEL, responseId="w1peaMz6INOvnvgPgYfPiQY")
    return out


def stream_chunks() -> list[dict[str, Any]]:
    """Three chunks; the last carries the finishReason and the full usage, as the Gemini API streams."""
    return [chunk("Hello", usage={"promptTokenCount": 5, "totalTokenCount": 5}),
            chunk(" there", usage={"promptTokenCount": 5, "totalTokenCount": 5}),
            chunk("!", "STOP", usage=copy.deepcopy(USAGE))]


# == requests ==========================================================================================

def case(**kw: Any) -> Case:
    base = dict(api="gemini", feature="text", id="c",
                request={"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}, expect={}, requires=())
    base.update(kw)
    return Case(**base)


def surface(base_url: str = "http://127.0.0.1:4000", path: str | None = None) -> Surface:
    return Surface(api="gemini", base_url=base_url, auth=Auth("none"), path=path)


class TestRequests:
    def test_generate_content_url_and_body(self):
        req = FAM.build_request(case(), "smollm2-135m", surface())
        assert (req.method, req.url, req.stream) == (
            "POST", "http://127.0.0.1:4000/v1beta/models/smollm2-135m:generateContent", False)
        assert req.json_body == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
        assert "model" not in req.json_body
        assert req.headers["Content-Type"] == "application/json"

    def test_stream_uses_the_stream_endpoint_and_alt_sse_is_a_query_option(self):
        req = FAM.build_request(case(stream=True, options={"alt": "sse"}), "m", surface("https://h/ai-gateway/gemini"))
        assert req.url == "https://h/ai-gateway/gemini/v1beta/models/m:streamGenerateContent?alt=sse"
        assert req.stream and wants_sse(req.url)

    def test_default_stream_is_a_json_array_request(self):
        req = FAM.build_request(case(stream=True), "m", surface())
        assert req.url.endswith("/v1beta/models/m:streamGenerateContent")
        assert req.stream and not wants_sse(req.url)

    def test_case_model_overrides_the_target_model(self):
        req = FAM.build_request(case(model="no-such-model"), "m", surface())
        assert "/models/no-such-model:generateContent" in req.url

    def test_surface_path_template_with_method(self):
        s = surface("https://h/serving-endpoints/gemini", path="/v1beta/models/{model}:{method}")
        assert FAM.build_request(case(stream=True), "databricks-gemini-2-5-pro", s).url == \
            "https://h/serving-endpoints/gemini/v1beta/models/databricks-gemini-2-5-pro:streamGenerateContent"

    def test_surface_path_template_naming_generate_content_switches_for_streams(self):
        s = surface("https://h", path="/v1/publishers/google/models/{model}:generateContent")
        assert FAM.build_request(case(), "g", s).url == "https://h/v1/publishers/google/models/g:generateContent"
        assert FAM.build_request(case(stream=True, options={"alt": "sse"}), "g", s).url == \
            "https://h/v1/publishers/google/models/g:streamGenerateContent?alt=sse"

    def test_case_headers_are_sent(self):
        assert FAM.build_request(case(headers={"x-trace": "1"}), "m", surface()).headers["x-trace"] == "1"

    @pytest.mark.parametrize("url,stream", [
        (URL, False), (SSE_URL, True), (ARRAY_URL, True), (VERTEX_URL, False),
        (VERTEX_URL.replace(":generateContent", ":streamGenerateContent") + "?alt=sse", True)])
    def test_recognizes_both_methods_on_both_services(self, url, stream):
        assert FAM.recognizes("POST", url)
        assert FAM.request_is_stream(None, url) is stream

    @pytest.mark.parametrize("method,url", [
        ("GET", URL), ("POST", f"{BASE}/v1beta/models/{MODEL}:batchEmbedContents"),
        ("POST", f"{BASE}/v1beta/models/{MODEL}:countTokens"), ("POST", "http://h/v1/chat/completions")])
    def test_does_not_recognize_other_endpoints(self, method, url):
        assert not FAM.recognizes(method, url)

    def test_family_is_registered(self):
        from conformance import apis
        assert apis.family("gemini") is FAMILY
        assert apis.recognize("POST", SSE_URL) is FAMILY


# == non-stream replies ================================================================================

class TestGenerateContent:
    def test_conforming_reply_has_no_findings(self):
        assert found(exchange(response())) == []

    def test_vertex_reply_conforms(self):
        body = response()
        del body["candidates"][0]["index"]  # Vertex AI omits index 0 (proto3 default)
        body["candidates"][0]["avgLogprobs"] = -1.8014850572405456
        body["usageMetadata"].update(trafficType="ON_DEMAND", thoughtsTokenCount=1477, totalTokenCount=13 + 1477,
                                     candidatesTokensDetails=[{"modality": "TEXT", "tokenCount": 8}])
        body["createTime"] = "2025-10-10T15:55:50.511529Z"
        assert found(exchange(body, url=VERTEX_URL)) == []

    def test_snake_case_reply_conforms(self):
        # proto3 JSON parsers accept the original field names (Vertex AI REST, some gateways).
        body = {"candidates": [{"content": {"parts": [{"text": "Hi", "thought_signature": "CiIB0e2K"}],
                                            "role": "model"},
                                "finish_reason": "STOP", "safety_ratings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                                             "probability": "NEGLIGIBLE"}]}],
                "usage_metadata": {"prompt_token_count": 4, "candidates_token_count": 1, "total_token_count": 5},
                "model_version": MODEL, "create_time": "2025-10-10T15:55:50Z", "response_id": "x"}
        assert found(exchange(body)) == []
        s = FAM.summary(exchange(body))
        assert (s["text"], s["finish_reason"], s["usage"]["totalTokenCount"]) == ("Hi", "STOP", 5)

    def test_snake_case_findings_keep_the_reply_field_names(self):
        body = {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}, "finish_reason": "DONE"}],
                "usage_metadata": {"prompt_token_count": "4"}}
        assert found(exchange(body)) == [
            ("$.candidates[0].finish_reason", f'"DONE" {NOT_A_FINISH_REASON}'),
            ("$.usage_metadata.prompt_token_count", "expected integer or null, got string")]

    def test_struct_values_are_not_renamed(self):
        body = response()
        body["candidates"][0]["content"]["parts"] = [{"functionCall": {"name": "get_weather",
                                                                       "args": {"city_name": "Paris"}}}]
        norm, renames = camelize(body)
        assert norm["candidates"][0]["content"]["parts"][0]["functionCall"]["args"] == {"city_name": "Paris"}
        assert renames == {}
        assert found(exchange(body)) == []

    def test_thinking_reply_conforms_and_thoughts_are_not_text(self):
        body = response()
        body["candidates"][0]["content"]["parts"] = [
            {"text": "**Planning**\n\nThe user wants a greeting.", "thought": True},
            {"text": "Hello!", "thoughtSignature": "CiIB0e2Kb6Syj1a961EfbWv4W5C8RgAA/hGleV9VYJtnJFh4Cm=="}]
        body["usageMetadata"].update(thoughtsTokenCount=12, totalTokenCount=13 + 12)  # the total counts thoughts
        assert found(exchange(body)) == []
        assert FAM.summary(exchange(body))["text"] == "Hello!"

    def test_function_call_and_media_parts_conform(self):
        body = response()
        body["candidates"][0]["content"]["parts"] = [
            {"functionCall": {"id": "c1", "name": "get_weather", "args": {"location": "Boston"}}},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"mimeType": "video/mp4", "fileUri": "gs://bucket/v.mp4"}},
            {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
            {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}}]
        assert found(exchange(body)) == []

    def test_blocked_prompt_without_candidates_conforms(self):
        body = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "HIGH", "blocked": True}]},
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}, "modelVersion": MODEL}
        assert found(exchange(body)) == []
        assert FAM.summary(exchange(body))["block_reason"] == "SAFETY"

    def test_safety_finish_with_empty_content_conforms(self):
        body = response()
        body["candidates"][0] = {"content": {}, "finishReason": "SAFETY", "safetyRatings": [
            {"blocked": True, "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "LOW"}]}
        assert found(exchange(body)) == []

    def test_nulls_are_the_proto3_default(self):
        body = response()
        body["promptFeedback"] = None
        body["candidates"][0].update(safetyRatings=None, citationMetadata=None, finishMessage=None)
        body["usageMetadata"]["cachedContentTokenCount"] = None
        assert found(exchange(body)) == []

    def test_unknown_fields_are_not_findings(self):
        body = response()
        body["modelStatus"] = {"modelStage": "STABLE"}
        body["x_gateway"] = {"route": "primary"}
        body["candidates"][0]["content"]["parts"][0]["mediaResolution"] = {"level": "MEDIA_RESOLUTION_LOW"}
        body["usageMetadata"]["serviceTier"] = "standard"
        assert found(exchange(body)) == []

    def test_candidates_without_block_reason_are_flagged(self):
        body = response()
        body["candidates"] = []
        assert found(exchange(body)) == [("$.candidates", "no candidates and no promptFeedback.blockReason: the API "
                                                          "returns no candidates only when the prompt was blocked")]

    @pytest.mark.parametrize("value", [None, "FINISH_REASON_UNSPECIFIED"])
    def test_candidate_without_finish_reason_is_flagged(self, value):
        body = response()
        body["candidates"][0]["finishReason"] = value
        assert found(exchange(body)) == [("$.candidates[0].finishReason",
                                          "a generateContent candidate must have a finishReason (an empty one "
                                          "means the model has not stopped generating)")]

    def test_finish_reason_outside_the_enum(self):
        body = response()
        body["candidates"][0]["finishReason"] = "stop"
        assert found(exchange(body)) == [
            ("$.candidates[0].finishReason", f'"stop" {NOT_A_FINISH_REASON}')]

    @pytest.mark.parametrize("reason", [r for r in FINISH_REASONS if r not in (None, "FINISH_REASON_UNSPECIFIED")])
    def test_every_documented_finish_reason_is_accepted(self, reason):
        body = response()
        body["candidates"][0]["finishReason"] = reason
        assert found(exchange(body)) == []

    def test_integer_enums_only_when_asked_for(self):
        body = response()
        body["candidates"][0]["finishReason"] = 1
        body["usageMetadata"]["promptTokensDetails"][0]["modality"] = 1
        asked = VERTEX_URL + "?%24alt=json%3Benum-encoding%3Dint"
        assert found(exchange(body, url=asked)) == []
        assert [p for p, _ in found(exchange(body))] == ["$.candidates[0].finishReason",
                                                         "$.usageMetadata.promptTokensDetails[0].modality"]

    def test_role_must_be_model(self):
        body = response()
        body["candidates"][0]["content"]["role"] = "assistant"
        assert found(exchange(body)) == [
            ("$.candidates[0].content.role", '"assistant" is not one of ["model", "", null]')]

    def test_part_with_two_data_fields(self):
        body = response()
        body["candidates"][0]["content"]["parts"][0]["functionCall"] = {"name": "f", "args": {}}
        assert found(exchange(body)) == [("$.candidates[0].content.parts[0]",
                                          "a Part holds one data field (oneof data), got text and functionCall")]

    def test_function_call_without_name(self):
        body = response()
        body["candidates"][0]["content"]["parts"] = [{"functionCall": {"args": {"x": 1}}}]
        assert found(exchange(body)) == [
            ("$.candidates[0].content.parts[0].functionCall.name", "required field is missing")]

    def test_file_data_without_uri(self):
        body = response()
        body["candidates"][0]["content"]["parts"] = [{"fileData": {"mimeType": "image/png"}}]
        assert found(exchange(body)) == [
            ("$.candidates[0].content.parts[0].fileData.fileUri", "required field is missing")]

    def test_thought_signature_must_be_base64(self):
        body = response()
        body["candidates"][0]["content"]["parts"][0]["thoughtSignature"] = "not base64!"
        [(path, message)] = found(exchange(body))
        assert path == "$.candidates[0].content.parts[0].thoughtSignature"
        assert "does not match" in message

    def test_duplicate_candidate_index(self):
        body = response()
        body["candidates"].append(copy.deepcopy(body["candidates"][0]))
        assert found(exchange(body)) == [("$.candidates[1].index", "candidate index 0 repeats candidates[0]")]

    def test_two_candidates_with_indexes_conform(self):
        body = response()
        second = copy.deepcopy(body["candidates"][0])
        second["index"] = 1
        body["candidates"].append(second)
        assert found(exchange(body)) == []
        assert FAM.summary(exchange(body))["candidates"] == 2

    @pytest.mark.parametrize("path,value,message", [
        (("candidates",), {"0": {}}, "expected array or null, got object"),
        (("candidates", 0, "index"), "0", "expected integer or null, got string"),
        (("candidates", 0, "content", "parts", 0, "text"), 7, "expected string or null, got integer"),
        (("candidates", 0, "content", "parts", 0, "thought"), "yes", "expected boolean or null, got string"),
        (("usageMetadata", "totalTokenCount"), 13.5, "expected integer or null, got number"),
        (("usageMetadata", "totalTokenCount"), -1, "-1 is less than the minimum of 0"),
        (("modelVersion",), 2, "expected string or null, got integer"),
    ])
    def test_wrong_type(self, path, value, message):
        body = response()
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        assert found(exchange(body)) == [(where, message)]

    def test_body_that_is_not_json(self):
        [(path, message)] = found(exchange('{"candidates": ['))
        assert path == "$" and message.startswith("body is not JSON")

    def test_wrong_content_type(self):
        assert found(exchange(response(), content_type="text/plain")) == [
            ("$headers.content-type", "expected application/json, got text/plain")]

    def test_capture_without_any_header_is_not_judged_on_content_type(self):
        assert found(exchange(response(), content_type=None, headers={})) == []

    def test_missing_content_type(self):
        assert found(exchange(response(), content_type=None)) == [
            ("$headers.content-type", "expected application/json, got none")]

    def test_summary(self):
        assert FAM.summary(exchange(response())) == {
            "status": 200, "text": "Hello! How can I help you today?", "role": "model", "finish_reason": "STOP",
            "candidates": 1, "usage": USAGE, "block_reason": None}


# == streams ===========================================================================================

class TestStreams:
    def test_conforming_sse_stream(self):
        ex = sse_exchange(stream_chunks())
        assert found(ex) == []
        s = FAM.summary(ex)
        assert (s["text"], s["finish_reason"], s["role"], s["events"], s["terminated"]) == \
            ("Hello there!", "STOP", "model", 3, True)
        assert s["usage"] == USAGE

    def test_conforming_json_array_stream(self):
        ex = array_exchange(stream_chunks())
        assert found(ex) == []
        assert FAM.summary(ex)["text"] == "Hello there!"
        assert FAM.summary(ex)["terminated"] is True

    def test_sse_with_lf_separators_conforms(self):
        assert found(exchange(sse(stream_chunks(), sep="\n\n"), url=SSE_URL, content_type="text/event-stream")) == []

    def test_usage_only_final_chunk_conforms(self):
        # Gemini 3 models may end a stream with a chunk that carries only usageMetadata.
        chunks = stream_chunks()
        del chunks[2]["usageMetadata"]
        chunks.append({"usageMetadata": USAGE, "modelVersion": MODEL, "responseId": "w1peaMz6INOvnvgPgYfPiQY"})
        assert found(sse_exchange(chunks)) == []

    def test_finish_reason_null_until_the_end_conforms(self):
        chunks = stream_chunks()
        for c in chunks[:2]:
            c["candidates"][0]["finishReason"] = None
        assert found(sse_exchange(chunks)) == []

    def test_interleaved_candidates_conform(self):
        chunks = [chunk("A", index=0), chunk("B", index=1), chunk("a", "STOP", index=0),
                  chunk("b", "MAX_TOKENS", usage=USAGE, index=1)]
        assert found(sse_exchange(chunks)) == []

    def test_blocked_prompt_stream_conforms(self):
        chunks = [{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 3}}]
        ex = sse_exchange(chunks)
        assert found(ex) == []
        assert FAM.summary(ex)["terminated"] is True

    def test_two_finish_reasons_for_one_candidate(self):
        chunks = stream_chunks()
        chunks[1]["candidates"][0]["finishReason"] = "STOP"
        assert found(sse_exchange(chunks)) == [
            ("events[2].candidates[0].finishReason", "candidate 0 has a second finishReason (first at event 1)")]

    def test_finish_reason_not_on_the_last_chunk_of_the_candidate(self):
        chunks = stream_chunks()
        chunks[0]["candidates"][0]["finishReason"] = "STOP"
        del chunks[2]["candidates"][0]["finishReason"]
        assert found(sse_exchange(chunks)) == [
            ("events[*].candidates[0]",
             "candidate 0 continues after its finishReason (event 0) (in 2 events, first at event 1)")]

    def test_candidate_that_never_finishes(self):
        chunks = stream_chunks()
        del chunks[2]["candidates"][0]["finishReason"]
        ex = sse_exchange(chunks)
        assert found(ex) == [("candidates[0]", "candidate 0 never got a finishReason")]
        assert FAM.summary(ex)["terminated"] is False

    def test_only_the_unfinished_candidate_is_named(self):
        chunks = [chunk("A", index=0), chunk("B", index=1), chunk("a", "STOP", usage=USAGE, index=0)]
        assert found(sse_exchange(chunks)) == [("candidates[1]", "candidate 1 never got a finishReason")]

    def test_missing_usage_on_the_last_chunk(self):
        chunks = stream_chunks()
        del chunks[2]["usageMetadata"]
        assert found(sse_exchange(chunks)) == [
            ("events[2]", "the last chunk carries no usageMetadata (the usage of the whole request)")]

    def test_non_json_sse_data(self):
        chunks: list[Any] = stream_chunks()
        chunks.insert(1, '{"candidates": [{"content": {"parts": [{"text": " th')
        findings = FAM.contract(sse_exchange(chunks))
        assert [(f.path, f.event) for f in findings] == [("events[1]", 1)]
        assert findings[0].message.startswith("data is not JSON")

    def test_done_marker_is_not_a_gemini_event(self):
        chunks: list[Any] = stream_chunks() + ["[DONE]"]
        findings = found(sse_exchange(chunks))
        assert [p for p, _ in findings] == ["events[3]"]

    def test_sse_stream_cut_inside_an_event(self):
        body = sse(stream_chunks())[: -len("\r\n\r\n")]
        ex = exchange(body, url=SSE_URL, content_type="text/event-stream")
        assert sse_cut_off(ex.body)
        assert found(ex) == [
            ("events",
             "the stream ends inside an event (no blank line after its last data line), so that event is lost"),
            ("candidates[0]", "candidate 0 never got a finishReason")]
        assert FAM.summary(ex)["terminated"] is False

    def test_truncated_json_array(self):
        body = array(stream_chunks())[:-2]  # the closing bracket is missing
        ex = exchange(body, url=ARRAY_URL)
        assert found(ex) == [
            ("events", "the JSON array is not complete: the body ends after 3 elements (no closing ])")]
        assert FAM.summary(ex)["terminated"] is False
        assert FAM.summary(ex)["text"] == "Hello there!"

    def test_json_array_cut_inside_an_element(self):
        text = array(stream_chunks())
        ex = exchange(text[: text.rindex('"totalTokenCount"')], url=ARRAY_URL)
        findings = found(ex)
        assert findings[0][0] == "events"
        assert findings[0][1].startswith("the JSON array is not complete: element 2 is cut off or not JSON")
        assert ("candidates[0]", "candidate 0 never got a finishReason") in findings

    def test_sse_reply_to_a_json_array_request(self):
        ex = exchange(sse(stream_chunks()), url=ARRAY_URL, content_type="text/event-stream")
        assert found(ex) == [
            ("$headers.content-type", "expected application/json, got text/event-stream"),
            ("events", "the reply is server-sent events, but without alt=sse the stream is a JSON array of "
                       "GenerateContentResponse")]
        s = FAM.summary(ex)
        assert (s["text"], s["terminated"]) == ("Hello there!", False)

    def test_json_array_reply_to_an_sse_request(self):
        ex = exchange(array(stream_chunks()), url=SSE_URL, content_type="application/json")
        assert found(ex) == [
            ("$headers.content-type", "expected text/event-stream, got application/json"),
            ("events", "the reply is a JSON array, but alt=sse asks for server-sent events")]

    def test_one_json_object_instead_of_an_array(self):
        ex = exchange(response(), url=ARRAY_URL)
        assert found(ex) == [("events", "the body is not a JSON array (it starts with '{\"candidates\": [{\"co')")]

    def test_empty_sse_stream(self):
        assert found(exchange("", url=SSE_URL, content_type="text/event-stream")) == [
            ("events", "stream has no events")]

    def test_chunk_schema_findings_carry_the_event(self):
        chunks = stream_chunks()
        chunks[1]["candidates"][0]["content"]["role"] = "user"
        findings = FAM.contract(sse_exchange(chunks))
        assert [(f.path, f.message, f.event) for f in findings] == [
            ("events[1].candidates[0].content.role", '"user" is not one of ["model", "", null]', 1)]

    def test_no_candidates_and_no_block_reason(self):
        chunks = [{"usageMetadata": USAGE}]
        assert found(sse_exchange(chunks)) == [
            ("events", "no chunk carries a candidate or a promptFeedback.blockReason: the API returns no candidates "
                       "only when the prompt was blocked")]


class TestDecodeJsonArray:
    def test_complete(self):
        events, problem = decode_json_array(b' [ {"a": 1} , {"b": 2} ] \n')
        assert problem is None and [e.json for e in events] == [{"a": 1}, {"b": 2}]
        assert [e.index for e in events] == [0, 1]

    def test_empty_array(self):
        assert decode_json_array(b"[]") == ([], None)

    @pytest.mark.parametrize("body,problem", [
        (b"", "the body is empty; a stream without alt=sse is a JSON array of GenerateContentResponse"),
        (b'[{"a": 1}', "the JSON array is not complete: the body ends after 1 elements (no closing ])"),
        (b'[{"a": 1},', "the JSON array is not complete: the body ends after 1 elements (no closing ])"),
        (b'[{"a": 1}] x', "the body goes on after the JSON array's closing ]"),
        (b'[{"a": 1} {"b": 2}]', "the JSON array is malformed: '{\"b\": 2}]' after element 0"),
    ])
    def test_problems(self, body, problem):
        assert decode_json_array(body)[1] == problem


# == errors ============================================================================================

def error_body(**fields: Any) -> dict[str, Any]:
    base = {"code": 404, "message": "models/gemini-9 is not found for API version v1beta, or is not supported for "
                                    "generateContent.", "status": "NOT_FOUND"}
    base.update(fields)
    return {"error": {k: v for k, v in base.items() if v is not _DROP}}


_DROP = object()


class TestErrors:
    def test_conforming_envelope(self):
        assert found(exchange(error_body(), status=404)) == []

    def test_envelope_with_details(self):
        body = error_body(code=400, status="INVALID_ARGUMENT", details=[
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}])
        assert found(exchange(body, status=400)) == []

    @pytest.mark.parametrize("field", ["code", "message", "status"])
    def test_missing_field(self, field):
        assert found(exchange(error_body(**{field: _DROP}), status=404)) == [
            (f"$.error.{field}", "required field is missing")]

    def test_status_outside_google_rpc_code(self):
        [(path, message)] = found(exchange(error_body(status="BAD_REQUEST"), status=404))
        assert path == "$.error.status" and message.startswith('"BAD_REQUEST" is not one of ["OK", "CANCELLED"')

    def test_code_must_be_the_http_status(self):
        assert found(exchange(error_body(code=400, status="INVALID_ARGUMENT"), status=404)) == [
            ("$.error.code", "must be the HTTP status code 404, got 400"),
            ("$.error.status", "INVALID_ARGUMENT maps to HTTP 400, but the reply is HTTP 404")]

    def test_status_must_map_to_the_http_status(self):
        assert found(exchange(error_body(code=500, status="NOT_FOUND"), status=500)) == [
            ("$.error.status", "NOT_FOUND maps to HTTP 404, but the reply is HTTP 500")]

    def test_openai_style_envelope(self):
        body = {"error": {"message": "Invalid model name", "type": "invalid_request_error", "param": None,
                          "code": "400"}}
        assert found(exchange(body, status=400)) == [("$.error.code", "expected integer, got string"),
                                                     ("$.error.status", "required field is missing")]

    def test_error_reply_that_is_not_json(self):
        [(path, message)] = found(exchange("Bad Gateway", status=502))
        assert path == "$" and message.startswith("error reply body is not JSON")

    def test_error_on_a_stream_request_is_judged_as_an_error(self):
        assert found(exchange(error_body(), status=404, url=SSE_URL)) == []

    def test_error_summary(self):
        assert FAM.summary(exchange(error_body(), status=404)) == {"status": 404, "error": error_body()["error"]}


# == the project's LiteLLM cassettes ===================================================================

TARGET = "litellm-local"
CASSETTES = ROOT / "cassettes" / TARGET / "gemini"
CASES = ROOT / "cases" / "gemini"

ZERO_USAGE = [("summary.usage.promptTokenCount", "expected at least 1, got 0"),
              ("summary.usage.candidatesTokenCount", "expected at least 1, got 0"),
              ("summary.usage.totalTokenCount", "expected at least 2, got 0")]
LITELLM_ENVELOPE = [("$.error.code", "expected integer, got string"), ("$.error.status", "required field is missing")]

# What judge() finds in each recorded exchange: LiteLLM 1.106.2's deviations from the Gemini API.
LITELLM: dict[str, list[tuple[str, str]]] = {
    "text/basic--smollm2-135m": [],
    "text/max-output-tokens--smollm2-135m": [],
    "system/system-instruction--smollm2-135m": [],
    "system/system-instruction-with-role--smollm2-135m": [],
    "multi-turn/two-turns--smollm2-135m": [],
    "multi-turn/system-then-turns--smollm2-135m": [],
    "stream/sse-basic--smollm2-135m": [],
    "stream/sse-max-output-tokens--smollm2-135m": [],
    # The usageMetadata of every LiteLLM stream counts 0 prompt, 0 candidate and 0 total tokens.
    "stream/sse-usage--smollm2-135m": ZERO_USAGE,
    # Without alt=sse LiteLLM still streams server-sent events instead of one JSON array.
    "stream/json-array--smollm2-135m": [
        ("$headers.content-type", "expected application/json, got text/event-stream"),
        ("events", "the reply is server-sent events, but without alt=sse the stream is a JSON array of "
                   "GenerateContentResponse"),
        ("summary.terminated", "expected True, got False")],
    # Errors come in the OpenAI envelope ({message, type, param, code: "400"}), not google.rpc.Status.
    "errors/unknown-model--smollm2-135m": LITELLM_ENVELOPE,  # and HTTP 400 where the API answers 404
    "errors/missing-contents--smollm2-135m": LITELLM_ENVELOPE,
    # A content role other than user/model is accepted (HTTP 200) instead of 400 INVALID_ARGUMENT.
    "errors/invalid-role--smollm2-135m": [("$status", "expected 400, got 200")],
    # The embedding model is sent the generation request and fails upstream: HTTP 500.
    "errors/not-a-generative-model--all-minilm-l6-v2": LITELLM_ENVELOPE + [
        ("$status", "expected at most 404, got 500")],
    # The mock model takes inlineData (png, jpeg, webp, mp3, wav, flac, ogg, mp4, mov) and fileData (an
    # http URL, a YouTube URL) parts, alone or together, and answers with a conforming
    # GenerateContentResponse: nothing to report.
    "audio/file-data-and-inline--mock-multimodal": [],
    "audio/file-data-url--mock-multimodal": [],
    "audio/inline-mp3--mock-multimodal": [],
    "audio/inline-wav-flac-ogg--mock-multimodal": [],
    "image/file-data-url--mock-multimodal": [],
    "image/image-before-text--mock-multimodal": [],
    "image/inline-jpeg-and-webp--mock-multimodal": [],
    "image/inline-png--mock-multimodal": [],
    "video/file-data-and-inline--mock-multimodal": [],
    "video/file-data-url--mock-multimodal": [],
    "video/file-data-youtube--mock-multimodal": [],
    "video/image-audio-video-together--mock-multimodal": [],
    "video/inline-mov--mock-multimodal": [],
    "video/inline-mp4--mock-multimodal": [],
    "media-handling/image-to-any-model--mock-multimodal": [],
    # Unlike its Chat, Responses and Messages routes (HTTP 500 from the backend), LiteLLM's Gemini route
    # gets text-only SmolLM2 to answer (39 prompt tokens: the image is not passed on): a conforming reply
    # that ignores the image, which the case allows.
    "media-handling/image-to-any-model--smollm2-135m": [],
    # thinkingConfig is accepted and ignored (no thought parts, no error): allowed for any model.
    "reasoning-handling/thinking-config-to-any-model--mock-multimodal": [],
    "reasoning-handling/thinking-config-to-any-model--smollm2-135m": [],
}

# The Files API flow (upload, poll, generateContent, delete) records several interactions per cassette;
# tests/test_gemini_files.py replays and judges those. Here: the one-interaction cassettes only.
MULTI_STEP_FEATURES = {"file", "auth", "twins"}  # auth, twins: their verdicts are pinned by the baseline


def cassette_files() -> list[Path]:
    return single(sorted(p for p in CASSETTES.glob("*/*.yaml") if p.parent.name not in MULTI_STEP_FEATURES))


def key_of(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def load_cassette(path: Path) -> Exchange:
    return exchanges.from_cassette(path, FAM.api)


def case_for(path: Path) -> Case:
    case_id = path.stem.split("--", 1)[0]
    return {c.id: c for c in load_file(CASES / f"{path.parent.name}.yaml", ROOT)}[case_id]


def test_every_recorded_exchange_is_listed_and_back():
    assert {key_of(p) for p in cassette_files()} == set(LITELLM)


@pytest.mark.parametrize("path", cassette_files(), ids=key_of)
def test_judge_gives_the_listed_findings(path):
    ex = load_cassette(path)
    findings = [(f.path, f.message) for f in judge(FAM, ex, case_for(path).expect)]
    assert findings == LITELLM[key_of(path)]


@pytest.mark.parametrize("path", cassette_files(), ids=key_of)
def test_cassette_request_is_what_the_case_builds(path):
    # The replayed request must match the recorded one (URL with its query, and body), media references
    # resolved as the runner resolves them.
    ex = load_cassette(path)
    c = media.resolve_case(case_for(path))
    model = path.stem.split("--", 1)[1]
    built = FAM.build_request(c, model, surface())
    assert built.url == ex.request.url
    assert built.json_body == ex.request.json_body


BASELINE_FILE = ROOT / "baselines" / f"{TARGET}.json"
BASELINE = json.loads(BASELINE_FILE.read_text(encoding="utf-8"))["verdicts"] if BASELINE_FILE.exists() else {}
GEMINI_BASELINE = {k: v for k, v in BASELINE.items() if k.startswith(f"{TARGET}:gemini/")}


@pytest.mark.skipif(not GEMINI_BASELINE, reason="baselines/litellm-local.json has no gemini verdicts yet")
@pytest.mark.parametrize("path", cassette_files(), ids=key_of)
def test_verdicts_match_the_baseline(path):
    case_id, model = path.stem.split("--", 1)
    verdict = "fail" if LITELLM[key_of(path)] else "pass"
    assert GEMINI_BASELINE[f"{TARGET}:gemini/{path.parent.name}/{case_id}:{model}"] == verdict


# -- the stream rules on real recorded streams, one thing changed at a time ------------------------------

SHARED = "gemini"  # the sub-folder of the recordings (tests/support/recordings.py)
SHARED_ALL = recordings.interactions_of(FAM.api, SHARED)


def shared_exchange(name: str, index: int) -> Exchange:
    return recordings.exchange(SHARED, name, index)


SHARED_STREAMS = [(n, i) for n, i in SHARED_ALL if shared_exchange(n, i).request.stream]
SHARED_ERRORS = [(n, i) for n, i in SHARED_ALL if shared_exchange(n, i).status >= 400]
LITELLM_STREAMS = [p for p in cassette_files() if p.parent.name == "stream" and wants_sse(load_cassette(p).request.url)]


def stream_source(source: str) -> Exchange:
    if source.startswith("litellm:"):
        return load_cassette(CASSETTES / (source.split(":", 1)[1] + ".yaml"))
    name, index = source.split(":", 1)[1].rsplit("#", 1)
    return shared_exchange(name, int(index))


STREAM_SOURCES = ([f"litellm:{key_of(p)}" for p in LITELLM_STREAMS]
                  + [f"shared:{n}#{i}" for n, i in SHARED_STREAMS])


def chunks_of(ex: Exchange) -> list[dict[str, Any]]:
    FAM.decode(ex)
    assert ex.events and all(isinstance(e.json, dict) for e in ex.events)
    return [copy.deepcopy(e.json) for e in ex.events]


def reframed(ex: Exchange, chunks: list[Any], *, as_array: bool | None = None) -> Exchange:
    """The same request and reply headers with a body of `chunks` in the recording's framing (or the
    one asked for): SSE events separated like the original, or a JSON array."""
    as_array = (not wants_sse(ex.request.url)) if as_array is None else as_array
    if as_array:
        body = array(chunks)
    else:
        sep = "\r\n\r\n" if b"\r\n\r\n" in ex.body else "\n\n"
        body = sse(chunks, sep)
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=body.encode("utf-8"))


def as_array_request(ex: Exchange) -> Exchange:
    """The exchange as if it had been asked for without alt=sse (JSON-array framing)."""
    url = ex.request.url.replace("?alt=sse", "").replace("&alt=sse", "")
    request = Request(method=ex.request.method, url=url, headers=ex.request.headers, json_body=ex.request.json_body,
                      stream=True)
    headers = {**ex.headers, "content-type": "application/json"} if ex.headers else {}
    return Exchange(request=request, status=ex.status, headers=headers, body=ex.body)


def contract_set(ex: Exchange) -> set[tuple[str, str]]:
    return {(f.path, f.message) for f in FAM.contract(ex)}


def finish_positions(chunks: list[dict[str, Any]]) -> list[int]:
    return [i for i, c in enumerate(chunks) for cand in c.get("candidates") or []
            if cand.get("finishReason") not in (None, "FINISH_REASON_UNSPECIFIED")]


def candidate_positions(chunks: list[dict[str, Any]]) -> list[int]:
    return [i for i, c in enumerate(chunks) if c.get("candidates")]


def test_there_are_recorded_streams():
    assert LITELLM_STREAMS, "no LiteLLM SSE stream cassettes"


@pytest.mark.parametrize("source", STREAM_SOURCES)
def test_recorded_stream_conforms_and_reframes_exactly(source):
    ex = stream_source(source)
    assert FAM.contract(ex) == []
    chunks = chunks_of(ex)
    again = reframed(ex, chunks)
    assert contract_set(again) == contract_set(ex)
    assert FAM.summary(again) == FAM.summary(ex)
    assert FAM.summary(ex)["terminated"] is True
    assert len(finish_positions(chunks)) == 1


@pytest.mark.parametrize("source", STREAM_SOURCES)
def test_two_finish_reasons_for_one_candidate(source):
    ex = stream_source(source)
    chunks = chunks_of(ex)
    [fin] = finish_positions(chunks)
    chunks.insert(fin + 1, copy.deepcopy(chunks[fin]))  # the finishing chunk, twice
    rule = f"candidate 0 has a second finishReason (first at event {fin})"
    after = FAM.contract(reframed(ex, chunks))
    assert rule not in {m for _, m in contract_set(ex)}
    hits = [f for f in after if f.message == rule]
    assert [(f.path, f.event) for f in hits] == [(f"events[{fin + 1}].candidates[0].finishReason", fin + 1)]


@pytest.mark.parametrize("source", STREAM_SOURCES)
def test_finish_reason_not_on_the_last_chunk(source):
    ex = stream_source(source)
    chunks = chunks_of(ex)
    [fin] = finish_positions(chunks)
    carrying = candidate_positions(chunks)
    if len(carrying) < 2:
        pytest.skip("the candidate is carried by one chunk only")
    first = carrying[0]
    chunks[first]["candidates"][0]["finishReason"] = chunks[fin]["candidates"][0].pop("finishReason")
    after = contract_set(reframed(ex, chunks))
    assert not any("continues after its finishReason" in m for _, m in contract_set(ex))
    assert any(p.startswith("events[") and p.endswith(".candidates[0]")
               and m.startswith(f"candidate 0 continues after its finishReason (event {first})") for p, m in after)
    assert FAM.summary(reframed(ex, chunks))["terminated"] is True  # it did finish, just too early


@pytest.mark.parametrize("source", STREAM_SOURCES)
def test_missing_usage_metadata_on_the_last_chunk(source):
    ex = stream_source(source)
    chunks = chunks_of(ex)
    assert chunks[-1].get("usageMetadata") is not None
    del chunks[-1]["usageMetadata"]
    last = len(chunks) - 1
    rule = (f"events[{last}]", "the last chunk carries no usageMetadata (the usage of the whole request)")
    assert rule not in contract_set(ex)
    assert rule in contract_set(reframed(ex, chunks))


@pytest.mark.parametrize("source", STREAM_SOURCES)
def test_non_json_sse_data(source):
    ex = stream_source(source)
    if not wants_sse(ex.request.url):
        pytest.skip("a JSON-array stream")
    chunks: list[Any] = chunks_of(ex)
    chunks.insert(1, '{"candidates": [{"content": {"parts": [{"text": "cut')
    after = FAM.contract(reframed(ex, chunks))
    hits = [f for f in after if f.message.startswith("data is not JSON")]
    assert [(f.path, f.event) for f in hits] == [("events[1]", 1)]
    assert not any(f.message.startswith("data is not JSON") for f in FAM.contract(ex))


@pytest.mark.parametrize("source", STREAM_SOURCES)
def test_sse_stream_cut_inside_its_last_event(source):
    ex = stream_source(source)
    if not wants_sse(ex.request.url):
        pytest.skip("a JSON-array stream")
    cut = Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=ex.body.rstrip(b"\r\n"))
    rule = ("events", "the stream ends inside an event (no blank line after its last data line), so that event is lost")
    assert rule not in contract_set(ex)
    assert rule in contract_set(cut)
    assert FAM.summary(cut)["terminated"] is False


def json_array_version(source: str) -> Exchange:
    """The recorded stream in JSON-array framing: as recorded, or its SSE chunks asked for and sent as
    the JSON array the API specifies without alt=sse."""
    ex = stream_source(source)
    if not wants_sse(ex.request.url):
        return ex
    return reframed(as_array_request(ex), chunks_of(ex), as_array=True)


@pytest.mark.parametrize("source", STREAM_SOURCES)
def test_truncated_json_array(source):
    ex = json_array_version(source)
    assert FAM.contract(ex) == []
    assert FAM.summary(ex)["terminated"] is True
    body = ex.body.rstrip()
    for cut_at in (len(body) - 1, body.rindex(b"{") + 5):  # no closing bracket; the last element cut
        cut = Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=body[:cut_at])
        messages = [m for p, m in contract_set(cut) if p == "events"]
        assert any(m.startswith("the JSON array is not complete") for m in messages), messages
        assert FAM.summary(cut)["terminated"] is False


# -- real Gemini API / Vertex AI recordings (development set outside the repo) ---------------------------

@recordings.needed(SHARED)
def test_shared_recordings_hold_every_kind_of_exchange():
    kinds = set()
    for name, index in SHARED_ALL:
        ex = shared_exchange(name, index)
        kinds.add("error" if ex.status >= 400 else
                  ("sse" if wants_sse(ex.request.url) else "array") if ex.request.stream else "json")
    assert kinds == {"error", "sse", "array", "json"}


@recordings.needed(SHARED)
@pytest.mark.parametrize("name,index", SHARED_ALL or [("(none)", 0)], ids=lambda v: str(v))
def test_real_replies_pass_the_contract(name, index):
    if name == "(none)":
        recordings.unavailable(f"no generateContent interactions in {recordings.folder(SHARED)}")
    ex = shared_exchange(name, index)
    assert FAM.contract(ex) == []
    if ex.status < 400:
        s = FAM.summary(ex)
        assert s["finish_reason"] is not None or s["block_reason"] is not None
        if ex.request.stream:
            assert s["terminated"] is True


@recordings.needed(SHARED)
@pytest.mark.parametrize("name,index", SHARED_ERRORS or [("(none)", 0)], ids=lambda v: str(v))
def test_bad_error_envelope_status_in_a_real_error(name, index):
    if name == "(none)":
        recordings.unavailable(f"no error interactions in {recordings.folder(SHARED)}")
    ex = shared_exchange(name, index)
    body = json.loads(ex.body)
    for status, expected in (("BAD_REQUEST", '"BAD_REQUEST" is not one of'),
                             ("UNAVAILABLE", f"UNAVAILABLE maps to HTTP 503, but the reply is HTTP {ex.status}")):
        broken = copy.deepcopy(body)
        broken["error"]["status"] = status
        bad = Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=json.dumps(broken).encode())
        assert [(p, m[: len(expected)]) for p, m in found(bad)] == [("$.error.status", expected)]
    broken = copy.deepcopy(body)
    del broken["error"]["status"]
    bad = Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=json.dumps(broken).encode())
    assert found(bad) == [("$.error.status", "required field is missing")]


def test_bad_error_envelope_status_in_a_litellm_error():
    # LiteLLM's envelope has no status; given a google.rpc.Code name the status rule is all that is left.
    ex = load_cassette(CASSETTES / "errors" / "missing-contents--smollm2-135m.yaml")
    body = json.loads(ex.body)
    body["error"].update(code=400, status="NOT_FOUND")
    bad = Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=json.dumps(body).encode())
    assert found(bad) == [("$.error.status", "NOT_FOUND maps to HTTP 404, but the reply is HTTP 400")]
    body["error"]["status"] = "INVALID_ARGUMENT"
    good = Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=json.dumps(body).encode())
    assert found(good) == []
