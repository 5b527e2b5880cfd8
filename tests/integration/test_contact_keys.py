"""The contact key store against PostgreSQL: one live key per subject, destroyed for good."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from orderledger.infrastructure.contact_keys import ContactKeys, Subject

pytestmark = pytest.mark.integration


@pytest.fixture
def keys(settings):
    return ContactKeys(lambda: psycopg.connect(settings.database_url, autocommit=True))


def test_concurrent_first_uses_of_a_subject_get_the_same_key(settings):
    subject = Subject.contact(str(uuid.uuid4()), "first@example.com")
    stores = [ContactKeys(lambda: psycopg.connect(settings.database_url, autocommit=True)) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        found = set(pool.map(lambda store: store.live_key(subject), stores))
    assert len(found) == 1


def test_an_erased_key_is_gone_for_every_reader_and_the_subject_gets_a_new_one(keys, settings):
    subject = Subject.contact(str(uuid.uuid4()), "gone@example.com")
    key_id, key = keys.live_key(subject)
    other_process = ContactKeys(lambda: psycopg.connect(settings.database_url, autocommit=True), cache_seconds=0)
    assert other_process.key(key_id) == key

    assert keys.erase(subject) == [key_id]

    assert keys.key(key_id) is None and other_process.key(key_id) is None
    assert keys.live_key(subject)[0] != key_id
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT key, subject_hash, erased_at FROM contact_key WHERE key_id = %s", (key_id,)).fetchone()
    assert row[0] is None and row[1] is None and row[2] is not None  # a tombstone: nothing that names the contact


def test_subject_hashes_differ_by_tenant_and_hide_the_match_key(keys):
    one, two = keys.subject_hash(Subject.contact("t1", "a@x.se")), keys.subject_hash(Subject.contact("t2", "a@x.se"))
    assert one != two and b"a@x.se" not in one
