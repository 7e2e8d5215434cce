"""The signer (intake/signing.py) against digests worked out apart from it: the Standard Webhooks
specification's own example and its reference package, and fixed HMAC-SHA256 digests for the
vendors. The other intake tests sign with it, so this is what makes their signatures trustworthy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from intake.signatures import verify_ashby, verify_greenhouse, verify_lever, verify_standard_webhook
from intake.signing import (
    ashby_signature,
    greenhouse_headers,
    greenhouse_signature,
    lever_signature,
    sign_delivery,
    sign_lever,
    standard_webhook_headers,
    standard_webhook_signature,
)

PING = b'{"action": "ping"}'
PING_DIGEST = "8fd8a2914985ee6b3413886b5862b98da6802c99b9359f4319af862ca374dece"  # HMAC-SHA256, key greenhouse-secret


def test_greenhouse_and_ashby_write_the_body_digest_their_own_way():
    assert greenhouse_signature(PING, "greenhouse-secret") == f"sha256 {PING_DIGEST}"
    assert ashby_signature(PING, "greenhouse-secret") == f"sha256={PING_DIGEST}"
    assert greenhouse_signature(PING, b"greenhouse-secret") == f"sha256 {PING_DIGEST}"  # bytes: the key itself
    headers = greenhouse_headers(PING, "greenhouse-secret")
    assert headers["Greenhouse-Event-ID"] != greenhouse_headers(PING, "greenhouse-secret")["Greenhouse-Event-ID"]
    assert greenhouse_headers(PING, "greenhouse-secret", "delivery-1")["Greenhouse-Event-ID"] == "delivery-1"


def test_lever_signs_token_and_triggered_at():
    expected = "0c9c028ce13af1b7d9b3a06ec7cb2e20b8f7ffb487627d708acac7804ca00214"
    assert lever_signature("3f1e2d", 1795693412345, "lever-token") == expected
    payload = {"triggeredAt": 1795693412345, "token": "3f1e2d", "data": {"opportunityId": "opp-1"}}
    assert sign_lever(payload, "lever-token") == {**payload, "signature": expected}
    assert "signature" not in payload


def test_standard_webhooks_the_specifications_example():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = standard_webhook_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert standard_webhook_signature(secret.removeprefix("whsec_"), "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", b'{"test": 2432232314}') == signature


def test_standard_webhooks_the_reference_package_agrees():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"type": "interview.completed", "name": "Zoë"}'
    at = datetime.now(UTC)
    headers = standard_webhook_headers(body.encode(), secret, "msg_1", at)
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", at, body),
    }
    Webhook(secret).verify(body, headers)
    assert standard_webhook_headers(b"{}", secret)["webhook-id"].startswith("msg_")


@pytest.mark.parametrize("sender", ["greenhouse", "lever", "ashby", "events"])
def test_a_whole_delivery_passes_the_intakes_verifier(sender: str):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" if sender == "events" else "a-secret"
    payload = {"token": "3f1e2d", "triggeredAt": int(datetime.now(UTC).timestamp() * 1000), "data": {}}
    body, headers = sign_delivery(sender, payload, secret)
    assert headers["content-type"] == "application/json"
    match sender:
        case "greenhouse":
            verify_greenhouse(body, headers, [secret])
        case "ashby":
            verify_ashby(body, headers, [secret])
        case "lever":
            verify_lever(json.loads(body), [secret], datetime.now(UTC))
        case "events":
            verify_standard_webhook(body, headers, [secret], datetime.now(UTC))


def test_an_unknown_sender_is_refused():
    with pytest.raises(ValueError, match="unknown sender"):
        sign_delivery("workday", {}, "a-secret")
