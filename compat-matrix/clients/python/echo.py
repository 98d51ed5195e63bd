"""The meshcp matrix's proxyless gRPC test program for grpcio (C-core).

client: python echo.py client xds:///echo.shop:50051   (needs GRPC_XDS_BOOTSTRAP)
        stdin "call COUNT TIMEOUT_MS [PAYLOAD]" -> one JSON line per RPC, then {"done":COUNT}
server: python echo.py server --port 50051 --name v1 [--fail]

Messages are google.protobuf.StringValue, encoded by hand (grpcio does not depend
on protobuf), so every language's program talks to every other.
"""
import json
import sys
import threading
import time
from concurrent import futures

import grpc

METHOD = "/meshcp.test.Echo/Who"


def encode(text):
    data = text.encode()
    if not data:
        return b""
    length, out = len(data), bytearray([0x0A])
    while length >= 0x80:
        out.append((length & 0x7F) | 0x80)
        length >>= 7
    out.append(length)
    return bytes(out) + data


def decode(raw):
    i = 0
    while i < len(raw):
        tag = raw[i]
        i += 1
        length = shift = 0
        while True:
            b = raw[i]
            i += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        if tag == 0x0A:
            return raw[i : i + length].decode()
        i += length
    return ""


def client(target):
    channel = grpc.insecure_channel(target)
    who = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        fields = line.strip().split(" ", 3)
        if len(fields) < 3 or fields[0] != "call":
            continue
        count, timeout_ms = int(fields[1]), int(fields[2])
        payload = fields[3] if len(fields) == 4 else ""
        for _ in range(count):
            started = time.monotonic()
            try:
                reply = who(encode(payload), timeout=timeout_ms / 1000)
                result = {"ok": True, "backend": decode(reply)}
            except grpc.RpcError as error:
                result = {"ok": False, "code": error.code().value[0], "message": error.details() or ""}
            result["ms"] = round((time.monotonic() - started) * 1000, 3)
            print(json.dumps(result), flush=True)
        print(json.dumps({"done": count}), flush=True)


def server(args):
    port, name, fail = 0, "python", False
    i = 0
    while i < len(args):
        if args[i] == "--port":
            port, i = int(args[i + 1]), i + 1
        elif args[i] == "--name":
            name, i = args[i + 1], i + 1
        elif args[i] == "--fail":
            fail = True
        i += 1

    def who(request, context):
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"meshcp-test: {name} fails on purpose")
        payload = decode(request)
        if payload.startswith("sleep="):
            deadline = time.monotonic() + int(payload[6:]) / 1000
            while time.monotonic() < deadline and context.is_active():
                time.sleep(0.01)
        return encode(name)

    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.unary_unary_rpc_method_handler(who, request_deserializer=None, response_serializer=None)
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("meshcp.test.Echo", {"Who": handler}),))
    bound = srv.add_insecure_port(f"127.0.0.1:{port}")
    srv.start()
    print(json.dumps({"listening": bound}), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "client":
        client(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "server":
        server(sys.argv[2:])
    else:
        sys.exit("usage: client xds:///TARGET | server --port N --name NAME [--fail]")
