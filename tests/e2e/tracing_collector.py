#!/usr/bin/env python3
"""A fake OpenTelemetry collector for tests/e2e/tracing_e2e.sh: OTLP/HTTP on loopback, decoded with PyPI's
opentelemetry-proto (the published messages, not Parkbase's own copy of them), one JSON line a span.

  tracing_collector.py PORT_FILE SPANS_FILE

Listens on 127.0.0.1 on a free port, writes the port to PORT_FILE, and for every POST /v1/traces whose body decodes
as an ExportTraceServiceRequest appends to SPANS_FILE one line per span: ids in hex, name, kind, parent, flags,
trace state, status, attributes, the resource's attributes and the request's headers. A body that does not decode,
or a wrong Content-Type, is answered 400 and written as {"error": ...}, so the test sees it.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def value_of(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(key_values):
    return {kv.key: value_of(kv.value) for kv in key_values}


class Collector(BaseHTTPRequestHandler):
    lock = threading.Lock()
    spans_file = None

    def log_message(self, *args):  # quiet: the test reads SPANS_FILE
        pass

    def write(self, record):
        with Collector.lock, open(Collector.spans_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        problem = None
        if self.path != "/v1/traces":
            problem = f"path {self.path}"
        elif self.headers.get("Content-Type") != "application/x-protobuf":
            problem = f"Content-Type {self.headers.get('Content-Type')}"
        request = trace_service_pb2.ExportTraceServiceRequest()
        if problem is None:
            try:
                request.ParseFromString(body)
            except Exception as error:  # noqa: BLE001 - any decoding failure is the finding
                problem = f"body does not decode: {error}"
        if problem is not None:
            self.write({"error": problem})
            self.send_response(400)
            self.end_headers()
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.write({
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "trace_state": span.trace_state,
                        "flags": span.flags,
                        "name": span.name,
                        "kind": span.kind,
                        "start": span.start_time_unix_nano,
                        "end": span.end_time_unix_nano,
                        "status_code": span.status.code,
                        "status_message": span.status.message,
                        "attributes": attributes(span.attributes),
                        "resource": resource,
                        "scope": scope_spans.scope.name,
                        "headers": headers,
                    })
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def main():
    port_file, spans_file = sys.argv[1], sys.argv[2]
    Collector.spans_file = spans_file
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    with open(port_file + ".tmp", "w", encoding="utf-8") as out:
        out.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
