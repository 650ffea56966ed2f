package release

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
)

// The image's rules (README: Container image).
const (
	imageBase   = "gcr.io/distroless/static-debian12:nonroot"
	nonrootUID  = 65532
	imageBinary = "/xfollow-mcp"
)

var imageCmd = []string{"--http", "0.0.0.0:8080"}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Op   string // upper case: FROM, RUN, COPY, ...
	Args string
}

// readDockerfile parses name into its stages (each starting with FROM).
func readDockerfile(t *testing.T, name string) [][]instruction {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		op, args, _ := strings.Cut(line, " ")
		in := instruction{Op: strings.ToUpper(op), Args: strings.TrimSpace(args)}
		if in.Op == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.Op != "ARG" {
				t.Fatalf("%s: %s before the first FROM", name, in.Op)
			}
			return
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	if len(stages) == 0 {
		t.Fatalf("%s has no FROM", name)
	}
	return stages
}

func ops(stage []instruction, op string) []instruction {
	var out []instruction
	for _, in := range stage {
		if in.Op == op {
			out = append(out, in)
		}
	}
	return out
}

func execForm(t *testing.T, name string, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.Args), &v); err != nil {
		t.Fatalf("%s: %s %s is not in exec form (a JSON array): %v", name, in.Op, in.Args, err)
	}
	return v
}

// labels reads LABEL k="v" k2=v2 pairs.
func labels(stage []instruction) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`([A-Za-z0-9._-]+)=("(?:[^"\\]|\\.)*"|\S+)`)
	for _, in := range ops(stage, "LABEL") {
		for _, m := range re.FindAllStringSubmatch(in.Args, -1) {
			out[m[1]] = strings.Trim(m[2], `"`)
		}
	}
	return out
}

// checkFinalStage holds the stage that becomes the image to the rules.
func checkFinalStage(t *testing.T, name string, stage []instruction, registryName string) {
	t.Helper()
	if from := stage[0].Args; from != imageBase {
		t.Errorf("%s: the image is FROM %q, want %q (static, no shell, nonroot)", name, from, imageBase)
	}
	for _, in := range stage {
		switch in.Op {
		case "RUN", "ADD", "ENV", "SHELL", "VOLUME", "HEALTHCHECK":
			// No shell in the base; no setting or secret baked in; the
			// journal's volume is the deployment's choice.
			t.Errorf("%s: the final stage has %s %s", name, in.Op, in.Args)
		}
	}
	users := ops(stage, "USER")
	if len(users) != 1 || (users[0].Args != "65532:65532" && users[0].Args != "65532" && users[0].Args != "nonroot:nonroot") {
		t.Errorf("%s: USER %v, want 65532:65532 (distroless nonroot)", name, users)
	}
	eps := ops(stage, "ENTRYPOINT")
	if len(eps) != 1 || !slices.Equal(execForm(t, name, eps[0]), []string{imageBinary}) {
		t.Errorf("%s: ENTRYPOINT %v, want [%q]", name, eps, imageBinary)
	}
	cmds := ops(stage, "CMD")
	if len(cmds) != 1 || !slices.Equal(execForm(t, name, cmds[0]), imageCmd) {
		t.Errorf("%s: CMD %v, want %q", name, cmds, imageCmd)
	}
	if got := labels(stage)["io.modelcontextprotocol.server.name"]; got != registryName {
		t.Errorf("%s: label io.modelcontextprotocol.server.name=%q, server.json's name is %q", name, got, registryName)
	}
	copies := ops(stage, "COPY")
	if len(copies) != 1 || !strings.HasSuffix(copies[0].Args, " "+imageBinary) {
		t.Errorf("%s: the final stage should COPY the binary alone to %s: %v", name, imageBinary, copies)
	}
	if ex := ops(stage, "EXPOSE"); len(ex) != 1 || ex[0].Args != "8080" {
		t.Errorf("%s: EXPOSE %v, want 8080", name, ex)
	}
}

// TestDockerfileRules: the Dockerfile builds a static, trimmed binary in a
// stage of its own and ships it alone on distroless static as nonroot;
// Dockerfile.release (goreleaser's) has the same final stage around the
// release binary; goreleaser builds that image for both Linux platforms.
func TestDockerfileRules(t *testing.T) {
	var sj serverJSON
	readJSON(t, "server.json", &sj)

	stages := readDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s): want a build stage and the image", len(stages))
	}
	build := stages[0]
	name := regexp.MustCompile(`(?i)\bAS\s+(\S+)$`).FindStringSubmatch(build[0].Args)
	if name == nil || !strings.HasPrefix(build[0].Args, "golang:") {
		t.Fatalf("Dockerfile: the build stage is FROM %q, want a named golang stage", build[0].Args)
	}
	var goBuild string
	for _, in := range ops(build, "RUN") {
		if strings.Contains(in.Args, "go build") {
			goBuild = in.Args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-o /out/xfollow-mcp", "-X main.version="} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("Dockerfile: the go build step %q lacks %s", goBuild, want)
		}
	}
	final := stages[len(stages)-1]
	checkFinalStage(t, "Dockerfile", final, sj.Name)
	if c := ops(final, "COPY"); len(c) == 1 && c[0].Args != "--from="+name[1]+" /out/xfollow-mcp "+imageBinary {
		t.Errorf("Dockerfile: the image copies %q, want the build stage's binary", c[0].Args)
	}

	rel := readDockerfile(t, "Dockerfile.release")
	if len(rel) != 1 {
		t.Fatalf("Dockerfile.release has %d stages, want 1: goreleaser hands it the built binaries", len(rel))
	}
	checkFinalStage(t, "Dockerfile.release", rel[0], sj.Name)
	if c := ops(rel[0], "COPY"); len(c) == 1 && c[0].Args != "${TARGETPLATFORM}/xfollow-mcp "+imageBinary {
		t.Errorf("Dockerfile.release copies %q, want goreleaser's ${TARGETPLATFORM}/xfollow-mcp", c[0].Args)
	}
	if a := ops(rel[0], "ARG"); len(a) != 1 || a[0].Args != "TARGETPLATFORM" {
		t.Errorf("Dockerfile.release: ARG %v, want TARGETPLATFORM", a)
	}

	// goreleaser: the image is built from Dockerfile.release for both
	// Linux platforms, labelled with the registry name, from the one build
	// (static and trimmed).
	raw, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	gr := string(raw)
	_, docker, ok := strings.Cut(gr, "\ndockers_v2:\n")
	if !ok {
		t.Fatal(".goreleaser.yaml has no dockers_v2 section")
	}
	docker, _, _ = strings.Cut(docker, "\n\n")
	for _, want := range []string{
		"dockerfile: Dockerfile.release", "ids: [xfollow-mcp]", "- linux/amd64", "- linux/arm64",
		"io.modelcontextprotocol.server.name: " + sj.Name, "- ghcr.io/xfollow-mcp/xfollow-mcp",
	} {
		if !strings.Contains(docker, want) {
			t.Errorf(".goreleaser.yaml dockers_v2 lacks %q", want)
		}
	}
	for _, want := range []string{"- CGO_ENABLED=0", "- -trimpath", "binary: xfollow-mcp"} {
		if !strings.Contains(gr, want) {
			t.Errorf(".goreleaser.yaml builds lack %q", want)
		}
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "--snapshot --clean --skip=docker") {
		t.Error(".ci/run's snapshot must skip the image (no Docker engine in CI)")
	}

	// The default command is a valid setting once the operator picks how
	// callers are checked, and refused, saying how, until then.
	for _, env := range []map[string]string{{config.EnvHTTPToken: "0123456789abcdef-image-token"}} {
		if _, err := parseArgs(env, imageCmd...); err != nil {
			t.Errorf("the image's CMD with a token: %v", err)
		}
	}
	if _, err := parseArgs(nil, append(slices.Clone(imageCmd), "--key-from-request")...); err != nil {
		t.Errorf("the image's CMD with --key-from-request: %v", err)
	}
	if _, err := parseArgs(nil, imageCmd...); err == nil || !strings.Contains(err.Error(), config.EnvHTTPToken) {
		t.Errorf("the image's CMD alone: %v, want a refusal naming %s", err, config.EnvHTTPToken)
	}
}

func parseArgs(env map[string]string, args ...string) (config.Config, error) {
	p := config.NewParser("xfollow-mcp", func(k string) string { return env[k] }, io.Discard)
	if _, err := p.Parse(args); err != nil {
		return config.Config{}, err
	}
	return p.Config()
}

// TestStaticBinaryRunsAsNonrootInAnEmptyRoot: the binary built as the
// Dockerfile builds it is static (no interpreter, no shared library) and
// trimmed, and serves MCP as uid 65532 in a root holding nothing but
// itself: stricter than the distroless base, which adds /etc/passwd,
// certificates and time zones. Needs root for chroot and setuid (CI runs
// as root); skipped otherwise outside CI.
func TestStaticBinaryRunsAsNonrootInAnEmptyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root (chroot and setuid), as CI runs")
		}
		t.Skip("needs root for chroot and setuid; CI runs it")
	}
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(rootfs, "xfollow-mcp")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=0.0.0-image-test", "-o", bin, root)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	f.Close()
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	if entries, _ := os.ReadDir(rootfs); len(entries) != 1 {
		t.Fatalf("the root holds %d entries, want the binary alone", len(entries))
	}

	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(imageBinary, args...)
		cmd.Dir = "/"
		cmd.Env = []string{} // no HOME, no PATH: an image sets nothing
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     rootfs,
			Credential: &syscall.Credential{Uid: nonrootUID, Gid: nonrootUID, Groups: []uint32{}},
		}
		return cmd
	}
	out, err := run("--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0.0.0-image-test") {
		t.Fatalf("--version in the empty root: %v\n%s", err, out)
	}

	cmd := run("--http", "127.0.0.1:0", "--sandbox", "--metrics", "127.0.0.1:0")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("the server's exit: %v\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the server did not stop on SIGTERM")
		}
	}()
	listening := regexp.MustCompile(`msg="xfollow-mcp listening" url=http://(\S+)/mcp`)
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the server exited in the empty root: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not listen\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the log for the address
	}

	status, err := os.ReadFile("/proc/" + itoa(cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, _ := strings.Cut(line, ":"); k == "Uid" || k == "Gid" {
			for _, id := range strings.Fields(v) {
				if id != itoa(nonrootUID) {
					t.Errorf("%s: %s, want %d throughout", k, strings.TrimSpace(v), nonrootUID)
					break
				}
			}
		}
	}
	if r, err := os.Readlink("/proc/" + itoa(cmd.Process.Pid) + "/root"); err != nil || r != rootfs {
		t.Errorf("the server's root is %q (%v), want %s", r, err, rootfs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("/healthz: %d %s", res.StatusCode, hb)
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x_user","arguments":{"username":"TwitterDev"},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"image-test","version":"0"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "get_x_user")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(rb), `"username\":\"TwitterDev\"`) || strings.Contains(string(rb), `"isError":true`) {
		t.Fatalf("tools/call get_x_user in the empty root: %d %s\nstderr:\n%s", res.StatusCode, rb, stderr.String())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
