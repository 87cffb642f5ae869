"""Settings reach the retrieval the API and the CLI build (`RetrievalConfig.from_settings`)."""

import pytest

from graphrag.config import Settings
from graphrag.retrieval import RetrievalConfig


def test_dense_neighbours_set_both_how_many_hits_and_how_many_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    default = RetrievalConfig.from_settings(Settings())
    assert (default.ppr_dense_k, default.ppr_dense_read) == (RetrievalConfig().ppr_dense_k,
                                                             RetrievalConfig().ppr_dense_read) == (100, 100)
    monkeypatch.setenv("GRAPHRAG_RETRIEVAL_DENSE_NEIGHBOURS", "64")
    monkeypatch.setenv("GRAPHRAG_RETRIEVAL_DENSE_EF_SEARCH", "200")
    fewer = RetrievalConfig.from_settings(Settings())
    assert (fewer.ppr_dense_k, fewer.ppr_dense_read, fewer.dense_ef_search) == (64, 64, 200)
    monkeypatch.setenv("GRAPHRAG_RETRIEVAL_DENSE_NEIGHBOURS", "0")
    with pytest.raises(ValueError, match="retrieval_dense_neighbours"):
        Settings()
