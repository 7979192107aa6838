"""A loopback HTTP server for the web-tool tests: pages, redirects, huge and slow bodies, search APIs.

Runs stdlib ThreadingHTTPServer on 127.0.0.1 in a background thread; never touches the network.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

PAGE = b"""<!DOCTYPE html>
<html><head><title>Quantum news</title><style>body { color: red }</style>
<script>var secret = "do-not-show";</script></head>
<body><h1>Quantum computing breakthroughs</h1>
<p>Researchers reported a <b>logical qubit</b> with record fidelity.</p>
<ul><li>First item</li><li>Second item</li></ul>
<a href="/more">Read more</a></body></html>"""

DDG_HTML = """<html><body>
<div class="result results_links web-result"><div class="links_main">
<h2 class="result__title"><a rel="nofollow" class="result__a"
 href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2Fquantum&amp;rut=abc">Quantum <b>computing</b> news</a></h2>
<a class="result__snippet" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2Fquantum">Latest
 <b>breakthroughs</b> in quantum computing &amp; more.</a></div></div>
<div class="result results_links web-result"><div class="links_main">
<h2 class="result__title"><a class="result__a" href="https://example.net/qubits">Qubits explained</a></h2>
<a class="result__snippet">What a qubit is.</a></div></div>
<div class="result result--ad"><h2><a class="result__a"
 href="https://duckduckgo.com/y.js?ad_domain=ads.example">Buy now</a></h2></div>
</body></html>"""


def make_pdf(text: str = "Hello PDF world", *, content: bytes | None = None) -> bytes:
    """A one-page PDF whose page shows `text`, or runs the raw `content` stream (Flate-compressed)."""
    if content is None:
        stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
        contents = b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream"
    else:
        packed = zlib.compress(content, 9)
        contents = (b"<< /Length " + str(len(packed)).encode() + b" /Filter /FlateDecode >>\nstream\n" + packed
                    + b"\nendstream")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        contents,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class LoopbackServer:
    """Start with `.start()`; `.url` is http://127.0.0.1:<port>; `.seen` lists requests."""

    seen: list[Seen] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> LoopbackServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self._record(b"")
                owner.route(self, urlparse(self.path))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._record(self.rfile.read(length))
                owner.route(self, urlparse(self.path))

            def _record(self, body: bytes) -> None:
                owner.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    # ----------------------------------------------------------------------------------- routes

    def route(self, h: Any, url: Any) -> None:  # noqa: C901 - a flat routing table
        path, query = url.path, parse_qs(url.query)
        if path == "/page":
            h._send(200, PAGE, "text/html; charset=utf-8")
        elif path == "/redirect":
            h._send(302, b"", "text/plain", {"Location": query["to"][0]})
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            target = "/page" if left == 0 else f"/chain/{left - 1}"
            h._send(301, b"", "text/plain", {"Location": target})
        elif path == "/huge":
            self._huge(h, int(query.get("mb", ["20"])[0]))
        elif path == "/slow":
            self._slow(h)
        elif path == "/latin1":
            h._send(
                200,
                "<html><body><p>Café crème à Paris</p></body></html>".encode("latin-1"),
                "text/html; charset=iso-8859-1",
            )
        elif path == "/bogus-charset":
            h._send(200, "naïve text".encode(), "text/plain; charset=no-such-codec")
        elif path == "/bad-utf8":
            body = ("ünïcödé text " * 20).encode() + b"broken \xc3( byte" + (" ünïcödé" * 20).encode()
            h._send(200, body, "text/plain")
        elif path == "/meta-charset":
            page = (
                '<html><head><meta charset="shift_jis"><title>t</title></head><body><p>日本語のページ</p></body></html>'
            )
            h._send(200, page.encode("shift_jis"), "text/html")
        elif path == "/cp1252":
            h._send(200, "Déjà vu – no charset".encode("cp1252"), "text/plain")
        elif path == "/json":
            h._send(200, json.dumps({"answer": 42}).encode(), "application/json")
        elif path == "/binary":
            h._send(200, bytes(range(256)) * 16, "application/octet-stream")
        elif path == "/doc.pdf":
            h._send(200, make_pdf(), "application/pdf")
        elif path == "/files/data.csv":
            h._send(200, b"name,score\nada,10\nbob,7\n", "text/csv")
        elif path == "/named":  # the server picks the file name, whatever it is
            disposition = f'attachment; filename="{query["n"][0]}"'
            h._send(200, b"named body", "text/plain", {"Content-Disposition": disposition})
        elif path == "/host":
            h._send(200, h.headers.get("Host", "").encode(), "text/plain")
        elif path.startswith("/status/"):
            h._send(int(path.rsplit("/", 1)[1]), b"nope", "text/plain")
        else:
            self._search_routes(h, path, query)

    def _search_routes(self, h: Any, path: str, query: dict[str, list[str]]) -> None:
        if path == "/ddg/html/":
            h._send(200, DDG_HTML.encode(), "text/html; charset=utf-8")
        elif path == "/ddg-limited/html/":  # what DuckDuckGo sends when it rate-limits a client
            h._send(202, b"<html><body><form id='challenge-form'></form></body></html>", "text/html")
        elif path == "/brave":
            if h.headers.get("X-Subscription-Token") != "brave-key":
                h._send(401, b'{"error": "bad token"}', "application/json")
                return
            body = {
                "web": {
                    "results": [
                        {
                            "title": f"Brave: {query['q'][0]}",
                            "url": "https://brave.example/1",
                            "description": "brave snippet",
                        }
                    ]
                }
            }
            h._send(200, json.dumps(body).encode(), "application/json")
        elif path == "/tavily":
            if h.headers.get("Authorization") != "Bearer tavily-key":
                h._send(401, b'{"error": "bad key"}', "application/json")
                return
            asked = json.loads(self.seen[-1].body)
            body = {
                "results": [
                    {
                        "title": f"Tavily: {asked['query']}",
                        "url": "https://tavily.example/1",
                        "content": "tavily snippet",
                    }
                ]
            }
            h._send(200, json.dumps(body).encode(), "application/json")
        elif path == "/searx/search":
            body = {
                "results": [
                    {"title": f"Searx: {query['q'][0]}", "url": "https://searx.example/1", "content": "searx snippet"}
                ]
            }
            h._send(200, json.dumps(body).encode(), "application/json")
        else:
            h._send(404, b"not found", "text/plain")

    @staticmethod
    def _huge(h: Any, megabytes: int) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.send_header("Content-Length", str(megabytes * 1024 * 1024))
        h.end_headers()
        chunk = b"0123456789abcdef" * 4096  # 64 KB
        try:
            for _ in range(megabytes * 16):
                h.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client stopped reading at its limit, as it should

    @staticmethod
    def _slow(h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", "100")
        h.end_headers()
        try:
            for _ in range(100):
                h.wfile.write(b"x")
                h.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            return
