#!/usr/bin/env bash
# Builds the xfollow-mcp MCP bundle for Claude Desktop, dist/xfollow-mcp-VERSION.mcpb,
# from a clone with only Go and Node: static binaries stamped with VERSION,
# the launcher that picks one by CPU, manifest.json and LICENSE, checked with
# `mcpb validate` and packed with `mcpb pack` (@anthropic-ai/mcpb, pinned in
# package-lock.json and installed with npm when missing).
#
# Needs Node.js 18 or newer, the packer's own requirement (this project builds
# on Node 20). `npm ci` also installs the MCP Inspector, which declares
# Node 22.19 or newer (as do two of its dependencies): on an older Node npm
# prints engine warnings for them, which the build does not use, and
# --engine-strict=false keeps an engine-strict npm config from stopping the
# install.
#
# Usage: bash scripts/build-mcpb.sh [--all] [--out DIR] [--release-version V]
#   (default)            a bundle for this machine's OS and CPU
#   --all                one bundle for every platform (what a release ships):
#                        linux and macOS on amd64 and arm64, Windows on amd64
#                        (Windows on Arm runs it under emulation); it also
#                        writes DIR/server.json with the bundle's sha256
#   --out DIR            where the bundle goes (default dist)
#   --release-version V  fail unless V is the version in VERSION (the release
#                        passes its tag)
set -euo pipefail
cd "$(dirname "$0")/.."

all=0
out=dist
release=""
while [ $# -gt 0 ]; do
  case $1 in
    --all) all=1 ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --out=*) out=${1#--out=} ;;
    --release-version) release=${2:?--release-version needs a version}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-mcpb.sh: unknown argument $1; use --all, --out DIR or --release-version V" >&2; exit 2 ;;
  esac
  shift
done

fail() { echo "build-mcpb.sh: $*" >&2; exit 1; }
# step says what the script does next and how long it has run: the whole
# build takes a minute or two, most of it installing npm packages and
# compiling, and a silent terminal looks stuck.
started=$(date +%s)
step() { echo "build-mcpb.sh [$(( $(date +%s) - started ))s]: $*"; }
command -v go >/dev/null || fail "needs Go on PATH (go.mod says which version)"
command -v node >/dev/null || fail "needs Node.js 18 or newer on PATH (for the mcpb packer)"
command -v npm >/dev/null || fail "needs npm on PATH (it comes with Node.js)"

version=$(tr -d ' \t\r\n' < VERSION)
if [ -n "$release" ] && [ "${release#v}" != "$version" ]; then
  fail "the release is $release but VERSION says $version; they must agree"
fi
manifest_version=$(node -p 'require("./manifest.json").version')
[ "$manifest_version" = "$version" ] || fail "manifest.json says version $manifest_version but VERSION says $version"

mcpb=node_modules/.bin/mcpb
if [ ! -x "$mcpb" ]; then
  step "installing the pinned npm packages with npm ci (about a minute the first time)"
  npm ci --no-audit --no-fund --loglevel=error --engine-strict=false
fi
[ -x "$mcpb" ] || fail "npm ci did not provide $mcpb"

if [ "$all" = 1 ]; then
  targets="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
else
  goos=$(go env GOOS)
  goarch=$(go env GOARCH)
  case $goos/$goarch in
    linux/amd64 | linux/arm64 | darwin/amd64 | darwin/arm64) targets=$goos/$goarch ;;
    windows/*) targets=windows/amd64 ;;
    *) fail "no bundle for $goos/$goarch; bundles exist for linux and darwin on amd64 and arm64, and windows" ;;
  esac
fi

stage="$out/mcpb-stage"
rm -rf "$stage"
mkdir -p "$stage/server"
n_targets=$(echo $targets | wc -w)
i=0
for t in $targets; do
  i=$((i + 1))
  os=${t%/*}
  arch=${t#*/}
  exe=""
  [ "$os" = windows ] && exe=.exe
  step "building the $os/$arch binary ($i of $n_targets)"
  # The same flags as .goreleaser.yaml: static, trimmed, stamped.
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath \
    -ldflags "-s -w -X main.version=$version" \
    -o "$stage/server/xfollow-mcp-$os-$arch$exe" .
done
cp scripts/mcpb-launcher.sh "$stage/server/xfollow-mcp"
chmod 755 "$stage/server/xfollow-mcp"
cp LICENSE "$stage/LICENSE"

# The bundle's manifest lists only the platforms it has binaries for, so a
# host on another platform refuses it at install instead of failing at start.
node - "$stage/manifest.json" $targets <<'EOF'
const fs = require("fs");
const [dest, ...targets] = process.argv.slice(2);
const m = JSON.parse(fs.readFileSync("manifest.json", "utf8"));
const byGOOS = { linux: "linux", darwin: "darwin", windows: "win32" };
m.compatibility = m.compatibility || {};
m.compatibility.platforms = [...new Set(targets.map((t) => byGOOS[t.split("/")[0]]))].sort();
fs.writeFileSync(dest, JSON.stringify(m, null, 2) + "\n");
EOF

step "checking the manifest (mcpb validate)"
"$mcpb" validate "$stage/manifest.json"
bundle="$out/xfollow-mcp-$version.mcpb"
rm -f "$bundle"
step "packing the bundle (mcpb pack)"
"$mcpb" pack "$stage" "$bundle"
rm -rf "$stage"

sha=$(node -e 'console.log(require("crypto").createHash("sha256").update(require("fs").readFileSync(process.argv[1])).digest("hex"))' "$bundle")
step "done"
echo "bundle: $bundle"
echo "sha256: $sha"

if [ "$all" = 1 ]; then
  # The registry entry for this release: server.json with the bundle's hash.
  node - "$out/server.json" "$sha" "$version" <<'EOF'
const fs = require("fs");
const [dest, sha, version] = process.argv.slice(2);
const s = JSON.parse(fs.readFileSync("server.json", "utf8"));
const pkgs = (s.packages || []).filter((p) => p.registryType === "mcpb");
if (pkgs.length !== 1) throw new Error("server.json must have exactly one mcpb package");
if (s.version !== version || !pkgs[0].identifier.endsWith(`/v${version}/xfollow-mcp-${version}.mcpb`)) {
  throw new Error(`server.json does not describe version ${version}`);
}
pkgs[0].fileSha256 = sha;
fs.writeFileSync(dest, JSON.stringify(s, null, 2) + "\n");
console.log(`registry entry: ${dest}`);
EOF
fi
