package release

import (
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestLockfileIsComplete: every dependency of every package in
// package-lock.json, optional ones included (npm leaves out only the ones it
// does not install on this platform, never from the lock), resolves to a
// package in the lock as Node resolves it, from the nearest node_modules
// up. A lock that misses one is what makes `npm ci` refuse it and
// `npm install` rewrite it.
func TestLockfileIsComplete(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Dependencies         map[string]string `json:"dependencies"`
			DevDependencies      map[string]string `json:"devDependencies"`
			OptionalDependencies map[string]string `json:"optionalDependencies"`
			PeerDependencies     map[string]string `json:"peerDependencies"`
			PeerDependenciesMeta map[string]struct {
				Optional bool `json:"optional"`
			} `json:"peerDependenciesMeta"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatal(err)
	}
	if lock.LockfileVersion < 2 || len(lock.Packages) == 0 {
		t.Fatalf("lockfileVersion %d with %d packages: not a lock npm ci reads", lock.LockfileVersion, len(lock.Packages))
	}
	var pkgJSON struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	pb, err := os.ReadFile(filepath.Join(root, "package.json"))
	if err != nil || json.Unmarshal(pb, &pkgJSON) != nil {
		t.Fatalf("package.json: %v", err)
	}
	for name, want := range pkgJSON.DevDependencies {
		if got := lock.Packages[""].DevDependencies[name]; got != want {
			t.Errorf("package.json pins %s %s, the lock's root says %q", name, want, got)
		}
	}
	// resolves reports whether name is found from the package at dir.
	resolves := func(dir, name string) bool {
		for {
			if _, ok := lock.Packages[strings.TrimPrefix(dir+"/node_modules/"+name, "/")]; ok {
				return true
			}
			if dir == "" {
				return false
			}
			i := strings.LastIndex(dir, "/node_modules/")
			if i < 0 {
				dir = ""
			} else {
				dir = dir[:i]
			}
		}
	}
	var missing []string
	for dir, p := range lock.Packages {
		need := map[string]bool{}
		for _, deps := range []map[string]string{p.Dependencies, p.OptionalDependencies} {
			for name := range deps {
				need[name] = true
			}
		}
		if dir == "" {
			for name := range p.DevDependencies {
				need[name] = true
			}
		}
		for name := range p.PeerDependencies {
			if !p.PeerDependenciesMeta[name].Optional {
				need[name] = true
			}
		}
		for name := range need {
			if !resolves(dir, name) {
				missing = append(missing, name+" (needed by "+cmp.Or(dir, "package.json")+")")
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("package-lock.json lacks %d packages, so npm ci refuses it: %s; run npm install and commit the lock", len(missing), strings.Join(missing, ", "))
	}
}
