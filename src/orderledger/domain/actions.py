"""Actions: a tenant's named automation ("ConfirmOrder", "ConfirmShipment" ...) run on one processed version.

An action request is identified by what it is, never drawn: the same order,
version and action name always make the same request id, so a repeat is the
same request and triggers nothing new. Pure.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid5

import msgspec

from orderledger.domain.model import ActionName, EmbeddedAction, Language, Wire

__all__ = ["ActionIn", "EmbeddedAction", "action_request_id", "action_job_id", "parse_action_job_id"]

# Fixed forever: changing it would let every earlier action fire a second time.
ACTION_NAMESPACE = UUID("0c7b9e52-61a4-4f0e-8f3c-3d2f6a9b1e77")
ACTION_JOB_PREFIX = "act_"


class ActionIn(Wire):
    """The body of POST /orders/{orderId}/action."""

    action: ActionName
    version_tag: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    language: Language | None = None
    data: dict[str, Any] | None = None
    # By default the tag must name the order's latest processed version.
    allow_stale: bool = False


def action_request_id(aggregate_id: UUID, version: int, action: str) -> UUID:
    """The one request for (order, version, action)."""
    return uuid5(ACTION_NAMESPACE, f"{aggregate_id}\x1f{version}\x1f{action}")


def action_job_id(request_id: UUID) -> str:
    """The job id answered for an action request (distinct in shape from an order-version job id)."""
    return f"{ACTION_JOB_PREFIX}{request_id.hex}"


def parse_action_job_id(value: str) -> UUID | None:
    """The request id an action job id names, or None if it is not one."""
    if not value.startswith(ACTION_JOB_PREFIX):
        return None
    try:
        return UUID(hex=value.removeprefix(ACTION_JOB_PREFIX))
    except ValueError:
        return None
