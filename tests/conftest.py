"""Shared fixtures: one embedding model per run, a seeded demo database, and a Roadie to talk to."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import create_engine, text

from assistant.clock import FixedClock
from assistant.db import Database
from assistant.seed import seed
from assistant.settings import Settings
from channels.fake import FakeChannel
from knowledge.embeddings import Embedder
from main import Roadie, start_roadie

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    model = Embedder()
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo database seeded once at NOW; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "roadie.sqlite"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    seed(db, NOW)
    db.dispose()
    return path


@pytest.fixture
def settings(tmp_path: Path, seeded_template: Path) -> Iterator[Settings]:
    for suffix in ("", "-wal", "-shm"):
        source = seeded_template.with_name(seeded_template.name + suffix)
        if source.exists():
            shutil.copy(source, tmp_path / source.name)
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path,
        database_url="",
        memory_url="",
        llm_base_url="",
        openai_api_key="",
        knowledge_store="memory",
    )


@pytest_asyncio.fixture
async def roadie(settings: Settings, embedder: Embedder) -> AsyncIterator[Roadie]:
    async with start_roadie(settings, FixedClock(NOW), embedder) as running:
        yield running


@pytest.fixture
def chat(roadie: Roadie) -> FakeChannel:
    """Talk to Roadie as travellers would: `await chat.say("...")`."""
    return FakeChannel(roadie.service.handle)


POSTGRES_URL = os.environ.get("ROADIE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database, or a skip when no server is reachable."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = f"roadie_{uuid.uuid4().hex[:10]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # any connection failure means: no PostgreSQL here
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(error).__name__}")
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def own_logging() -> Iterator[None]:
    """For tests that run `main.main` in-process: it sets up logging as a process of its own would, and
    the test session gets its handlers, filters and levels back afterwards."""
    root = logging.getLogger()
    touched = [root, *(logging.getLogger(name) for name in ("httpx", "httpcore", "apscheduler", "uvicorn"))]
    saved = [(logger, list(logger.handlers), logger.level, logger.propagate) for logger in touched]
    filters = {id(h): list(h.filters) for h in root.handlers}
    try:
        yield
    finally:
        for logger, handlers, level, propagate in saved:
            for handler in list(logger.handlers):
                if handler not in handlers:
                    logger.removeHandler(handler)
                    handler.close()
            for handler in handlers:
                if handler not in logger.handlers:
                    logger.addHandler(handler)
                handler.filters[:] = filters.get(id(handler), handler.filters)
            logger.setLevel(level)
            logger.propagate = propagate
