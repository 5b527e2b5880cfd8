"""The benchmark harness's bookkeeping: targets judged on ratios, BENCHMARKS.md rewritten only between
its markers, and py-spy profiles summarised per function."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.profile import summarise
from tests.bench.report import Row, Run, write


@pytest.mark.parametrize(
    ("value", "anchor", "target", "met", "ratio_cell"),
    [
        (600.0, 1000.0, ("%", 0.5), True, "60%"),
        (400.0, 1000.0, ("%", 0.5), False, "40%"),
        (900.0, 300.0, ("x", 3), True, "3.00×"),
        (10.0, 1000.0, ("%max", 0.02), True, "1%"),
        (108.0, 100.0, ("growth", 0.10), True, "+8.0%"),
        (111.0, 100.0, ("growth", 0.10), False, "+11.0%"),
    ],
)
def test_a_target_on_the_anchor_is_judged_on_the_ratio(value, anchor, target, met, ratio_cell):
    row = Row("figure", value, "u", "anchor", anchor, "u", target=target)
    assert row.met is met
    assert row.cells()[4] == ratio_cell


def test_an_absolute_target_ignores_the_anchor_and_a_missing_figure_is_not_judged():
    assert Row("p99", 42.0, "ms", target=("<", 50)).met is True
    assert Row("p99", 51.0, "ms", target=("<", 50)).met is False
    assert Row("ingest", None, "cmd/s", "raw", 100.0, "rows/s", target=("%", 0.5)).met is None
    assert Row("orientation", 5.0, "x").met is None


def test_writing_replaces_only_its_own_block_and_keeps_the_notes_around_it(tmp_path: Path):
    path = tmp_path / "BENCHMARKS.md"
    write(path, Run("cmd", "full", "wrk", rows=[Row("ingest", 1.0, "cmd/s")]))
    path.write_text("# Notes before\n" + path.read_text() + "\nLog kept by hand.\n")
    write(path, Run("cmd", "full", "wrk", rows=[Row("ingest", 2.0, "cmd/s")]))
    write(path, Run("cmd", "prototypes", "wrk", rows=[Row("write", 3.0, "events/s")]), "prototypes")

    text = path.read_text()
    assert text.startswith("# Notes before") and "Log kept by hand." in text
    assert "| ingest | 2.00 cmd/s |" in text and "| ingest | 1.00 cmd/s |" not in text
    assert text.count("bench:table:begin") == 1 and text.count("bench:prototypes:begin") == 1
    assert "| write | 3.00 events/s |" in text


def test_a_profile_is_summarised_as_shares_of_samples_optionally_within_one_function(tmp_path: Path):
    collapsed = tmp_path / "api-idle.txt"
    collapsed.write_text(
        "thread (0x1);main (app.py:1);handle (app.py:5);save (store.py:9) 6\n"
        "thread (0x1);main (app.py:1);handle (app.py:5);enqueue (queue.py:3) 2\n"
        "thread (0x2);pool_worker (pool.py:7) 12\n"
    )
    everything = summarise(collapsed)
    within = summarise(collapsed, root="handle")

    assert "20 samples" in everything and "60.0%  60.0%  pool_worker (pool.py)" in everything
    assert "8 samples" in within and "75.0%  75.0%  save (store.py)" in within and "pool_worker" not in within
