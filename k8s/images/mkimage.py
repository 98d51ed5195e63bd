#!/usr/bin/env python3
"""Write a one-layer container image as a `docker save`-style archive from a
root filesystem directory, without any registry or container engine.

    mkimage.py --rootfs DIR --tag REF --out FILE.tar [--entrypoint JSON]
               [--cmd JSON] [--user U] [--workdir D] [--env K=V]...
               [--expose PORT]... [--label K=V]...

The archive (manifest.json + config + layer.tar) is what `ctr images import`
and `docker load` read. Everything in the layer is owned by 0:0 with mtime 0
and sorted, so the same rootfs gives the same image id. Prints the image id
(sha256 of the config) on stdout.
"""
import argparse
import hashlib
import io
import json
import os
import sys
import tarfile


def layer_bytes(rootfs: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = []
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                paths.append(os.path.join(dirpath, name))
        for path in sorted(paths, key=lambda p: os.path.relpath(p, rootfs)):
            info = tar.gettarinfo(path, arcname=os.path.relpath(path, rootfs))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isfile():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rootfs", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--entrypoint")
    p.add_argument("--cmd")
    p.add_argument("--user")
    p.add_argument("--workdir")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--expose", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    a = p.parse_args()

    layer = layer_bytes(a.rootfs)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config: dict = {"Env": a.env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    if a.entrypoint:
        config["Entrypoint"] = json.loads(a.entrypoint)
    if a.cmd:
        config["Cmd"] = json.loads(a.cmd)
    if a.user:
        config["User"] = a.user
    if a.workdir:
        config["WorkingDir"] = a.workdir
    if a.expose:
        config["ExposedPorts"] = {f"{port}/tcp": {} for port in a.expose}
    if a.label:
        config["Labels"] = dict(kv.split("=", 1) for kv in a.label)
    image = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "k8s/images/mkimage.py"}],
    }
    config_bytes = json.dumps(image, sort_keys=True, separators=(",", ":")).encode()
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": f"{config_digest}.json", "RepoTags": [a.tag], "Layers": [f"{diff_id[7:]}/layer.tar"]}]

    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w") as out:
        for name, data in (
            (f"{diff_id[7:]}/layer.tar", layer),
            (f"{config_digest}.json", config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            out.addfile(info, io.BytesIO(data))
    os.replace(tmp, a.out)
    print(f"sha256:{config_digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
