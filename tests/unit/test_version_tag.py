"""VersionTags: round-trip, forgery, rotation."""

import uuid

import pytest

from orderledger.domain.version_tag import InvalidVersionTag, TagKeyring

TENANT, ORDER = uuid.uuid4(), uuid.uuid4()


def test_a_tag_maps_back_to_tenant_order_and_version():
    keyring = TagKeyring({1: b"secret"}, current=1)
    tagged = keyring.verify(keyring.issue(TENANT, ORDER, 7))
    assert (tagged.tenant_id, tagged.aggregate_id, tagged.version) == (TENANT, ORDER, 7)


def test_a_tag_with_any_changed_character_is_refused():
    keyring = TagKeyring({1: b"secret"}, current=1)
    tag = keyring.issue(TENANT, ORDER, 7)
    # The last character's low bits are base64 padding: changing it may leave the bytes as they were.
    for position in range(len(tag) - 1):
        forged = tag[:position] + ("A" if tag[position] != "A" else "B") + tag[position + 1 :]
        with pytest.raises(InvalidVersionTag):
            keyring.verify(forged)


def test_a_tag_signed_with_another_secret_is_refused():
    tag = TagKeyring({1: b"theirs"}, current=1).issue(TENANT, ORDER, 1)
    with pytest.raises(InvalidVersionTag):
        TagKeyring({1: b"ours"}, current=1).verify(tag)


def test_after_rotation_old_tags_verify_and_new_tags_use_the_new_key():
    old = TagKeyring({1: b"old"}, current=1)
    rotated = TagKeyring({2: b"new", 1: b"old"}, current=2)
    old_tag = old.issue(TENANT, ORDER, 3)
    assert rotated.verify(old_tag).version == 3
    new_tag = rotated.issue(TENANT, ORDER, 3)
    assert new_tag != old_tag
    with pytest.raises(InvalidVersionTag):
        TagKeyring({2: b"new"}, current=2).verify(old_tag)  # grace period over: old key dropped


@pytest.mark.parametrize("garbage", ["", "x", "not a tag!", "A" * 71])
def test_garbage_is_not_a_tag(garbage):
    with pytest.raises(InvalidVersionTag):
        TagKeyring({1: b"s"}, current=1).verify(garbage)
