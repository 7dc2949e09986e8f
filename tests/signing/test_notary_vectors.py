"""Reference vectors of @shareandcharge/ocn-notary 1.0.0 (digest §3.9).

The data lives in vectors.json (transcribed from the package's
test/compatibility.spec.ts and test/test.cases.ts); the assertions are ours.
"""

import copy
import json
import pathlib

import pytest
from eth_utils import keccak

from ocnd.signing import notary as N
from ocnd.signing import rawjson

V = json.loads((pathlib.Path(__file__).parent / "vectors.json").read_text("utf-8"))
RESPONSE_URL = "$['body']['response_url']"


def request():
    return rawjson.loads(json.dumps(V["request"]))


@pytest.fixture(scope="module")
def signed():
    return N.sign(request(), V["user_private_key"])


@pytest.fixture(scope="module")
def rewritten(signed):
    req = request()
    mod = copy.deepcopy(req)
    mod["body"]["response_url"] = V["rewritten_response_url"]
    notary = N.rewrite(signed, mod, {RESPONSE_URL: req["body"]["response_url"]}, V["node_private_key"])
    return notary, mod


def test_walk_fields_in_order(signed):
    assert len(signed.fields) == 17
    assert list(signed.fields) == V["expected_fields"]


def test_sign_matches_reference(signed):
    assert signed.hash == V["signed"]["hash"]
    assert signed.hash.startswith("0xd1ff4987") and signed.hash.endswith("4962")
    assert signed.rsv == V["signed"]["rsv"]
    assert signed.signatory == V["user_address"]  # EIP-55 form, exact string
    assert signed.rewrites == ()


def test_hash_is_keccak_of_message():
    fields, message = N.walk(request())
    assert "0x" + keccak(message.encode()).hex() == V["signed"]["hash"]
    assert message.startswith("32387c67-cf96-4c9d-83db-0ed9665b2f29CHSNCDEXXXhttps://")
    assert "APP_USERCH-SNC-7d44ada4f3d9Share&Charge FoundationtrueNEVER" in message


def test_verify_signed(signed):
    result = N.verify(signed, request())
    assert result.is_valid and result.error is None and result.number_style == "js"


def test_rewrite_matches_reference(rewritten, signed):
    notary, mod = rewritten
    assert list(notary.fields) == V["expected_fields"]
    assert notary.hash == V["rewritten"]["hash"]
    assert notary.rsv == V["rewritten"]["rsv"]
    assert notary.signatory == V["node_address"]
    assert len(notary.rewrites) == 1
    rw = notary.rewrites[0]
    assert rw.rewritten_fields == {RESPONSE_URL: V["request"]["body"]["response_url"]}
    assert (rw.hash, rw.rsv, rw.signatory) == (signed.hash, signed.rsv, V["user_address"])
    assert N.verify(notary, mod).is_valid


def test_serialized_header_byte_for_byte(rewritten):
    notary, _ = rewritten
    header = N.serialize(notary)
    assert header.startswith("GxkF")
    assert header == V["serialized_header"]


def test_deserialize_reference_header(rewritten):
    notary, mod = rewritten
    got = N.deserialize(V["serialized_header"])
    assert got == notary
    assert N.serialize(got) == V["serialized_header"]
    assert N.verify(got, mod).is_valid


def test_two_rewrites_match_reference(rewritten):
    notary, mod = rewritten
    mod2 = copy.deepcopy(mod)
    mod2["headers"]["ocpi-from-party-id"] = V["second_rewrite_party_id"]
    second = N.rewrite(
        notary, mod2, {"$['headers']['ocpi-from-party-id']": "SNC"}, V["node_private_key"]
    )
    assert second.hash == V["second_rewritten"]["hash"]
    assert second.rsv == V["second_rewritten"]["rsv"]
    assert [r.hash for r in second.rewrites] == [V["signed"]["hash"], V["rewritten"]["hash"]]
    assert N.verify(second, mod2) == N.VerifyResult(True, None, "js")
    # verify must not mutate the notary (the JS package reverses rewrites in place)
    assert N.verify(second, mod2).is_valid


@pytest.mark.parametrize("case", V["walk_cases"], ids=lambda c: c["name"])
def test_walk_cases(case):
    values = rawjson.loads(json.dumps({"headers": V["walk_cases_headers"], "body": case["body"]}))
    fields, message = N.walk(values)
    header_keys = [f"$['headers']['{k}']" for k in V["walk_cases_headers"]]
    assert fields == header_keys + [f"$['body']{k}" for k in case["keys"]]
    assert message == "".join(V["walk_cases_headers"].values()) + "".join(case["values"])
