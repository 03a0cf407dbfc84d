package main

// The pure part of the proxy: profile parsing and validation, the token
// bucket, the per-request decision (throttle, then injected error, then
// latency) and the bodies of the injected replies per API. Nothing here
// touches the network or the wall clock, so model_test.go can drive it with
// a fake clock and a scripted random source.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Profile is the object-store weather applied to each request.
type Profile struct {
	LatencyMs   float64 `json:"latency_ms"`
	JitterMs    float64 `json:"jitter_ms"`
	ErrorPct    float64 `json:"error_pct"`
	ErrorStatus int     `json:"error_status"` // status of injected errors: 500 or 503
	ThrottleRps float64 `json:"throttle_rps"` // 0 = no throttle
	Burst       int     `json:"burst"`        // token bucket size
}

const (
	maxLatencyMs       = 60000
	maxBurst           = 1000000
	defaultErrorStatus = 503
	defaultBurst       = 1
	profileHelp        = `expected {"latency_ms", "jitter_ms", "error_pct", "error_status", "throttle_rps", "burst"}, every field optional`
)

// DefaultProfile is the transparent profile: no latency, no errors, no
// throttle, with the defaults filled in (error_status 503, burst 1).
func DefaultProfile() Profile {
	return Profile{ErrorStatus: defaultErrorStatus, Burst: defaultBurst}
}

// ParseProfile decodes and validates a profile. A field left out means 0,
// except error_status (default 503) and burst (default 1); an empty string
// is the transparent profile. Errors are one line and name the offending
// field and its allowed range.
func ParseProfile(data []byte) (Profile, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return DefaultProfile(), nil
	}
	var raw struct {
		LatencyMs   float64 `json:"latency_ms"`
		JitterMs    float64 `json:"jitter_ms"`
		ErrorPct    float64 `json:"error_pct"`
		ErrorStatus *int    `json:"error_status"`
		ThrottleRps float64 `json:"throttle_rps"`
		Burst       *int    `json:"burst"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Profile{}, fmt.Errorf("%s (%s)", oneLine(err.Error()), profileHelp)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Profile{}, fmt.Errorf("trailing data after the profile object (%s)", profileHelp)
	}
	p := DefaultProfile()
	p.LatencyMs, p.JitterMs, p.ErrorPct, p.ThrottleRps = raw.LatencyMs, raw.JitterMs, raw.ErrorPct, raw.ThrottleRps
	if raw.ErrorStatus != nil {
		p.ErrorStatus = *raw.ErrorStatus
	}
	if raw.Burst != nil {
		p.Burst = *raw.Burst
	}
	return p, p.Validate()
}

// Validate checks every field's range. The comparisons are written as
// !(in range) so NaN is rejected too.
func (p Profile) Validate() error {
	if !(p.LatencyMs >= 0 && p.LatencyMs <= maxLatencyMs) {
		return fmt.Errorf("latency_ms = %g is out of range: allowed 0 to %d", p.LatencyMs, maxLatencyMs)
	}
	// jitter <= latency keeps every delay non-negative.
	if !(p.JitterMs >= 0 && p.JitterMs <= p.LatencyMs) {
		return fmt.Errorf("jitter_ms = %g is out of range: allowed 0 to latency_ms (%g)", p.JitterMs, p.LatencyMs)
	}
	if !(p.ErrorPct >= 0 && p.ErrorPct <= 100) {
		return fmt.Errorf("error_pct = %g is out of range: allowed 0 to 100", p.ErrorPct)
	}
	if p.ErrorStatus != 500 && p.ErrorStatus != 503 {
		return fmt.Errorf("error_status = %d is not allowed: allowed 500 or 503 (default 503)", p.ErrorStatus)
	}
	if !(p.ThrottleRps >= 0 && !math.IsInf(p.ThrottleRps, 1)) {
		return fmt.Errorf("throttle_rps = %g is out of range: allowed 0 (no throttle) or a positive rate in requests per second", p.ThrottleRps)
	}
	if !(p.Burst >= 1 && p.Burst <= maxBurst) {
		return fmt.Errorf("burst = %d is out of range: allowed 1 to %d (default 1)", p.Burst, maxBurst)
	}
	return nil
}

// String is the human summary used in the startup line, e.g.
// "latency 20±5 ms, errors 2% as 503, throttle 10 rps burst 5".
func (p Profile) String() string {
	errs := "errors 0%"
	if p.ErrorPct > 0 {
		errs = fmt.Sprintf("errors %g%% as %d", p.ErrorPct, p.ErrorStatus)
	}
	throttle := "throttle off"
	if p.ThrottleRps > 0 {
		throttle = fmt.Sprintf("throttle %g rps burst %d", p.ThrottleRps, p.Burst)
	}
	return fmt.Sprintf("latency %g±%g ms, %s, %s", p.LatencyMs, p.JitterMs, errs, throttle)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Bucket is a token bucket: it holds at most burst tokens, starts full and
// refills at rate tokens per second; each admitted request takes one.
type Bucket struct {
	rate, burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewBucket makes a full bucket whose refill clock starts at now.
func NewBucket(rate float64, burst int, now time.Time) *Bucket {
	return &Bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// tokenEpsilon absorbs float rounding in the refill sum (ten refills of
// 0.1 s at 1 rps must make a whole token).
const tokenEpsilon = 1e-9

// Take reports whether a request arriving at now may pass, and if so spends
// a token. A clock that steps backwards adds nothing (and is not remembered).
func (b *Bucket) Take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens >= 1-tokenEpsilon {
		b.tokens = math.Max(0, b.tokens-1)
		return true
	}
	return false
}

// Action is what to do with one request.
type Action int

const (
	Proxy     Action = iota // (after Delay) forward it upstream
	Throttled               // answer at once with the API's throttling reply
	Injected                // answer at once with the API's error reply for Status
)

func (a Action) String() string { return [...]string{"proxy", "throttled", "injected"}[a] }

// Decision is the verdict for one request.
type Decision struct {
	Action Action
	Status int           // Injected: 500 or 503
	Delay  time.Duration // Proxy: sleep this long first
}

// Weather holds the profile in force and decides each request's fate.
// Decide is safe for concurrent use as long as rand is (math/rand/v2's
// top-level Float64 is).
type Weather struct {
	now  func() time.Time
	rand func() float64 // uniform in [0, 1)
	base Profile

	setMu sync.Mutex // serialises Set/Reset so the bucket hand-over is consistent
	cur   atomic.Pointer[weatherState]
}

// weatherState is swapped whole, so a set applies to every field at once.
type weatherState struct {
	p      Profile
	bucket *Bucket // nil when throttle_rps is 0
}

// NewWeather starts with base in force.
func NewWeather(base Profile, now func() time.Time, rand func() float64) *Weather {
	w := &Weather{now: now, rand: rand, base: base}
	w.Set(base)
	return w
}

// Profile is the profile in force.
func (w *Weather) Profile() Profile { return w.cur.Load().p }

// Base is the profile given at start, what Reset goes back to.
func (w *Weather) Base() Profile { return w.base }

// Set puts p in force for requests decided from now on. If the throttle
// (throttle_rps and burst) is unchanged the token bucket carries over, so
// changing only latency or errors does not hand out a fresh burst; otherwise
// the new throttle starts with a full bucket.
func (w *Weather) Set(p Profile) {
	w.setMu.Lock()
	defer w.setMu.Unlock()
	st := &weatherState{p: p}
	if p.ThrottleRps > 0 {
		old := w.cur.Load()
		if old != nil && old.bucket != nil && old.p.ThrottleRps == p.ThrottleRps && old.p.Burst == p.Burst {
			st.bucket = old.bucket
		} else {
			st.bucket = NewBucket(p.ThrottleRps, p.Burst, w.now())
		}
	}
	w.cur.Store(st)
}

// Reset puts the base profile back in force and returns it.
func (w *Weather) Reset() Profile {
	w.Set(w.base)
	return w.base
}

// Decide applies, in order: the throttle (no token: Throttled), error
// injection (with probability error_pct/100: Injected), then latency ±
// uniform jitter. rand() is in [0, 1), so 0% and 100% are exact, and it is
// only drawn when error_pct or jitter_ms is non-zero.
func (w *Weather) Decide() Decision {
	st := w.cur.Load()
	p := st.p
	if st.bucket != nil && !st.bucket.Take(w.now()) {
		return Decision{Action: Throttled}
	}
	if p.ErrorPct > 0 && w.rand() < p.ErrorPct/100 {
		return Decision{Action: Injected, Status: p.ErrorStatus}
	}
	delay := p.LatencyMs
	if p.JitterMs > 0 {
		delay += (2*w.rand() - 1) * p.JitterMs
	}
	return Decision{Action: Proxy, Delay: milliseconds(delay)}
}

func milliseconds(ms float64) time.Duration {
	if ms <= 0 {
		return 0
	}
	return time.Duration(math.Round(ms * 1e6))
}

// API is which object-store dialect the injected replies speak.
type API string

const (
	S3  API = "s3"
	GCS API = "gcs"
)

// ParseAPI accepts "s3" or "gcs".
func ParseAPI(s string) (API, error) {
	switch API(s) {
	case S3, GCS:
		return API(s), nil
	}
	return "", fmt.Errorf("%q is not allowed: allowed s3 or gcs", s)
}

// Reply is an injected response.
type Reply struct {
	Status      int
	ContentType string
	Body        []byte
}

// RequestID is what injected S3 errors carry as their request id.
const RequestID = "riftdrill-storeweather"

func s3Error(code, message string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>` + code + `</Code><Message>` + message + `</Message><RequestId>` + RequestID + `</RequestId></Error>`)
}

func gcsError(status int, message, reason, itemMessage string) []byte {
	type item struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	var v struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Errors  []item `json:"errors"`
		} `json:"error"`
	}
	v.Error.Code, v.Error.Message = status, message
	v.Error.Errors = []item{{Reason: reason, Message: itemMessage}}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static data: cannot happen
	}
	return b
}

const (
	s3XML   = "application/xml"
	gcsJSON = "application/json; charset=UTF-8"
	gcsRate = "The rate of change requests to the object is too high."
)

var (
	s3SlowDown      = Reply{503, s3XML, s3Error("SlowDown", "Please reduce your request rate.")}
	s3InternalError = Reply{500, s3XML, s3Error("InternalError", "We encountered an internal error. Please try again.")}
	gcsThrottle     = Reply{429, gcsJSON, gcsError(429, gcsRate, "rateLimitExceeded", gcsRate)}
	gcsUnavailable  = Reply{503, gcsJSON, gcsError(503, "Service Unavailable", "backendError", "Service Unavailable")}
	gcsInternal     = Reply{500, gcsJSON, gcsError(500, "Internal Error", "backendError", "Internal Error")}
)

// ThrottleReply is what the real service answers when a client is over its
// request rate: S3 503 SlowDown, GCS 429 rateLimitExceeded.
func ThrottleReply(api API) Reply {
	if api == GCS {
		return gcsThrottle
	}
	return s3SlowDown
}

// ErrorReply is the injected server error for status 500 or 503 (anything
// else is treated as 503, the default).
func ErrorReply(api API, status int) Reply {
	switch {
	case api == GCS && status == 500:
		return gcsInternal
	case api == GCS:
		return gcsUnavailable
	case status == 500:
		return s3InternalError
	}
	return s3SlowDown
}
