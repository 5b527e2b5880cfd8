"""Decoding stored event state: what the library's JSON transcoder gives, in one msgspec parse and one walk.

The library parses with Python's json module and an object hook that turns
every `{"_type_": name, "_data_": ...}` back into its value (UUID, Decimal,
datetime); crypto-shredding then walks the result again, rebuilding it, to open
sealed values. Reading the store in bulk (a rebuild, processing) spends most of
its decoding time there. Here msgspec parses, and one walk over the parsed
containers, changing them in place, decodes transcoded values and opens sealed
ones: the same values out, about a third of the time.

Anything unusual is left to the library's own path (`Unusual`): JSON that only
Python's parser takes (NaN, a lone surrogate, a float out of range), a name no
transcoding has (the library's error says which), a transcoded value whose
data is itself a container (the library decodes those in an order of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, Transcoding, UUIDAsHex

SEALED = "_sealed_"
_TYPE, _DATA = "_type_", "_data_"

_parser = msgspec.json.Decoder()
# What the library's transcodings call, without the call through them (each a str in, as their decode asserts).
_DIRECT: dict[type, Callable[[str], Any]] = {DecimalAsStr: Decimal, DatetimeAsISO: datetime.fromisoformat, UUIDAsHex: UUID}

OpenValue = Callable[[str], Any]


class Unusual(ValueError):
    """State this module leaves to the library's transcoder."""


def decoders(transcodings: Mapping[str, Transcoding]) -> dict[str, Callable[[str], Any]]:
    """A decoding function per transcoding name: the library's own ones are the constructors they call."""
    return {name: _DIRECT.get(type(t), t.decode) for name, t in transcodings.items()}


def decode_state(data: bytes, decoders: Mapping[str, Callable[[str], Any]], open_value: OpenValue) -> Any:
    """The stored state `data` decoded, transcoded values decoded and sealed values opened with `open_value`.

    `decoders` from `decoders()`.
    """
    try:
        state = _parser.decode(data)
    except msgspec.MsgspecError as error:
        raise Unusual(str(error)) from None
    if type(state) is not dict or (len(state) == 2 and _TYPE in state) or (len(state) == 1 and SEALED in state):
        raise Unusual("the state is not a plain object")
    # Every event has a transcoded value (its timestamp), so there is no walk to save by looking first.
    _revive(state, decoders, open_value)
    return state


def _revive(node: dict[str, Any] | list[Any], decoders: Mapping[str, Callable[[str], Any]], open_value: OpenValue) -> None:
    """In place: every transcoded value in `node` decoded, every sealed value opened (or ERASED)."""
    for k, v in (node.items() if type(node) is dict else enumerate(node)):  # type: ignore[union-attr]
        kind = type(v)
        if kind is dict:
            size = len(v)
            if size == 2 and _TYPE in v and _DATA in v:
                data = v[_DATA]
                if type(data) is not str:
                    raise Unusual("a transcoded value that is not a string")
                decode = decoders.get(v[_TYPE])
                if decode is None:
                    raise Unusual(f"no transcoding named {v[_TYPE]!r}")
                node[k] = decode(data)  # type: ignore[index]
            elif size == 1 and SEALED in v:
                node[k] = open_value(v[SEALED])  # type: ignore[index]
            else:
                _revive(v, decoders, open_value)
        elif kind is list:
            _revive(v, decoders, open_value)
