"""`dd`: the operator's command line (tokens, topics, lag, dead letters).

dd token --role operator            dd topics [--partitions 6]
dd lag [--group dd-ingest]          dd dlq list [--topic dispute.received.dlq]
dd members [--group dd-deadline]    (each replica's partitions)
dd dlq replay --topic T [--offset N --partition P | --all]
dd webhook send --seller V900 examples/notice_two_orders.json   (secret: --secret or DD_WEBHOOK_SECRET)
dd asyncapi [--format yaml|json]    (the event contract, as every service serves it)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, ClassVar, TypeVar

import httpx
import typer

from shared.contracts.asyncapi import asyncapi_document, render
from shared.contracts.topics import DEFAULT_PARTITIONS, EVENT_TOPICS, dlq_topic, is_dlq_topic
from shared.kafka.dlq import read_dead_letters, replay_dead_letters
from shared.kafka.lag import GroupMember, LagReader, PartitionLag
from shared.kafka.producer import create_producer
from shared.kafka.security import KafkaSecurity
from shared.kafka.topics import ensure_topics
from shared.logging import configure_logging
from shared.settings import ServiceSettings
from shared.web.auth import Role, mint_token
from shared.webhook_client import SECRET_VARIABLE, freshen_notice, ingest_url, looks_like_an_example, send_notice

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
dlq = typer.Typer(no_args_is_help=True, help="List and replay dead-lettered messages.")
app.add_typer(dlq, name="dlq")
webhook = typer.Typer(no_args_is_help=True, help="Sign and send a seller's dispute webhook (Standard Webhooks).")
app.add_typer(webhook, name="webhook")


class Format(StrEnum):
    yaml = "yaml"
    json = "json"


class CliSettings(ServiceSettings):
    service: ClassVar[str] = "cli"


@app.callback()
def _logs_to_stderr() -> None:
    # What a command prints on stdout is its answer (`--json` is read by scripts): the clients'
    # warnings (a broker not answering yet) go to stderr, as JSON lines like the services' logs.
    configure_logging("cli", "WARNING", to_stderr=True)


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="operator or seller")] = Role.operator,
    seller_id: Annotated[str | None, typer.Option(help="required for a seller token")] = None,
    hours: Annotated[float, typer.Option(help="lifetime")] = 12.0,
) -> None:
    """Mint a bearer token signed with DD_AUTH_SECRET."""
    if role == Role.seller and not seller_id:
        raise typer.BadParameter("a seller token needs --seller-id")
    typer.echo(mint_token(CliSettings().auth_secret, role, seller_id, ttl=timedelta(hours=hours)))


@app.command()
def topics(
    partitions: Annotated[int, typer.Option(min=1)] = DEFAULT_PARTITIONS,
    replication_factor: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Create every event topic and its .dlq twin (existing ones are left alone)."""
    settings = CliSettings()
    created = asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            partitions=partitions,
            replication_factor=replication_factor,
            security=KafkaSecurity.from_settings(settings),
        )
    )
    typer.echo(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))


@app.command()
def asyncapi(fmt: Annotated[Format, typer.Option("--format", help="yaml or json")] = Format.yaml) -> None:
    """Print the AsyncAPI 3 document of every topic (what each service serves at /asyncapi.yaml)."""
    typer.echo(render(asyncapi_document(), fmt.value), nl=False)


Row = TypeVar("Row")


def _partition_ranges(partitions: tuple[tuple[str, int], ...]) -> str:
    """`case.submitted[0-5] dispute.received[0,2,4]`: a topic once, its partitions as runs."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(partition)
    shown = []
    for topic, numbers in sorted(by_topic.items()):
        runs: list[list[int]] = []
        for n in sorted(numbers):
            if runs and n == runs[-1][-1] + 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        shown.append(f"{topic}[{','.join(f'{r[0]}-{r[-1]}' if len(r) > 2 else ','.join(map(str, r)) for r in runs)}]")
    return " ".join(shown)


async def _per_group(group: list[str] | None, read_one: Callable[[LagReader, str], Awaitable[list[Row]]]) -> list[Row]:
    """`read_one` of each named group (default: every dd-* group), through one reader."""
    settings = CliSettings()
    reader = LagReader(
        settings.kafka_bootstrap_servers, client_id="dd-cli", security=KafkaSecurity.from_settings(settings)
    )
    await reader.start()
    try:
        groups = group or await reader.groups(prefix="dd-")
        return [row for g in groups for row in await read_one(reader, g)]
    finally:
        await reader.stop()


@app.command()
def lag(
    group: Annotated[list[str] | None, typer.Option(help="consumer group(s); default every dd-* group")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Lag of every consumer group, per topic and partition."""

    rows: list[PartitionLag] = asyncio.run(_per_group(group, lambda reader, g: reader.group_lag(g)))
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    typer.echo(f"{'GROUP':<16} {'TOPIC':<22} {'PART':>4} {'COMMITTED':>10} {'END':>10} {'LAG':>8}")
    for r in rows:
        committed = "-" if r.committed is None else str(r.committed)
        typer.echo(f"{r.consumergroup:<16} {r.topic:<22} {r.partition:>4} {committed:>10} {r.end:>10} {r.lag:>8}")
    typer.echo(f"total lag: {sum(r.lag for r in rows)}")


@app.command()
def members(
    group: Annotated[list[str] | None, typer.Option(help="consumer group(s); default every dd-* group")] = None,
) -> None:
    """Each group's consumers (one per replica) and the partitions each was given: is the work split?"""

    found: list[GroupMember] = asyncio.run(_per_group(group, lambda reader, g: reader.members(g)))
    typer.echo(f"{'GROUP':<16} {'CLIENT':<28} {'HOST':<16} PARTITIONS")
    for m in found:
        owned = _partition_ranges(m.partitions) or "-"
        typer.echo(f"{m.consumergroup:<16} {m.client_id:<28} {m.host:<16} {owned}")


def _dlq_topics(topic: str | None) -> list[str]:
    if topic is None:
        return [dlq_topic(t) for t in EVENT_TOPICS]
    return [topic if is_dlq_topic(topic) else dlq_topic(topic)]


@dlq.command("list")
def dlq_list(
    topic: Annotated[str | None, typer.Option(help="event topic or its .dlq; default all")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every message held in the dead-letter topics, with why it is there."""
    settings = CliSettings()
    letters = asyncio.run(
        read_dead_letters(
            settings.kafka_bootstrap_servers, _dlq_topics(topic), security=KafkaSecurity.from_settings(settings)
        )
    )
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {"topic": x.topic, "partition": x.partition, "offset": x.offset, "key": x.key, "headers": x.headers}
                    for x in letters
                ],
                indent=2,
            )
        )
        return
    for x in letters:
        typer.echo(f"{x.topic}[{x.partition}]@{x.offset} key={x.key} attempts={x.headers.get('dd-attempts')} {x.error}")
    typer.echo(f"{len(letters)} dead letter(s)")


@dlq.command("replay")
def dlq_replay(
    topic: Annotated[str, typer.Option(help="event topic or its .dlq")],
    partition: Annotated[int | None, typer.Option()] = None,
    offset: Annotated[int | None, typer.Option()] = None,
    all_: Annotated[bool, typer.Option("--all", help="replay every message of the topic")] = False,
) -> None:
    """Send dead letters back to their topic (consumers' inboxes make repeats harmless)."""
    if not all_ and (partition is None or offset is None):
        raise typer.BadParameter("give --partition and --offset, or --all")

    async def replay() -> int:
        settings = CliSettings()
        security = KafkaSecurity.from_settings(settings)
        letters = await read_dead_letters(settings.kafka_bootstrap_servers, _dlq_topics(topic), security=security)
        if not all_:
            letters = [x for x in letters if x.partition == partition and x.offset == offset]
            if not letters:
                raise typer.BadParameter(f"no dead letter at partition {partition}, offset {offset}")
        producer = create_producer(settings.kafka_bootstrap_servers, client_id="dd-cli", security=security)
        await producer.start()
        try:
            return await replay_dead_letters(producer, letters)
        finally:
            await producer.stop()

    typer.echo(f"replayed {asyncio.run(replay())} message(s)")


@webhook.command("send")
def webhook_send(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="the notice (JSON)")],
    seller: Annotated[str, typer.Option("--seller", help="the seller id of the webhook URL, e.g. V900")],
    secret: Annotated[
        str | None,
        typer.Option(envvar=SECRET_VARIABLE, show_envvar=True, help="the seller's whsec_ webhook secret"),
    ] = None,
    fresh: Annotated[
        bool | None,
        typer.Option(
            "--fresh/--as-is",
            help="rewrite notified_at to now, respond_by some business days ahead and the dispute ids unique; "
            "default: --fresh for a file under examples/, --as-is for any other",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="ingest's base URL; default DD_INGEST_URL, else http://127.0.0.1:$DD_INGEST_PORT")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds")] = 10.0,
) -> None:
    """Sign the notice's exact bytes with the seller's secret and post it; print the status and the answer."""
    if not secret:
        raise typer.BadParameter(f"give --secret or set {SECRET_VARIABLE}", param_hint="--secret")
    body = file.read_bytes()
    if fresh is None:
        fresh = looks_like_an_example(file)
    if fresh:
        made = freshen_notice(body)
        body = made.body
        renamed = ", ".join(f"{old} -> {new}" for old, new in made.dispute_ids.items())
        typer.echo(f"fresh: notified_at {json.loads(body)['notified_at']}" + (f"; {renamed}" if renamed else ""))
    base = url or ingest_url()
    target = f"{base.rstrip('/')}/v1/webhooks/coupang/{seller}"
    try:
        with httpx.Client(timeout=timeout) as client:
            answer = send_notice(client, base, seller, secret, body)
    except httpx.HTTPError as exc:
        typer.echo(f"POST {target} failed: {exc or type(exc).__name__} (is ingest up? `make run`)", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"POST {target} -> {answer.status_code}")
    try:
        typer.echo(json.dumps(answer.json(), ensure_ascii=False, indent=2))
    except ValueError:
        typer.echo(answer.text)
    if answer.status_code >= 400:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
