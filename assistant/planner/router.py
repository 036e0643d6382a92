"""Intent routing on sentence embeddings: a logistic-regression head trained on each tool's examples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from knowledge.embeddings import Embedder

GREETING = "greeting"
THANKS = "thanks"
HELP = "help"
OUT_OF_SCOPE = "out_of_scope"

BUILT_IN_EXAMPLES: dict[str, tuple[str, ...]] = {
    GREETING: (
        "hi",
        "hello",
        "hey there",
        "good morning",
        "hola",
        "hallo",
        "bonjour",
        "olá",
        "yo",
        "hey roadie",
        "hi there!",
        "good evening",
        "hiya",
        "sup",
        "buenos dias",
    ),
    THANKS: (
        "thanks",
        "thank you",
        "cheers",
        "great thanks",
        "gracias",
        "danke",
        "merci",
        "obrigado",
        "perfect, thanks!",
        "ok cool",
        "awesome",
        "that's helpful",
        "nice one",
        "ok",
        "got it",
    ),
    HELP: (
        "help",
        "what can you do",
        "how does this work",
        "what are you",
        "who are you",
        "menu",
        "options",
        "what can I ask you",
        "what do you do",
        "commands",
        "how do I use roadie",
        "start",
        "/start",
        "/help",
    ),
    OUT_OF_SCOPE: (
        "what's the weather tomorrow",
        "reserve a table for dinner in Rome",
        "book a restaurant near the hotel",
        "what time is it in Sydney",
        "convert 100 dollars to euros",
        "exchange rate from pounds to yen",
        "cancel my gym membership",
        "what's the capital of Spain",
        "tell me a joke",
        "what is 2+2",
        "set an alarm for 7am",
        "how do I cook pasta",
        "what's my bank balance",
        "translate hello into french",
        "who won the football last night",
        "recommend a good book",
        "what's the capital of Australia",
        "order me a pizza",
        "how tall is the eiffel tower",
        "call my mom",
        "what time is it",
        "how do I reset my gmail password",
        "write me a poem",
        "book a table for two at 8",
        "find me a doctor",
        "what's the stock price of apple",
        "turn off the lights",
        "how many calories in a banana",
        "help me with my homework",
        "what's the meaning of life",
        "track my package",
        "remind me to buy milk",
        "get me a car insurance quote",
        "what's the best pizza in town",
        "how do I change a tyre",
        "is it going to rain",
        "what's the exchange rate for dollars",
        "tell me about the roman empire",
        "sing me a song",
        "what should I have for dinner",
        "how old is the universe",
        "can you do my taxes",
        "transfer money to my savings account",
        "what's my credit score",
        "when is my flight landing",
        "I lost my luggage",
        "how many carry-ons can I bring",
        "do I need a visa for japan",
        "what's the speed of light",
        "how do I learn python",
        "cuál es el clima mañana",
        "wie spät ist es",
        "raconte-moi une blague",
        "play some music on spotify",
        "what vaccines do I need for travel",
        "rent a car for the weekend",
        "find a dentist near me",
    ),
}


@dataclass(frozen=True)
class Intent:
    """The router's verdict: the label, its probability and the closest example's similarity."""

    label: str
    probability: float
    similarity: float
    ranked: tuple[tuple[str, float], ...]


class Router:
    """Classifies a message among the given tools and the built-in conversational intents."""

    def __init__(self, embedder: Embedder, tool_examples: dict[str, tuple[str, ...]]) -> None:
        self._embedder = embedder
        texts: list[str] = []
        labels: list[str] = []
        for label, examples in {**tool_examples, **BUILT_IN_EXAMPLES}.items():
            texts.extend(examples)
            labels.extend([label] * len(examples))
        self._vectors = embedder.embed(texts)
        self._labels = np.array(labels)
        self._head = LogisticRegression(C=12.0, max_iter=2000)
        self._head.fit(self._vectors, self._labels)
        self.tools = tuple(tool_examples)

    def classify(self, text: str) -> Intent:
        """The most likely intent for `text`."""
        vector = self._embedder.embed_one(text.strip().lower())
        probabilities = self._head.predict_proba(vector[None, :])[0]
        order = np.argsort(probabilities)[::-1]
        classes = self._head.classes_
        ranked = tuple((str(classes[i]), float(probabilities[i])) for i in order[:5])
        label = ranked[0][0]
        similarity = float((self._vectors[self._labels == label] @ vector).max())
        return Intent(label, ranked[0][1], similarity, ranked)
