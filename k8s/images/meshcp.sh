# shellcheck shell=bash
# The meshcp image, assembled from this checkout the way k8s/Containerfile
# builds it (sourced by build.sh):
#   build stage   scripts/pack.mjs packs the published packages (tsc -b, npm
#                 pack), then /app gets `npm install --omit=dev` of the tarballs
#   final stage   gcr.io/distroless/nodejs24-debian12:nonroot → here: the Node
#                 24 that scripts/node.sh provides, at /nodejs/bin/node, plus
#                 its ldd libraries, /etc/passwd with nonroot (65532)
# ENTRYPOINT, CMD, USER, WORKDIR and EXPOSE are the Containerfile's;
# e2e/test/cluster-images.test.ts keeps the two equal.
MESHCP_ENTRYPOINT='["/nodejs/bin/node","/app/node_modules/meshcp/bin/meshcp.js"]'
MESHCP_CMD='["serve"]'
MESHCP_USER=65532:65532
MESHCP_WORKDIR=/app
MESHCP_EXPOSE=(18000 9902)

build_meshcp() {
  # shellcheck source=/dev/null
  source "$ROOT/scripts/node.sh" || die "scripts/node.sh failed"
  local r=$WORK/meshcp packed=$WORK/packed node version hash
  node=$(readlink -f "$(command -v node)") || die "node not found"
  version=$(node -p 'require(process.argv[1]).version' "$ROOT/control-plane/package.json")
  (cd "$ROOT" && node scripts/pack.mjs "$packed") >&2 || die "scripts/pack.mjs failed"
  hash=$(hash_of "$node" "$packed")
  local ref=meshcp.local/meshcp:$version-dev
  if [[ -f $OUT/meshcp.tar.inputs && $(cat "$OUT/meshcp.tar.inputs") == "$ref $hash" ]]; then
    echo "$ref $OUT/meshcp.tar"; return 0
  fi
  mkdir -p "$r/app"
  printf '{ "name": "meshcp-image", "private": true }\n' >"$r/app/package.json"
  (cd "$r/app" && npm install --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error "$packed"/*.tgz) >&2 ||
    die "npm install --omit=dev of the packed packages failed"
  base_files "$r"
  mkdir -p "$r/home/nonroot"
  copy_with_libs "$r" "$node" /nodejs/bin/node
  env -i "$(command -v chroot)" "$r" /nodejs/bin/node -e 'process.exit(0)' || die "node does not run inside the meshcp rootfs"
  local args=(--entrypoint "$MESHCP_ENTRYPOINT" --cmd "$MESHCP_CMD" --user "$MESHCP_USER" --workdir "$MESHCP_WORKDIR"
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --label "meshcp.version=$version")
  for port in "${MESHCP_EXPOSE[@]}"; do args+=(--expose "$port"); done
  finish meshcp "$ref" "$hash" "${args[@]}"
}
