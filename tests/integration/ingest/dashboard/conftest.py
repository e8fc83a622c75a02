"""The whole system for the dashboard's tests: the five services and the portal simulator, each its
real app (`create_app`, with its lifespan: relay, consumer, workers) served by uvicorn on a free
loopback port of this event loop, each on a database of its own and on the test Kafka. The ingest
app is the page server; a test drives it over HTTP as a browser would (cookies, forms, redirects).

`Stack.stop(name)` stops one service (its port closes) and `Stack.start(name)` serves it again on the
same port, so a test can load a page while a service is down.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import services.deadline.main
import services.evidence.main
import services.ingest.main
import services.notify.main
import services.portal_sim.main
import services.submit.main
from services.portal_sim.settings import Settings as PortalSettings
from services.portal_sim.settings import VerdictRule
from shared.db.migrations import upgrade
from shared.web.auth import mint_token
from tests.infra import TestInfra
from tests.integration.ingest.conftest import signed_headers
from tests.integration.ingest.dashboard.page import Node, parse
from tests.support import own_group, start_group_at_end

T = TypeVar("T")

SAMPLES = Path(__file__).resolve().parents[3] / "fixtures" / "samples"
CLEAN = ("tracking_cj_delivered", "pod_complete", "messages_coupang")
ORDER = "3000987650001"
MAINS: dict[str, ModuleType] = {
    "evidence": services.evidence.main,
    "deadline": services.deadline.main,
    "notify": services.notify.main,
    "submit": services.submit.main,
    "ingest": services.ingest.main,
}


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"evidence_{name}.json").read_text(encoding="utf-8"))


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout_s: float = 30.0, what: str = "") -> T:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or probe}")
        await asyncio.sleep(0.2)


class Served:
    """One app on a loopback port; `stop` and `start` again on the same port."""

    def __init__(self, make_app: Callable[[], FastAPI], lifespan: str = "on") -> None:
        self.make_app, self.lifespan = make_app, lifespan
        self.port = 0
        self.app: FastAPI | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.app = self.make_app()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, lifespan=self.lifespan)
        server = uvicorn.Server(config)
        server.config.timeout_graceful_shutdown = 2
        self._server, self._task = server, asyncio.create_task(server.serve())
        for _ in range(3000):
            if server.started:
                break
            if self._task.done():
                self._task.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        assert server.started, "the server did not start"
        self.port = server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


@dataclass
class Stack:
    served: dict[str, Served]
    settings: dict[str, Any]
    secret: str
    page: httpx.AsyncClient = field(init=False)

    def url(self, name: str) -> str:
        return self.served[name].url

    def token(self, role: str = "operator", seller_id: str | None = None) -> str:
        return mint_token(self.secret, role, seller_id)

    def headers(self, seller_id: str | None = None) -> dict[str, str]:
        token = self.token("seller", seller_id) if seller_id else self.token("operator")
        return {"Authorization": f"Bearer {token}"}

    async def stop(self, name: str) -> None:
        await self.served[name].stop()

    async def start(self, name: str) -> None:
        await self.served[name].start()
        await self.ready(name)

    async def ready(self, *names: str) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            for name in names or tuple(self.served):

                async def answers(name: str = name) -> bool:
                    try:
                        return (await client.get(f"{self.url(name)}/readyz")).status_code == 200
                    except httpx.HTTPError:
                        return False

                await eventually(answers, timeout_s=90, what=f"{name} ready")

    # ------------------------------------------------------------------ the API, as other systems use it

    async def api(
        self, name: str, method: str, path: str, *, seller_id: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url(name), timeout=30) as client:
            headers = {**self.headers(seller_id), **kwargs.pop("headers", {})}
            return await client.request(method, path, headers=headers, **kwargs)

    async def onboard(self) -> tuple[str, str]:
        seller_id = f"V{uuid.uuid4().hex[:10].upper()}"
        body = {"seller_id": seller_id, "name": "深圳演示贸易", "contact": "ops@example.cn"}
        answer = await self.api("ingest", "POST", "/v1/sellers", json=body)
        assert answer.status_code == 201, answer.text
        return seller_id, answer.json()["webhook_secret"]

    async def notice(self, seller_id: str, secret: str, *disputes: dict[str, Any]) -> None:
        body = {
            "event": "dispute.opened",
            "notice_id": f"N-{uuid.uuid4().hex[:8]}",
            "notified_at": datetime.now(UTC).isoformat(),
            "disputes": list(disputes),
        }
        raw = json.dumps(body, ensure_ascii=False).encode()
        async with httpx.AsyncClient(base_url=self.url("ingest"), timeout=30) as client:
            answer = await client.post(
                f"/v1/webhooks/coupang/{seller_id}", content=raw, headers=signed_headers(secret, raw)
            )
        assert answer.status_code == 202, answer.text
        assert all(r["result"] == "created" for r in answer.json()["results"]), answer.text

    async def known_to(self, name: str, path: str, seller_id: str, *, what: str = "") -> httpx.Response:
        """Wait until `name` answers 200 on `path` (its consumer has applied the case's events)."""

        async def probe() -> httpx.Response | None:
            answer = await self.api(name, "GET", path, seller_id=seller_id)
            return answer if answer.status_code == 200 else None

        return await eventually(probe, timeout_s=60, what=what or f"{name} {path}")

    async def new_case(self, seller_id: str, secret: str, **fields: Any) -> str:
        dispute_id = fields.pop("dispute_id", None) or f"CD-{uuid.uuid4().hex[:12]}"
        dispute = {
            "dispute_id": dispute_id,
            "kind": "platform_dispute",
            "order_id": ORDER,
            "amount": {"value": "32900", "currency": "KRW"},
            "reason_code": "NOT_RECEIVED",
            "reason_text": "상품 미수령",
            "buyer_id": "B-77",
            "respond_by": None,
            **fields,
        }
        await self.notice(seller_id, secret, dispute)
        return dispute_id


async def _database(infra: TestInfra, name: str, migrations: Path | None) -> AsyncIterator[str]:
    server = make_url(infra.database_url)
    database = f"dash_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{database}"'))
        url = server.set(database=database).render_as_string(hide_password=False)
        if migrations is not None:
            await asyncio.to_thread(upgrade, migrations, url)
        yield url
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="module")
async def stack(infra: TestInfra, kafka: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with AsyncExitStack() as exits:
        urls = {}
        for name, main in MAINS.items():
            urls[name] = await exits.enter_async_context(
                asynccontextmanager(_database)(infra, name, main.DEFINITION.migrations)
            )
        common = {"kafka_bootstrap_servers": kafka, "env": "local"}
        settings: dict[str, Any] = {}
        served: dict[str, Served] = {}

        def serve(name: str, make: Callable[[], FastAPI], lifespan: str = "on") -> Served:
            served[name] = Served(make, lifespan)
            return served[name]

        blobs = tmp_path_factory.mktemp("evidence-blobs")
        settings["evidence"] = services.evidence.main.Settings(
            database_url=urls["evidence"], blob_root=blobs, check_debounce_ms=200, **common
        )
        settings["deadline"] = services.deadline.main.Settings(database_url=urls["deadline"], **common)
        settings["notify"] = services.notify.main.Settings(
            database_url=urls["notify"], allow_private_targets=True, **common
        )
        portal = PortalSettings(callback_url=None, default_verdict=VerdictRule(outcome="won", delay_s=0.5))
        # Each service in a consumer group of this fixture's own, starting at the topics' ends: the default
        # groups carry earlier tests' offsets and backlog (seen: uploads waiting behind thousands of old events).
        run = uuid.uuid4().hex[:8]
        for name in ("evidence", "deadline", "notify"):
            settings[name] = own_group(settings[name], f"dd-{name}-dash-{run}")
            await start_group_at_end(kafka, settings[name].consumer_group)
        for name in ("evidence", "deadline", "notify"):
            server = serve(name, lambda name=name: MAINS[name].create_app(settings[name]))
            await server.start()
            exits.push_async_callback(server.stop)
        portal_server = serve("portal_sim", lambda: services.portal_sim.main.create_app(portal), lifespan="off")
        await portal_server.start()
        exits.push_async_callback(portal_server.stop)
        settings["submit"] = services.submit.main.Settings(
            database_url=urls["submit"],
            evidence_url=served["evidence"].url,
            portal_url=portal_server.url,
            package_root=tmp_path_factory.mktemp("packages"),
            portal_timeout_s=5.0,
            **common,
        )
        settings["submit"] = own_group(settings["submit"], f"dd-submit-dash-{run}")
        await start_group_at_end(kafka, settings["submit"].consumer_group)
        submit = serve("submit", lambda: MAINS["submit"].create_app(settings["submit"]))
        await submit.start()
        exits.push_async_callback(submit.stop)
        assert portal_server.app is not None
        portal_server.app.state.portal.settings = portal.model_copy(
            update={"callback_url": f"{submit.url}/v1/portal/verdicts"}
        )
        settings["ingest"] = services.ingest.main.Settings(
            database_url=urls["ingest"],
            evidence_url=served["evidence"].url,
            deadline_url=served["deadline"].url,
            notify_url=served["notify"].url,
            submit_url=submit.url,
            **common,
        )
        settings["ingest"] = own_group(settings["ingest"], f"dd-ingest-dash-{run}")
        await start_group_at_end(kafka, settings["ingest"].consumer_group)
        ingest = serve("ingest", lambda: MAINS["ingest"].create_app(settings["ingest"]))
        await ingest.start()
        exits.push_async_callback(ingest.stop)
        stack = Stack(served, settings, secret=settings["ingest"].auth_secret)
        await stack.ready(*MAINS)
        async with httpx.AsyncClient(base_url=ingest.url, timeout=60) as page:
            stack.page = page
            yield stack


# ------------------------------------------------------------------ a browser's side of the page


class Browser:
    """A browser on the dashboard: its cookie jar, the Origin a form POST carries, the forms' hidden fields."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.origin = stack.url("ingest")
        self.client = httpx.AsyncClient(base_url=self.origin, timeout=60)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Origin": self.origin, **kwargs.pop("headers", {})}
        return await self.client.post(path, data=data, headers=headers, **kwargs)

    async def sign_in(self, token: str) -> httpx.Response:
        answer = await self.post("/dashboard/sign-in", {"token": token})
        assert answer.status_code == 303, answer.text
        return answer

    async def csrf(self, path: str = "/dashboard") -> str:
        return hidden(await self.get(path), "csrf")


def hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


@pytest.fixture
async def browser(stack: Stack) -> AsyncIterator[Browser]:
    b = Browser(stack)
    yield b
    await b.aclose()


async def upload(
    browser: Browser,
    dispute_id: str,
    kind: str,
    meta: dict[str, Any] | None = None,
    file: tuple[str, Any, str] | None = None,
) -> httpx.Response:
    """Post the case page's upload form as a browser does (multipart; the CSRF token in its action URL)."""
    page = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
    action = page.one("form", "upload-form").get("action")
    assert action is not None
    files: dict[str, Any] = {"kind": (None, kind), "meta": (None, json.dumps(meta or {}, ensure_ascii=False))}
    if file is not None:
        files["file"] = file
    return await browser.client.post(action, files=files, headers={"Origin": browser.origin})


def parse_page(answer: httpx.Response) -> Node:
    assert answer.status_code == 200, (answer.status_code, answer.text[:2000])
    return parse(answer.text)


async def upload_clean(browser: Browser, dispute_id: str) -> None:
    for name in CLEAN:
        meta = sample(name)
        answer = await upload(browser, dispute_id, meta.pop("kind"), meta)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].endswith("?done=upload"), answer.headers["location"]


async def report_of(browser: Browser, dispute_id: str, status: str, *, lang: str | None = None) -> Node:
    """The case page once its report has `status` (the checker runs a moment after an upload)."""

    async def probe() -> Node | None:
        page = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
        report = page.one(testid="report")
        fresh = report.get("data-stale") == "false"
        return (
            page
            if report.get("data-status") == status and fresh and (lang is None or report.get("data-lang") == lang)
            else None
        )

    return await eventually(probe, timeout_s=60, what=f"report {status}")
