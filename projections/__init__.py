"""Read models. Each owns its tables, its updater (worker side) and its queries (API side).

Projections are a pure function of the event history: they never write to the
event store, and dropping and rebuilding them gives the same rows.
"""
