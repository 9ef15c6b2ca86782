"""A FAKE Kibana: a local HTTP server answering the saved-objects import API, recording what it receives.

No Kibana server can run on these machines. churnops' real HTTP client (httpx) posts to it; it
parses the multipart upload like Kibana does and checks what Kibana checks (the kbn-xsrf header,
NDJSON objects with type/id/attributes, references to objects that exist in the file).
"""

from __future__ import annotations

import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeKibana:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}  # (type, id) -> saved object
        self.imports: list[dict[str, Any]] = []  # one entry per import request: path, query, headers
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeKibana:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path, _, query = self.path.partition("?")
                if not path.endswith("/api/saved_objects/_import"):
                    self._answer(404, {"statusCode": 404, "error": "Not Found", "message": f"fake: {path} is not faked"})
                    return
                if "kbn-xsrf" not in self.headers:
                    self._answer(400, {"statusCode": 400, "error": "Bad Request", "message": "Request must contain a kbn-xsrf header."})
                    return
                with fake.lock:
                    fake.imports.append({"path": path, "query": query, "headers": dict(self.headers)})
                self._answer(200, fake._import(self.headers.get("Content-Type", ""), body))

        return Handler

    def _import(self, content_type: str, body: bytes) -> dict[str, Any]:
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        files = [part for part in message.iter_parts() if part.get_param("name", header="content-disposition") == "file"]
        if not files:
            return {"success": False, "successCount": 0, "errors": [{"type": "file", "id": "-", "error": {"type": "missing_file"}}]}
        lines = [json.loads(line) for line in files[0].get_payload(decode=True).decode().splitlines() if line.strip()]
        known = {(item["type"], item["id"]) for item in lines}
        errors, imported = [], []
        for item in lines:
            missing = [ref for ref in item.get("references", []) if (ref["type"], ref["id"]) not in known]
            if not {"type", "id", "attributes"} <= item.keys() or missing:
                errors.append(
                    {
                        "type": item.get("type"),
                        "id": item.get("id"),
                        "error": {"type": "missing_references" if missing else "invalid", "references": missing},
                    }
                )
                continue
            imported.append(item)
        with self.lock:
            for item in imported:
                self.objects[(item["type"], item["id"])] = item
        return {
            "success": not errors,
            "successCount": len(imported),
            "successResults": [{"type": item["type"], "id": item["id"]} for item in imported],
            **({"errors": errors} if errors else {}),
        }
