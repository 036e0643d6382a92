"""Roadie's documents: chunked by section, indexed incrementally, searched with private groups kept private."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.messages import Reply
from channels.fake import FakeChannel
from knowledge.embeddings import Embedder
from knowledge.library import DOCS, Library, chunk_document
from knowledge.store import PUBLIC, ChromaStore, MemoryStore, VectorStore

GUIDES = {
    "refunds.md": "# Refund policy\n\n## Cancelling a booking\nCancel up to 14 days before the show for a full refund.\n\n"
    "## Cancelled shows\nIf the artist cancels, you get all your money back automatically.\n",
    "venues/arena.md": "# Venue guide: Harbour Arena\n\n## Bag policy\nBags up to A4 size are allowed; no large backpacks.\n\n"
    "## Getting there from the airport\nTake the airport express train to Central, then tram 4 to the arena.\n",
    "alerts.md": "# Alerts\n\n## Pausing alerts\nSend STOP in any chat to pause alerts there; START turns them back on.\n",
}

Stores = Callable[[Path], VectorStore]


def write(folder: Path, docs: dict[str, str]) -> None:
    for name, text in docs.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture(params=["memory", "chroma"])
def make_store(request: pytest.FixtureRequest, embedder: Embedder) -> Stores:
    if request.param == "memory":
        return lambda _: MemoryStore()
    return lambda folder: ChromaStore(embedder, path=folder / "chroma")


def test_a_document_becomes_one_chunk_per_section_with_its_title() -> None:
    chunks = chunk_document("refunds.md", GUIDES["refunds.md"])
    assert [c.metadata["section"] for c in chunks] == ["Cancelling a booking", "Cancelled shows"]
    assert chunks[0].text.startswith("Refund policy — Cancelling a booking\n")
    assert {c.metadata["title"] for c in chunks} == {"Refund policy"}
    assert chunks[0].metadata["group"] == PUBLIC


def test_ingest_indexes_only_what_changed(tmp_path: Path, embedder: Embedder, make_store: Stores) -> None:
    docs = tmp_path / "docs"
    write(docs, GUIDES)
    library = Library(make_store(tmp_path), embedder, docs)
    first = library.ingest()
    assert (first.documents, first.changed, first.chunks) == (3, 3, 5)
    again = library.ingest()
    assert (again.changed, again.chunks) == (0, 0), "unchanged documents are not embedded again"

    write(docs, {"alerts.md": GUIDES["alerts.md"] + "\n## Daily digest\nStaff get a digest every morning.\n"})
    (docs / "refunds.md").unlink()
    edited = library.ingest()
    assert (edited.changed, edited.removed, edited.chunks) == (1, 1, 2)
    assert library.store.docs() == {"alerts.md", "venues/arena.md"}
    assert library.store.count() == 4


def test_questions_find_the_passage_that_answers_them(tmp_path: Path, embedder: Embedder, make_store: Stores) -> None:
    docs = tmp_path / "docs"
    write(docs, GUIDES)
    library = Library(make_store(tmp_path), embedder, docs)
    best = library.search("can I take my backpack into the arena?", k=1)[0]
    assert best.chunk.metadata["section"] == "Bag policy"
    assert best.score > library.search("how do I bake sourdough bread?", k=1)[0].score
    how = library.search("how do I get from the airport to Harbour Arena", k=1)[0]
    assert how.chunk.metadata["doc"] == "venues/arena.md"
    assert how.chunk.metadata["section"] == "Getting there from the airport"


def test_a_groups_private_itinerary_is_found_only_by_its_members(
    tmp_path: Path, embedder: Embedder, make_store: Stores
) -> None:
    docs = tmp_path / "docs"
    write(docs, GUIDES)
    library = Library(make_store(tmp_path), embedder, docs)
    library.ingest()
    library.put(
        "group/7/itinerary",
        "# Itinerary: Brussels crew\n\n## Friday\nFlight BRU at 13:00, hotel check-in 15:00.\n",
        group=7,
    )
    outsider = library.search("when is our flight to Brussels?", k=5, groups=[PUBLIC, 8])
    assert all(h.chunk.metadata["group"] == PUBLIC for h in outsider)
    assert len(outsider) == 5 or len(outsider) == library.store.count() - 1
    member = library.search("when is our flight to Brussels?", k=1, groups=[PUBLIC, 7])
    assert member[0].chunk.metadata["doc"] == "group/7/itinerary"
    assert library.ingest().removed == 0, "ingesting the public documents leaves group documents alone"


def test_a_store_indexed_by_another_encoder_is_re_embedded_when_it_opens(tmp_path: Path, embedder: Embedder) -> None:
    docs = tmp_path / "docs"
    write(docs, GUIDES)
    float_model, embedder = embedder, embedder.quantized()
    before = Library(ChromaStore(float_model, path=tmp_path / "chroma"), float_model, docs)
    before.ingest()
    before.put("group/7/itinerary", "# Itinerary: Brussels crew\n\n## Friday\nFlight BRU at 13:00.\n", group=7)

    import chromadb
    from chromadb.config import Settings

    # A collection named as Roadie named them before the name carried the encoder.
    legacy = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False))
    legacy.create_collection("roadie-event", metadata={"hnsw:space": "cosine"}).add(
        ids=["event/1#0"],
        documents=["Arctic Monkeys in Berlin\nIndie rock live at the Waldbühne, June 2027."],
        metadatas=[{"doc": "event/1", "hash": "h1", "group": PUBLIC, "kind": "event"}],
        embeddings=float_model.embed(["Arctic Monkeys in Berlin"]),
    )

    store = ChromaStore(embedder, path=tmp_path / "chroma")
    assert sorted(c.name for c in legacy.list_collections()) == [
        f"roadie-{part}.{embedder.encoder}" for part in ("doc", "event", "private")
    ]
    assert store.count() == 5 + 1 + 1, "every passage survives, the group's own and the old shows too"
    after = Library(store, embedder, docs)
    assert after.ingest().changed == 0, "the guides' texts came across: nothing to index again"
    question = embedder.embed_one("can I take my backpack into the arena?")
    best = store.query(question, 1)[0]
    assert best.chunk.metadata["section"] == "Bag policy"
    assert best.score == pytest.approx(float(question @ embedder.embed_one(best.chunk.text)), abs=1e-4), (
        "the stored vectors are this encoder's"
    )
    assert after.search("when is our flight to Brussels?", k=1, groups=[PUBLIC, 7])[0].chunk.metadata["group"] == 7
    assert all(h.chunk.metadata["group"] == PUBLIC for h in after.search("flight to Brussels", k=7))
    assert store.query(question, 1, kind="event")[0].chunk.metadata["doc"] == "event/1"


def title_of(doc: str) -> str:
    return (DOCS / doc).read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()


async def ask(chat: FakeChannel, text: str) -> Reply:
    reply = await chat.say(text)
    assert reply is not None
    return reply


async def test_travellers_get_answers_from_the_guides_with_their_source(chat: FakeChannel) -> None:
    refunds = await ask(chat, "what's your refund policy?")
    assert [c.name for c in refunds.tool_calls] == ["ask_knowledge"]
    assert all(tier in refunds.text for tier in ("full refund", "14 days", "50%", "48 hours", "no refund"))
    assert f"Source: {title_of('booking-policy.md')}" in refunds.text

    bags = await ask(chat, "can I bring a backpack into Wembley?")
    assert [c.name for c in bags.tool_calls] == ["ask_knowledge"]
    assert "backpacks" in bags.text
    assert f"Source: {title_of('venues/wembley-stadium.md')}" in bags.text

    unknown = await ask(chat, "what's the minimum age to get into the show?")
    assert [c.name for c in unknown.tool_calls] == ["ask_knowledge"]
    assert "I don't know" in unknown.text
    assert "support@roadie.example" in unknown.text
    assert "Source:" not in unknown.text

    trivia = await ask(chat, "who won the 1998 world cup?")
    assert "Source:" not in trivia.text
    if trivia.tool_calls:  # asked of the guides, they have no answer
        assert "I don't know" in trivia.text
        assert "support@roadie.example" in trivia.text
    else:  # or the planner sees it is not about concerts or trips at all
        assert "not something I can help with" in trivia.text
