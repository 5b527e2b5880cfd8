"""RQ job functions (imported by dotted path) and the worker entry point."""
