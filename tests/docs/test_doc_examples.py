from __future__ import annotations

import pytest
from doc_examples import NOT_RUN, differences, examples, matches, normalise

EXAMPLES = examples()
RUN = [e for e in EXAMPLES if not e.not_run]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("example", RUN, ids=[e.name for e in RUN])
def test_console_example_prints_what_its_page_shows(example):
    assert differences(example) == ""


def test_every_example_not_run_is_listed_with_its_reason():
    assert {(e.name.split(":")[0], e.not_run) for e in EXAMPLES if e.not_run} == NOT_RUN


def test_docs_hold_console_examples_that_run():
    assert len(RUN) >= 10


def test_normalise_hides_solve_times_and_temporary_paths():
    line = "3 GPUs, lower bound 3: optimal, solved in 0.08 s (first-fit decreasing: 4 GPUs)  "
    assert normalise([line]) == [
        "3 GPUs, lower bound 3: optimal, solved in X s (first-fit decreasing: 4 GPUs)"
    ]
    assert normalise(["To fix: see the server log /tmp/gpupack-tritonserver-q3zd1v.log"]) == [
        "To fix: see the server log /tmp/X"
    ]


def test_an_ellipsis_line_stands_for_any_lines_and_nothing_else_does():
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "d"], ["a", "d"])
    assert not matches(["a", "...", "d"], ["a", "b", "c"])
    assert not matches(["a", "b"], ["a", "c"])
    assert not matches(["a"], ["a", "b"])
