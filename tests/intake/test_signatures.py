"""Webhook signatures, per sender: who may post, and what a refused sender is told.

Deliveries are signed with intake/signing.py, written apart from the verifiers and checked on
its own (test_signing.py: fixed digests, the Standard Webhooks example and reference package), so
signer and verifier are independent implementations.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from intake.signatures import SignatureError, lever_signed_text, verify_ashby, verify_greenhouse, verify_lever, verify_standard_webhook
from intake.signing import ashby_signature, greenhouse_signature, hex_hmac, sign_lever, standard_webhook_headers

PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def raw(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def refused(call: Callable[[], None]) -> str:
    with pytest.raises(SignatureError) as error:
        call()
    return str(error.value)


# --- Greenhouse and Ashby: a header over the body ---------------------------------------------


class HeaderScheme:
    def __init__(
        self, name: str, verify: Callable[..., None], header: str, fmt: Callable[[str], str], signature: Callable[[bytes, str], str], setting: str, fixture: str
    ) -> None:
        self.name, self.verify, self.header, self.fmt, self.signature, self.setting, self.fixture = name, verify, header, fmt, signature, setting, fixture

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        return {self.header: self.signature(body, secret)}

    def __repr__(self) -> str:
        return self.name


GREENHOUSE = HeaderScheme(
    "greenhouse", verify_greenhouse, "Signature", lambda d: f"sha256 {d}", greenhouse_signature, "GREENHOUSE_WEBHOOK_SECRET", "greenhouse_candidate_stage_change.json"
)
ASHBY = HeaderScheme(
    "ashby", verify_ashby, "Ashby-Signature", lambda d: f"sha256={d}", ashby_signature, "ASHBY_WEBHOOK_SECRET", "ashby_interview_schedule_update.json"
)
OLD, NEW = "old-secret-2025-rotate-me", "new-secret-2026-rotate-me"


@pytest.fixture(params=[GREENHOUSE, ASHBY], ids=repr)
def scheme(request: pytest.FixtureRequest) -> HeaderScheme:
    return request.param


def test_a_correctly_signed_body_passes_whatever_the_header_case(scheme: HeaderScheme):
    body = raw(scheme.fixture)
    (value,) = scheme.sign(body, NEW).values()
    for header in (scheme.header, scheme.header.lower(), scheme.header.upper()):
        scheme.verify(body, {header: value}, [NEW])


def test_a_signature_made_with_another_secret_is_refused(scheme: HeaderScheme):
    body = raw(scheme.fixture)
    assert refused(lambda: scheme.verify(body, scheme.sign(body, "an-attackers-guess"), [NEW])) == "signature does not match"


@pytest.mark.parametrize("tamper", ["one byte", "re-serialised", "truncated", "appended"])
def test_a_tampered_body_is_refused(scheme: HeaderScheme, tamper: str):
    body = raw(scheme.fixture)
    headers = scheme.sign(body, NEW)
    changed = {
        "one byte": body.replace(b"2026", b"2027", 1),
        "re-serialised": json.dumps(json.loads(body)).encode(),  # same JSON, other bytes
        "truncated": body[:-1],
        "appended": body + b" ",
    }[tamper]
    assert changed != body
    assert refused(lambda: scheme.verify(changed, headers, [NEW])) == "signature does not match"


def test_a_missing_header_is_named(scheme: HeaderScheme):
    body = raw(scheme.fixture)
    assert refused(lambda: scheme.verify(body, {"Content-Type": "application/json"}, [NEW])) == f"missing header {scheme.header}"
    assert refused(lambda: scheme.verify(body, {scheme.header: "  "}, [NEW])) == f"missing header {scheme.header}"


def test_a_malformed_header_is_refused_before_any_comparison(scheme: HeaderScheme):
    body = raw(scheme.fixture)
    digest = hex_hmac(NEW, body)
    other_format = f"sha256={digest}" if scheme is GREENHOUSE else f"sha256 {digest}"
    for value in ("sha256", digest, f"sha1 {digest[:40]}", "sha256 not-hex", other_format, f"sha256 {digest}{digest}", "sha256 é" * 3):
        assert refused(lambda value=value: scheme.verify(body, {scheme.header: value}, [NEW])).startswith(f"malformed header {scheme.header}")


def test_the_digest_is_compared_case_insensitively(scheme: HeaderScheme):
    body = raw(scheme.fixture)
    scheme.verify(body, {scheme.header: scheme.fmt(hex_hmac(NEW, body).upper())}, [NEW])


@pytest.mark.parametrize("secrets", [[], [""], ["  ", ""]])
def test_no_secret_configured_names_the_setting(scheme: HeaderScheme, secrets: list[str]):
    body = raw(scheme.fixture)
    # Even a body "signed" with the empty key is refused: an empty key would let anybody sign.
    assert refused(lambda: scheme.verify(body, scheme.sign(body, ""), secrets)) == f"{scheme.setting} is not configured"


def test_during_a_rotation_either_secret_passes_and_after_it_only_the_new_one(scheme: HeaderScheme):
    body = raw(scheme.fixture)
    scheme.verify(body, scheme.sign(body, OLD), [OLD, NEW])
    scheme.verify(body, scheme.sign(body, NEW), [OLD, NEW])
    scheme.verify(body, scheme.sign(body, NEW), [NEW])
    assert refused(lambda: scheme.verify(body, scheme.sign(body, OLD), [NEW])) == "signature does not match"


# --- Lever: token + triggeredAt, in the body ---------------------------------------------------


LEVER_TRIGGERED_AT = json.loads(raw("lever_candidate_stage_change.json"))["triggeredAt"]
LEVER_NOW = datetime.fromtimestamp(LEVER_TRIGGERED_AT / 1000 + 30, UTC)  # delivered 30 s after the fact


def lever_verify(payload: Any, secrets: list[str], now: datetime = LEVER_NOW, max_age_seconds: int = 3600) -> None:
    verify_lever(payload, secrets, now, max_age_seconds)


def lever_signed(payload: dict[str, Any], secret: str) -> dict[str, Any]:
    return sign_lever(payload, secret)


@pytest.fixture
def lever_payload() -> dict[str, Any]:
    return json.loads(raw("lever_candidate_stage_change.json"))


def test_lever_a_correct_signature_passes(lever_payload):
    lever_verify(lever_signed(lever_payload, NEW), [NEW])


def test_lever_a_signature_with_another_token_is_refused(lever_payload):
    assert refused(lambda: lever_verify(lever_signed(lever_payload, "guess"), [NEW])) == "signature does not match"


@pytest.mark.parametrize("field,value", [("token", "0" * 32), ("triggeredAt", 1795693412346)])
def test_lever_tampering_with_a_signed_field_is_refused(lever_payload, field, value):
    signed = lever_signed(lever_payload, NEW)
    assert refused(lambda: lever_verify({**signed, field: value}, [NEW])) == "signature does not match"


def test_lever_signs_token_and_time_only_so_other_data_still_verifies(lever_payload):
    # Lever's scheme: documented, not a bug of ours. The idempotency key (the signed string)
    # makes such a replay a duplicate of the original delivery.
    signed = lever_signed(lever_payload, NEW)
    lever_verify({**signed, "data": {"opportunityId": "someone-else"}}, [NEW])


@pytest.mark.parametrize("field", ["token", "triggeredAt", "signature"])
def test_lever_a_missing_field_is_named(lever_payload, field):
    signed = lever_signed(lever_payload, NEW)
    del signed[field]
    assert refused(lambda: lever_verify(signed, [NEW])) == f"missing field {field}"


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("signature", "not-hex", "malformed field signature"),
        ("signature", 12345, "malformed field signature"),
        ("token", ["a"], "malformed field token"),
        ("triggeredAt", "yesterday", "malformed field triggeredAt"),
        ("triggeredAt", True, "malformed field triggeredAt"),
        # Only an integer: as text or a float, one signed string would have several bodies.
        ("triggeredAt", str(LEVER_TRIGGERED_AT), "malformed field triggeredAt"),
        ("triggeredAt", float(LEVER_TRIGGERED_AT), "malformed field triggeredAt"),
    ],
)
def test_lever_a_malformed_field_is_refused(lever_payload, field, value, message):
    signed = lever_signed(lever_payload, NEW)
    assert refused(lambda: lever_verify({**signed, field: value}, [NEW])).startswith(message)


def test_lever_a_stale_or_future_triggered_at_is_refused_though_signed(lever_payload):
    signed = lever_signed(lever_payload, NEW)
    sent = datetime.fromtimestamp(LEVER_TRIGGERED_AT / 1000, UTC)
    lever_verify(signed, [NEW], now=sent + timedelta(seconds=3599))
    assert refused(lambda: lever_verify(signed, [NEW], now=sent + timedelta(seconds=3601))).startswith("triggeredAt too old")
    assert refused(lambda: lever_verify(signed, [NEW], now=sent + timedelta(seconds=61), max_age_seconds=60)).startswith("triggeredAt too old")
    lever_verify(signed, [NEW], now=sent - timedelta(minutes=4))  # the sender's clock a little ahead
    assert refused(lambda: lever_verify(signed, [NEW], now=sent - timedelta(minutes=6))).startswith("triggeredAt too far in the future")


def test_lever_digits_moved_across_the_join_still_verify_but_sign_the_same_text(lever_payload):
    # The splice from issue 12: the signature holds, so what de-duplicates must be the signed text.
    signed = lever_signed(lever_payload, NEW)
    spliced = {**signed, "token": signed["token"] + "1", "triggeredAt": int(str(signed["triggeredAt"])[1:])}
    lever_verify(spliced, [NEW], now=datetime.fromtimestamp(spliced["triggeredAt"] / 1000, UTC))
    assert lever_signed_text(spliced["token"], spliced["triggeredAt"]) == lever_signed_text(signed["token"], signed["triggeredAt"])


def test_lever_a_body_that_is_not_an_object_is_refused():
    for payload in (None, [], "text", 42):
        assert refused(lambda payload=payload: lever_verify(payload, [NEW])).startswith("the body is not a Lever webhook")  # type: ignore[arg-type]


def test_lever_no_token_configured_names_the_setting(lever_payload):
    assert refused(lambda: lever_verify(lever_signed(lever_payload, ""), [])) == "LEVER_WEBHOOK_SIGNATURE_TOKEN is not configured"


def test_lever_rotation(lever_payload):
    lever_verify(lever_signed(lever_payload, OLD), [OLD, NEW])
    lever_verify(lever_signed(lever_payload, NEW), [OLD, NEW])
    assert refused(lambda: lever_verify(lever_signed(lever_payload, OLD), [NEW])) == "signature does not match"


# --- Standard Webhooks (/events) ---------------------------------------------------------------


def whsec() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


WH_OLD, WH_NEW = whsec(), whsec()
EVENT_BODY = raw("events_interview_completed.json")


def standard_headers(secret: str, body: bytes = EVENT_BODY, at: datetime = NOW, msg_id: str = "msg_2pAq9dKkZ3") -> dict[str, str]:
    return standard_webhook_headers(body, secret, msg_id, at)


def test_standard_webhooks_a_valid_signature_passes():
    headers = standard_headers(WH_NEW)
    verify_standard_webhook(EVENT_BODY, headers, [WH_NEW], NOW)
    verify_standard_webhook(EVENT_BODY, {k.title(): v for k, v in headers.items()}, [WH_NEW], NOW)
    # The reference verifier agrees (at its own clock, so sign for now).
    fresh = standard_headers(WH_NEW, at=datetime.now(UTC))
    Webhook(WH_NEW).verify(EVENT_BODY, fresh)
    verify_standard_webhook(EVENT_BODY, fresh, [WH_NEW], datetime.now(UTC))


def test_standard_webhooks_a_secret_without_its_prefix_works_too():
    verify_standard_webhook(EVENT_BODY, standard_headers(WH_NEW), [WH_NEW.removeprefix("whsec_")], NOW)


def test_standard_webhooks_stale_and_future_timestamps_are_refused():
    stale = standard_headers(WH_NEW, at=NOW - timedelta(minutes=6))
    future = standard_headers(WH_NEW, at=NOW + timedelta(minutes=6))
    assert refused(lambda: verify_standard_webhook(EVENT_BODY, stale, [WH_NEW], NOW)) == "timestamp too old"
    assert refused(lambda: verify_standard_webhook(EVENT_BODY, future, [WH_NEW], NOW)) == "timestamp too far in the future"
    for within in (timedelta(minutes=-4, seconds=-59), timedelta(minutes=4, seconds=59)):
        verify_standard_webhook(EVENT_BODY, standard_headers(WH_NEW, at=NOW + within), [WH_NEW], NOW)


def test_standard_webhooks_any_of_several_signatures_may_match():
    mine = standard_headers(WH_NEW)["webhook-signature"]
    other = standard_headers(whsec())["webhook-signature"]
    for listed in (f"{other} {mine}", f"{mine} {other}", f"v1a,{base64.b64encode(b'x' * 64).decode()} {mine}", f"v1,!!! {mine}"):
        verify_standard_webhook(EVENT_BODY, {**standard_headers(WH_NEW), "webhook-signature": listed}, [WH_NEW], NOW)


def test_standard_webhooks_rotation():
    both = f"{standard_headers(WH_OLD)['webhook-signature']} {standard_headers(WH_NEW)['webhook-signature']}"
    verify_standard_webhook(EVENT_BODY, {**standard_headers(WH_NEW), "webhook-signature": both}, [WH_NEW], NOW)
    verify_standard_webhook(EVENT_BODY, standard_headers(WH_OLD), [WH_OLD, WH_NEW], NOW)
    verify_standard_webhook(EVENT_BODY, standard_headers(WH_NEW), [WH_OLD, WH_NEW], NOW)
    assert refused(lambda: verify_standard_webhook(EVENT_BODY, standard_headers(WH_OLD), [WH_NEW], NOW)) == "signature does not match"


def test_standard_webhooks_forged_or_tampered_deliveries_are_refused():
    headers = standard_headers(WH_NEW)
    cases = {
        "forged": (EVENT_BODY, standard_headers(whsec())),
        "tampered body": (EVENT_BODY.replace(b"Sofia", b"Sonia"), headers),
        "other id": (EVENT_BODY, {**headers, "webhook-id": "msg_other"}),
        "other timestamp": (EVENT_BODY, {**headers, "webhook-timestamp": str(int(NOW.timestamp()) + 1)}),
    }
    for name, (body, hdrs) in cases.items():
        assert refused(lambda body=body, hdrs=hdrs: verify_standard_webhook(body, hdrs, [WH_NEW], NOW)) == "signature does not match", name


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_webhooks_a_missing_header_is_named(header):
    headers = standard_headers(WH_NEW)
    del headers[header]
    assert refused(lambda: verify_standard_webhook(EVENT_BODY, headers, [WH_NEW], NOW)) == f"missing header {header}"


@pytest.mark.parametrize(
    "header,value",
    [
        ("webhook-timestamp", "yesterday"),
        ("webhook-timestamp", "1795693412.5"),
        ("webhook-timestamp", "-1795693412"),
        ("webhook-signature", "v2,abcd"),
        ("webhook-signature", "v1,"),
        ("webhook-signature", "v1,not base64!"),
        ("webhook-signature", "deadbeef"),
    ],
)
def test_standard_webhooks_a_malformed_header_is_refused(header, value):
    headers = {**standard_headers(WH_NEW), header: value}
    assert refused(lambda: verify_standard_webhook(EVENT_BODY, headers, [WH_NEW], NOW)).startswith(f"malformed header {header}")


def test_standard_webhooks_no_secret_configured_names_the_setting():
    assert refused(lambda: verify_standard_webhook(EVENT_BODY, standard_headers(WH_NEW), [], NOW)) == "EVENTS_WEBHOOK_SECRET is not configured"
    assert refused(lambda: verify_standard_webhook(EVENT_BODY, standard_headers(WH_NEW), ["whsec_!!"], NOW)).startswith(
        "EVENTS_WEBHOOK_SECRET is malformed"
    )


# --- properties: without the secret nothing passes, and nothing but SignatureError escapes -----

any_text = st.one_of(st.text(), st.text(st.characters(exclude_categories=())))  # the latter with lone surrogates
hex64 = st.from_regex(r"[0-9a-fA-F]{64}", fullmatch=True)
b64 = st.binary(min_size=0, max_size=40).map(lambda b: base64.b64encode(b).decode())
SIGNING_HEADERS = ["Signature", "signature", "Ashby-Signature", "ashby-signature", "webhook-id", "webhook-timestamp", "webhook-signature"]
header_values = st.one_of(
    any_text,
    hex64.map(lambda h: f"sha256 {h}"),
    hex64.map(lambda h: f"sha256={h}"),
    st.lists(b64.map(lambda s: f"v1,{s}"), max_size=3).map(" ".join),
    st.integers(int(NOW.timestamp()) - 400, int(NOW.timestamp()) + 400).map(str),
)
headers_strategy = st.dictionaries(st.one_of(st.sampled_from(SIGNING_HEADERS), any_text), header_values, max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@PROPERTY
@given(body=st.binary(max_size=512), headers=headers_strategy)
def test_property_header_schemes_never_pass_without_the_secret(body, headers):
    for verify in (verify_greenhouse, verify_ashby):
        with pytest.raises(SignatureError):
            verify(body, headers, [NEW])
        with pytest.raises(SignatureError):
            verify(body, headers, [])


@PROPERTY
@given(body=st.binary(max_size=512), headers=headers_strategy)
def test_property_standard_webhooks_never_pass_without_the_secret(body, headers):
    with pytest.raises(SignatureError):
        verify_standard_webhook(body, headers, [WH_NEW], NOW)


@PROPERTY
@given(
    payload=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"token": st.one_of(any_text, json_values), "triggeredAt": st.one_of(st.integers(), json_values), "signature": st.one_of(hex64, json_values)},
            optional={"event": any_text, "data": json_values},
        ),
    )
)
def test_property_lever_never_passes_without_the_token(payload):
    with pytest.raises(SignatureError):
        lever_verify(payload, [NEW])
