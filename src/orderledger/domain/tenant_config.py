"""A tenant's validation configuration: which values and transitions its orders may use.

Stored and exchanged as camelCase JSON (admin endpoint, CLI). Decoding checks
the shape; `validate_config` checks the meaning, so callers run both before
saving a configuration.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from orderledger.domain.model import OrderState
from orderledger.domain.validation import Violation


def _cloudsuite_flow() -> dict[str, list[str]]:
    # Cancel is possible until the order is done; done and cancel are final.
    return {
        "draft": ["quotation", "cancel"],
        "quotation": ["confirmed", "cancel"],
        "confirmed": ["processing", "cancel"],
        "processing": ["done", "cancel"],
        "done": [],
        "cancel": [],
    }


class TenantConfig(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True, frozen=True):
    """How strictly a tenant's orders are checked. None for a list or table means "anything goes"."""

    statuses: list[str] | None = None
    payment_statuses: list[str] | None = None
    state_transitions: dict[str, list[str]] = msgspec.field(default_factory=_cloudsuite_flow)
    status_transitions: dict[str, list[str]] | None = None
    check_tax_total: bool = True
    check_gross_total: bool = True
    check_payments_total: bool = True
    rounding_tolerance: Decimal = Decimal("0.01")


DEFAULT_CONFIG = TenantConfig()

_decoder = msgspec.json.Decoder(TenantConfig)


def config_from_json(data: bytes) -> TenantConfig:
    """Decode a configuration; missing fields take their defaults.

    Raises msgspec.ValidationError (with the offending path) for unknown fields
    or wrong types; the meaning is checked by `validate_config`.
    """
    return _decoder.decode(data)


def config_to_builtins(config: TenantConfig) -> dict[str, Any]:
    """The configuration as a camelCase dict of every field, the tolerance kept as an exact Decimal."""
    return msgspec.to_builtins(config, builtin_types=(Decimal,))


def validate_config(config: TenantConfig) -> list[Violation]:
    """Every reason the configuration makes no sense, as pointers into its camelCase JSON."""
    violations: list[Violation] = []
    tolerance = config.rounding_tolerance
    if not tolerance.is_finite():
        violations.append(Violation("/roundingTolerance", "tolerance_not_finite",
                                    f"roundingTolerance {tolerance} is not a finite number"))
    elif tolerance < 0:
        violations.append(Violation("/roundingTolerance", "negative_tolerance",
                                    f"roundingTolerance {tolerance} must not be negative"))
    violations.extend(_check_state_table(config.state_transitions))
    if config.status_transitions is not None and config.statuses is not None:
        violations.extend(_check_status_table(config.status_transitions, config.statuses))
    return violations


def _token(key: str) -> str:
    """A key as an RFC 6901 reference token."""
    return key.replace("~", "~0").replace("/", "~1")


def _check_state_table(transitions: dict[str, list[str]]) -> list[Violation]:
    # Orders can only hold CloudSuite's states, so any other name could never match.
    real = {state.value for state in OrderState}
    violations: list[Violation] = []
    for source, targets in transitions.items():
        if source not in real:
            violations.append(_unknown_state(f"/stateTransitions/{_token(source)}", source, real))
        for i, target in enumerate(targets):
            pointer = f"/stateTransitions/{_token(source)}/{i}"
            if target not in real:
                violations.append(_unknown_state(pointer, target, real))
            elif target not in transitions:
                # Final states are listed with an empty list; a missing entry
                # would leave what follows the target unsaid.
                violations.append(Violation(pointer, "unknown_transition_target",
                                            f"{source!r} -> {target!r}: {target!r} has no entry of its own"))
    return violations


def _unknown_state(pointer: str, state: str, real: set[str]) -> Violation:
    return Violation(pointer, "unknown_state", f"{state!r} is not a CloudSuite state ({', '.join(sorted(real))})")


def _check_status_table(transitions: dict[str, list[str]], statuses: list[str]) -> list[Violation]:
    allowed = set(statuses)
    violations: list[Violation] = []
    for source, targets in transitions.items():
        if source not in allowed:
            violations.append(Violation(f"/statusTransitions/{_token(source)}", "unknown_status",
                                        f"status {source!r} is not among statuses"))
        for i, target in enumerate(targets):
            if target not in allowed:
                violations.append(Violation(f"/statusTransitions/{_token(source)}/{i}", "unknown_status",
                                            f"{source!r} -> {target!r}: {target!r} is not among statuses"))
    return violations
