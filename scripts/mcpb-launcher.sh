#!/bin/sh
# The entry point of the xfollow-mcp MCP bundle on macOS and Linux. One
# manifest cannot choose a binary by CPU, so the host runs this with
# /bin/sh and it starts the binary for this machine. It writes nothing to
# stdout, which belongs to the MCP protocol.
dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd) || exit 1
case $(uname -s) in
  Darwin) os=darwin ;;
  Linux) os=linux ;;
  *) echo "xfollow-mcp: no binary in this bundle for $(uname -s)" >&2; exit 1 ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=amd64 ;;
  arm64 | aarch64) arch=arm64 ;;
  *) echo "xfollow-mcp: no binary in this bundle for $os on $(uname -m)" >&2; exit 1 ;;
esac
bin="$dir/xfollow-mcp-$os-$arch"
if [ ! -f "$bin" ]; then
  echo "xfollow-mcp: this bundle has no binary for $os/$arch; install the bundle for every platform from the project's releases" >&2
  exit 1
fi
# Some unzip paths drop the execute bit.
[ -x "$bin" ] || chmod +x "$bin" 2>/dev/null || true
exec "$bin" "$@"
