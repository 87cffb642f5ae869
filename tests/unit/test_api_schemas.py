"""The wire models' own logic, without a service."""

from __future__ import annotations

from api.schemas import IngestSummary


def test_a_job_summary_totals_every_field_of_its_files() -> None:
    """`add` sums the counters, rounds the seconds and keeps each list in order, for every field the model has:
    one left out by `add` would stay at this summary's value and fail the last assertion."""
    first = IngestSummary(document_ids=["a"], documents=1, chunks=4, entities=3, relations=2, skipped=0,
                          failed=["x.pdf: unreadable"], inputs=2, inputs_failed=1, seconds=0.1234)
    second = IngestSummary(document_ids=["b", "c"], documents=2, chunks=5, entities=1, relations=6, skipped=1,
                           failed=[], inputs=3, inputs_failed=0, seconds=1.0002)
    first.add(second)
    assert first.model_dump() == {
        "document_ids": ["a", "b", "c"], "documents": 3, "chunks": 9, "entities": 4, "relations": 8, "skipped": 1,
        "failed": ["x.pdf: unreadable"], "inputs": 5, "inputs_failed": 1, "seconds": 1.124}
    assert second.document_ids == ["b", "c"]  # the other summary is read, never changed
    assert set(first.model_dump()) == set(IngestSummary.model_fields)  # the expectation above names every field


def test_adding_to_an_empty_summary_gives_the_other() -> None:
    part = IngestSummary(document_ids=["a"], documents=1, chunks=2, failed=["b.md: empty"], inputs=2,
                         inputs_failed=1, seconds=0.5)
    total = IngestSummary()
    total.add(part)
    assert total == part
