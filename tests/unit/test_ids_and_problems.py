import uuid

import msgspec
import pytest

from orderledger.api.problems import pointer_of
from orderledger.domain.ids import job_id, parse_job_id
from orderledger.domain.model import OrderIn


def test_a_job_id_names_its_order_stream_and_version():
    aggregate = uuid.uuid4()
    assert parse_job_id(job_id(aggregate, 12)) == (aggregate, 12)


@pytest.mark.parametrize("value", ["", "abc", "abc_1", f"{uuid.uuid4().hex}_0", f"{uuid.uuid4().hex}_x"])
def test_strings_that_are_not_job_ids_parse_to_none(value):
    assert parse_job_id(value) is None


def _error(body: bytes) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.decode(body, type=OrderIn)
    return str(caught.value)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (b'{"orderId": "1", "items": [{"quantity": [1]}]}', "/items/0/quantity"),
        (b'{"orderId": "1", "bogus": 1}', "/bogus"),
        (b'{"orderId": "1", "contact": {}}', "/contact/matchKey"),
        (b'{"orderId": "1", "state": "flying"}', "/state"),
    ],
)
def test_validation_messages_become_json_pointers(body, pointer):
    assert pointer_of(_error(body))[0] == pointer


def test_money_is_parsed_exactly():
    order = msgspec.json.decode(b'{"orderId": "1", "totalGrossPrice": 0.30000000000000004}', type=OrderIn)
    assert str(order.total_gross_price) == "0.30000000000000004"
