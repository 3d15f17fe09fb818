"""A minimal OpenAI-compatible upstream on 127.0.0.1 that records every
request and answers with the text of the last user message (so placeholders
come back to Veil), streamed two characters per chunk so that placeholders
are cut across chunks. With tools, it calls the first tool with the last
user message as `{"text": ...}` arguments."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MockUpstream:
    def __init__(self):
        self.requests = []
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                mock.requests.append(body)
                last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
                content = last["content"]
                if isinstance(content, list):
                    content = " ".join(p.get("text", "") for p in content)
                tools = body.get("tools") or []
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for chunk in mock.chunks(content, tools):
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                message = {"role": "assistant", "content": content}
                finish = "stop"
                if tools:
                    args = json.dumps({"text": content})
                    message = {"role": "assistant", "content": None, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": tools[0]["function"]["name"], "arguments": args}}]}
                    finish = "tool_calls"
                out = {"id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": body["model"],
                       "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"

    @staticmethod
    def chunks(content, tools):
        base = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        pieces = [content[i:i + 2] for i in range(0, len(content), 2)]
        if tools:
            name = tools[0]["function"]["name"]
            args = json.dumps({"text": content})
            yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}]},
                "finish_reason": None}]}
            for i in range(0, len(args), 3):
                yield {**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": 0, "function": {"arguments": args[i:i + 3]}}]}, "finish_reason": None}]}
            yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
        else:
            for p in pieces:
                yield {**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
            yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield {**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    def stop(self):
        self.server.shutdown()
