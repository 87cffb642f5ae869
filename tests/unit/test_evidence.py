"""The evidence graph the web console draws is built from a RetrievalResult's public fields only."""

from __future__ import annotations

from api.evidence import evidence_graph
from graphrag.types import Passage, PathStep, RetrievalResult, SeedEntity


def _passage(chunk_id: str, title: str, text: str, score: float) -> Passage:
    return Passage(chunk_id=chunk_id, document_id=chunk_id.split("#")[0], title=title, text=text, score=score)


RESULT = RetrievalResult(
    question="Which river flows through the city where Marie Curie was born?",
    passages=[
        _passage("curie.md#0", "Marie Curie", "Marie Curie was born in Warsaw. She studied in Paris.", 0.9),
        _passage("warsaw.md#0", "Warsaw", "Warsaw stands on the Vistula River.", 0.5),
        _passage("curie.md#1", "Marie Curie", "She won two Nobel Prizes.", 0.2),
        _passage("vistula.md#0", "Vistula (river)", "The Vistula is the longest river in Poland.", 0.1),
    ],
    paths=[
        [PathStep(source="Marie Curie", relation="MENTIONED_IN", target="Marie Curie")],
        [PathStep(source="Marie Curie", relation="RELATED", target="Warsaw"),
         PathStep(source="Warsaw", relation="MENTIONED_IN", target="Warsaw")],
        [PathStep(source="Marie Curie", relation="MENTIONED_IN", target="Marie Curie")],
        [PathStep(source="Marie Curie", relation="MENTIONED_IN", target="Paris Notes"),
         PathStep(source="Paris Notes", relation="MENTIONS", target="Vistula"),
         PathStep(source="Vistula", relation="MENTIONED_IN", target="Vistula (river)")],
    ],
    seeds=[SeedEntity(key="marie curie", name="Marie Curie", source="ngram")],
)


def _edges(graph) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return {(e.source, e.relation, e.target) for e in graph.edges}


def test_nodes_are_seeds_passages_and_path_entities_with_stable_ids() -> None:
    graph = evidence_graph(RESULT)
    nodes = {n.id: n for n in graph.nodes}
    assert nodes["e:marie curie"].kind == "seed" and nodes["e:marie curie"].key == "marie curie"
    assert [nodes[f"p:{p.chunk_id}"].n for p in RESULT.passages] == [1, 2, 3, 4]
    assert nodes["p:warsaw.md#0"].document_id == "warsaw.md" and nodes["p:warsaw.md#0"].score == 0.5
    assert nodes["e:warsaw"].kind == "entity" and nodes["e:vistula"].key == "vistula"
    assert nodes["t:Paris Notes"].kind == "passage" and nodes["t:Paris Notes"].n is None  # passed through, unranked
    assert len(nodes) == len(graph.nodes)  # no duplicates
    ids = set(nodes)
    assert all(e.source in ids and e.target in ids for e in graph.edges)


def test_paths_become_edges_and_a_repeated_title_is_matched_to_the_next_passage() -> None:
    edges = _edges(evidence_graph(RESULT))
    assert ("e:marie curie", "RELATED", "e:warsaw") in edges
    assert ("e:warsaw", "MENTIONED_IN", "p:warsaw.md#0") in edges
    # two paths end in a passage titled "Marie Curie": the first explains [1], the second [3]
    assert ("e:marie curie", "MENTIONED_IN", "p:curie.md#0") in edges
    assert ("e:marie curie", "MENTIONED_IN", "p:curie.md#1") in edges
    assert ("t:Paris Notes", "MENTIONS", "e:vistula") in edges
    assert ("e:vistula", "MENTIONED_IN", "p:vistula.md#0") in edges


def test_titles_and_names_in_the_text_link_passages_to_entities() -> None:
    edges = _edges(evidence_graph(RESULT))
    assert ("p:warsaw.md#0", "ABOUT", "e:warsaw") in edges
    assert ("p:vistula.md#0", "ABOUT", "e:vistula") in edges  # "Vistula (river)" names Vistula
    assert ("p:curie.md#0", "NAMES", "e:warsaw") in edges  # the bridge: Curie's passage names Warsaw
    assert ("p:warsaw.md#0", "NAMES", "e:vistula") in edges
    assert ("p:curie.md#1", "NAMES", "e:warsaw") not in edges  # it does not name Warsaw
    assert not any(r == "NAMES" and s == "p:warsaw.md#0" and t == "e:warsaw" for s, r, t in edges)  # ABOUT says it


def test_an_empty_result_is_an_empty_graph() -> None:
    graph = evidence_graph(RetrievalResult(question="q", passages=[]))
    assert graph.nodes == [] and graph.edges == []


def test_a_name_is_found_as_whole_words_whatever_the_case_and_the_alphabet() -> None:
    def names(text: str, name: str) -> bool:
        return evidence_graph(RetrievalResult(
            question="q", passages=[_passage("a.md#0", "", text, 1.0)],
            seeds=[SeedEntity(key="k", name=name, source="ngram")])).edges != []

    assert names("He moved to WARSAW in 1891.", "Warsaw")
    assert not names("Warsawian customs", "Warsaw")  # part of a word only
    assert not names("a b c", "a")  # one character never
    assert names("Born in Kraków, she left.", "kraków")  # non-ASCII text and name: the pattern alone decides
    assert names("Born in KRAKÓW.", "Kraków")
    # the pattern's case rules, not the ASCII shortcut's, decide a non-ASCII text: re matches "ı" with "I"
    assert names("ıstanbul is large", "Istanbul")
    assert not names("Istanbul is large", "Ankara")
