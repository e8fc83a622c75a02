"""The AsyncAPI document (shared/contracts/asyncapi.py): valid AsyncAPI 3, whole, true to the code, served.

Validated against the official AsyncAPI 3.0.0 JSON Schema, vendored in tests/contracts/ (its
README says from where); the draft-07 meta-schema it refers to comes from jsonschema's own copy,
so nothing here touches the network.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_specifications
import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from typer.testing import CliRunner

from shared.cli import app as dd
from shared.contracts import ENVELOPES, EVENT_DATA_TYPES, new_event
from shared.contracts.asyncapi import (
    CLOUDEVENTS_JSON,
    CONTRACT_VERSION,
    PRODUCERS,
    asyncapi_document,
    build_document,
    render,
    service_receives,
)
from shared.contracts.envelope import CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE
from shared.contracts.topics import ALL_TOPICS, DEFAULT_PARTITIONS, dlq_topic
from shared.tracing import inject_headers
from tests.services import SERVICES_DIR, service_main, service_names
from tests.support import ONE_OF_EACH

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_FILE = ROOT / "tests" / "contracts" / "asyncapi-3.0.0.schema.json"
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
REGENERATE = ".venv/bin/dd asyncapi > docs/asyncapi.yaml"
DRAFT7_META = "http://json-schema.org/draft-07/schema"
DOC_URI = "urn:dispute-desk:asyncapi"
# Services with a DEFINITION (the portal simulator is not on Kafka).
KAFKA_SERVICES = [name for name in service_names() if hasattr(service_main(name), "DEFINITION")]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


def _asyncapi_validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"].startswith(DRAFT7_META), "the vendored schema declares another draft"
    # Only the meta-schema, from the local copy; anything else unresolved fails instead of fetching.
    registry: Registry[Any] = Registry().with_resource(DRAFT7_META, jsonschema_specifications.REGISTRY[DRAFT7_META])
    return Draft7Validator(schema, registry=registry)


def _errors(document: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message[:300]}" for e in _asyncapi_validator().iter_errors(document)]


def _payload_validator(document: dict[str, Any], schema_name: str) -> Draft7Validator:
    """Validates against `components/schemas/<schema_name>`, resolving its `$ref`s inside the document alone."""
    registry: Registry[Any] = Registry().with_resource(DOC_URI, Resource.from_contents(document, DRAFT7))
    return Draft7Validator({"$ref": f"{DOC_URI}#/components/schemas/{schema_name}"}, registry=registry)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        assert part in node, f"{ref} resolves to nothing"
        node = node[part]
    return node


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


# --- valid AsyncAPI 3 ---------------------------------------------------------------------------


def test_the_document_is_valid_against_the_official_asyncapi_3_schema(document):
    assert document["asyncapi"] == "3.0.0"
    assert _errors(document) == []


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d["operations"]["ingest_sends_dispute_received"].update(action="publish"),  # AsyncAPI 2's verb
        lambda d: d["channels"]["dispute_received"]["bindings"]["kafka"].update(partitions=0),
        lambda d: d["servers"]["kafka"].pop("protocol"),
        lambda d: d["components"]["messages"]["DeadLetter"]["bindings"]["kafka"].update(bindingVersion="9.9.9"),
    ],
    ids=["publish-action", "no-partitions", "server-without-protocol", "unknown-binding-version"],
)
def test_the_schema_check_refuses_a_broken_document(document, break_it):
    broken = json.loads(json.dumps(document))
    break_it(broken)
    assert _errors(broken), "the validator accepted a broken document: it checks nothing"


def test_the_document_is_self_contained_and_in_the_default_schema_format(document):
    """Every `$ref` points inside the document, and no JSON Schema 2020-12 keyword is left: payloads
    are AsyncAPI Schema Objects (a draft-07 superset), the format AsyncAPI assumes when none is named."""
    refs = [value for key, value in _walk(document) if key == "$ref"]
    assert refs
    for ref in refs:
        _resolve(document, ref)
    keys = {key for key, _ in _walk(document["components"]["schemas"])}
    assert not keys & {"$defs", "prefixItems", "unevaluatedProperties", "dependentRequired", "$dynamicRef"}
    assert all("schemaFormat" not in m for m in document["components"]["messages"].values())


def test_operations_name_only_messages_of_their_channel(document):
    for op_id, op in document["operations"].items():
        channel_ref = op["channel"]["$ref"]
        for message in op["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), (op_id, message)
            _resolve(document, message["$ref"])


# --- whole: every topic, every event version ------------------------------------------------------


def test_every_topic_has_its_channel_with_its_key_and_partitions(document):
    channels = {c["address"]: c for c in document["channels"].values()}
    assert set(channels) == set(ALL_TOPICS)
    for topic, channel in channels.items():
        assert channel["bindings"]["kafka"] == {
            "topic": topic,
            "partitions": DEFAULT_PARTITIONS,
            "bindingVersion": "0.5.0",
        }
        for ref in channel["messages"].values():
            key = _resolve(document, ref["$ref"])["bindings"]["kafka"]["key"]
            assert key["type"] == "string" and key["maxLength"] == 64


def test_every_event_version_has_its_message_on_its_topic(document):
    messages = document["components"]["messages"]
    for cls in EVENT_DATA_TYPES:
        name = ENVELOPES[cls].__name__
        message = messages[name]
        assert message["title"] == f"{cls.event_type} {cls.schema_version}"
        assert message["contentType"] == CLOUDEVENTS_JSON
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
        channel = next(c for c in document["channels"].values() if c["address"] == cls.event_type)
        assert channel["messages"][name] == {"$ref": f"#/components/messages/{name}"}
        envelope = document["components"]["schemas"][name]
        assert envelope["properties"]["dataschema"]["const"] == cls.dataschema()
        assert envelope["properties"]["data"] == {"$ref": f"#/components/schemas/{cls.__name__}"}
        assert {"specversion", "id", "type", "source", "dataschema", "data"} <= set(envelope["required"])


def test_the_examples_cover_every_event_version():
    assert {type(data) for data in ONE_OF_EACH} == set(EVENT_DATA_TYPES), (
        "add an example of each new event version to tests/support.py ONE_OF_EACH"
    )


@pytest.mark.parametrize("data", ONE_OF_EACH, ids=lambda d: d.dataschema())
def test_a_real_event_is_valid_against_its_message(document, data):
    """What the outbox writes (the envelope's bytes, its key, the writer's trace headers) matches the document."""
    event = new_event(data, source=PRODUCERS[type(data)], seller_id="V-TEST")
    name = ENVELOPES[type(data)].__name__
    message = document["components"]["messages"][name]
    value = json.loads(event.to_bytes())
    assert list(_payload_validator(document, name).iter_errors(value)) == []
    key_schema = message["bindings"]["kafka"]["key"]
    assert list(Draft7Validator(key_schema).iter_errors(event.key.decode())) == []
    headers = inject_headers({CONTENT_TYPE_HEADER: STRUCTURED_CONTENT_TYPE, "traceparent": TRACEPARENT})
    headers_schema = message["headers"]["$ref"].rsplit("/", 1)[-1]
    assert list(_payload_validator(document, headers_schema).iter_errors(headers)) == []
    assert list(_payload_validator(document, headers_schema).iter_errors({"traceparent": TRACEPARENT}))  # no type


@pytest.mark.parametrize("data", ONE_OF_EACH, ids=lambda d: d.dataschema())
def test_a_message_schema_refuses_what_our_consumers_refuse(document, data):
    name = ENVELOPES[type(data)].__name__
    good = json.loads(new_event(data, source="tests").to_bytes())
    validator = _payload_validator(document, name)
    for broken in (
        {**good, "dataschema": good["dataschema"].replace("/v1", "/v0")},
        {**good, "data": {**good["data"], "not_a_field": 1}},
        {key: value for key, value in good.items() if key != "id"},
    ):
        assert list(validator.iter_errors(broken)), broken


def test_a_dead_letter_says_why_in_its_headers(document):
    message = document["components"]["messages"]["DeadLetter"]
    validator = _payload_validator(document, message["headers"]["$ref"].rsplit("/", 1)[-1])
    assert list(validator.iter_errors({"traceparent": TRACEPARENT}))  # the dd-* headers are required
    from shared.kafka.dlq import DLQ_HEADER_PREFIX

    source = (ROOT / "shared" / "kafka" / "dlq.py").read_text()
    written = {name for name in _string_constants(source) if name.startswith(DLQ_HEADER_PREFIX) and name != "dd-"}
    assert written == set(_resolve(document, message["headers"]["$ref"])["required"])


def _string_constants(source: str) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


# --- true to the code: who sends, who receives ----------------------------------------------------


def _event_models_built_by(service: str) -> set[str]:
    """Names of the event models the service's code constructs (`DisputeReceivedV1(...)`)."""
    names = {cls.__name__ for cls in EVENT_DATA_TYPES}
    built: set[str] = set()
    for path in (SERVICES_DIR / service).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if called in names:
                    built.add(called)
    return built


@pytest.mark.parametrize("service", KAFKA_SERVICES)
def test_the_producers_table_is_what_each_service_builds(service):
    table = {cls.__name__ for cls, name in PRODUCERS.items() if name == service}
    assert _event_models_built_by(service) == table, (
        f"services/{service} builds other event models than PRODUCERS in shared/contracts/asyncapi.py says"
    )


def test_every_event_version_has_one_producer_that_is_a_service():
    assert set(PRODUCERS) == set(EVENT_DATA_TYPES)
    assert set(PRODUCERS.values()) <= set(KAFKA_SERVICES)


def test_what_each_service_receives_is_its_handlers(document):
    receives = service_receives()
    assert set(receives) == set(KAFKA_SERVICES)
    for service in KAFKA_SERVICES:
        definition = service_main(service).DEFINITION
        assert receives[service] == tuple(sorted(definition.handlers))
        in_document = {
            m["$ref"].rsplit("/", 1)[-1]
            for op in document["operations"].values()
            if op["action"] == "receive" and op["tags"] == [{"name": service}]
            for m in op["messages"]
        }
        by_schema = {cls.dataschema(): ENVELOPES[cls].__name__ for cls in EVENT_DATA_TYPES}
        assert in_document == {by_schema[schema] for schema in definition.handlers}


@pytest.mark.parametrize("service", KAFKA_SERVICES)
def test_a_receive_names_the_services_consumer_group(document, service):
    settings = service_main(service).Settings()
    ops = [
        op for op in document["operations"].values() if op["action"] == "receive" and op["tags"][0]["name"] == service
    ]
    assert ops
    assert {op["bindings"]["kafka"]["groupId"]["enum"][0] for op in ops} == {settings.consumer_group}


def test_a_service_dead_letters_to_the_twin_of_each_topic_it_reads(document):
    receives = service_receives()
    for service, schemas in receives.items():
        read = {schema.split("/")[0] for schema in schemas}
        dead_lettered = {
            _resolve(document, op["channel"]["$ref"])["address"]
            for op in document["operations"].values()
            if op["action"] == "send" and op["tags"][0]["name"] == service and "DeadLetter" in op["messages"][0]["$ref"]
        }
        assert dead_lettered == {dlq_topic(topic) for topic in read}


def test_the_builder_refuses_a_handler_of_an_unknown_event_version():
    with pytest.raises(LookupError, match="dispute.received/v9"):
        build_document({"ingest": ["dispute.received/v9"]})


def test_the_output_is_the_same_text_every_time(document):
    again = build_document(service_receives())
    assert render(again, "yaml") == render(document, "yaml")
    assert yaml.safe_load(render(document, "yaml")) == document
    assert json.loads(render(document, "json")) == document
    assert list(document["channels"]) == sorted(document["channels"])


# --- committed copy, CLI, served -----------------------------------------------------------------


def test_the_committed_copy_is_what_the_generator_makes_now(document):
    committed = yaml.safe_load(COMMITTED.read_text())
    if committed != document and committed["info"]["version"] == CONTRACT_VERSION:
        pytest.fail(
            f"the event contract changed but CONTRACT_VERSION is still {CONTRACT_VERSION}: bump it in "
            "shared/contracts/asyncapi.py (minor: an added topic, event version or optional field; major: "
            f"anything else, which also needs a new event version), then regenerate: {REGENERATE}"
        )
    assert COMMITTED.read_text() == render(document, "yaml"), f"docs/asyncapi.yaml is stale; regenerate: {REGENERATE}"


def test_dd_asyncapi_prints_the_document(document):
    for fmt, load in (("yaml", yaml.safe_load), ("json", json.loads)):
        result = CliRunner().invoke(dd, ["asyncapi", "--format", fmt])
        assert result.exit_code == 0, result.output
        assert load(result.stdout) == document


@pytest.mark.parametrize("service", KAFKA_SERVICES)
async def test_each_service_serves_the_document_beside_its_openapi(document, service):
    app = service_main(service).create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        as_json = await client.get("/asyncapi.json")  # no token: public, like /openapi.json
        as_yaml = await client.get("/asyncapi.yaml")
        openapi = (await client.get("/openapi.json")).json()
    assert as_json.status_code == 200 and as_json.headers["content-type"].startswith("application/json")
    assert as_json.json() == document
    assert as_yaml.status_code == 200 and as_yaml.headers["content-type"].startswith("application/yaml")
    assert as_yaml.text == render(document, "yaml")
    assert "/asyncapi.yaml" in openapi["info"]["description"]  # the link at the top of /docs
    assert not any(path.startswith("/asyncapi") for path in openapi["paths"])
