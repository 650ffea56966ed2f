// Package jobs keeps clean-up jobs: an approved list of accounts, unfollowed
// (or, to undo one, followed again) at a pace below every limit, over hours
// or days, with no agent calling. A job's state is rebuilt from the journal
// (Store); the Runner decides when each item goes; a Sender (the write gate)
// decides whether, and sends it. This package knows nothing of MCP.
package jobs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kinds of job.
const (
	KindUnfollow = "unfollow"
	KindFollow   = "follow"
)

// Statuses of a job, shaped like MCP task statuses.
const (
	StatusScheduled        = "scheduled"
	StatusRunning          = "running"
	StatusWaitingBudget    = "waiting_budget"
	StatusWaitingRateLimit = "waiting_rate_limit"
	StatusWaitingState     = "waiting_state"
	StatusPaused           = "paused"
	StatusNeedsLink        = "needs_link"
	StatusCompleted        = "completed"
	StatusCancelled        = "cancelled"
	StatusFailed           = "failed"
)

// Item outcomes.
const (
	OutcomeOK           = "ok"
	OutcomeUnknown      = "unknown"
	OutcomeFollowsBack  = "follows_back"
	OutcomeNotFollowing = "not_following"
	OutcomeProtected    = "protected"
	OutcomeGone         = "gone"
	OutcomeFailed       = "failed"
	OutcomeCancelled    = "cancelled"
)

// Journal record phases of jobs. Readers that know only intents and outcomes
// skip them.
const (
	PhaseJob     = "job"
	PhaseControl = "job_control"
)

// Control actions.
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionCancel = "cancel"
)

// Pace is a job's ceilings: sends in any 15 minutes and in any 24 hours.
type Pace struct {
	Per15m int `json:"per_15m"`
	PerDay int `json:"per_day"`
}

// MeanGap is the mean time between two sends at this pace: the binding
// ceiling's span over its count.
func (p Pace) MeanGap() time.Duration {
	g := time.Duration(0)
	if p.Per15m > 0 {
		g = 15 * time.Minute / time.Duration(p.Per15m)
	}
	if p.PerDay > 0 {
		g = max(g, 24*time.Hour/time.Duration(p.PerDay))
	}
	return g
}

// Headroom is how much longer the drawn gaps are on average than the
// binding ceiling's span over its count. Without it the random gaps would
// fill a window to its ceiling about half the time, each send would then
// wait for the oldest to leave the window and draw its gap from there, and
// the pace would fall further behind day after day. With it a day's 300
// sends span some 24 sample standard deviations less than a day, so the
// ceilings hold by the pacer's window check and rarely need it.
const Headroom = 1.08

// DrawnGap is the mean of the gaps the runner draws: MeanGap times
// Headroom. ETAs use it.
func (p Pace) DrawnGap() time.Duration {
	return time.Duration(float64(p.MeanGap()) * Headroom)
}

// Def is a job as approved: what the journal's job record carries. It holds
// no secret: the key is named by its fingerprint.
type Def struct {
	ID             string    `json:"id"`
	Kind           string    `json:"kind"`
	KeyFingerprint string    `json:"key_fingerprint"`
	Gateway        string    `json:"gateway"`
	Username       string    `json:"username"`
	TargetUserIDs  []string  `json:"target_user_ids"`
	ListSHA256     string    `json:"list_sha256"` // of the ids joined by "\n"
	ConsentAt      time.Time `json:"consent_at"`
	// Confirmed is true when the person approved the job through the
	// client's confirmation form (--confirm).
	Confirmed bool   `json:"confirmed,omitempty"`
	Pace      Pace   `json:"pace"`
	UndoOf    string `json:"undo_of,omitempty"`
	Tool      string `json:"tool"` // what the item writes are journaled as
	// Usernames are handles known at the start, by id (undo jobs).
	Usernames map[string]string `json:"usernames,omitempty"`
}

// ListSHA256 is the SHA-256 of the ids, one a line, as hex.
func ListSHA256(ids []string) string {
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return hex.EncodeToString(sum[:])
}

// NewID returns a job id: 128 random bits, hex.
func NewID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("jobs: no randomness: %v", err))
	}
	return "job_" + hex.EncodeToString(b)
}

// ValidID reports whether s has the shape of a job id.
func ValidID(s string) bool {
	if len(s) != 4+32 || !strings.HasPrefix(s, "job_") {
		return false
	}
	_, err := hex.DecodeString(s[4:])
	return err == nil && strings.ToLower(s) == s
}

// Item is one account of a job and what became of it.
type Item struct {
	TargetUserID string    `json:"target_user_id" jsonschema_description:"The account's numeric X id."`
	Username     string    `json:"username,omitempty" jsonschema_description:"Its handle, once the job has read it."`
	Outcome      string    `json:"outcome,omitempty" jsonschema:"enum=ok,enum=unknown,enum=follows_back,enum=not_following,enum=protected,enum=gone,enum=failed,enum=cancelled" jsonschema_description:"What became of it; absent while still to do."`
	Time         time.Time `json:"time,omitzero" jsonschema_description:"When it was checked or written."`
}

// pending reports whether the runner still has to act on an item: never
// tried, or tried with an unknown outcome (verified before anything is
// resent).
func (it Item) pending() bool { return it.Outcome == "" || it.Outcome == OutcomeUnknown }

// control is the job's payload in a job_control record.
type control struct {
	Action string `json:"action"`
}

func encodeControl(action string) json.RawMessage {
	b, _ := json.Marshal(control{Action: action})
	return b
}

// Summary is what the job tools show of a job.
type Summary struct {
	JobID      string         `json:"job_id" jsonschema_description:"The job's id."`
	Kind       string         `json:"kind" jsonschema:"enum=unfollow,enum=follow" jsonschema_description:"unfollow, or follow for a job that undoes one."`
	Status     string         `json:"status" jsonschema:"enum=scheduled,enum=running,enum=waiting_budget,enum=waiting_rate_limit,enum=waiting_state,enum=paused,enum=needs_link,enum=completed,enum=cancelled,enum=failed" jsonschema_description:"Where the job stands."`
	StatusText string         `json:"status_text" jsonschema_description:"The status in words: why it waits, and until when."`
	Username   string         `json:"username" jsonschema_description:"The X account the job acts on."`
	Total      int            `json:"total" jsonschema_description:"Accounts in the job."`
	Done       int            `json:"done" jsonschema_description:"Accounts with a final outcome."`
	Remaining  int            `json:"remaining" jsonschema_description:"Accounts still to do."`
	Counts     map[string]int `json:"counts" jsonschema_description:"Accounts by outcome: ok, unknown, follows_back, not_following, protected, gone, failed, cancelled."`
	NextAt     string         `json:"next_at,omitempty" jsonschema_description:"When the next account is due (RFC 3339)."`
	ETA        string         `json:"eta,omitempty" jsonschema_description:"When the job should end at its pace (RFC 3339). Report it to the person rather than polling."`
	Pace       Pace           `json:"pace" jsonschema_description:"The job's ceilings: at most per_15m in any 15 minutes and per_day in any 24 hours."`
	CreatedAt  string         `json:"created_at" jsonschema_description:"When the person approved the job (RFC 3339)."`
	UndoOf     string         `json:"undo_of,omitempty" jsonschema_description:"For a follow job: the unfollow job it undoes."`
	DryRun     bool           `json:"dry_run,omitempty" jsonschema_description:"True when the server runs in dry-run mode: the job was planned, not stored, and nothing will be sent."`
	Recent     []Item         `json:"recent,omitempty" jsonschema_description:"The last 20 outcomes, newest first (single-job view)."`
}
