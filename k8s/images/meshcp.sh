# shellcheck shell=bash
# The meshcp image, assembled from this checkout the way k8s/Containerfile
# builds it (sourced by build.sh; needs `npx tsc -b` and the descriptors done):
#   build stage   npm ci without dev dependencies, the workspaces' dist, then
#                 the Containerfile's copy loop into /app
#   final stage   gcr.io/distroless/nodejs20-debian12:nonroot → here: this
#                 machine's node (v20) at /nodejs/bin/node plus its ldd
#                 libraries, /etc/passwd with nonroot (65532)
# ENTRYPOINT, CMD, USER, WORKDIR and EXPOSE are the Containerfile's;
# e2e/test/cluster-images.test.ts keeps the two equal.
MESHCP_WORKSPACES=(xds-protos translators control-plane k8s)
MESHCP_ENTRYPOINT='["/nodejs/bin/node","/app/control-plane/bin/meshcp.js"]'
MESHCP_CMD='["serve"]'
MESHCP_USER=65532:65532
MESHCP_WORKDIR=/app
MESHCP_EXPOSE=(18000 9902)

build_meshcp() {
  local r=$WORK/meshcp stage=$WORK/meshcp-stage ws node version
  node=$(readlink -f "$(command -v node)") || die "node not found"
  version=$(node -p 'require(process.argv[1]).version' "$ROOT/control-plane/package.json")
  for ws in "${MESHCP_WORKSPACES[@]}"; do
    [[ -d $ROOT/$ws/dist ]] || die "$ws/dist missing: run npx tsc -b first"
  done
  [[ -d $ROOT/xds-protos/generated ]] || die "xds-protos/generated missing: run scripts/setup.sh first"
  local hash
  hash=$(hash_of "$node" "$ROOT/package-lock.json" "$ROOT/xds-protos/generated" "$ROOT/xds-protos/envoy-api.json" \
    "$ROOT/control-plane/bin" $(for ws in "${MESHCP_WORKSPACES[@]}"; do echo "$ROOT/$ws/dist" "$ROOT/$ws/package.json"; done))
  local ref=meshcp.local/meshcp:$version-dev
  if [[ -f $OUT/meshcp.tar.inputs && $(cat "$OUT/meshcp.tar.inputs") == "$ref $hash" ]]; then
    echo "$ref $OUT/meshcp.tar"; return 0
  fi
  # Build stage: the workspaces (package.json of all, so npm resolves the
  # lockfile), production dependencies only.
  mkdir -p "$stage"
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$stage/"
  for ws in $(node -p 'require(process.argv[1]).workspaces.join(" ")' "$ROOT/package.json"); do
    mkdir -p "$stage/$ws"; cp "$ROOT/$ws/package.json" "$stage/$ws/"
  done
  for ws in "${MESHCP_WORKSPACES[@]}"; do cp -r "$ROOT/$ws/dist" "$stage/$ws/"; done
  cp -r "$ROOT/control-plane/bin" "$stage/control-plane/"
  cp -rL "$ROOT/xds-protos/generated" "$stage/xds-protos/generated"
  cp "$ROOT/xds-protos/envoy-api.json" "$stage/xds-protos/"
  (cd "$stage" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error) >&2 ||
    die "npm ci --omit=dev failed"
  # The Containerfile's copy loop.
  mkdir -p "$r/app"
  for ws in "${MESHCP_WORKSPACES[@]}"; do
    mkdir -p "$r/app/$ws" && cp -r "$stage/$ws/package.json" "$stage/$ws/dist" "$r/app/$ws/"
    if [[ -d $stage/$ws/node_modules ]]; then cp -r "$stage/$ws/node_modules" "$r/app/$ws/"; fi
  done
  cp -r "$stage/control-plane/bin" "$r/app/control-plane/"
  cp -rL "$stage/xds-protos/generated" "$r/app/xds-protos/generated"
  cp "$stage/xds-protos/envoy-api.json" "$r/app/xds-protos/"
  cp -r "$stage/package.json" "$stage/node_modules" "$r/app/"
  # Final stage: distroless nodejs's layout.
  base_files "$r"
  mkdir -p "$r/home/nonroot"
  copy_with_libs "$r" "$node" /nodejs/bin/node
  if command -v chroot >/dev/null; then
    env -i "$(command -v chroot)" "$r" /nodejs/bin/node -e 'process.exit(0)' || die "node does not run inside the meshcp rootfs"
  fi
  local args=(--entrypoint "$MESHCP_ENTRYPOINT" --cmd "$MESHCP_CMD" --user "$MESHCP_USER" --workdir "$MESHCP_WORKDIR"
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --label "meshcp.version=$version")
  for port in "${MESHCP_EXPOSE[@]}"; do args+=(--expose "$port"); done
  finish meshcp "$ref" "$hash" "${args[@]}"
}
