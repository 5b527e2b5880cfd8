"""One JSON codec for the whole service: exact decimals written as JSON numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder(decimal_format="number")


def dumps(value: Any) -> bytes:
    return _encoder.encode(value)


def dumps_text(value: Any) -> str:
    return _encoder.encode(value).decode()


_exact_decoder = msgspec.json.Decoder(float_hook=Decimal)


def loads_exact(data: bytes | str) -> Any:
    """Parse JSON keeping every non-integer number as an exact Decimal."""
    return _exact_decoder.decode(data)
