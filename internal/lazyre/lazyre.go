// Package lazyre is a regular expression compiled on first use. A package
// that compiles its patterns into variables does so in every process at
// start, whether or not the process ever uses them: for the command line's
// and the sandbox's patterns that was about a quarter of a millisecond of
// every start.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a pattern that compiles on first use. It panics then if the
// pattern does not compile, as regexp.MustCompile does at start.
type Regexp struct {
	pattern string
	re      func() *regexp.Regexp
}

// New returns the pattern, not yet compiled.
func New(pattern string) *Regexp {
	return &Regexp{pattern: pattern, re: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })}
}

// Regexp returns the compiled pattern.
func (r *Regexp) Regexp() *regexp.Regexp { return r.re() }

// MatchString is (*regexp.Regexp).MatchString.
func (r *Regexp) MatchString(s string) bool { return r.re().MatchString(s) }

// FindStringSubmatch is (*regexp.Regexp).FindStringSubmatch.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.re().FindStringSubmatch(s) }

// String is the pattern.
func (r *Regexp) String() string { return r.pattern }
