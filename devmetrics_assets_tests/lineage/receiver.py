"""A real OpenLineage HTTP consumer on 127.0.0.1 for the tests, and the RunEvent schema they check against.

openlineage-python 1.54.0 ships generated attrs classes (openlineage/client/generated/*.py) whose
`schemaURL`s name spec 2-0-2, but not the JSON schema files themselves. RUN_EVENT_SCHEMA below is
therefore written here from the spec (OpenLineage.json 2-0-2, $defs BaseEvent, RunEvent, Run, Job,
Dataset, BaseFacet; facets/OutputStatisticsOutputDatasetFacet.json 1-0-2, ParentRunFacet.json 1-2-0,
ErrorMessageRunFacet.json 1-0-1): the required fields and their types, nothing more.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema

_URI = {"type": "string", "minLength": 1}
_UUID = {"type": "string", "format": "uuid"}
_FACET = {"type": "object", "required": ["_producer", "_schemaURL"],
          "properties": {"_producer": _URI, "_schemaURL": _URI}}
_FACETS = {"type": "object", "additionalProperties": _FACET}
_OUTPUT_FACETS = {"type": "object", "additionalProperties": _FACET, "properties": {"outputStatistics": {
    "required": ["rowCount"], "properties": {"rowCount": {"type": "integer"}}}}}
_DATASET = {"type": "object", "required": ["namespace", "name"],
            "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS,
                           "inputFacets": _FACETS, "outputFacets": _OUTPUT_FACETS}}
RUN_EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string"},
        "producer": _URI,
        "schemaURL": _URI,
        "run": {"type": "object", "required": ["runId"], "properties": {
            "runId": _UUID,
            "facets": {"type": "object", "additionalProperties": _FACET, "properties": {
                "parent": {"required": ["run", "job"], "properties": {
                    "run": {"type": "object", "required": ["runId"], "properties": {"runId": _UUID}},
                    "job": {"type": "object", "required": ["namespace", "name"]}}},
                "errorMessage": {"required": ["message", "programmingLanguage"], "properties": {
                    "message": {"type": "string"}, "programmingLanguage": {"type": "string"}}}}}}},
        "job": {"type": "object", "required": ["namespace", "name"], "properties": {
            "namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS}},
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}


def check_run_event(event: dict[str, Any]) -> None:
    """Raise if the posted JSON is not a valid RunEvent (schema above; eventTime parsed as ISO 8601)."""
    validator = jsonschema.Draft202012Validator(RUN_EVENT_SCHEMA, format_checker=jsonschema.FormatChecker())
    validator.validate(event)
    assert "T" in event["eventTime"]
    datetime.fromisoformat(event["eventTime"])


@dataclass
class Receiver:
    url: str
    status: int = 200
    events: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)


@contextmanager
def lineage_receiver(status: int = 200) -> Iterator[Receiver]:
    """An HTTP server on a free local port collecting posted events; answers `status` to each POST."""
    receiver = Receiver(url="", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.paths.append(self.path)
            receiver.authorizations.append(self.headers.get("Authorization"))
            receiver.events.append(json.loads(body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url() -> str:
    """A URL on a local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
