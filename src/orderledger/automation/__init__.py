"""Automations: webhook subscriptions, the delivery outbox, and the outbound calls that drain it."""
