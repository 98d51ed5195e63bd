"""The Python member of meshcp's four-language demo (k8s/demo/README.md): an
HTTP service on :8080 that tells who called it (GET /) and calls another
service by name (GET /call?to=host:port) with urllib, no proxy settings."""
import json
import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

APP = os.environ.get("APP_NAME", "python")
PORT = int(os.environ.get("PORT", "8080"))
# Only the mesh between us and the peer: never an HTTP(S)_PROXY from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/healthz":
            return self.reply(200, {"ok": True})
        if url.path == "/call":
            to = parse_qs(url.query).get("to", [""])[0]
            try:
                with OPENER.open(f"http://{to}/", timeout=5) as upstream:
                    raw = upstream.read().decode()
                    status = upstream.status
            except urllib.error.HTTPError as error:
                return self.reply(502, {"from": APP, "to": to, "status": error.code, "error": str(error)})
            except Exception as error:  # noqa: BLE001 - any failure is the answer
                return self.reply(502, {"from": APP, "to": to, "error": str(error)})
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            return self.reply(200, {"from": APP, "to": to, "status": status, "reply": body})
        return self.reply(200, {
            "app": APP,
            "language": "python",
            "peer": self.client_address[0],
            "host": self.headers.get("host", ""),
            "requestId": self.headers.get("x-request-id", ""),
            "clientCert": self.headers.get("x-forwarded-client-cert", ""),
        })

    def log_message(self, *args):  # one line per request is noise here
        pass


if __name__ == "__main__":
    print(f"{APP} (python) listening on :{PORT}", flush=True)
    ThreadingHTTPServer(("", PORT), Handler).serve_forever()
