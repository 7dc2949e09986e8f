import base64
import copy
import dataclasses
import gzip
import json
import pathlib

import brotli
import pytest

from ocnd.signing import notary as N
from ocnd.signing.rawjson import JsonNumber, loads

V = json.loads((pathlib.Path(__file__).parent / "vectors.json").read_text("utf-8"))
USER, NODE = V["user_private_key"], V["node_private_key"]
OTHER_KEY = "0x" + "11" * 32


def request():
    return loads(json.dumps(V["request"]))


def test_tampered_body_fails():
    notary = N.sign(request(), USER)
    bad = request()
    bad["body"]["location_id"] = "other"
    assert N.verify(notary, bad) == N.VerifyResult(False, "Request has been modified")


def test_unsigned_extra_members_are_ignored():
    notary = N.sign(request(), USER)
    more = request()
    more["body"]["extra"] = "x"
    assert N.verify(notary, more).is_valid


def test_wrong_signatory_fails():
    notary = N.sign(request(), USER)
    forged = N.Notary(notary.fields, notary.hash, notary.rsv, V["node_address"])
    assert N.verify(forged, request()).error == "Signatories do not match"
    garbage_rsv = N.Notary(notary.fields, notary.hash, "0x1234", notary.signatory)
    assert N.verify(garbage_rsv, request()).error == "Signatories do not match"


def test_signatory_case_is_not_significant():
    notary = N.sign(request(), USER)
    lower = N.Notary(notary.fields, notary.hash, notary.rsv, notary.signatory.lower())
    assert N.verify(lower, request()).is_valid


def test_rewritten_response_url_keeps_valid_stash_chain():
    req = request()
    first = N.sign(req, USER)
    hop1 = copy.deepcopy(req)
    hop1["body"]["response_url"] = "https://node-a.example/ocpi/sender/2.2/commands/START_SESSION/u1"
    n1 = N.rewrite(first, hop1, {"$['body']['response_url']": req["body"]["response_url"]}, NODE)
    hop2 = copy.deepcopy(hop1)
    hop2["body"]["response_url"] = "https://node-b.example/ocpi/sender/2.2/commands/START_SESSION/u2"
    n2 = N.rewrite(n1, hop2, {"$['body']['response_url']": hop1["body"]["response_url"]}, OTHER_KEY)
    assert N.verify(n2, hop2).is_valid
    # survives the header round trip
    assert N.verify(N.deserialize(N.serialize(n2)), hop2).is_valid
    # a wrong stashed value breaks the chain at the right rewrite
    older = n2.rewrites[1]
    bad = dataclasses.replace(
        n2, rewrites=(n2.rewrites[0], dataclasses.replace(older, rewritten_fields={"$['body']['response_url']": "https://evil"}))
    )
    assert N.verify(bad, hop2).error == "Rewrite 0: Rewritten request hash does not match"
    # a forged older signatory breaks it too
    rw0 = n2.rewrites[0]
    forged = dataclasses.replace(
        n2, rewrites=(dataclasses.replace(n2.rewrites[0], signatory=V["node_address"]), n2.rewrites[1])
    )
    assert N.verify(forged, hop2).error == "Rewrite 1: Rewritten signatory incorrect"


def test_rewrite_refuses_to_change_field_list():
    req = request()
    first = N.sign(req, USER)
    mod = copy.deepcopy(req)
    mod["body"]["location_id"] = ""
    with pytest.raises(N.NotaryError):
        N.rewrite(first, mod, {"$['body']['location_id']": "ae6d2483"}, NODE)
    assert N.rewrite(first, mod, {"$['body']['location_id']": "ae6d2483"}, NODE, strict=False)


def test_paths_are_lower_cased_on_read():
    values = {"body": {"Upper": "x", "lower": "y"}}
    notary = N.sign(values, USER)
    assert list(notary.fields) == ["$['body']['Upper']", "$['body']['lower']"]
    # same trap as the JS package: the upper-case key cannot be read back
    assert N.verify(notary, values).error == "Request has been modified"


def test_java_number_leniency():
    body = loads('{"kwh":10.0,"big":1e10,"n":3}')
    js_signed = N.sign({"body": body}, USER)
    java_signed = N.sign({"body": body}, USER, numbers="java")
    assert N.walk({"body": body})[1] == "10100000000003"
    assert N.walk({"body": body}, "java")[1] == "10.01.0E103"
    assert N.verify(js_signed, {"body": body}).number_style == "js"
    assert N.verify(java_signed, {"body": body}).number_style == "java"


def test_response_values_and_request_values():
    headers = {
        "X-Correlation-ID": "c",
        "OCPI-To-Party-Id": "XXX",
        "OCPI-From-Country-Code": "CH",
        "Authorization": "Token secret",
        "ocpi-from-party-id": [b"SNC"],
        "OCPI-to-country-code": "DE",
    }
    rv = N.request_values(headers, {"limit": 10}, {"a": 1})
    assert list(rv) == ["headers", "params", "body"]
    assert list(rv["headers"].items()) == [
        ("x-correlation-id", "c"),
        ("ocpi-from-country-code", "CH"),
        ("ocpi-from-party-id", "SNC"),
        ("ocpi-to-country-code", "DE"),
        ("ocpi-to-party-id", "XXX"),
    ]
    assert N.request_values({}, None, None) == {}
    resp = N.response_values(
        {"Location": "https://l", "X-Total-Count": "5", "Link": "<u>; rel=\"next\"", "X-Limit": "2"},
        {"status_code": 1000, "data": [], "timestamp": "t", "ocn_signature": "zzz"},
    )
    assert list(resp["headers"]) == ["x-limit", "x-total-count", "link", "location"]
    assert "ocn_signature" not in resp["body"]


def test_gzip_input_accepted():
    notary = N.sign(request(), USER)
    header = N.serialize(notary, compression="gzip")
    assert base64.b64decode(header)[:2] == b"\x1f\x8b"
    assert N.deserialize(header) == notary
    # a v2-style header built independently of our serializer
    raw = json.dumps(notary.to_json(), separators=(",", ":")).encode()
    assert N.deserialize(base64.b64encode(gzip.compress(raw)).decode()) == notary


def test_missing_rewrites_member_tolerated():
    raw = json.dumps({"fields": [], "hash": "0x", "rsv": "0x", "signatory": "0x"}).encode()
    got = N.deserialize(base64.b64encode(brotli.compress(raw, quality=4)).decode())
    assert got.rewrites == ()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "not base64 at all!!",
        base64.b64encode(b"plain bytes, not compressed").decode(),
        base64.b64encode(brotli.compress(b"{not json")).decode(),
        base64.b64encode(brotli.compress(b"[1,2]")).decode(),
        base64.b64encode(brotli.compress(b'{"fields":"x","hash":"","rsv":"","signatory":""}')).decode(),
        base64.b64encode(brotli.compress(b'{"fields":[],"hash":1,"rsv":"","signatory":""}')).decode(),
        base64.b64encode(gzip.compress(b"{}")[:-6]).decode(),
        base64.b64encode(brotli.compress(b"\xff\xfe")).decode(),
        base64.b64encode(brotli.compress(b" " * (2 << 20))).decode(),
    ],
)
def test_garbage_raises_notary_error(garbage):
    with pytest.raises(N.NotaryError):
        N.deserialize(garbage)


def test_serialize_non_ascii_raw_and_number_text_kept():
    notary = N.sign(request(), USER)
    notary = N.stash(notary, {"$['body']['x']": "é/ü", "$['body']['n']": JsonNumber("10.0")})
    raw = brotli.decompress(base64.b64decode(N.serialize(notary)))
    assert '"rewrittenFields":{"$[\'body\'][\'x\']":"é/ü","$[\'body\'][\'n\']":10.0}'.encode() in raw
    assert raw.startswith(b'{"fields":["$')


def test_rewrite_of_number_values_with_mixed_signer_styles():
    body = loads('{"kwh":10.0,"response_url":"a","n":[1e-7]}')
    mod = copy.deepcopy(body)
    mod["kwh"] = JsonNumber("11.5")
    for style in ("js", "java"):  # original signer JS-style or JVM-style, node re-signs JS-style
        first = N.sign({"body": body}, USER, numbers=style)
        second = N.rewrite(first, {"body": mod}, {"$['body']['kwh']": body["kwh"]}, NODE)
        got = N.deserialize(N.serialize(second))
        assert got.rewrites[0].rewritten_fields["$['body']['kwh']"].text == "10.0"
        assert N.verify(got, {"body": mod}).is_valid
