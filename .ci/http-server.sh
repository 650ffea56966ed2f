# Sourced by the CI scripts: start_http_server BINARY LOGFILE [ARGS...] starts
# the binary in remote mode on a free loopback port with the given extra
# arguments, waits until it listens and sets $http_pid and $http_url.
# stop_http_server sends SIGTERM and returns the server's exit status.
start_http_server() {
  local bin="$1" log="$2"; shift 2
  "$bin" --http 127.0.0.1:0 "$@" 2>"$log" &
  http_pid=$!
  http_url=""
  for _ in $(seq 300); do
    http_url=$(sed -n 's/.*msg="xfollow-mcp listening" url=\(http:[^ ]*\/mcp\).*/\1/p' "$log" | head -n 1)
    [ -n "$http_url" ] && return 0
    if ! kill -0 "$http_pid" 2>/dev/null; then
      echo "the HTTP server exited:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "the HTTP server did not report its URL:" >&2; cat "$log" >&2
  return 1
}

stop_http_server() {
  if kill -0 "$http_pid" 2>/dev/null; then
    kill -TERM "$http_pid"
    wait "$http_pid" || return $?
  fi
}
