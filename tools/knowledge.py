"""Answers from Roadie's own documents — policies, FAQ, venue guides, city tips — with their source, or "I don't know"."""

from __future__ import annotations

from typing import Any

from langchain.tools import ToolRuntime
from sqlalchemy import select

from assistant.models import GroupMember
from assistant.toolkit import ToolAnswer, UserFacingError, roadie_tool, turn_context
from knowledge.store import PUBLIC, Hit

# Cosine similarity below which a passage does not answer the question. At 0.47 the guides eval
# (evals/datasets/knowledge.jsonl) declines 62 of its 65 unanswerable questions, and every answerable one it
# loses against 0.45 was being answered from the wrong guide anyway.
RELEVANT = 0.47
NEARLY_AS_GOOD = 0.05
SUPPORT = "support@roadie.example"


def answer_from(hits: list[Hit]) -> ToolAnswer:
    """The best passage (and a close second from another document), each with its source — or "I don't know"."""
    good = [h for h in hits if h.score >= RELEVANT]
    if not good:
        return ToolAnswer(
            "I don't know that one — it isn't in Roadie's guides, and I'd rather not guess. "
            f"A person can help at {SUPPORT}. I can answer about bookings and refunds, group trips, alerts, "
            "and getting to and around our venues and cities.",
            data={"answered": False, "best_score": round(hits[0].score, 3) if hits else None},
        )
    shown = [good[0]] + [
        h
        for h in good[1:2]
        if h.score >= good[0].score - NEARLY_AS_GOOD
        and h.chunk.metadata.get("doc") != good[0].chunk.metadata.get("doc")
    ]
    parts = []
    for hit in shown:
        heading, _, passage = hit.chunk.text.partition("\n")
        parts.append(f"{passage.strip()}\n_Source: {heading.strip()}_")
    return ToolAnswer(
        "\n\n".join(parts),
        data={
            "answered": True,
            "sources": [
                {"doc": h.chunk.metadata.get("doc"), "title": h.chunk.metadata.get("title"), "score": round(h.score, 3)}
                for h in shown
            ],
        },
    )


@roadie_tool(
    summary="answer questions from Roadie's guides — refunds, payments, group trips, venues, getting there",
    examples=(
        "what's your refund policy?",
        "can I bring a bag into the stadium?",
        "how do I get from the airport to the venue?",
        "is the venue wheelchair accessible?",
        "how does payment work?",
        "what happens if the show is cancelled?",
        "how do group trips work?",
        "how do I stop the alerts?",
        "what do you do with my data?",
        "where should I stay near the arena?",
        "how late does the metro run after the concert?",
        "can I change the names on my booking?",
        "do you charge a booking fee?",
        "what's the bag policy at Wembley?",
        "how do I get to Estádio da Luz from the station?",
        "do I get my money back if I cancel?",
        "what if the show gets postponed?",
        "do I have to type my card details in the chat?",
        "how do I link my accounts on two apps?",
        "why can't I see my booking in the web chat?",
        "how do I turn messages back on after STOP?",
        "how do I make Roadie stop texting me?",
        "what data do you keep about me?",
        "how do I delete my account?",
        "do you read voice notes or photos?",
        "who can see my messages in a group chat?",
        "how do I get to the stadium from the train station?",
        "can I take a camera into the arena?",
        "are backpacks allowed inside the venue?",
        "how big a bag can I take in?",
        "where can I leave my suitcase during the concert?",
        "which area is good to stay in for the show?",
        "do people tip in restaurants there?",
        "can I pay by card there or do I need cash?",
        "how do I get around the city by public transport?",
        "does the underground run through the night?",
        "how long is the train from the airport to the arena?",
        "¿cuál es la política de reembolso?",
        "wie komme ich vom Flughafen zum Stadion?",
        "puis-je apporter un sac ?",
        "como chego ao estádio?",
    ),
)
def ask_knowledge(runtime: ToolRuntime[Any, Any], question: str) -> ToolAnswer:
    """Answer a question from Roadie's own documents, citing the document; says it does not know rather than guess.

    Compose the answer only from the passages returned, and keep the source.

    Args:
        question: The person's question, in their words.
    """
    ctx = turn_context(runtime)
    library = ctx.services.library
    if library is None:
        raise UserFacingError(f"Roadie's guides aren't available right now — a person can help at {SUPPORT}.")
    with ctx.services.db.session() as session:
        groups = list(
            session.scalars(select(GroupMember.group_id).where(GroupMember.person_id == ctx.caller.person_id))
        )
    return answer_from(library.search(question, k=3, groups=[PUBLIC, *groups]))
