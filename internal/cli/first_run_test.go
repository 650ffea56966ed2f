package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What a new user meets first on the command line.

// A mistyped --help suggests --help, never --http (following that hint would
// start an HTTP server instead of printing the usage).
func TestMistypedHelpSuggestsHelpNotHTTP(t *testing.T) {
	for _, arg := range []string{"--hlep", "--Help", "--HELP", "--halp"} {
		code, _, errOut := run(t, nil, arg)
		first := strings.SplitN(errOut, "\n", 2)[0]
		if code != 2 || strings.Contains(first, "--http") || !strings.Contains(first, "--help") {
			t.Errorf("%s: exit %d, %q; want a suggestion of --help, not --http", arg, code, first)
		}
	}
}

// -v and `version`, what people type first, print the version or point at
// --version.
func TestVersionSpellingsPointAtVersion(t *testing.T) {
	for _, args := range [][]string{{"-v"}, {"version"}} {
		code, out, errOut := run(t, nil, args...)
		if code == 0 && strings.HasPrefix(out, "xfollow-mcp ") {
			continue
		}
		if !strings.Contains(errOut, "--version") {
			t.Errorf("%v: exit %d, stderr %q; want the version, or a hint naming --version", args, code, errOut)
		}
	}
}

// A leading ~ (or $HOME, ${HOME}) in --protect-file is expanded as it is in
// --journal: hosts start the server without a shell to expand it.
func TestProtectFileExpandsHomeLikeJournal(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	if err := os.WriteFile(filepath.Join(home, "protect.txt"), []byte("12\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, map[string]string{"AISA_API_KEY": "sk-aisa-x"}, "--protect-file", "~/protect.txt", "tools")
	if code != 0 {
		t.Errorf("--protect-file ~/protect.txt: exit %d: %s", code, errOut)
	}
}

// A --journal in a folder that does not exist is refused, and the error says
// to create the folder.
func TestJournalInMissingFolderSaysCreateIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	code, _, errOut := run(t, map[string]string{"AISA_API_KEY": "sk-aisa-x"}, "--journal", filepath.Join(dir, "j.jsonl"), "tools")
	if code == 0 {
		t.Fatalf("exit 0 with a journal in a missing folder")
	}
	if !strings.Contains(errOut, "create the folder "+dir+" first") {
		t.Errorf("exit %d, stderr %q; want it to say to create the folder", code, errOut)
	}
	if strings.Contains(errOut, "sk-aisa-x") {
		t.Errorf("stderr shows the key: %q", errOut)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the folder was created")
	}
}
