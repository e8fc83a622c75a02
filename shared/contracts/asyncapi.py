"""The event contract for other systems: an AsyncAPI 3.0.0 document generated from the models here.

    document = asyncapi_document()        # the whole system's, as every service serves it
    text = render(document, "yaml")       # what /asyncapi.yaml, `dd asyncapi` and docs/asyncapi.yaml show

Nothing in the document is written by hand: each message's payload is the pydantic JSON Schema
of its envelope model (`ENVELOPES[cls]`, the CloudEvents envelope whose `data` is the event
version's model), `$defs` lifted to `components/schemas` and every `$ref` pointing there, so the
document stands alone. What each service receives is read from its `DEFINITION.handlers` (the
event versions the consumer subscribes to); what it sends is `PRODUCERS`, a table a test checks
against the event models each service's code builds. The output is sorted, so a diff of it is a
contract change, and `CONTRACT_VERSION` must move with it (the committed docs/asyncapi.yaml and
its test hold both together).

The dead-letter topics are in the contract too: they live on the same cluster, `dd topics`
creates them beside the event topics, and an operator's or another team's tooling that reads
them needs their headers. They are marked as such: nobody but our consumers writes to them, and
their payload is the original message's bytes, which may not be a valid event at all.
"""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic.json_schema import models_json_schema

from shared.contracts import ENVELOPES
from shared.contracts import topics as topic_names
from shared.contracts.envelope import CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE, EventData
from shared.contracts.events import (
    EVENT_DATA_TYPES,
    CaseSubmittedV1,
    DeadlineAlertedV1,
    DeadlineScheduledV1,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    EvidenceUploadedV1,
    EvidenceValidatedV1,
    VerdictReturnedV1,
)

ASYNCAPI_VERSION = "3.0.0"
# The contract's own version (semver over the whole document, docs/asyncapi.md): patch for wording,
# minor for an added topic, event version, optional field or enum value, major for anything else.
CONTRACT_VERSION = "1.1.0"
CLOUDEVENTS_JSON = "application/cloudevents+json"
KAFKA_BINDING_VERSION = "0.5.0"
SERVER = "kafka"
DEAD_LETTER_MESSAGE = "DeadLetter"
EVENT_HEADERS_SCHEMA = "EventHeaders"
DEAD_LETTER_HEADERS_SCHEMA = "DeadLetterHeaders"

# Which service writes each event version to its outbox. A table, because what a service sends
# is decided in its use cases' code, not declared anywhere; tests/unit/shared/test_asyncapi.py
# checks it against the event models each service's package builds.
PRODUCERS: Mapping[type[EventData], str] = {
    DisputeReceivedV1: "ingest",
    DisputeUpdatedV1: "ingest",
    EvidenceUploadedV1: "evidence",
    EvidenceValidatedV1: "evidence",
    DeadlineScheduledV1: "deadline",
    DeadlineAlertedV1: "deadline",
    CaseSubmittedV1: "submit",
    VerdictReturnedV1: "submit",
}

# The CloudEvents attributes every message carries. pydantic leaves the ones with a default out
# of `required`, but CloudEvents requires `specversion` and `type`, our producers always write
# them, and our consumers tell the versions apart by `dataschema` (parse_event refuses a message
# without it).
_ALWAYS_PRESENT = ("specversion", "id", "type", "source", "time", "subject", "dataschema", "data")

_TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
# shared/kafka/dlq.py: the headers a dead letter gets beside the original message's own.
_DEAD_LETTER_HEADERS = {
    "dd-error": "The error's type and message, at most 2000 characters.",
    "dd-error-type": "The error's class name (e.g. `EventParseError`).",
    "dd-service": "The service whose consumer gave up on the message.",
    "dd-consumer-group": "That consumer's group (`dd-<service>`).",
    "dd-attempts": "How many times it was tried (a decimal number).",
    "dd-original-topic": "The topic it was read from.",
    "dd-original-partition": "Its partition there (a decimal number).",
    "dd-original-offset": "Its offset there (a decimal number).",
    "dd-failed-at": "When it was dead-lettered (ISO 8601, UTC).",
}

DESCRIPTION = """\
The Kafka topics of Dispute Desk, for systems that consume them (or produce to them in our place).

- **One topic per event type**, each with a `.dlq` twin for messages a consumer could not handle.
- **Every message is a CloudEvents 1.0 event in structured mode**: the Kafka value is the whole
  event as UTF-8 JSON (`application/cloudevents+json`), whose `data` is the event version's
  payload. Every message's `content-type` header says so (`application/cloudevents+json;
  charset=UTF-8`, the CloudEvents Kafka binding), so a CloudEvents SDK detects the mode itself.
- **`dataschema` names the event version** (`dispute.received/v1`); `type` is the topic's event type.
- **The key is the dispute id** (= `subject` = `data.dispute_id`, UTF-8), so the events of one
  dispute are in order on one partition. There is no order across topics.
- **At least once**: an event may arrive twice (a relay retried after a crash); a consumer
  drops repeats by the event's `id`.
- **Headers**: `content-type` always (since 1.1.0), and the W3C trace context (`traceparent`,
  `tracestate`) when the writer had one.

Versions: an event version only gains optional fields and values; anything else is a new
version (`.../v2`) on the same topic, and consumers pick the model by `dataschema`. The
document's version is semver over all of it (the rules: docs/asyncapi.md in the repository).
"""


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_")


def _message_id(cls: type[EventData]) -> str:
    return ENVELOPES[cls].__name__


def _versions_of(topic: str) -> list[type[EventData]]:
    return sorted((cls for cls in EVENT_DATA_TYPES if cls.event_type == topic), key=lambda c: c.dataschema())


def _lifted_schemas() -> dict[str, Any]:
    """Every envelope model's JSON Schema and what it refers to, keyed by component name."""
    refs, top = models_json_schema(
        [(ENVELOPES[cls], "validation") for cls in EVENT_DATA_TYPES], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    for cls in EVENT_DATA_TYPES:
        ref = refs[(ENVELOPES[cls], "validation")]["$ref"]
        name = ref.rsplit("/", 1)[-1]
        if name != _message_id(cls):
            raise ValueError(f"{cls.__name__}: its envelope's schema is named {name!r}, not {_message_id(cls)!r}")
        envelope = schemas[name]
        envelope["required"] = sorted(set(envelope.get("required", ())) | set(_ALWAYS_PRESENT))
        envelope["description"] = (
            f"The CloudEvents 1.0 envelope (structured mode) of {cls.event_type} {cls.schema_version}: "
            f"`data` is {cls.__name__}."
        )
    return schemas


def _schemas() -> dict[str, Any]:
    schemas = _lifted_schemas()
    schemas[EVENT_HEADERS_SCHEMA] = {
        "type": "object",
        "description": (
            "Kafka headers (UTF-8 values): the CloudEvents content type (structured mode), and the W3C trace "
            "context when the writer had one."
        ),
        "required": [CONTENT_TYPE_HEADER],
        "properties": {
            CONTENT_TYPE_HEADER: {
                "type": "string",
                "const": STRUCTURED_CONTENT_TYPE,
                "description": "CloudEvents structured mode (the Kafka protocol binding); since 1.1.0.",
            },
            "traceparent": {"type": "string", "pattern": _TRACEPARENT, "description": "W3C Trace Context."},
            "tracestate": {"type": "string", "description": "W3C Trace Context vendor state."},
        },
    }
    schemas[DEAD_LETTER_HEADERS_SCHEMA] = {
        "type": "object",
        "description": "The original message's headers plus these, which say why, where from and after how many tries.",
        "required": sorted(_DEAD_LETTER_HEADERS),
        "properties": {
            **{name: {"type": "string", "description": text} for name, text in _DEAD_LETTER_HEADERS.items()},
            CONTENT_TYPE_HEADER: {"type": "string", "description": "As on the original message."},
            "traceparent": {"type": "string", "pattern": _TRACEPARENT, "description": "As on the original message."},
            "tracestate": {"type": "string", "description": "As on the original message."},
        },
    }
    return schemas


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


# Inline, not a `$ref`: the AsyncAPI 3.0.0 schema's `key` is oneOf(Reference, Schema), and a
# `{"$ref": ...}` is both, so a referenced key fails validation against the official schema.
DISPUTE_ID_KEY: Mapping[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "description": "The dispute id as UTF-8: the event's `subject` and `data.dispute_id`.",
}


def _key_binding() -> dict[str, Any]:
    return {"kafka": {"key": dict(DISPUTE_ID_KEY), "bindingVersion": KAFKA_BINDING_VERSION}}


def _event_message(cls: type[EventData]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": _message_id(cls),
        "title": f"{cls.event_type} {cls.schema_version}",
        "summary": f"An event of type {cls.event_type}, dataschema {cls.dataschema()}.",
        "contentType": CLOUDEVENTS_JSON,
        "headers": _ref("components", "schemas", EVENT_HEADERS_SCHEMA),
        "payload": _ref("components", "schemas", _message_id(cls)),
        "bindings": _key_binding(),
    }
    own_doc = cls.__dict__.get("__doc__")
    if own_doc:
        message["description"] = " ".join(own_doc.split())
    return message


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": DEAD_LETTER_MESSAGE,
        "title": "dead letter",
        "summary": "A message a consumer could not handle, byte for byte, with headers saying why.",
        "description": (
            "The value is the original message's, unchanged: usually an event of the origin topic (see that "
            "channel's messages), but possibly bytes that are no valid event at all, which is why it is here. "
            "The key is the original key. `dd dlq list` shows dead letters and `dd dlq replay` sends them "
            "back to their topic without the `dd-*` headers."
        ),
        "contentType": "application/octet-stream",
        "headers": _ref("components", "schemas", DEAD_LETTER_HEADERS_SCHEMA),
        "payload": {"description": "The original message's value, unchanged (usually a CloudEvents JSON event)."},
        "bindings": _key_binding(),
        "tags": [{"name": "dead-letter"}],
    }


def _channels(partitions: int) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for topic in topic_names.EVENT_TOPICS:
        versions = _versions_of(topic)
        channels[_channel_id(topic)] = {
            "address": topic,
            "title": topic,
            "summary": f"Every {topic} event, keyed by dispute id; versions: "
            + ", ".join(cls.dataschema() for cls in versions)
            + ".",
            "messages": {_message_id(cls): _ref("components", "messages", _message_id(cls)) for cls in versions},
            "servers": [_ref("servers", SERVER)],
            "bindings": {"kafka": {"topic": topic, "partitions": partitions, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        dlq = topic_names.dlq_topic(topic)
        channels[_channel_id(dlq)] = {
            "address": dlq,
            "title": dlq,
            "summary": f"Dead letters of {topic}: what a consumer of it could not handle after its retries.",
            "description": "Operational, not an event stream: only our consumers write here; operators replay from it.",
            "messages": {DEAD_LETTER_MESSAGE: _ref("components", "messages", DEAD_LETTER_MESSAGE)},
            "servers": [_ref("servers", SERVER)],
            "tags": [{"name": "dead-letter"}],
            "bindings": {"kafka": {"topic": dlq, "partitions": partitions, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
    return channels


def _operations(receives: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """Each service's sends (`PRODUCERS`), receives (its handlers) and dead letters (the topics it reads)."""
    by_schema = {cls.dataschema(): cls for cls in EVENT_DATA_TYPES}
    operations: dict[str, Any] = {}

    def add(op_id: str, service: str, action: str, topic: str, message_ids: Iterable[str], **extra: Any) -> None:
        channel = _channel_id(topic)
        operations[op_id] = {
            "action": action,
            "channel": _ref("channels", channel),
            "messages": [_ref("channels", channel, "messages", m) for m in sorted(message_ids)],
            "title": f"{service} {'sends to' if action == 'send' else 'receives from'} {topic}",
            "tags": [{"name": service}],
            **extra,
        }

    senders: dict[tuple[str, str], list[str]] = {}
    for cls, service in PRODUCERS.items():
        senders.setdefault((service, cls.event_type), []).append(_message_id(cls))
    for (service, topic), message_ids in senders.items():
        add(f"{service}_sends_{_channel_id(topic)}", service, "send", topic, message_ids)

    for service, schemas in receives.items():
        by_topic: dict[str, list[str]] = {}
        for schema in schemas:
            handled = by_schema.get(schema)
            if handled is None:
                raise LookupError(f"{service} handles {schema!r}, which no event model in shared/contracts has")
            by_topic.setdefault(handled.event_type, []).append(_message_id(handled))
        for topic, message_ids in by_topic.items():
            group = {"type": "string", "enum": [f"dd-{service}"]}
            add(
                f"{service}_receives_{_channel_id(topic)}",
                service,
                "receive",
                topic,
                message_ids,
                summary="Each event applied once (inbox by event id), in order per dispute.",
                bindings={"kafka": {"groupId": group, "bindingVersion": KAFKA_BINDING_VERSION}},
            )
            dlq = topic_names.dlq_topic(topic)
            add(
                f"{service}_dead_letters_{_channel_id(topic)}",
                service,
                "send",
                dlq,
                [DEAD_LETTER_MESSAGE],
                summary=f"What {service} could not handle from {topic}: after its retries, or at once if unparseable.",
            )
    return operations


def build_document(
    receives: Mapping[str, Iterable[str]], *, partitions: int = topic_names.DEFAULT_PARTITIONS
) -> dict[str, Any]:
    """The document, from what each service receives (service name -> the dataschemas it handles).

    Pure: `asyncapi_document()` gives it the services' handlers; a test can give any mapping.
    """
    services = sorted(set(receives) | set(PRODUCERS.values()))
    messages = {_message_id(cls): _event_message(cls) for cls in EVENT_DATA_TYPES}
    messages[DEAD_LETTER_MESSAGE] = _dead_letter_message()
    document = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Dispute Desk events",
            "version": CONTRACT_VERSION,
            "description": DESCRIPTION,
            "tags": [{"name": name, "description": f"The {name} service."} for name in services]
            + [{"name": "dead-letter", "description": "Dead-letter topics and their messages."}],
        },
        "defaultContentType": CLOUDEVENTS_JSON,
        "servers": {
            SERVER: {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "title": "The Kafka cluster",
                "description": (
                    "The cluster the services' `DD_KAFKA_BOOTSTRAP_SERVERS` names. TLS and SASL are as the "
                    "deployment sets them (a local run uses neither)."
                ),
                "variables": {
                    "bootstrap": {
                        "default": "127.0.0.1:19092",
                        "description": "A bootstrap server, host:port (the default is a local run's).",
                    }
                },
            }
        },
        "channels": _channels(partitions),
        "operations": _operations({name: sorted(receives[name]) for name in sorted(receives)}),
        "components": {"schemas": _schemas(), "messages": messages},
    }
    ordered: dict[str, Any] = _sorted(document)
    return ordered


def _sorted(value: Any) -> Any:
    """Mapping keys sorted all the way down (lists keep their order), so the output is one text."""
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted(item) for item in value]
    return value


def service_receives() -> dict[str, tuple[str, ...]]:
    """What each service under `services/` handles (its `DEFINITION.handlers`' dataschemas).

    Imported when first asked, not at import of this module: `shared` never depends on a service
    statically, and a process pays for importing the others only when the document is asked for.
    """
    from shared.runtime import ServiceDefinition  # the runtime imports the contracts: not at module level

    packages = importlib.import_module("services")
    receives: dict[str, tuple[str, ...]] = {}
    for info in sorted(pkgutil.iter_modules(packages.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        try:
            main = importlib.import_module(f"services.{info.name}.main")
        except ModuleNotFoundError as exc:
            if exc.name == f"services.{info.name}.main":
                continue  # a package without a composition root
            raise
        definition = getattr(main, "DEFINITION", None)
        if isinstance(definition, ServiceDefinition):  # the portal simulator has none: it is not on Kafka
            receives[definition.name] = tuple(sorted(definition.handlers))
    return receives


@functools.cache
def _system_document() -> str:
    return json.dumps(build_document(service_receives()))


def asyncapi_document() -> dict[str, Any]:
    """The whole system's document (built once per process; each call gets its own copy)."""
    document: dict[str, Any] = json.loads(_system_document())
    return document


def render(document: Mapping[str, Any], fmt: Literal["json", "yaml"]) -> str:
    """The document as text: sorted keys, UTF-8, a final newline, the same bytes every time."""
    if fmt == "json":
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    text: str = _yaml().dump(
        dict(document), Dumper=_yaml_dumper(), sort_keys=True, allow_unicode=True, width=100, default_flow_style=False
    )
    return text


def _yaml() -> Any:
    import yaml

    return yaml


@functools.cache
def _yaml_dumper() -> Any:
    """PyYAML's safe dumper, writing multi-line text (the descriptions) as literal blocks a reader can read."""
    yaml = _yaml()

    dumper_cls: Any = type("Dumper", (yaml.SafeDumper,), {})  # a subclass: PyYAML's own dumper stays as it is

    def text(dumper: Any, value: str) -> Any:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    dumper_cls.add_representer(str, text)
    return dumper_cls
