#!/usr/bin/env bash
# Drives the built server with the pinned MCP Inspector CLI (an independent,
# TypeScript-based client that validates structuredContent against each
# tool's output schema): tools/list with --strict, then one call of every
# tool in sandbox mode, then an invalid call that must come back isError;
# over stdio, then the same over streamable HTTP (--http, with a token).
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:?usage: inspector.sh PATH_TO_BINARY}"
I=node_modules/.bin/mcp-inspector
[ -x "$I" ] || { echo "inspector.sh: run 'npm ci' first" >&2; exit 1; }

fail=0
passed=0
failed=0
run() { # expected-exit description args...
  local want="$1" what="$2"; shift 2
  local out rc=0
  out=$("$I" --cli -q --format json "$@" 2>&1) || rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL inspector: $what: exit $rc, want $want: $out" >&2
    fail=1
    failed=$((failed + 1))
  else
    echo "ok   inspector: $what"
    passed=$((passed + 1))
  fi
}

run 0 "tools/list --strict" --method tools/list --strict -- "$bin" --sandbox

call() { # tool json
  run 0 "tools/call $1" --method tools/call --tool-name "$1" --tool-args-json "$2" -- "$bin" --sandbox
}
every_tool() {
  call unfollow_x_user '{"target_user_id":"2244994945","expected_username":"TwitterDev"}'
  call unfollow_x_users '{"target_user_ids":["2244994945","783214"]}'
  call follow_x_user '{"target_user_id":"1500000000000000001"}'
  call get_x_user '{"username":"@TwitterDev"}'
  call check_x_follow_relationship '{"source_username":"xfollow_sandbox","target_username":"TwitterDev"}'
  call list_x_following '{"username":"xfollow_sandbox","page_size":20}'
  call list_x_followers '{"username":"xfollow_sandbox"}'
  call link_x_account '{"scopes":["follows.write","tweet.read","users.read"]}'
  call find_x_unfollow_candidates '{"username":"xfollow_big","limit":5}'
}
every_tool
run 0 "tools/call unfollow_x_user --dry-run" --method tools/call --tool-name unfollow_x_user \
  --tool-args-json '{"target_user_id":"12"}' -- "$bin" --sandbox --dry-run
run 0 "prompts/get clean_up_following" --method prompts/get --prompt-name clean_up_following \
  --prompt-args username=xfollow_big max_unfollows=50 -- "$bin" --sandbox
run 1 "prompts/get with an invalid max_unfollows is refused" --method prompts/get --prompt-name clean_up_following \
  --prompt-args username=xfollow_big max_unfollows=0 -- "$bin" --sandbox
run 5 "invalid id is an error result" --method tools/call --tool-name unfollow_x_user \
  --tool-args-json '{"target_user_id":"@TwitterDev"}' -- "$bin" --sandbox
run 5 "read-only hides write tools" --method tools/call --tool-name unfollow_x_user \
  --tool-args-json '{"target_user_id":"12"}' -- "$bin" --sandbox --read-only

# The same over streamable HTTP: one server, a token, the Inspector's
# --transport http.
. .ci/http-server.sh
http_pid=""
work=$(mktemp -d)
trap 'kill -KILL "$http_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export XFOLLOW_HTTP_TOKEN="ci-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
start_http_server "$bin" "$work/server.log" --sandbox
auth="Authorization: Bearer $XFOLLOW_HTTP_TOKEN"
unset XFOLLOW_HTTP_TOKEN
# --header takes several values: it must come before another option.
run 0 "http: tools/list --strict" --transport http --header "$auth" --method tools/list --strict "$http_url"
call() { # tool json
  run 0 "http: tools/call $1" --transport http --header "$auth" --method tools/call --tool-name "$1" --tool-args-json "$2" "$http_url"
}
every_tool
run 5 "http: invalid id is an error result" --transport http --header "$auth" --method tools/call \
  --tool-name unfollow_x_user --tool-args-json '{"target_user_id":"@TwitterDev"}' "$http_url"
if ! stop_http_server; then
  echo "FAIL inspector: the HTTP server did not exit 0 on SIGTERM:" >&2; cat "$work/server.log" >&2
  failed=$((failed + 1)); fail=1
fi

echo "inspector: $passed passed, $failed failed"
if [ "$fail" != 0 ]; then
  exit 1
fi
