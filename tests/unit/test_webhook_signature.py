"""Webhook signatures: what a receiver checks."""

from orderledger.domain.webhook_signature import signature_header, verify

SECRET = "whsec_test-secret-123456"
BODY = b'{"event":"action","orderId":"1001"}'


def test_a_signed_body_verifies_within_the_tolerance():
    header = signature_header(SECRET, 1_700_000_000, BODY)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, header, BODY, now=1_700_000_000 + 299)


def test_a_changed_body_another_secret_or_an_old_timestamp_is_refused():
    header = signature_header(SECRET, 1_700_000_000, BODY)
    assert not verify(SECRET, header, BODY + b" ", now=1_700_000_000)
    assert not verify("whsec_another-secret-1234", header, BODY, now=1_700_000_000)
    assert not verify(SECRET, header, BODY, now=1_700_000_000 + 301)


def test_a_garbled_header_is_refused_not_an_error():
    for header in ("", "t=abc,v1=00", "v1=00", "t=1700000000"):
        assert not verify(SECRET, header, BODY, now=1_700_000_000)


def test_any_of_several_v1_signatures_may_match():
    good = signature_header(SECRET, 1_700_000_000, BODY)
    assert verify(SECRET, good + ",v1=" + "0" * 64, BODY, now=1_700_000_000)
