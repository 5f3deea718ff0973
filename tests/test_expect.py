"""The expectation language of case files (conformance/expect.py): match() and check_spec()."""
from __future__ import annotations

import pytest

from conformance.load.expect import Mismatch, SpecError, check_spec, match, type_name


def paths(spec, value) -> list[str]:
    return [m.path for m in match(spec, value)]


def messages(spec, value) -> list[str]:
    return [m.message for m in match(spec, value)]


# --- scalars -------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec,value", [("stop", "stop"), (3, 3), (3, 3.0), (True, True), (None, None)])
def test_scalar_spec_matches_equal_value(spec, value):
    assert match(spec, value) == []


def test_scalar_spec_reports_expected_and_actual():
    assert match("stop", "length") == [Mismatch("$", "expected 'stop', got 'length'")]


@pytest.mark.parametrize("spec,value", [(1, True), (0, False), (True, 1), (False, 0)])
def test_scalar_bool_never_equals_a_number(spec, value):
    assert len(match(spec, value)) == 1


def test_long_actual_values_are_shortened_in_messages():
    [m] = match("x", "y" * 200)
    assert m.message.startswith("expected 'x', got 'yyy")
    assert m.message.endswith("...")
    assert len(m.message) == len("expected 'x', got ") + 80


# --- $type ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value,name", [
    ("a", "str"), (1, "int"), (1.5, "number"), (True, "bool"), ([], "list"), ({}, "object"), (None, "null"),
])
def test_type_name(value, name):
    assert type_name(value) == name


@pytest.mark.parametrize("name,value", [
    ("str", ""), ("int", 0), ("number", 2.5), ("number", 2), ("bool", False),
    ("list", [1]), ("object", {"a": 1}), ("null", None),
])
def test_type_accepts(name, value):
    assert match({"$type": name}, value) == []


@pytest.mark.parametrize("name,value,actual", [
    ("int", 2.0, "number"), ("int", True, "bool"), ("number", True, "bool"), ("number", "1", "str"),
    ("str", None, "null"), ("list", {}, "object"), ("object", [], "list"), ("bool", 0, "int"),
])
def test_type_rejects(name, value, actual):
    assert match({"$type": name}, value) == [Mismatch("$", f"expected type {name}, got {actual}")]


def test_type_list_accepts_any_of_the_names():
    assert match({"$type": ["str", "null"]}, None) == []
    assert match({"$type": ["str", "null"]}, "x") == []
    assert messages({"$type": ["str", "null"]}, 1) == ["expected type str or null, got int"]


# --- $eq and $enum -------------------------------------------------------------------------------


def test_eq():
    assert match({"$eq": "stop"}, "stop") == []
    assert match({"$eq": {"a": [1]}}, {"a": [1]}) == []
    assert messages({"$eq": "stop"}, "length") == ["expected 'stop', got 'length'"]


def test_eq_compares_whole_objects_not_partially():
    # Unlike a plain mapping spec, $eq is exact equality: an extra field is a difference.
    assert messages({"$eq": {"a": 1}}, {"a": 1, "b": 2}) == ["expected {'a': 1}, got {'a': 1, 'b': 2}"]


def test_eq_keeps_bools_and_numbers_apart():
    assert messages({"$eq": 1}, True) == ["expected 1, got True"]
    assert match({"$eq": 1}, 1.0) == []


def test_enum():
    assert match({"$enum": ["stop", "length"]}, "length") == []
    assert messages({"$enum": ["stop", "length"]}, "tool_calls") == [
        "expected one of ['stop', 'length'], got 'tool_calls'"]


def test_enum_keeps_bools_and_numbers_apart():
    assert messages({"$enum": [0, 1]}, False) == ["expected one of [0, 1], got False"]


# --- $regex --------------------------------------------------------------------------------------


def test_regex_searches_anywhere_in_the_string():
    assert match({"$regex": "chat"}, "chatcmpl-123") == []
    assert match({"$regex": "cmpl-[0-9]+"}, "chatcmpl-123") == []


def test_regex_anchors_are_honoured():
    assert messages({"$regex": "^cmpl"}, "chatcmpl") == ["expected a string matching /^cmpl/, got 'chatcmpl'"]


def test_regex_on_non_string_is_a_mismatch_not_an_error():
    assert messages({"$regex": "1"}, 1) == ["expected a string matching /1/, got 1"]


# --- $nonempty -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", [], {}, None])
def test_nonempty_true_rejects_empty_values(value):
    assert messages({"$nonempty": True}, value) == [f"expected non-empty, got {value!r}"]


@pytest.mark.parametrize("value", ["a", [0], {"a": None}, 0, False])
def test_nonempty_true_accepts_non_empty_values(value):
    # 0 and False are values, not emptiness.
    assert match({"$nonempty": True}, value) == []


@pytest.mark.parametrize("value", ["", [], {}, None])
def test_nonempty_false_accepts_empty_values(value):
    assert match({"$nonempty": False}, value) == []


def test_nonempty_false_rejects_non_empty_values():
    assert messages({"$nonempty": False}, "x") == ["expected empty, got 'x'"]
    assert messages({"$nonempty": False}, [1]) == ["expected empty, got [1]"]


# --- $min / $max / $len --------------------------------------------------------------------------


def test_min_max_on_numbers_are_inclusive():
    spec = {"$min": 1, "$max": 5}
    assert match(spec, 1) == []
    assert match(spec, 5) == []
    assert match(spec, 2.5) == []
    assert messages(spec, 0) == ["expected at least 1, got 0"]
    assert messages(spec, 6) == ["expected at most 5, got 6"]


def test_min_max_on_strings_and_lists_measure_length():
    assert match({"$min": 2}, "ab") == []
    assert messages({"$min": 2}, "a") == ["expected at least 2, got 1"]
    assert messages({"$max": 1}, [1, 2]) == ["expected at most 1, got 2"]
    assert match({"$max": 1}, []) == []


def test_min_on_a_numeric_string_measures_its_length_not_its_value():
    assert match({"$min": 3}, "100") == []
    assert messages({"$min": 4}, "100") == ["expected at least 4, got 3"]


def test_len():
    assert match({"$len": 2}, [1, 2]) == []
    assert match({"$len": 0}, "") == []
    assert messages({"$len": 1}, [1, 2]) == ["expected length 1, got 2"]
    assert messages({"$len": 3}, "ab") == ["expected length 3, got 2"]


@pytest.mark.parametrize("op", ["$min", "$max"])
@pytest.mark.parametrize("value,actual", [(None, "null"), (True, "bool")])
def test_size_operators_on_unmeasurable_values(op, value, actual):
    assert messages({op: 1}, value) == [f"{op} needs a number, string or list, got {actual}"]


@pytest.mark.parametrize("value,actual", [(None, "null"), (True, "bool"), (3, "int")])
def test_len_needs_something_with_a_length(value, actual):
    assert messages({"$len": 3}, value) == [f"$len needs a string, list or object, got {actual}"]


# --- $each / $any --------------------------------------------------------------------------------


def test_each_checks_every_item_and_reports_each_failing_index():
    spec = {"$each": {"role": "assistant"}}
    assert match(spec, [{"role": "assistant"}, {"role": "assistant", "x": 1}]) == []
    assert match(spec, [{"role": "assistant"}, {"role": "user"}, {}]) == [
        Mismatch("$[1].role", "expected 'assistant', got 'user'"),
        Mismatch("$[2].role", "missing (expected 'assistant')"),
    ]


def test_each_holds_for_an_empty_list():
    assert match({"$each": {"$type": "int"}}, []) == []


def test_each_and_any_need_a_list():
    assert messages({"$each": 1}, {"a": 1}) == ["expected a list, got object"]
    assert messages({"$any": 1}, "abc") == ["expected a list, got str"]


def test_any_needs_at_least_one_matching_item():
    spec = {"$any": {"type": "text"}}
    assert match(spec, [{"type": "image"}, {"type": "text", "text": "hi"}]) == []
    assert messages(spec, [{"type": "image"}]) == ["no item matches {'type': 'text'}"]
    assert messages(spec, []) == ["no item matches {'type': 'text'}"]


# --- $optional / $absent -------------------------------------------------------------------------


def test_missing_field_is_reported_with_its_path():
    assert match({"usage": {"total_tokens": 1}}, {"usage": {}}) == [
        Mismatch("$.usage.total_tokens", "missing (expected 1)")]
    assert match({"usage": {"$type": "object"}}, {}) == [Mismatch("$.usage", "missing")]
    assert match({"choices": [1]}, {}) == [Mismatch("$.choices", "missing")]


def test_optional_field_may_be_missing_but_is_checked_when_present():
    spec = {"logprobs": {"$optional": True, "$type": "object"}}
    assert match(spec, {}) == []
    assert match(spec, {"logprobs": {}}) == []
    assert match(spec, {"logprobs": "x"}) == [Mismatch("$.logprobs", "expected type object, got str")]


def test_optional_false_still_requires_the_field():
    assert match({"a": {"$optional": False}}, {}) == [Mismatch("$.a", "missing")]


def test_optional_present_null_is_not_missing():
    assert match({"a": {"$optional": True, "$type": "str"}}, {"a": None}) == [
        Mismatch("$.a", "expected type str, got null")]


def test_absent():
    assert match({"error": {"$absent": True}}, {"id": 1}) == []
    assert match({"error": {"$absent": True}}, {"error": None}) == [
        Mismatch("$.error", "expected absent, got None")]


def test_absent_skips_the_other_operators():
    assert match({"a": {"$absent": True, "$type": "str"}}, {"a": 1}) == [
        Mismatch("$.a", "expected absent, got 1")]


# --- $not / $one_of ------------------------------------------------------------------------------


def test_not():
    assert match({"$not": {"$type": "str"}}, 1) == []
    assert match({"$not": "stop"}, "stop") == [Mismatch("$", "expected not to match 'stop'")]


def test_not_is_evaluated_at_the_field_path():
    assert match({"a": {"$not": {"$regex": "^x"}}}, {"a": "xy"}) == [
        Mismatch("$.a", "expected not to match {'$regex': '^x'}")]


def test_one_of():
    spec = {"$one_of": [{"$type": "str"}, {"$type": "list", "$len": 1}]}
    assert match(spec, "text") == []
    assert match(spec, [{"type": "text"}]) == []
    assert match(spec, [1, 2]) == [Mismatch("$", "matches none of the alternatives, got [1, 2]")]


def test_one_of_passes_when_several_alternatives_match():
    assert match({"$one_of": [{"$type": "int"}, {"$type": "number"}]}, 1) == []


def test_several_operators_all_must_hold_and_each_failure_is_reported():
    assert messages({"$type": "str", "$min": 3, "$regex": "^a"}, "bc") == [
        "expected at least 3, got 2", "expected a string matching /^a/, got 'bc'"]


# --- partial matching of objects and lists -------------------------------------------------------


def test_extra_fields_are_ignored():
    body = {"id": "x", "object": "chat.completion", "choices": [], "system_fingerprint": "fp"}
    assert match({"object": "chat.completion"}, body) == []


def test_nested_mismatch_paths():
    spec = {"choices": {"$each": {"message": {"role": "assistant", "content": {"$type": "str"}}}}}
    value = {"choices": [{"message": {"role": "assistant", "content": "hi"}},
                         {"message": {"role": "tool", "content": None}}]}
    assert match(spec, value) == [
        Mismatch("$.choices[1].message.role", "expected 'assistant', got 'tool'"),
        Mismatch("$.choices[1].message.content", "expected type str, got null"),
    ]


def test_field_names_that_are_not_identifiers_are_bracketed():
    assert paths({"x-request-id": {"$type": "str"}}, {}) == ["$['x-request-id']"]
    assert paths({"a": {"2nd": 1}}, {"a": {}}) == ["$.a['2nd']"]


def test_field_spec_against_a_non_object():
    assert match({"role": "assistant"}, ["assistant"]) == [Mismatch("$", "expected an object, got list")]
    assert match({"a": {"b": 1}}, {"a": None}) == [Mismatch("$.a", "expected an object, got null")]


def test_operators_and_fields_in_one_mapping():
    spec = {"$type": "object", "role": "assistant"}
    assert match(spec, {"role": "assistant"}) == []
    assert match(spec, {"role": "user"}) == [Mismatch("$.role", "expected 'assistant', got 'user'")]


def test_list_matches_item_by_item():
    spec = [{"role": "system"}, {"role": "user", "content": {"$nonempty": True}}]
    value = [{"role": "system", "content": "s"}, {"role": "user", "content": ""}]
    assert match(spec, value) == [Mismatch("$[1].content", "expected non-empty, got ''")]


def test_list_length_must_be_equal():
    assert match([1, 2], [1, 2, 3]) == [Mismatch("$", "expected 2 items, got 3")]
    assert match([1, 2], [1]) == [Mismatch("$", "expected 2 items, got 1")]
    assert match([], []) == []


def test_list_spec_against_a_non_list():
    assert match([1], {"0": 1}) == [Mismatch("$", "expected a list, got object")]


def test_every_failure_is_reported_not_only_the_first():
    spec = {"a": 1, "b": {"$type": "str"}, "c": [1]}
    assert paths(spec, {"a": 2, "b": 3}) == ["$.a", "$.b", "$.c"]


def test_custom_root_path():
    assert match({"a": 1}, {}, path="body") == [Mismatch("body.a", "missing (expected 1)")]


# --- check_spec ----------------------------------------------------------------------------------


VALID_SPECS = [
    {"$type": "str"}, {"$type": ["int", "null"]}, {"$eq": None}, {"$enum": [1]}, {"$regex": "^a+$"},
    {"$nonempty": False}, {"$min": 0, "$max": 1.5, "$len": 2}, {"$each": {"a": {"$type": "int"}}},
    {"$any": 1}, {"$optional": True}, {"$absent": False}, {"$not": {"$type": "null"}},
    {"$one_of": [1, {"$type": "str"}]}, {"a": [{"b": {"$min": 1}}]}, "plain", 3, None, [1, {"$len": 0}],
]


@pytest.mark.parametrize("spec", VALID_SPECS)
def test_check_spec_accepts_valid_specs(spec):
    check_spec(spec)


def spec_error(spec) -> SpecError:
    with pytest.raises(SpecError) as info:
        check_spec(spec)
    return info.value


def test_unknown_operator_is_named_with_its_path():
    err = spec_error({"choices": {"$each": {"message": {"$tpye": "str"}}}})
    assert err.path == ("choices", "$each", "message", "$tpye")
    assert str(err).startswith("unknown operator $tpye (known: $absent, $any, $each, $enum, $eq, $len, $max,")


def test_path_inside_lists_uses_indexes():
    assert spec_error([{"a": 1}, {"b": {"$foo": 1}}]).path == (1, "b", "$foo")
    assert spec_error({"$one_of": [{"$type": "str"}, {"$bar": 1}]}).path == ("$one_of", 1, "$bar")


@pytest.mark.parametrize("op", ["$each", "$any", "$not"])
def test_nested_operands_are_checked(op):
    assert spec_error({op: {"x": {"$nope": 1}}}).path == (op, "x", "$nope")


def test_unknown_type_name():
    err = spec_error({"$type": "string"})
    assert err.path == ("$type",)
    assert str(err) == "unknown type 'string' (known: bool, int, list, null, number, object, str)"
    assert spec_error({"a": {"$type": ["str", "float"]}}).path == ("a", "$type")
    assert str(spec_error({"$type": ["str", "float"]})).startswith("unknown type 'float'")


@pytest.mark.parametrize("op", ["$min", "$max", "$len"])
@pytest.mark.parametrize("operand", ["3", True, None, [1]])
def test_size_operators_take_a_number(op, operand):
    err = spec_error({"a": {op: operand}})
    assert err.path == ("a", op)
    assert str(err) == f"{op} takes a number"


def test_invalid_regex():
    err = spec_error({"id": {"$regex": "chatcmpl-("}})
    assert err.path == ("id", "$regex")
    assert str(err).startswith("invalid regex: missing ), unterminated subpattern")
    assert str(spec_error({"$regex": 5})).startswith("invalid regex: ")


@pytest.mark.parametrize("op", ["$enum", "$one_of"])
@pytest.mark.parametrize("operand", [[], "stop", None, {"a": 1}])
def test_enum_and_one_of_take_a_non_empty_list(op, operand):
    err = spec_error({op: operand})
    assert err.path == (op,)
    assert str(err) == f"{op} takes a non-empty list"


@pytest.mark.parametrize("op", ["$nonempty", "$optional", "$absent"])
@pytest.mark.parametrize("operand", [1, "true", None])
def test_flags_take_true_or_false(op, operand):
    err = spec_error({"x": {op: operand}})
    assert err.path == ("x", op)
    assert str(err) == f"{op} takes true or false"


def test_spec_error_is_a_value_error():
    assert isinstance(spec_error({"$foo": 1}), ValueError)


def test_type_given_a_mapping_is_a_spec_error():
    assert spec_error({"a": {"$type": {"name": "str"}}}).path == ("a", "$type")


def test_type_given_an_empty_list_is_a_spec_error():
    assert spec_error({"$type": []}).path == ("$type",)


@pytest.mark.parametrize("key,named", [(0, "int 0"), (True, "bool True"), (None, "null None"), (1.5, "number 1.5")])
def test_non_string_field_names_are_rejected(key, named):
    # YAML reads `0:` as the integer 0, but the field names of a JSON body are strings: a spec keyed so
    # would never look at the field it means ("0"). check_spec refuses it, at its path, saying the fix.
    err = spec_error({"logprobs": {key: {"token": "a"}}})
    assert err.path == ("logprobs", key)
    assert str(err) == f"field names must be strings, got {named} (quote it)"
