"""The HTTP API (Litestar): Voyado Engage Orders v3 compatible, under /api/v3."""
