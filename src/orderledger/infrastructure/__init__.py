"""Glue to the outside world: servers, database, queue."""
