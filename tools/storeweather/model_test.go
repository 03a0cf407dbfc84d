package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// script returns the given values in turn and fails the test if asked for more.
func script(t *testing.T, vals ...float64) func() float64 {
	return func() float64 {
		t.Helper()
		if len(vals) == 0 {
			t.Fatal("random source drawn more often than expected")
		}
		v := vals[0]
		vals = vals[1:]
		return v
	}
}

func TestParseProfileOK(t *testing.T) {
	p, err := ParseProfile([]byte(`{"latency_ms": 20, "jitter_ms": 5, "error_pct": 2.5, "error_status": 500, "throttle_rps": 10, "burst": 4}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Profile{LatencyMs: 20, JitterMs: 5, ErrorPct: 2.5, ErrorStatus: 500, ThrottleRps: 10, Burst: 4}
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	if s := p.String(); s != "latency 20±5 ms, errors 2.5% as 500, throttle 10 rps burst 4" {
		t.Errorf("summary %q", s)
	}
	for _, in := range []string{``, ` `, `{}`, `null`} {
		p, err := ParseProfile([]byte(in))
		if err != nil || p != (Profile{ErrorStatus: 503, Burst: 1}) {
			t.Errorf("%q: got %+v, %v; want the transparent default", in, p, err)
		}
		if s := p.String(); s != "latency 0±0 ms, errors 0%, throttle off" {
			t.Errorf("%q: summary %q", in, s)
		}
	}
	// error_status defaults to 503 when errors are asked for.
	if p, err := ParseProfile([]byte(`{"error_pct": 100}`)); err != nil || p.ErrorStatus != 503 || p.Burst != 1 {
		t.Errorf("defaults: %+v, %v", p, err)
	}
	// What get returns can be sent back with set.
	b, _ := json.Marshal(want)
	if p, err := ParseProfile(b); err != nil || p != want {
		t.Errorf("round trip %s: %+v, %v", b, p, err)
	}
}

func TestParseProfileErrors(t *testing.T) {
	cases := []struct {
		json string
		want []string // substrings the one-line error must contain
	}{
		{`{"latency_ms": 1`, []string{"unexpected EOF", "latency_ms"}},
		{`{"latency": 1}`, []string{`unknown field "latency"`, "latency_ms", "throttle_rps"}},
		{`{"latency_ms": "1"}`, []string{"latency_ms"}},
		{`{} {}`, []string{"trailing data"}},
		{`[]`, []string{"cannot unmarshal array"}},
		{`{"latency_ms": -1}`, []string{"latency_ms = -1", "allowed 0 to 60000"}},
		{`{"latency_ms": 60001}`, []string{"latency_ms = 60001", "allowed 0 to 60000"}},
		{`{"latency_ms": 10, "jitter_ms": 11}`, []string{"jitter_ms = 11", "allowed 0 to latency_ms (10)"}},
		{`{"jitter_ms": -1}`, []string{"jitter_ms = -1"}},
		{`{"error_pct": -0.1}`, []string{"error_pct = -0.1", "allowed 0 to 100"}},
		{`{"error_pct": 100.5}`, []string{"error_pct = 100.5", "allowed 0 to 100"}},
		{`{"error_pct": 5, "error_status": 404}`, []string{"error_status = 404", "allowed 500 or 503"}},
		{`{"error_status": 0}`, []string{"error_status = 0", "allowed 500 or 503"}},
		{`{"error_status": 503.5}`, []string{"error_status"}},
		{`{"throttle_rps": -2}`, []string{"throttle_rps = -2", "allowed 0 (no throttle)"}},
		{`{"throttle_rps": 5, "burst": 0}`, []string{"burst = 0", "allowed 1 to 1000000"}},
		{`{"burst": 1000001}`, []string{"burst = 1000001", "allowed 1 to 1000000"}},
	}
	for _, c := range cases {
		_, err := ParseProfile([]byte(c.json))
		if err == nil {
			t.Errorf("%s: accepted", c.json)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: error is not one line: %q", c.json, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", c.json, msg, w)
			}
		}
	}
	// NaN cannot come from JSON, but Validate must still refuse it.
	nan := math.NaN()
	for _, p := range []Profile{
		{LatencyMs: nan, ErrorStatus: 503, Burst: 1},
		{ErrorPct: nan, ErrorStatus: 503, Burst: 1},
		{ThrottleRps: nan, ErrorStatus: 503, Burst: 1},
		{ThrottleRps: math.Inf(1), ErrorStatus: 503, Burst: 1},
	} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestParseAPI(t *testing.T) {
	for _, s := range []string{"s3", "gcs"} {
		if a, err := ParseAPI(s); err != nil || string(a) != s {
			t.Errorf("%s: %v %v", s, a, err)
		}
	}
	for _, s := range []string{"", "S3", "azure"} {
		if _, err := ParseAPI(s); err == nil || !strings.Contains(err.Error(), "allowed s3 or gcs") {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestBucketBurstThenRate(t *testing.T) {
	clk := newFakeClock()
	b := NewBucket(2, 3, clk.now()) // 2 per second, burst 3
	for i := 0; i < 3; i++ {
		if !b.Take(clk.now()) {
			t.Fatalf("burst request %d throttled", i+1)
		}
	}
	if b.Take(clk.now()) {
		t.Fatal("4th immediate request passed: burst is 3")
	}
	clk.advance(499 * time.Millisecond)
	if b.Take(clk.now()) {
		t.Fatal("passed after 499 ms at 2 rps")
	}
	clk.advance(1 * time.Millisecond)
	if !b.Take(clk.now()) {
		t.Fatal("throttled after 500 ms at 2 rps")
	}
	if b.Take(clk.now()) {
		t.Fatal("second request in the same instant passed")
	}
	// Ten refills of 50 ms at 2 rps make exactly one token, despite rounding.
	for i := 0; i < 10; i++ {
		clk.advance(50 * time.Millisecond)
		if got := b.Take(clk.now()); got != (i == 9) {
			t.Fatalf("after %d ms: passed=%v", 50*(i+1), got)
		}
	}
	// A long idle refills up to the burst, not beyond.
	clk.advance(time.Hour)
	n := 0
	for b.Take(clk.now()) {
		n++
	}
	if n != 3 {
		t.Fatalf("after an idle hour %d requests passed, want the burst of 3", n)
	}
	// A clock stepping backwards neither adds tokens nor panics.
	clk.advance(-time.Minute)
	if b.Take(clk.now()) {
		t.Fatal("passed after the clock stepped back")
	}
	// Sustained rate: over 10 s at 2 rps with requests every 100 ms, 20 pass.
	clk.advance(time.Minute) // back where we were; bucket still empty
	passed := 0
	for i := 0; i < 100; i++ {
		clk.advance(100 * time.Millisecond)
		if b.Take(clk.now()) {
			passed++
		}
	}
	if passed != 20 {
		t.Fatalf("%d passed in 10 s at 2 rps, want 20", passed)
	}
}

func TestDecideTransparent(t *testing.T) {
	w := NewWeather(DefaultProfile(), newFakeClock().now, script(t)) // never draws
	for i := 0; i < 1000; i++ {
		if d := w.Decide(); d != (Decision{Action: Proxy}) {
			t.Fatalf("transparent: %+v", d)
		}
	}
}

func TestDecideErrorFractionExact(t *testing.T) {
	// 0%: never an error, and the random source is not even drawn.
	p := DefaultProfile()
	p.LatencyMs = 5
	w := NewWeather(p, newFakeClock().now, script(t))
	for i := 0; i < 1000; i++ {
		if d := w.Decide(); d.Action != Proxy || d.Delay != 5*time.Millisecond {
			t.Fatalf("error_pct 0: %+v", d)
		}
	}
	// 100%: always, even for the largest value the source can return.
	largest := math.Nextafter(1, 0)
	for _, status := range []int{503, 500} {
		p := Profile{ErrorPct: 100, ErrorStatus: status, Burst: 1}
		w := NewWeather(p, newFakeClock().now, script(t, 0, 0.5, largest, largest))
		for i := 0; i < 4; i++ {
			if d := w.Decide(); d != (Decision{Action: Injected, Status: status}) {
				t.Fatalf("error_pct 100 status %d: %+v", status, d)
			}
		}
	}
	// 30%: the draw is compared with 0.3.
	p = Profile{ErrorPct: 30, ErrorStatus: 503, Burst: 1}
	w = NewWeather(p, newFakeClock().now, script(t, 0.29, 0.3, 0.31, 0))
	want := []Action{Injected, Proxy, Proxy, Injected}
	for i, a := range want {
		if d := w.Decide(); d.Action != a {
			t.Errorf("draw %d: %v, want %v", i, d.Action, a)
		}
	}
	// And statistically, with the real source.
	w = NewWeather(p, newFakeClock().now, rand.New(rand.NewPCG(1, 2)).Float64)
	n := 0
	for i := 0; i < 100000; i++ {
		if w.Decide().Action == Injected {
			n++
		}
	}
	if n < 29000 || n > 31000 {
		t.Errorf("error_pct 30: %d of 100000 injected", n)
	}
}

func TestDecideLatencyJitterBounds(t *testing.T) {
	p := Profile{LatencyMs: 100, JitterMs: 20, ErrorStatus: 503, Burst: 1}
	largest := math.Nextafter(1, 0)
	w := NewWeather(p, newFakeClock().now, script(t, 0, 0.5, largest, 0.25))
	want := []time.Duration{80 * time.Millisecond, 100 * time.Millisecond, 0, 90 * time.Millisecond}
	for i, wd := range want {
		d := w.Decide()
		if d.Action != Proxy {
			t.Fatalf("%+v", d)
		}
		if i == 2 { // latency + jitter, give or take rounding to the nanosecond
			if d.Delay > 120*time.Millisecond || d.Delay < 119999*time.Microsecond {
				t.Errorf("largest draw: delay %v", d.Delay)
			}
			continue
		}
		if d.Delay != wd {
			t.Errorf("draw %d: delay %v, want %v", i, d.Delay, wd)
		}
	}
	w = NewWeather(p, newFakeClock().now, rand.New(rand.NewPCG(3, 4)).Float64)
	var lo, hi time.Duration = time.Hour, 0
	for i := 0; i < 100000; i++ {
		d := w.Decide().Delay
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 80*time.Millisecond || hi > 120*time.Millisecond || lo > 81*time.Millisecond || hi < 119*time.Millisecond {
		t.Errorf("delays spread over [%v, %v], want all of [80ms, 120ms]", lo, hi)
	}
	// Jitter equal to latency never goes negative.
	w = NewWeather(Profile{LatencyMs: 10, JitterMs: 10, ErrorStatus: 503, Burst: 1}, newFakeClock().now, script(t, 0))
	if d := w.Decide(); d.Delay != 0 {
		t.Errorf("latency 10 jitter 10 draw 0: %v", d.Delay)
	}
}

func TestDecideOrder(t *testing.T) {
	clk := newFakeClock()
	// Throttle comes first: a throttled request draws no random number,
	// an admitted one then faces the error draw, then the jitter draw.
	p := Profile{LatencyMs: 10, JitterMs: 10, ErrorPct: 50, ErrorStatus: 500, ThrottleRps: 1, Burst: 2}
	w := NewWeather(p, clk.now, script(t, 0.9, 0.5, 0.1))
	if d := w.Decide(); d != (Decision{Action: Proxy, Delay: 10 * time.Millisecond}) {
		t.Errorf("1st: %+v", d)
	}
	if d := w.Decide(); d != (Decision{Action: Injected, Status: 500}) {
		t.Errorf("2nd: %+v", d)
	}
	for i := 0; i < 3; i++ {
		if d := w.Decide(); d != (Decision{Action: Throttled}) {
			t.Errorf("throttled %d: %+v", i, d)
		}
	}
}

func TestWeatherSetReset(t *testing.T) {
	clk := newFakeClock()
	base := Profile{LatencyMs: 7, ErrorStatus: 503, Burst: 1}
	w := NewWeather(base, clk.now, script(t))
	if w.Profile() != base || w.Base() != base {
		t.Fatal("initial profile")
	}
	thr := Profile{ThrottleRps: 1, Burst: 1, ErrorStatus: 503}
	w.Set(thr)
	if w.Decide().Action != Proxy || w.Decide().Action != Throttled {
		t.Fatal("throttle 1 burst 1: want pass then throttled")
	}
	// Changing only the latency keeps the (empty) bucket: no fresh burst.
	thr.LatencyMs = 3
	w.Set(thr)
	if d := w.Decide(); d.Action != Throttled {
		t.Fatalf("after a latency-only set: %+v", d)
	}
	// A new throttle starts full.
	thr.Burst = 2
	w.Set(thr)
	if w.Decide().Action != Proxy || w.Decide().Action != Proxy || w.Decide().Action != Throttled {
		t.Fatal("new burst 2 bucket")
	}
	if got := w.Reset(); got != base || w.Profile() != base {
		t.Fatalf("reset: %+v", got)
	}
	if d := w.Decide(); d != (Decision{Action: Proxy, Delay: 7 * time.Millisecond}) {
		t.Fatalf("after reset: %+v", d)
	}
}

func TestReplies(t *testing.T) {
	const xmlHead = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	cases := []struct {
		name string
		got  Reply
		want Reply
	}{
		{"s3 throttle", ThrottleReply(S3), Reply{503, "application/xml", []byte(xmlHead +
			`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>riftdrill-storeweather</RequestId></Error>`)}},
		{"s3 503", ErrorReply(S3, 503), Reply{503, "application/xml", []byte(xmlHead +
			`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>riftdrill-storeweather</RequestId></Error>`)}},
		{"s3 500", ErrorReply(S3, 500), Reply{500, "application/xml", []byte(xmlHead +
			`<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>riftdrill-storeweather</RequestId></Error>`)}},
		{"gcs throttle", ThrottleReply(GCS), Reply{429, "application/json; charset=UTF-8", []byte(
			`{"error":{"code":429,"message":"The rate of change requests to the object is too high.","errors":[{"reason":"rateLimitExceeded","message":"The rate of change requests to the object is too high."}]}}`)}},
		{"gcs 503", ErrorReply(GCS, 503), Reply{503, "application/json; charset=UTF-8", []byte(
			`{"error":{"code":503,"message":"Service Unavailable","errors":[{"reason":"backendError","message":"Service Unavailable"}]}}`)}},
		{"gcs 500", ErrorReply(GCS, 500), Reply{500, "application/json; charset=UTF-8", []byte(
			`{"error":{"code":500,"message":"Internal Error","errors":[{"reason":"backendError","message":"Internal Error"}]}}`)}},
	}
	for _, c := range cases {
		if c.got.Status != c.want.Status || c.got.ContentType != c.want.ContentType || string(c.got.Body) != string(c.want.Body) {
			t.Errorf("%s:\n got %d %s %s\nwant %d %s %s", c.name, c.got.Status, c.got.ContentType, c.got.Body,
				c.want.Status, c.want.ContentType, c.want.Body)
		}
	}
}
