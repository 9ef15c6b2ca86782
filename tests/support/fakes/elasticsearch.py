"""A FAKE Elasticsearch: a small local HTTP server for the endpoints churnops uses, recording what it receives.

No Elasticsearch server can run on these machines. The real `elasticsearch` client talks to this
over real HTTP; tests assert on the templates and documents it recorded. It can be told to fail
(whole requests with a status, or single documents with 429) to exercise retries.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeElasticsearch:
    def __init__(self) -> None:
        self.templates: dict[str, dict[str, Any]] = {}
        self.indices: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # index -> _id -> _source
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order
        self.fail_requests: list[int] = []  # statuses answered to the next requests (then normal again)
        self.reject_documents = 0  # how many next documents get a per-item 429
        self.failures_answered = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeElasticsearch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def documents(self, prefix: str) -> dict[str, dict[str, Any]]:
        """All documents of indices starting with `prefix`, by _id."""
        with self.lock:
            return {doc_id: source for index, docs in self.indices.items() if index.startswith(prefix) for doc_id, source in docs.items()}

    def bulk_requests(self) -> int:
        with self.lock:
            return sum(1 for method, path in self.requests if path.startswith("/_bulk"))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=9")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _handle(self, method: str) -> None:
                body = self._body()
                with fake.lock:
                    fake.requests.append((method, self.path))
                    failure = fake.fail_requests.pop(0) if fake.fail_requests else None
                    fake.failures_answered += failure is not None
                if failure is not None:
                    self._answer(failure, {"error": {"type": "fake_failure", "reason": f"told to answer {failure}"}, "status": failure})
                    return
                path = self.path.split("?")[0]
                if method == "GET" and path == "/":
                    self._answer(
                        200,
                        {
                            "name": "fake",
                            "cluster_name": "fake-elasticsearch",
                            "version": {"number": "9.1.0", "build_flavor": "default"},
                            "tagline": "You Know, for Search",
                        },
                    )
                elif method == "PUT" and path.startswith("/_index_template/"):
                    with fake.lock:
                        fake.templates[path.removeprefix("/_index_template/")] = json.loads(body)
                    self._answer(200, {"acknowledged": True})
                elif method in ("POST", "PUT") and path == "/_bulk":
                    self._answer(200, fake._bulk(body))
                else:
                    self._answer(404, {"error": {"type": "fake_unsupported", "reason": f"{method} {path} is not faked"}, "status": 404})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_PUT(self) -> None:  # noqa: N802
                self._handle("PUT")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        return Handler

    def _bulk(self, body: bytes) -> dict[str, Any]:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        items, errors = [], False
        with self.lock:
            for action, source in zip(lines[::2], lines[1::2], strict=True):
                meta = action["index"]
                if self.reject_documents > 0:
                    self.reject_documents -= 1
                    errors = True
                    items.append(
                        {
                            "index": {
                                "_index": meta["_index"],
                                "_id": meta["_id"],
                                "status": 429,
                                "error": {"type": "es_rejected_execution_exception", "reason": "fake: queue full"},
                            }
                        }
                    )
                    continue
                created = meta["_id"] not in self.indices[meta["_index"]]
                self.indices[meta["_index"]][meta["_id"]] = source
                items.append(
                    {
                        "index": {
                            "_index": meta["_index"],
                            "_id": meta["_id"],
                            "status": 201 if created else 200,
                            "result": "created" if created else "updated",
                        }
                    }
                )
        return {"took": 1, "errors": errors, "items": items}
