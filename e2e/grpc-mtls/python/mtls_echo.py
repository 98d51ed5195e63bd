"""The e2e program for proxyless gRPC mesh mTLS (gRFC A29) with grpcio (C-core): a client
that takes its security from xDS (grpc.xds_channel_credentials, plaintext as the fallback
when xDS sends no TLS), speaking the matrix programs' stdin protocol
(compat-matrix/clients/python).

python mtls_echo.py client xds:///echo.shop:50051   (GRPC_XDS_BOOTSTRAP)
stdin "call COUNT TIMEOUT_MS" -> one JSON line per RPC, then {"done":COUNT}
"""
import json
import os
import sys
import time

import grpc
import grpc.experimental

# The matrix program's message coding and method, shared rather than copied.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "compat-matrix", "clients", "python"))
from echo import METHOD, decode  # noqa: E402


def main():
    if len(sys.argv) < 3 or sys.argv[1] != "client":
        print("usage: client xds:///TARGET", file=sys.stderr)
        sys.exit(2)
    credentials = grpc.xds_channel_credentials(fallback_credentials=grpc.experimental.insecure_channel_credentials())
    channel = grpc.secure_channel(sys.argv[2], credentials)
    who = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        fields = line.split()
        if len(fields) < 3 or fields[0] != "call":
            continue
        count, timeout_ms = int(fields[1]), int(fields[2])
        for _ in range(count):
            started = time.monotonic()
            try:
                reply = who(b"", timeout=timeout_ms / 1000)
                result = {"ok": True, "backend": decode(reply)}
            except grpc.RpcError as error:
                result = {"ok": False, "code": error.code().value[0], "message": error.details() or ""}
            result["ms"] = round((time.monotonic() - started) * 1000, 3)
            print(json.dumps(result), flush=True)
        print(json.dumps({"done": count}), flush=True)


if __name__ == "__main__":
    main()
