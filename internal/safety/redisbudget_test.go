package safety

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// limiterClock is a Limiter whose clock the test moves: the in-process
// Budget on a fake clock, or the Redis one on miniredis's settable TIME.
type limiterClock struct {
	name    string
	l       Limiter
	advance func(time.Duration)
	seed    func(fp string, t time.Time)
}

func clockedLimiters(t *testing.T, windows ...Window) []limiterClock {
	t.Helper()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	mem := NewBudget(func() time.Time { return now }, windows...)

	mr := miniredis.RunT(t)
	rnow := now
	mr.SetTime(rnow)
	rb, err := NewRedisBudget("redis://"+mr.Addr()+"/0", nil, windows...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb.Close() })
	return []limiterClock{
		{"memory", mem, func(d time.Duration) { now = now.Add(d) }, func(fp string, at time.Time) { mem.Seed(fp, at) }},
		{"redis", rb, func(d time.Duration) { rnow = rnow.Add(d); mr.SetTime(rnow) }, func(fp string, at time.Time) {
			if _, err := mr.ZAdd(RedisKeyPrefix+fp, float64(at.UnixMilli()), at.String()); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

// TestLimitersAgreeOnSlidingWindows runs one scenario on both limiters: the
// Redis one must count, free and time slots exactly as the in-process one.
func TestLimitersAgreeOnSlidingWindows(t *testing.T) {
	ctx := context.Background()
	for _, lc := range clockedLimiters(t, Window{Limit: 3, Span: 15 * time.Minute}, Window{Limit: 5, Span: 24 * time.Hour}) {
		t.Run(lc.name, func(t *testing.T) {
			b := lc.l
			remaining := func(fp string) Remaining {
				r, err := b.Remaining(ctx, fp)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			for i := 0; i < 3; i++ {
				r, err := b.Reserve(ctx, "a")
				if err != nil {
					t.Fatal(err)
				}
				r.Keep()
				lc.advance(time.Minute)
			}
			_, err := b.Reserve(ctx, "a")
			var ex *Exhausted
			if !errors.As(err, &ex) || ex.Window.Limit != 3 || ex.RetryAfter != 12*time.Minute {
				t.Fatalf("err = %v", err)
			}
			if err := b.Check(ctx, "a", 1); !errors.As(err, &ex) {
				t.Fatalf("check: %v", err)
			}
			if rem := remaining("a"); *rem.Per15m != 0 || *rem.Per24h != 2 || rem.Min() != 0 {
				t.Fatalf("remaining = %d, %d", *rem.Per15m, *rem.Per24h)
			}
			if rem := remaining("b"); *rem.Per15m != 3 || *rem.Per24h != 5 {
				t.Fatalf("key b sees key a's events: %d", *rem.Per15m)
			}
			lc.advance(13 * time.Minute) // events at 0 and 1 min slide out; 2 min stays
			if err := b.Check(ctx, "a", 2); err != nil {
				t.Fatalf("two should fit: %v", err)
			}
			// Three fit neither window: the 15-minute one frees room in 1m
			// (the event at 2 min leaves at 17), the daily one only when the
			// event at 0 leaves; the call waits for the later.
			if err := b.Check(ctx, "a", 3); !errors.As(err, &ex) || ex.Window.Span != 24*time.Hour || ex.RetryAfter != 24*time.Hour-16*time.Minute {
				t.Fatalf("three should wait for the daily window: %v", err)
			}
			r, err := b.Reserve(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if *remaining("a").Per15m != 1 {
				t.Fatalf("with a reservation: %d", *remaining("a").Per15m)
			}
			r.Release()
			r.Release() // once
			if *remaining("a").Per15m != 2 {
				t.Fatalf("after release: %d", *remaining("a").Per15m)
			}
			for i := 0; i < 2; i++ {
				r, err := b.Reserve(ctx, "a")
				if err != nil {
					t.Fatal(err)
				}
				r.Keep()
			}
			lc.advance(20 * time.Minute) // the 15-minute window is empty again
			_, err = b.Reserve(ctx, "a")
			if !errors.As(err, &ex) || ex.Window.Limit != 5 || ex.Window.Span != 24*time.Hour {
				t.Fatalf("the daily window did not bind: %v", err)
			}
			// 24 h after the first event, it leaves the daily window.
			if ex.RetryAfter != 24*time.Hour-36*time.Minute {
				t.Fatalf("daily retry after %s", ex.RetryAfter)
			}
			lc.advance(24*time.Hour - 36*time.Minute)
			if _, err := b.Reserve(ctx, "a"); err != nil {
				t.Fatalf("the oldest event did not leave the daily window: %v", err)
			}
		})
	}
}

// TestLimitersAgreeWhenTheWindowHoldsMoreThanItsLimit: after a restart
// with a lower limit, a slot frees only when enough events have left.
func TestLimitersAgreeWhenTheWindowHoldsMoreThanItsLimit(t *testing.T) {
	for _, lc := range clockedLimiters(t, Window{Limit: 2, Span: 15 * time.Minute}) {
		t.Run(lc.name, func(t *testing.T) {
			now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
			for i := 5; i >= 1; i-- {
				lc.seed("a", now.Add(-time.Duration(i)*time.Minute)) // 5..1 minutes ago
			}
			err := lc.l.Check(context.Background(), "a", 1)
			var ex *Exhausted
			if !errors.As(err, &ex) || ex.RetryAfter != 13*time.Minute {
				t.Fatalf("err = %v; want a slot in 13m0s (when the event of 2 minutes ago leaves)", err)
			}
			// A wait under a second is given as one second.
			lc.advance(13*time.Minute - 10*time.Millisecond)
			if err := lc.l.Check(context.Background(), "a", 1); !errors.As(err, &ex) || ex.RetryAfter != time.Second {
				t.Fatalf("err = %v; want 1s", err)
			}
		})
	}
}

// TestRedisBudgetDropsOnlyWhatNoWindowCounts: events older than the longest
// window go, and the key expires with them; a window with no limit still
// keeps its span, for replicas started with a daily limit.
func TestRedisBudgetDropsOnlyWhatNoWindowCounts(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	mr.SetTime(now)
	b, err := NewRedisBudget("redis://"+mr.Addr(), nil, Window{Limit: 2, Span: 15 * time.Minute}, Window{Limit: 0, Span: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for range 2 {
		s, err := b.Reserve(ctx, "fp")
		if err != nil {
			t.Fatal(err)
		}
		s.Keep()
	}
	key := RedisKeyPrefix + "fp"
	if ttl := mr.TTL(key); ttl != 24*time.Hour {
		t.Fatalf("ttl %s; want the longest span", ttl)
	}
	mr.SetTime(now.Add(time.Hour))
	if r, err := b.Remaining(ctx, "fp"); err != nil || *r.Per15m != 2 || r.Per24h != nil {
		t.Fatalf("remaining %+v %v", r, err)
	}
	if members, _ := mr.ZMembers(key); len(members) != 2 {
		t.Fatalf("events inside 24 h were dropped: %v", members)
	}
	mr.SetTime(now.Add(24*time.Hour + time.Millisecond))
	if _, err := b.Remaining(ctx, "fp"); err != nil {
		t.Fatal(err)
	}
	if mr.Exists(key) {
		t.Fatal("events older than every window were kept")
	}
}

// TestRedisBudgetKeepsNoSecret: keys are the prefix and a fingerprint,
// members random ids, scores times.
func TestRedisBudgetKeepsNoSecret(t *testing.T) {
	mr := miniredis.RunT(t)
	b, err := NewRedisBudget("redis://"+mr.Addr(), nil, Window{Limit: 5, Span: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := b.Reserve(context.Background(), "0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	s.Keep()
	keys := mr.Keys()
	if len(keys) != 1 || keys[0] != RedisKeyPrefix+"0123456789abcdef" {
		t.Fatalf("keys %v", keys)
	}
	members, _ := mr.ZMembers(keys[0])
	if len(members) != 1 || len(members[0]) != 32 || strings.Trim(members[0], "0123456789abcdef") != "" {
		t.Fatalf("members %v", members)
	}
}

// TestRedisBudgetFailsClosed: every failure of the store is
// ErrStateUnavailable, never a slot or a nil error; a release that fails
// leaves the slot counted; the store coming back is noticed.
func TestRedisBudgetFailsClosed(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	b, err := NewRedisBudget("redis://:hunter2-secret@"+mr.Addr()+"/0", logger, Window{Limit: 2, Span: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mr.RequireAuth("hunter2-secret")
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("ping with the password: %v", err)
	}
	slot, err := b.Reserve(ctx, "fp")
	if err != nil {
		t.Fatal(err)
	}

	mr.SetError("LOADING Redis is loading the dataset in memory")
	s, err := b.Reserve(ctx, "fp")
	if s != nil || !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("reserve on a failing store: %v, %v", s, err)
	}
	if err := b.Check(ctx, "fp", 1); !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("check: %v", err)
	}
	if _, err := b.Remaining(ctx, "fp"); !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("remaining: %v", err)
	}
	if err := b.Ping(ctx); !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("ping: %v", err)
	}
	slot.Release() // fails: the slot stays counted
	mr.SetError("")
	if r, err := b.Remaining(ctx, "fp"); err != nil || *r.Per15m != 1 {
		t.Fatalf("after a failed release: %+v %v", r, err)
	}
	slot.Release() // once only, even after a failure
	if r, _ := b.Remaining(ctx, "fp"); *r.Per15m != 1 {
		t.Fatalf("a second release ran: %d left", *r.Per15m)
	}

	// A caller that gave up gets its own error back, not the store's.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Reserve(cctx, "fp"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("cancelled reserve: %v", err)
	}

	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if n := strings.Count(out, "the state store does not answer"); n != 1 {
		t.Errorf("the outage was logged %d times; want once:\n%s", n, out)
	}
	if !strings.Contains(out, "could not give an unfollow budget slot back") || !strings.Contains(out, "answers again") {
		t.Errorf("logs:\n%s", out)
	}
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "redis://:xxxxx@") {
		t.Errorf("the password was logged, or the store not named:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRedisBudgetWithoutLimitsNeedsNoStore: with no limited window there
// is nothing to count, so nothing is asked of the store.
func TestRedisBudgetWithoutLimitsNeedsNoStore(t *testing.T) {
	b, err := NewRedisBudget("redis://127.0.0.1:1/0", nil, Window{Limit: 0, Span: 15 * time.Minute}, Window{Limit: 0, Span: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := b.Reserve(context.Background(), "fp")
	if err != nil || s == nil {
		t.Fatalf("%v %v", s, err)
	}
	s.Release()
	if r, err := b.Remaining(context.Background(), "fp"); err != nil || r.Min() != -1 {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestStateURLErrorsNeverRepeatThePassword(t *testing.T) {
	for _, raw := range []string{
		"redis://user:s3cr3t-pw@host:notaport/0",
		"redis://:s3cr3t-pw@host:6379/notadb",
		"http://:s3cr3t-pw@host:6379/0",
		"redis://:s3cr3t-pw@/0",
		"redis://:s3cr3t-pw@host:6379/0?unknown_option=1",
		"redis ://:s3cr3t-pw@host",
	} {
		_, err := ParseStateURL(raw)
		if err == nil {
			t.Errorf("a bad URL was accepted: %q", strings.ReplaceAll(raw, "s3cr3t", "***"))
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}
	for _, raw := range []string{"redis://127.0.0.1:6379/0", "rediss://u:p@redis.internal:6380/2", "redis://redis"} {
		if _, err := ParseStateURL(raw); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
}
