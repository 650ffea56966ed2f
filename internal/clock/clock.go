// Package clock is the server's one notion of time. Everything that waits or
// measures a window (the budget, job pacing, locks' retry, Retry-After waits,
// cache lifetimes) reads a Clock passed down from start-up, so that a test
// clock (XFOLLOW_CLOCK_SCALE) speeds all of them alike.
package clock

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	Now() time.Time
	// Sleep waits d of this clock's time, or until ctx ends (its error).
	Sleep(ctx context.Context, d time.Duration) error
	// Scale is how many of this clock's seconds pass in one real second.
	Scale() float64
}

// Real is the wall clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Scale() float64 { return 1 }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Scaled runs scale times faster than the wall clock, from start.
type Scaled struct {
	scale     float64
	start     time.Time // this clock's time at realStart
	realStart time.Time
	mu        sync.Mutex
	last      time.Time // never go back
}

// NewScaled returns a clock that reads start now and runs scale times as
// fast as the wall clock.
func NewScaled(scale float64, start time.Time) *Scaled {
	return &Scaled{scale: scale, start: start, realStart: time.Now()}
}

// Now is start plus the real time elapsed times the scale.
func (s *Scaled) Now() time.Time {
	el := time.Since(s.realStart)
	t := s.start.Add(time.Duration(float64(el) * s.scale))
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Before(s.last) {
		t = s.last
	}
	s.last = t
	return t
}

// Scale is the speed-up.
func (s *Scaled) Scale() float64 { return s.scale }

// NotBefore moves the clock forward to t when it reads earlier: a restart
// at speed must not go back in time behind what it wrote before.
func (s *Scaled) NotBefore(t time.Time) {
	now := s.Now()
	if !t.After(now) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = s.start.Add(t.Sub(now))
}

// Sleep waits d/scale of real time.
func (s *Scaled) Sleep(ctx context.Context, d time.Duration) error {
	return Real.Sleep(ctx, time.Duration(float64(d)/s.scale))
}

// EnvScale is the variable that speeds every clock of the server, for tests.
const EnvScale = "XFOLLOW_CLOCK_SCALE"

// MaxScale is the largest speed-up accepted.
const MaxScale = 100000

// ParseScale reads XFOLLOW_CLOCK_SCALE: "" is 1 (the wall clock).
func ParseScale(v string) (float64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 1, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 1 || f > MaxScale {
		return 0, fmt.Errorf("%s=%q is not a number from 1 to %d", EnvScale, v, MaxScale)
	}
	return f, nil
}
