"""The programme as its users run it: the `sera` command in a subprocess, and a running `sera serve`.

Nothing here imports the product's services: the only ways in are the command line and HTTP.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SERA = Path(sys.executable).parent / "sera"
"""The `sera` script of the interpreter running the tests (the worktree's .venv)."""


def base_environment(database_url: str, **extra: str) -> dict[str, str]:
    """The process environment less any developer SERA_ setting or proxy, plus the run's own settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SERA_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env.update(
        SERA_DATABASE_URL=database_url,
        SERA_PERSON_KEY_SECRET="acceptance-person-key",
        SERA_SECRET_KEY="",
        SERA_LOG_LEVEL="WARNING",
        NO_PROXY="127.0.0.1,localhost",
        **extra,
    )
    return env


@dataclass
class Sera:
    """`sera …` in a subprocess, from a scratch directory (so no `.env` of the developer is read)."""

    env: dict[str, str]
    cwd: Path
    log: list[str] = field(default_factory=list)

    def run(self, *args: str, ok: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(SERA), *args], env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=timeout
        )
        self.log.append(f"$ sera {' '.join(args)} → {done.returncode}\n{done.stdout}{done.stderr}")
        if ok and done.returncode != 0:
            raise AssertionError(f"sera {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def token(self, role: str, organisation: str | None = None) -> str:
        """`sera tokens create`: the token is alone on the last line of stdout."""
        args = ["tokens", "create", "--role", role, "--label", f"acceptance {role}"]
        if organisation:
            args += ["--organisation", organisation]
        return self.run(*args).stdout.strip().splitlines()[-1]

    def sync(self, *options: str, ok: bool = True) -> dict[str, str]:
        """`sera sync …`: connection/form → the status word of its line."""
        done = self.run("sync", *options, ok=ok)
        lines = [
            line
            for line in done.stdout.splitlines()
            if ": " in line and not line.startswith(" ") and "/" in line.split(": ", 1)[0]
        ]
        return {line.split(": ", 1)[0]: line.split(": ", 1)[1].split()[0] for line in lines}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(env: dict[str, str], cwd: Path, *, timeout: float = 90) -> Iterator[str]:
    """`sera serve` on a free 127.0.0.1 port until the block ends; yields its base URL once /health answers."""
    port = free_port()
    log = (cwd / "serve.log").open("w")
    process = subprocess.Popen(
        [str(SERA), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"sera serve exited {process.returncode}:\n{(cwd / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"sera serve did not answer in {timeout} s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Api:
    """One token's view of the running API."""

    url: str
    token: str

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.url}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )
        assert response.status_code == 200, f"GET {path} {params} → {response.status_code}: {response.text[:500]}"
        return response.json()

    def post(self, path: str, body: Any = None, expect: int = 201) -> Any:
        response = httpx.post(
            f"{self.url}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {self.token}"}, timeout=120
        )
        assert response.status_code == expect, f"POST {path} → {response.status_code}: {response.text[:500]}"
        return response.json()

    def values(self, code: str, by: str = "", **params: Any) -> list[dict[str, Any]]:
        page = self.get(f"/indicators/{code}/values", by=by, limit=1000, **params)
        assert page["total"] == len(page["items"]), "more than one page of values"
        return page["items"]

    def submissions(self, connection: str, form: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.get(
                "/submissions", connection=connection, form=form, include_deleted=include_deleted, offset=len(items)
            )
            items += page["items"]
            if len(items) >= page["total"] or not page["items"]:
                return items
