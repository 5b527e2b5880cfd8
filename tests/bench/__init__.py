"""`make bench` (`python -m tests.bench`): throughput, latency and memory of the real processes.

Every figure is measured beside its anchor in the same run and reported as a
ratio, because the 2-core machines this runs on are shared and noisy. The
harness starts its own embedded PostgreSQL and Valkey in a temporary folder,
real `orderledger serve` / `orderledger worker` processes, and drives them
over HTTP with wrk (or, without wrk, an asyncio client of its own) pinned to
the last core, so the server keeps the other one.
"""
