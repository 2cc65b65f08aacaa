"""A SPARQL endpoint at one URL in front of an Oxigraph server's two.

Usage: python sparql_router.py LISTEN_PORT UPSTREAM_PORT [--union-queries]

Some directories (domus-tdd-api) send queries and updates to one Fuseki-style dataset URL as
form posts (`query=` or `update=`), while the Oxigraph server answers them at `/query` and
`/update`. `POST /sparql` is routed by the form's field; every other request is passed on as
it is, so a client that speaks the two URLs can be measured through the same hop.

With SEAM_ROUTER_LOG=FILE, each request is appended to FILE with its time (what a client asks
of its store, and what that costs).

With --union-queries, the routed queries ask for the union of the named graphs as their default
graph (Oxigraph's `union-default-graph` parameter), as a Fuseki dataset configured with
`unionDefaultGraph` answers; updates are left alone (Oxigraph refuses the option with `USING`).
"""

import http.client
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class Router(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle's algorithm holds the body
    # until the client's delayed ACK, 40 ms a response.
    disable_nagle_algorithm = True
    upstream = 0
    union_queries = False

    def log_message(self, *args):
        pass

    def forward(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = self.path
        if method == "POST" and path.split("?")[0] == "/sparql":
            path = "/update" if (body or b"").startswith(b"update=") else "/query"
            if path == "/query" and self.union_queries:
                path += "?union-default-graph"
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=300)
        started = time.monotonic()
        try:
            upstream.request(method, path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        finally:
            upstream.close()
        log = os.environ.get("SEAM_ROUTER_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as out:
                took = (time.monotonic() - started) * 1e3
                what = (body or b"")[:160].decode("utf-8", "replace").replace("\n", " ")
                out.write(f"{took:.1f} ms {method} {path} {len(body or b'')} B {what}\n")
        # The upstream's own headers only: a client that recognises its engine by the Server
        # header must see the Oxigraph server's.
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self.forward("GET")

    def do_POST(self):
        self.forward("POST")

    def do_PUT(self):
        self.forward("PUT")

    def do_DELETE(self):
        self.forward("DELETE")

    def do_HEAD(self):
        self.forward("HEAD")


if __name__ == "__main__":
    Router.upstream = int(sys.argv[2])
    Router.union_queries = "--union-queries" in sys.argv[3:]
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Router).serve_forever()
