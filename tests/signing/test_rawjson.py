import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocnd.signing.rawjson import JsonNumber, dumps, java_number_str, js_number_str, loads, to_plain

JS_CASES = [
    ("0", "0"),
    ("-0", "0"),
    ("-0.0", "0"),
    ("10", "10"),
    ("10.0", "10"),
    ("10.50", "10.5"),
    ("0.10", "0.1"),
    ("1e21", "1e+21"),
    ("1E+21", "1e+21"),
    ("1e20", "100000000000000000000"),
    ("123456789012345678901", "123456789012345680000"),
    ("1.5e21", "1.5e+21"),
    ("0.000001", "0.000001"),
    ("0.0000001", "1e-7"),
    ("1.25e-7", "1.25e-7"),
    ("54.002", "54.002"),
    ("-0.783", "-0.783"),
    ("0.1", "0.1"),
    ("0.30000000000000004", "0.30000000000000004"),
    ("9007199254740993", "9007199254740992"),
    ("12345678901234567890", "12345678901234567000"),
    ("1e-323", "1e-323"),
    ("5e-324", "5e-324"),
    ("1.7976931348623157e308", "1.7976931348623157e+308"),
    ("1e400", "Infinity"),
    ("-1e400", "-Infinity"),
]

JAVA_CASES = [
    ("0", "0"),
    ("-0", "0"),
    ("-0.0", "-0.0"),
    ("10", "10"),
    ("10.0", "10.0"),
    ("10.50", "10.5"),
    ("0.10", "0.1"),
    ("12345678901234567890", "12345678901234567890"),
    ("1e10", "1.0E10"),
    ("1E10", "1.0E10"),
    ("1e7", "1.0E7"),
    ("9999999.0", "9999999.0"),
    ("1234567.125", "1234567.125"),
    ("0.001", "0.001"),
    ("0.0001", "1.0E-4"),
    ("0.00012", "1.2E-4"),
    ("1e-7", "1.0E-7"),
    ("123.456", "123.456"),
    ("-1.25", "-1.25"),
    ("1e21", "1.0E21"),
    ("1.5e21", "1.5E21"),
    ("54.002", "54.002"),
    ("100.0", "100.0"),
    ("5e-324", "4.9E-324"),
    ("1.7976931348623157e308", "1.7976931348623157E308"),
    ("1e400", "Infinity"),
]


@pytest.mark.parametrize("token,expected", JS_CASES)
def test_js_number_str(token, expected):
    assert js_number_str(token) == expected
    assert js_number_str(JsonNumber(token)) == expected


@pytest.mark.parametrize("token,expected", JAVA_CASES)
def test_java_number_str(token, expected):
    assert java_number_str(token) == expected


def test_python_numbers():
    assert js_number_str(10) == "10"
    assert js_number_str(10.0) == "10"
    assert java_number_str(10) == "10"
    assert java_number_str(10.0) == "10.0"
    assert dumps([1, 2.5, 1e21, 1e-7]) == "[1,2.5,1e+21,1e-7]"


@pytest.mark.parametrize(
    "text",
    [
        '{"b":1,"a":[10.0,1e+21,0.10,-0,1E5,{}],"c":{"z":null,"y":true,"x":false},"d":""}',
        '["\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001f","é/€😀\u2028"]',
        '{}',
        '[]',
        '"x"',
        '12.500',
    ],
)
def test_round_trip_examples(text):
    assert dumps(loads(text)) == text
    assert dumps(loads(text.encode("utf-8"))) == text


def test_loads_types_and_order():
    obj = loads('{"z":1,"a":2.50,"m":[null,"s",true]}')
    assert list(obj) == ["z", "a", "m"]
    assert isinstance(obj["z"], JsonNumber) and obj["z"].text == "1"
    assert obj["a"] == 2.5 and obj["a"].text == "2.50" and not obj["a"].is_integer_token
    assert obj["m"] == [None, "s", True]
    assert to_plain(obj) == {"z": 1, "a": 2.5, "m": [None, "s", True]}
    assert [0, 1, 2][obj["z"]] == 1
    assert hash(JsonNumber("10.0")) == hash(10) and JsonNumber("10.0") == JsonNumber("10")


def test_duplicate_keys_like_json_parse():
    assert dumps(loads('{"a":1,"b":2,"a":3}')) == '{"a":3,"b":2}'


@pytest.mark.parametrize("bad", ["NaN", "[Infinity]", "{", "01", "[1,]", b"\xff"])
def test_loads_rejects(bad):
    with pytest.raises(ValueError):
        loads(bad)


def test_escaped_surrogate_pair_rewritten_raw():
    assert dumps(loads('"\\ud83d\\ude00"')) == '"😀"'
    assert dumps(loads('"\\ud83d"')) == '"\\ud83d"'


def test_pretty():
    assert dumps(loads('{"a":[1,{"b":2}]}'), compact=False) == '{\n  "a": [\n    1,\n    {\n      "b": 2\n    }\n  ]\n}'


# Number tokens in many textual spellings, not just what Python would print.
number_tokens = st.builds(
    lambda sign, intpart, frac, exp: sign + intpart + frac + exp,
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,20}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,12}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"[eE][+-]?[0-9]{1,3}", fullmatch=True)),
).map(JsonNumber)

json_values = st.recursive(
    st.none() | st.booleans() | st.text() | number_tokens | st.integers() |
    st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


def _std_compact(obj):
    # A reference encoder for the hypothesis values: the stdlib, compact,
    # non-ASCII raw; JsonNumber tokens spliced in verbatim.
    if isinstance(obj, JsonNumber):
        return obj.text
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _std_compact(v) for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(_std_compact(v) for v in obj) + "]"
    return json.dumps(obj, ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trip_hypothesis(value):
    text = _std_compact(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from st.text(): not valid UTF-8 JSON
        return
    assert dumps(loads(text)) == text
    assert dumps(loads(text.encode("utf-8"))) == text


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_renderers_round_trip_value(x):
    assert float(js_number_str(repr(x))) == x or x == 0
    j = java_number_str(repr(x))
    assert float(j) == x or (x == 0)
    assert "E" in j or "." in j
