"""History for analysts: order streams, time travel, diffs, the tenant feed, exports, rebuilds, erasure."""
