#!/usr/bin/env python3
"""A webhook receiver for the integration tests: answers every POST with 200 and appends one line
per request to a file: the Idempotency-Key header and the "id" of the JSON body (the alarm).
Usage: webhook_receiver.py PORT OUTPUT_FILE"""
import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            alarm = json.loads(body).get("id", "?")
        except ValueError:
            alarm = "unparsable"
        with open(sys.argv[2], "a") as out:
            out.write("%s %s\n" % (self.headers.get("Idempotency-Key", "-"), alarm))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
