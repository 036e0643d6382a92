"""A production-shaped Roadie on one machine, without Docker: chromadb server, serve workers, one scheduler.

PostgreSQL and Redis are used where they already run (this module never starts or stops them). Every
process it starts gets its own session (process group), a pid file and a log file in the run directory,
so `stop` ends exactly those processes — and their children, such as uvicorn's workers — and nothing else.

`make stack` / `make stack-stop` run `python -m assistant.stack start|stop`; tests/test_stack.py and
bench/scaling.py start the same stack from Python with `Stack(...).start()` and `.stop()`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_WAIT_S = 300.0  # a cold worker loads torch and the embedding model, then may seed the demo catalogue
STOP_WAIT_S = 45.0


class StackError(RuntimeError):
    """The stack could not start; the message says what to do."""


@dataclass(frozen=True)
class Worker:
    """A `serve` process: `name` (also its ROADIE_WORKER_ID unless it runs several uvicorn workers)."""

    name: str
    port: int
    processes: int = 1  # uvicorn --workers on the one port


@dataclass
class Stack:
    """What to start and where; `start()` brings it up and waits until every worker is ready."""

    run_dir: Path
    database_url: str
    redis_url: str
    redis_prefix: str = "roadie:"
    chroma_port: int | None = 8001  # None: no chromadb server, the knowledge store is in memory
    workers: list[Worker] = field(default_factory=lambda: [Worker("web", 8000, processes=2)])
    scheduler: bool = True
    seed: bool = False  # run `main.py seed` (catalogue, price forecasts, guides into chromadb) after migrating
    env: Mapping[str, str] = field(default_factory=dict)  # more settings for every Roadie process
    inherit_settings: bool = False  # pass this shell's ROADIE_* (channel tokens, LLM…) through; tests don't
    python: str = sys.executable

    def __post_init__(self) -> None:
        self.run_dir = self.run_dir.resolve()
        self._children: dict[str, subprocess.Popen[bytes]] = {}  # the processes this object started

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    def urls(self) -> dict[str, str]:
        """Base URL of each `serve` process (by worker name)."""
        return {w.name: f"http://127.0.0.1:{w.port}" for w in self.workers}

    def roadie_env(self) -> dict[str, str]:
        """The environment every Roadie process of this stack runs with."""
        env = {k: v for k, v in os.environ.items() if self.inherit_settings or not k.startswith("ROADIE_")}
        env.update(
            {
                "ROADIE_DATABASE_URL": self.database_url,
                "ROADIE_REDIS_URL": self.redis_url,
                "ROADIE_REDIS_PREFIX": self.redis_prefix,
                "ROADIE_DATA_DIR": str(self.data_dir),
                "ROADIE_MIGRATE_ON_START": "false",  # `main.py migrate` runs once, before the workers
                "ROADIE_SCHEDULER_IN_PROCESS": "false",  # the scheduler is its own process
                "ROADIE_LOG_FORMAT": "json",
                "PROMETHEUS_MULTIPROC_DIR": str(self.run_dir / "metrics"),
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.chroma_port is None:
            env["ROADIE_KNOWLEDGE_STORE"] = "memory"
        else:
            env["ROADIE_CHROMA_URL"] = f"http://127.0.0.1:{self.chroma_port}"
        env.update(self.env)
        return env

    # Starting.

    def start(self) -> None:
        """Check PostgreSQL and Redis, start chromadb, migrate, start workers and scheduler; wait until ready.

        Anything started before a failure is stopped again before the error is raised.
        """
        if self.running():
            raise StackError(f"a stack already runs from {self.run_dir} ({', '.join(self.running())}); stop it first")
        if not self.database_url.startswith("sqlite"):
            check_postgres(self.database_url)
        if self.redis_url:
            check_redis(self.redis_url)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        metrics = self.run_dir / "metrics"
        shutil.rmtree(metrics, ignore_errors=True)  # old processes' values would be added to the new ones'
        metrics.mkdir()
        try:
            if self.chroma_port is not None:
                chroma = Path(self.python).with_name("chroma")
                command = [str(chroma), "run", "--path", str(self.data_dir / "chroma")]
                self._spawn("chroma", [*command, "--host", "127.0.0.1", "--port", str(self.chroma_port)], {})
                wait_http(f"http://127.0.0.1:{self.chroma_port}/api/v2/heartbeat", READY_WAIT_S, self._alive("chroma"))
            self._once("migrate", ["migrate"])
            if self.seed:
                self._once("seed", ["seed"])
            for worker in self.workers:
                self._spawn_worker(worker)
            if self.scheduler:
                self._spawn("scheduler", [self.python, "main.py", "scheduler"], {"ROADIE_WORKER_ID": "scheduler"})
            for worker in self.workers:
                wait_http(f"http://127.0.0.1:{worker.port}/readyz", READY_WAIT_S, self._alive(worker.name))
        except BaseException:
            self.stop()
            raise

    def _spawn_worker(self, worker: Worker) -> None:
        args = ["serve", "--host", "127.0.0.1", "--port", str(worker.port), "--workers", str(worker.processes)]
        named = {"ROADIE_WORKER_ID": worker.name} if worker.processes == 1 else {}
        self._spawn(worker.name, [self.python, "main.py", *args], named)

    def restart(self, name: str) -> None:
        """Start the named worker again (after `kill`) and wait until it is ready."""
        worker = next(w for w in self.workers if w.name == name)
        self._spawn_worker(worker)
        wait_http(f"http://127.0.0.1:{worker.port}/readyz", READY_WAIT_S, self._alive(worker.name))

    def _log(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def _spawn(self, name: str, command: list[str], extra: Mapping[str, str]) -> int:
        with self._log(name).open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**self.roadie_env(), **extra},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it and its children together
            )
        (self.run_dir / f"{name}.pid").write_text(f"{process.pid}\n")
        self._children[name] = process
        return process.pid

    def _once(self, name: str, args: list[str]) -> None:
        with self._log(name).open("ab") as log:
            done = subprocess.run(
                [self.python, "main.py", *args],
                cwd=ROOT,
                env=self.roadie_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=READY_WAIT_S,
                check=False,
            )
        if done.returncode != 0:
            raise StackError(f"`main.py {' '.join(args)}` failed; see {self._log(name)}:\n{tail(self._log(name))}")

    def _alive(self, name: str) -> Iterator[None]:
        """Yields while the named process runs; raises StackError with its log's end once it has exited."""
        while True:
            child = self._children.get(name)
            if child is not None:  # spawned here: asked directly, as just after exec /proc may not show it yet
                code = child.poll()
                running = code is None
            else:
                pid = self.pids().get(name)
                code, running = None, pid is not None and _is_ours(pid, self.run_dir)
            if not running:
                how = (
                    f" (exit status {code}{', a signal' if code is not None and code < 0 else ''})"
                    if code is not None
                    else ""
                )
                raise StackError(
                    f"{name} exited while starting{how}; the end of {self._log(name)}:\n{tail(self._log(name))}"
                )
            yield

    # Looking and stopping.

    def pids(self) -> dict[str, int]:
        """The processes this stack started (by name), from the pid files in the run directory."""
        found = {}
        for pid_file in sorted(self.run_dir.glob("*.pid")):
            with contextlib.suppress(ValueError, OSError):
                found[pid_file.stem] = int(pid_file.read_text().strip())
        return found

    def running(self) -> list[str]:
        return [name for name, pid in self.pids().items() if _is_ours(pid, self.run_dir)]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one process of the stack and its children (SIGKILL: a worker dying mid-turn, for benchmarks)."""
        pid = self.pids()[name]
        if _is_ours(pid, self.run_dir):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)

    def stop(self) -> list[str]:
        """End every process this stack started (scheduler, workers, then chromadb): SIGTERM, then SIGKILL.

        Only process groups whose leader still runs from this checkout with this run directory's
        environment are signalled, so a pid reused by another program is left alone. Returns the names stopped.
        """
        order = ["scheduler", *(w.name for w in self.workers), "chroma"]
        pids = self.pids()
        names = [n for n in order if n in pids] + [n for n in pids if n not in order]
        stopped = []
        for name in names:
            pid = pids[name]
            if _is_ours(pid, self.run_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
                stopped.append(name)
        deadline = time.monotonic() + STOP_WAIT_S
        for name in stopped:
            while _group_alive(pids[name]) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _group_alive(pids[name]):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pids[name], signal.SIGKILL)
        for name in pids:
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / f"{name}.pid").unlink()
        return stopped


def _environ_of(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _is_ours(pid: int, run_dir: Path) -> bool:
    """True when `pid` runs and leads its own group with this stack's data dir or chromadb path in its environment."""
    try:
        if os.getpgid(pid) != pid:
            return False
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ProcessLookupError):
        return False
    marker = str(run_dir.resolve()).encode()
    if b"chroma" in command and marker in command:
        return True
    return b"\0ROADIE_DATA_DIR=" + str(run_dir.resolve() / "data").encode() + b"\0" in b"\0" + _environ_of(pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader (our own child, not yet reaped) still counts as a member: reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pgid, os.WNOHANG)[0] == pgid:
            return _group_alive(pgid)
    return True


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_http(url: str, timeout_s: float, alive: Iterator[None] | None = None) -> None:
    """Wait until `url` answers 200 (bounded by `timeout_s`); `alive` raises if the server process has died."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if alive is not None:
            next(alive)
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"{error.code} {error.read()[:300].decode(errors='replace')}"
        except OSError as error:
            last = str(error)
        time.sleep(0.5)
    raise StackError(f"{url} was not ready within {timeout_s:.0f} s (last answer: {last})")


def check_postgres(url: str) -> None:
    """Raise StackError with how to start PostgreSQL when `url` cannot be reached."""
    from sqlalchemy import create_engine, text

    engine = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        raise StackError(
            f"PostgreSQL is not reachable at {url} ({type(error).__name__}). Start it — for example "
            "`sudo service postgresql start` (Debian/Ubuntu) or `brew services start postgresql` — create the "
            "database (`createdb roadie`), or point ROADIE_DATABASE_URL at one that runs."
        ) from error
    finally:
        engine.dispose()


def check_redis(url: str) -> None:
    """Raise StackError with how to start Redis when `url` cannot be reached."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except Exception as error:
        raise StackError(
            f"Redis is not reachable at {url} ({type(error).__name__}). Start it — for example "
            "`sudo service redis-server start` or `redis-server --daemonize yes --bind 127.0.0.1` — "
            "or point ROADIE_REDIS_URL at one that runs."
        ) from error
    finally:
        client.close()


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` when the server runs but the database does not exist yet."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database})
            if exists.first() is None:
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    except Exception:
        pass  # check_postgres says what is wrong with the server in words
    finally:
        admin.dispose()


def from_environment(run_dir: Path) -> Stack:
    """The `make stack` stack: ROADIE_DATABASE_URL / ROADIE_REDIS_URL or the local defaults, ports from STACK_*."""
    database = os.environ.get("ROADIE_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/roadie"
    port = int(os.environ.get("STACK_PORT", "8000"))
    return Stack(
        run_dir=run_dir,
        database_url=database,
        redis_url=os.environ.get("ROADIE_REDIS_URL") or "redis://127.0.0.1:6379/0",
        chroma_port=int(os.environ.get("STACK_CHROMA_PORT", "8001")),
        workers=[Worker("web", port, processes=int(os.environ.get("STACK_WORKERS", "2")))],
        seed=True,
        inherit_settings=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m assistant.stack", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("start", "stop", "status"))
    p.add_argument("--run-dir", default=str(ROOT / "data" / "stack"), help="pid files, logs, data (default data/stack)")
    args = p.parse_args(argv)
    stack = from_environment(Path(args.run_dir).resolve())
    if args.action == "stop":
        stopped = stack.stop()
        print(f"Stopped {', '.join(stopped)}." if stopped else f"Nothing of the stack in {stack.run_dir} was running.")
        return 0
    if args.action == "status":
        print(json.dumps({name: _is_ours(pid, stack.run_dir) for name, pid in stack.pids().items()}))
        return 0
    ensure_database(stack.database_url)
    try:
        stack.start()
    except StackError as error:
        print(f"The stack did not start: {error}", file=sys.stderr)
        return 1
    web = stack.urls()["web"]
    print(
        f"Roadie runs at {web} ({stack.workers[0].processes} workers), chromadb at "
        f"http://127.0.0.1:{stack.chroma_port}, the scheduler on its own; PostgreSQL {stack.database_url}, "
        f"Redis {stack.redis_url}.\nLogs and pids: {stack.run_dir}. Health: {web}/readyz, metrics: {web}/metrics. "
        "Stop with `make stack-stop`."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
