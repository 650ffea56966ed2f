// Command gateway is a trivial AIsa gateway for the benchmark: it answers
// POST <base>/twitter/unfollow_twitter (and follow_twitter) with a success
// envelope, and nothing else. The benchmark runs it as a process of its own,
// so that the floor server and xfollow-mcp call the same gateway and neither
// shares a process with it or with the benchmark's driver.
//
//	gateway [-latency 50ms]
//
// It listens on a free loopback port, prints its base URL on one line of
// stdout and serves until its stdin closes (so it never outlives the
// benchmark that started it).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// BasePath is the path prefix the real gateway serves.
const BasePath = "/apis/v1"

func main() {
	latency := flag.Duration("latency", 0, "delay every answer by this long")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
	var seq atomic.Int64
	write := func(w http.ResponseWriter, r *http.Request) {
		if *latency > 0 {
			t := time.NewTimer(*latency)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req_gw_"+strconv.FormatInt(seq.Add(1), 10))
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"type":"authentication_error","message":"Missing API key"}}`)
			return
		}
		var body struct {
			TargetUserID *string `json:"target_user_id"`
			Key          *string `json:"aisa_api_key"`
		}
		if json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body) != nil || body.TargetUserID == nil || body.Key == nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"type":"invalid_request_error","message":"target_user_id and aisa_api_key are required"}}`)
			return
		}
		following := strings.HasSuffix(r.URL.Path, "/follow_twitter")
		fmt.Fprintf(w, `{"data":{"following":%t,"pending_follow":false}}`+"\n", following)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+BasePath+"/twitter/unfollow_twitter", write)
	mux.HandleFunc("POST "+BasePath+"/twitter/follow_twitter", write)
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		os.Exit(0)
	}()
	fmt.Printf("http://%s%s\n", ln.Addr(), BasePath)
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}
