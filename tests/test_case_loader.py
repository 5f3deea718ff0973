"""Case files (conformance/load/cases.py): loading, merged requires, and errors that name file:line:field."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from conformance import apis
from conformance.load import cases
from conformance.load.cases import Case, CaseFileError
from conformance.load.yamlsource import SourceError

REPO = Path(__file__).resolve().parents[1]

VALID = """\
api: openai-chat
feature: vision
description: Images in user messages.
requires: [chat, vision]
cases:
  - id: url-image
    description: An image given by URL.
    request:
      messages: [{role: user, content: "What is this?"}]
      max_tokens: 8
    expect:
      status: 200
      body: {choices: {$len: 1}}

  - id: streamed-image
    requires: [stream, vision]
    stream: true
    request: {messages: []}
    expect:
      summary: {text: {$type: str, $nonempty: true}}

  - id: bad-model
    model: no-such-model
    request: {messages: []}
    expect: {error: true, status: {$min: 400, $max: 499}}
"""

# One small case whose lines are known: api 1, feature 2, cases 3, id 4, request 5, expect 6, status 7.
SMALL = """\
api: openai-chat
feature: text
cases:
  - id: one
    request: {messages: []}
    expect:
      status: 200
"""


def write(root: Path, api: str, feature: str, text: str | bytes, ext: str = "yaml") -> Path:
    path = root / "cases" / api / f"{feature}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(root: Path, text: str | bytes, api: str = "openai-chat", feature: str = "text") -> SourceError:
    path = write(root, api, feature, text)
    with pytest.raises(SourceError) as info:
        cases.load_file(path, root)
    return info.value


# --- a valid file --------------------------------------------------------------------------------


def test_valid_file_loads_every_case(tmp_path):
    loaded = cases.load_file(write(tmp_path, "openai-chat", "vision", VALID), tmp_path)
    assert [c.id for c in loaded] == ["url-image", "streamed-image", "bad-model"]
    first = loaded[0]
    assert first == Case(
        api="openai-chat", feature="vision", id="url-image",
        request={"messages": [{"role": "user", "content": "What is this?"}], "max_tokens": 8},
        expect={"status": 200, "body": {"choices": {"$len": 1}}},
        requires=("chat", "vision"), description="An image given by URL.",
        model=None, stream=None, source="cases/openai-chat/vision.yaml:6",
    )
    assert first.key == "openai-chat/vision/url-image"


def test_case_requires_are_merged_after_the_file_requires_without_duplicates(tmp_path):
    loaded = cases.load_file(write(tmp_path, "openai-chat", "vision", VALID), tmp_path)
    assert loaded[1].requires == ("chat", "vision", "stream")
    assert loaded[2].requires == ("chat", "vision")


def test_requires_default_to_empty(tmp_path):
    [case] = cases.load_file(write(tmp_path, "openai-chat", "text", SMALL), tmp_path)
    assert case.requires == ()
    assert case.description == ""


def test_optional_case_fields(tmp_path):
    _, streamed, bad_model = cases.load_file(write(tmp_path, "openai-chat", "vision", VALID), tmp_path)
    assert streamed.stream is True and streamed.model is None
    assert streamed.source == "cases/openai-chat/vision.yaml:15"
    assert bad_model.model == "no-such-model" and bad_model.stream is None
    assert bad_model.expect == {"error": True, "status": {"$min": 400, "$max": 499}}


def test_negative_options_and_headers(tmp_path):
    text = SMALL.replace("    request:", "    negative: true\n    options: {alt: sse}\n"
                                       "    headers: {X-Trace: abc}\n    request:")
    [case] = cases.load_file(write(tmp_path, "openai-chat", "text", text), tmp_path)
    assert (case.negative, case.options, case.headers) == (True, {"alt": "sse"}, {"X-Trace": "abc"})
    [plain] = cases.load_file(write(tmp_path, "openai-chat", "text", SMALL), tmp_path)
    assert (plain.negative, plain.options, plain.headers) == (False, {}, {})


def test_case_headers_must_be_strings(tmp_path):
    err = load_error(tmp_path, SMALL.replace("    request:", "    headers: {X-Retries: 3}\n    request:"))
    assert str(err) == "cases/openai-chat/text.yaml:5: cases[0].headers.X-Retries: 3 is not of type 'string'"


def test_sub_feature_file_name(tmp_path):
    path = write(tmp_path, "openai-chat", "vision.inline", SMALL.replace("feature: text", "feature: vision.inline"))
    [case] = cases.load_file(path, tmp_path)
    assert case.key == "openai-chat/vision.inline/one"


def test_shown_path_is_relative_to_the_current_folder_by_default(tmp_path, monkeypatch):
    path = write(tmp_path, "openai-chat", "text", SMALL)
    monkeypatch.chdir(tmp_path)
    [case] = cases.load_file(path)
    assert case.source == "cases/openai-chat/text.yaml:4"


def test_shown_path_outside_the_root_stays_as_given(tmp_path):
    path = write(tmp_path, "openai-chat", "text", SMALL)
    [case] = cases.load_file(path, tmp_path / "elsewhere")
    assert case.source == f"{path}:4"


def test_shipped_example_cases_load():
    loaded = cases.load_dir(REPO / "cases", REPO)
    assert loaded.errors == []
    keys = {c.key for c in loaded.cases}
    assert {"openai-chat/text/plain-text", "openai-chat/errors/unknown-model",
            "openai-chat/multi-turn/system-then-turns"} <= keys
    turns = next(c for c in loaded.cases if c.key == "openai-chat/multi-turn/system-then-turns")
    assert turns.requires == ("chat", "system")


# --- schema errors: file, 1-based line, field path -----------------------------------------------


def test_unknown_field(tmp_path):
    err = load_error(tmp_path, SMALL + "    colour: red\n")
    assert (err.file, err.line, err.field) == ("cases/openai-chat/text.yaml", 8, "cases[0].colour")
    assert str(err).startswith("cases/openai-chat/text.yaml:8: cases[0].colour: unknown field (allowed: id, ")
    allowed = err.message.removeprefix("unknown field (allowed: ").removesuffix(")").split(", ")
    assert {"id", "description", "requires", "model", "stream", "request", "expect"} <= set(allowed)


def test_unknown_top_level_field(tmp_path):
    err = load_error(tmp_path, SMALL.replace("cases:\n", "tags: [a]\ncases:\n"))
    assert str(err) == ("cases/openai-chat/text.yaml:3: tags: "
                        "unknown field (allowed: api, feature, description, requires, cases)")


def test_misspelt_field_suggests_the_close_name(tmp_path):
    err = load_error(tmp_path, SMALL.replace("status: 200", "status: 200\n      bodyy: {}"))
    assert str(err) == "cases/openai-chat/text.yaml:8: cases[0].expect.bodyy: unknown field (did you mean 'body'?)"


def test_misspelt_required_field_is_reported_as_the_misspelling(tmp_path):
    # `reqest` also leaves `request` missing; the unknown key is the more useful report.
    err = load_error(tmp_path, SMALL.replace("request:", "reqest:"))
    assert str(err) == "cases/openai-chat/text.yaml:5: cases[0].reqest: unknown field (did you mean 'request'?)"


def test_wrong_type(tmp_path):
    err = load_error(tmp_path, SMALL.replace("request: {messages: []}", "request: 5"))
    assert str(err) == "cases/openai-chat/text.yaml:5: cases[0].request: 5 is not of type 'object'"


def test_wrong_type_of_flag(tmp_path):
    err = load_error(tmp_path, SMALL.replace("status: 200", "error: maybe"))
    assert str(err) == "cases/openai-chat/text.yaml:7: cases[0].expect.error: 'maybe' is not of type 'boolean'"


def test_missing_required_field_points_at_the_case(tmp_path):
    err = load_error(tmp_path, SMALL.replace("    request: {messages: []}\n", ""))
    assert str(err) == "cases/openai-chat/text.yaml:4: cases[0]: 'request' is required"


def test_missing_required_top_level_field(tmp_path):
    err = load_error(tmp_path, SMALL.replace("feature: text\n", ""))
    assert str(err) == "cases/openai-chat/text.yaml:1: (top level): 'feature' is required"


def test_bad_case_id_pattern(tmp_path):
    err = load_error(tmp_path, SMALL.replace("id: one", "id: Bad_ID"))
    assert str(err) == "cases/openai-chat/text.yaml:4: cases[0].id: 'Bad_ID' does not match '^[a-z0-9][a-z0-9-]*$'"


def test_bad_capability_pattern_in_a_later_case(tmp_path):
    text = SMALL + "  - id: two\n    requires: [chat, Vision]\n    request: {}\n    expect: {}\n"
    err = load_error(tmp_path, text)
    assert (err.line, err.field) == (9, "cases[1].requires[1]")
    assert err.message == "'Vision' does not match '^[a-z][a-z0-9.-]*$'"


def test_unknown_api(tmp_path):
    err = load_error(tmp_path, SMALL.replace("api: openai-chat", "api: openai-chatt"))
    assert (err.line, err.field) == (1, "api")
    # The known API identifiers, sorted: the registry's, which the shipped families are among.
    assert err.message == f"'openai-chatt' is not one of {list(apis.api_ids())}"
    known = ast.literal_eval(err.message.removeprefix("'openai-chatt' is not one of "))
    assert known == sorted(known) and {"openai-chat", "openai-responses", "anthropic-messages", "gemini"} <= set(known)


def test_empty_cases_list(tmp_path):
    err = load_error(tmp_path, "api: openai-chat\nfeature: text\ncases: []\n")
    assert (err.line, err.field) == (3, "cases")
    assert "non-empty" in err.message


def test_most_specific_error_wins(tmp_path):
    # Both a top-level and a deeply nested problem: the deeper field is reported.
    text = SMALL.replace("feature: text\n", "feature: text\nextra: 1\n").replace("status: 200", "error: 1")
    err = load_error(tmp_path, text)
    assert (err.line, err.field) == (8, "cases[0].expect.error")


def test_empty_file(tmp_path):
    err = load_error(tmp_path, "")
    assert str(err) == "cases/openai-chat/text.yaml: (top level): None is not of type 'object'"
    assert err.line is None


def test_top_level_list(tmp_path):
    err = load_error(tmp_path, "- id: one\n")
    assert str(err) == "cases/openai-chat/text.yaml:1: (top level): [{'id': 'one'}] is not of type 'object'"


# --- syntax and encoding -------------------------------------------------------------------------


def test_invalid_yaml_names_its_line(tmp_path):
    err = load_error(tmp_path, SMALL.replace("request: {messages: []}", "request: {messages: [1, 2}"))
    assert (err.file, err.line, err.field) == ("cases/openai-chat/text.yaml", 5, None)
    assert str(err).startswith("cases/openai-chat/text.yaml:5: invalid YAML: ")


def test_tab_indentation_names_its_line(tmp_path):
    err = load_error(tmp_path, SMALL.replace("    expect:", "\texpect:"))
    assert err.line == 6
    assert err.message.startswith("invalid YAML: ")


def test_not_utf8(tmp_path):
    data = SMALL.encode() + b"    description: caf\xe9 au lait\n"
    err = load_error(tmp_path, data)
    offset = data.index(b"\xe9")
    assert str(err) == f"cases/openai-chat/text.yaml: not UTF-8 text (invalid continuation byte at byte {offset})"
    assert err.line is None and err.field is None


# --- checks beyond the schema --------------------------------------------------------------------


def test_api_must_match_the_folder(tmp_path):
    err = load_error(tmp_path, SMALL.replace("api: openai-chat", "api: gemini"))
    assert str(err) == ("cases/openai-chat/text.yaml:1: api: 'gemini' does not match the folder "
                        "'openai-chat' (cases/<api>/<feature>.yaml)")


def test_feature_must_match_the_file_name(tmp_path):
    err = load_error(tmp_path, SMALL, feature="chat")
    assert str(err) == ("cases/openai-chat/chat.yaml:2: feature: 'text' does not match the file name "
                        "'chat' (cases/<api>/<feature>.yaml)")


def test_duplicate_case_id_names_both_lines(tmp_path):
    text = SMALL + "  - id: two\n    request: {}\n    expect: {}\n" + SMALL[SMALL.index("  - id"):]
    err = load_error(tmp_path, text)
    assert str(err) == "cases/openai-chat/text.yaml:11: cases[2].id: duplicate case id 'one' (first at line 4)"


def test_unknown_operator_in_expect_body_names_its_line(tmp_path):
    text = SMALL + ("      body:\n"                   # line 8
                    "        object: chat.completion\n"
                    "        choices:\n"
                    "          $each:\n"
                    "            message:\n"
                    "              $tpye: str\n")     # line 13
    err = load_error(tmp_path, text)
    assert err.line == 13
    assert err.field == "cases[0].expect.body.choices.$each.message.$tpye"
    assert err.message.startswith("unknown operator $tpye (known: $absent, $any, $each,")
    assert str(err).startswith("cases/openai-chat/text.yaml:13: cases[0].expect.body.choices.$each.message.$tpye: ")


def test_bad_operand_in_a_later_case_summary(tmp_path):
    text = SMALL + ("  - id: two\n"
                    "    request: {}\n"
                    "    expect:\n"
                    "      summary:\n"
                    "        finish_reason: {$enum: stop}\n")
    err = load_error(tmp_path, text)
    assert str(err) == ("cases/openai-chat/text.yaml:12: cases[1].expect.summary.finish_reason.$enum: "
                        "$enum takes a non-empty list")


def test_bad_operand_in_status(tmp_path):
    err = load_error(tmp_path, SMALL.replace("status: 200", "status: {$min: '400'}"))
    assert str(err) == "cases/openai-chat/text.yaml:7: cases[0].expect.status.$min: $min takes a number"


def test_unknown_operator_inside_one_of_list(tmp_path):
    text = SMALL.replace("status: 200", "body:\n        content:\n          $one_of:\n"
                                        "            - {$type: str}\n            - {$tpye: list}")
    err = load_error(tmp_path, text)
    assert (err.line, err.field) == (11, "cases[0].expect.body.content.$one_of[1].$tpye")


def test_operators_outside_body_summary_status_are_not_checked(tmp_path):
    # request is sent as written: a `$` key there is the API's business, not an expectation.
    [case] = cases.load_file(write(tmp_path, "openai-chat", "text",
                                   SMALL.replace("{messages: []}", "{messages: [], $foo: 1}")), tmp_path)
    assert case.request == {"messages": [], "$foo": 1}


def test_type_given_a_mapping_is_a_source_error(tmp_path):
    err = load_error(tmp_path, SMALL.replace("status: 200", "body: {id: {$type: {name: str}}}"))
    assert (err.line, err.field) == (7, "cases[0].expect.body.id.$type")


# --- load_dir ------------------------------------------------------------------------------------


def test_load_dir_keeps_loading_after_a_bad_file(tmp_path):
    write(tmp_path, "openai-chat", "a-first", SMALL.replace("feature: text", "feature: a-first"))
    bad = write(tmp_path, "openai-chat", "broken", SMALL.replace("feature: text", "feature: broken")
                .replace("id: one", "id: One"))
    write(tmp_path, "openai-chat", "text", SMALL)
    write(tmp_path, "gemini", "text", SMALL.replace("api: openai-chat", "api: gemini"))
    result = cases.load_dir(tmp_path / "cases", tmp_path)
    assert [c.key for c in result.cases] == ["gemini/text/one", "openai-chat/a-first/one", "openai-chat/text/one"]
    [error] = result.errors
    assert isinstance(error, CaseFileError)
    assert (error.path, error.api, error.feature) == (bad, "openai-chat", "broken")
    assert error.key == "openai-chat/broken/(file)"
    assert str(error.error) == ("cases/openai-chat/broken.yaml:4: cases[0].id: "
                                "'One' does not match '^[a-z0-9][a-z0-9-]*$'")


def test_load_dir_records_every_bad_file(tmp_path):
    write(tmp_path, "openai-chat", "one", "api: [\n")
    write(tmp_path, "openai-chat", "two", b"\xff\xfe")
    result = cases.load_dir(tmp_path / "cases", tmp_path)
    assert result.cases == []
    assert [(e.feature, e.error.line) for e in result.errors] == [("one", 2), ("two", None)]


def test_load_dir_reads_yml_too_and_ignores_other_places(tmp_path):
    write(tmp_path, "openai-chat", "text", SMALL, ext="yml")
    (tmp_path / "cases" / "stray.yaml").write_text(SMALL)
    (tmp_path / "cases" / "openai-chat" / "notes.txt").write_text("not a case file")
    result = cases.load_dir(tmp_path / "cases", tmp_path)
    assert [c.source for c in result.cases] == ["cases/openai-chat/text.yml:4"]
    assert result.errors == []


def test_load_dir_of_a_missing_folder_is_empty(tmp_path):
    result = cases.load_dir(tmp_path / "nowhere", tmp_path)
    assert result.cases == [] and result.errors == []


def test_load_dir_survives_a_type_mapping_in_one_file(tmp_path):
    write(tmp_path, "openai-chat", "text", SMALL)
    write(tmp_path, "openai-chat", "vision", SMALL.replace("feature: text", "feature: vision")
          .replace("status: 200", "body: {$type: {a: 1}}"))
    result = cases.load_dir(tmp_path / "cases", tmp_path)
    assert [c.key for c in result.cases] == ["openai-chat/text/one"]
    assert [e.feature for e in result.errors] == ["vision"]


# -- $repeat in requests ----------------------------------------------------------------------------

def _repeat_file(tmp_path, items: str) -> Path:
    folder = tmp_path / "cases" / "openai-chat"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "image.yaml"
    path.write_text("api: openai-chat\nfeature: image\ncases:\n  - id: many\n    request:\n      messages:\n"
                    "        - role: user\n          content:\n            - {type: text, text: hi}\n"
                    f"            - {items}\n    expect: {{status: 200}}\n")
    return path


def test_a_repeat_stands_for_n_copies_of_its_item(tmp_path):
    from conformance.load.cases import load_file
    [case] = load_file(_repeat_file(tmp_path, "{$repeat: 3, item: {type: image_url, image_url: {url: x}}}"), tmp_path)
    content = case.request["messages"][0]["content"]
    assert content == [{"type": "text", "text": "hi"}] + [{"type": "image_url", "image_url": {"url": "x"}}] * 3
    assert content[1] is not content[2]  # copies, not one object shared by every position


@pytest.mark.parametrize("items", ["{$repeat: -1, item: 1}", "{$repeat: many, item: 1}",
                                   "{$repeat: 2}", "{$repeat: 2, item: 1, extra: 0}", "{$repeat: 10001, item: 1}"])
def test_a_malformed_repeat_names_its_line_and_field(tmp_path, items):
    from conformance.load.cases import load_file
    with pytest.raises(SourceError) as err:
        load_file(_repeat_file(tmp_path, items), tmp_path)
    assert str(err.value).startswith("cases/openai-chat/image.yaml:10: cases[0].request.messages[0].content[1]: ")
    assert "$repeat" in str(err.value)
