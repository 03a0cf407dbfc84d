package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	cloudA = netip.MustParsePrefix("198.18.1.0/24")
	cloudB = netip.MustParsePrefix("198.18.2.0/24")
)

// ipv4 builds a minimal IPv4 header of the given total size.
func ipv4(src, dst string, size int) []byte {
	p := make([]byte, size)
	p[0] = 0x45
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	return p
}

func TestClassify(t *testing.T) {
	ipv6 := make([]byte, 40)
	ipv6[0] = 0x60
	cases := []struct {
		name string
		pkt  []byte
		want Direction
	}{
		{"a to b", ipv4("198.18.1.10", "198.18.2.20", 60), AToB},
		{"b to a", ipv4("198.18.2.20", "198.18.1.10", 60), BToA},
		{"inside a", ipv4("198.18.1.10", "198.18.1.11", 60), Other},
		{"a to elsewhere", ipv4("198.18.1.10", "10.0.0.1", 60), Other},
		{"elsewhere to b", ipv4("10.0.0.1", "198.18.2.20", 60), Other},
		{"ipv6", ipv6, Other},
		{"truncated ipv4", ipv4("198.18.1.10", "198.18.2.20", 20)[:19], Other},
		{"empty", nil, Other},
	}
	for _, c := range cases {
		if got := Classify(c.pkt, cloudA, cloudB); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParseProfileOK(t *testing.T) {
	p, err := ParseProfile([]byte(`{"a-to-b": {"latency_ms": 20, "jitter_ms": 2, "loss_pct": 0.5, "rate_mbit": 100},
		"b-to-a": {"latency_ms": 30}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Profile{AToB: Dir{20, 2, 0.5, 100}, BToA: Dir{LatencyMs: 30}}
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	if s := p.AToB.String(); s != "20±2 ms 0.5% 100 Mbit/s" {
		t.Errorf("summary %q", s)
	}
	if s := p.BToA.String(); s != "30±0 ms 0% unlimited" {
		t.Errorf("summary %q", s)
	}
}

func TestParseProfileErrors(t *testing.T) {
	ok := `{"latency_ms": 10}`
	cases := []struct {
		json string
		want []string // substrings the one-line error must contain
	}{
		{`{"a-to-b": ` + ok, []string{"unexpected EOF", "a-to-b"}}, // bad JSON
		{`{"a-to-b": ` + ok + `, "b-to-a": ` + ok + `, "c": 1}`, []string{`unknown field "c"`}},
		{`{"a-to-b": {"latency": 1}, "b-to-a": ` + ok + `}`, []string{`unknown field "latency"`, "latency_ms"}},
		{`{"a-to-b": {"latency_ms": "1"}, "b-to-a": ` + ok + `}`, []string{"latency_ms"}},
		{`{"a-to-b": ` + ok + `}`, []string{"b-to-a is missing"}},
		{`{"a-to-b": ` + ok + `, "b-to-a": ` + ok + `} {}`, []string{"trailing data"}},
		{`{"a-to-b": {"latency_ms": -1}, "b-to-a": ` + ok + `}`, []string{"a-to-b.latency_ms = -1", "allowed 0 to 60000"}},
		{`{"a-to-b": ` + ok + `, "b-to-a": {"latency_ms": 60001}}`, []string{"b-to-a.latency_ms = 60001", "allowed 0 to 60000"}},
		{`{"a-to-b": {"latency_ms": 10, "jitter_ms": -1}, "b-to-a": ` + ok + `}`, []string{"a-to-b.jitter_ms = -1", "allowed 0 to latency_ms (10)"}},
		{`{"a-to-b": {"latency_ms": 10, "jitter_ms": 11}, "b-to-a": ` + ok + `}`, []string{"a-to-b.jitter_ms = 11", "allowed 0 to latency_ms (10)"}},
		{`{"a-to-b": {"loss_pct": -0.1}, "b-to-a": ` + ok + `}`, []string{"a-to-b.loss_pct = -0.1", "allowed 0 to 100"}},
		{`{"a-to-b": {"loss_pct": 100.5}, "b-to-a": ` + ok + `}`, []string{"a-to-b.loss_pct = 100.5", "allowed 0 to 100"}},
		{`{"a-to-b": {"rate_mbit": -5}, "b-to-a": ` + ok + `}`, []string{"a-to-b.rate_mbit = -5", "allowed 0 (unlimited)"}},
		{`{"a-to-b": {"rate_mbit": 1e-9}, "b-to-a": ` + ok + `}`, []string{"a-to-b.rate_mbit = 1e-09", "0.001 and above"}},
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
}

// fakeClock and scripted randomness make release times exact.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func seq(vals ...float64) func() float64 {
	i := 0
	return func() float64 { v := vals[i%len(vals)]; i++; return v }
}

func newTestLink(limit int, rnd func() float64) (*Link, *fakeClock) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	return NewLink(limit, c.now, rnd), c
}

func drain(l *Link) []time.Time {
	var out []time.Time
	for {
		r, ok := l.Head()
		if !ok {
			return out
		}
		out = append(out, r)
		l.Pop()
	}
}

func TestLatencyOnly(t *testing.T) {
	l, c := newTestLink(10, seq(0.5))
	t0 := c.t
	l.Enqueue(make([]byte, 1500), Dir{LatencyMs: 25})
	c.t = c.t.Add(3 * time.Millisecond)
	l.Enqueue(make([]byte, 100), Dir{LatencyMs: 25})
	got := drain(l)
	want := []time.Time{t0.Add(25 * time.Millisecond), t0.Add(28 * time.Millisecond)}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("packet %d released at +%v, want +%v", i, got[i].Sub(t0), want[i].Sub(t0))
		}
	}
}

func TestRateSpacesBackToBackPackets(t *testing.T) {
	l, c := newTestLink(10, seq(0.5))
	t0 := c.t
	d := Dir{LatencyMs: 10, RateMbit: 12} // 1500 B = 12000 bit -> 1 ms on the wire
	for i := 0; i < 3; i++ {
		l.Enqueue(make([]byte, 1500), d)
	}
	got := drain(l)
	for i, r := range got {
		want := t0.Add(time.Duration(i+1)*time.Millisecond + 10*time.Millisecond)
		if !r.Equal(want) {
			t.Errorf("packet %d released at +%v, want +%v", i, r.Sub(t0), want.Sub(t0))
		}
	}
	// Once the wire is idle again, a packet is not charged for the old backlog.
	c.t = t0.Add(time.Second)
	l.Enqueue(make([]byte, 1500), d)
	if r, _ := l.Head(); !r.Equal(c.t.Add(11 * time.Millisecond)) {
		t.Errorf("idle-wire packet released at +%v after arrival, want +11ms", r.Sub(c.t))
	}
}

func TestJitterNeverReorders(t *testing.T) {
	// Alternating extremes: +jitter then -jitter would reorder without the clamp.
	l, c := newTestLink(1000, seq(0.999, 0.0))
	t0 := c.t
	for i := 0; i < 100; i++ {
		c.t = t0.Add(time.Duration(i) * 100 * time.Microsecond)
		l.Enqueue(make([]byte, 100), Dir{LatencyMs: 20, JitterMs: 10})
	}
	got := drain(l)
	if len(got) != 100 {
		t.Fatalf("%d packets queued, want 100", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Before(got[i-1]) {
			t.Fatalf("packet %d released before packet %d", i, i-1)
		}
	}
	// Jitter stays within latency ± jitter of the arrival (never early).
	if got[0].Sub(t0) < 10*time.Millisecond || got[0].Sub(t0) > 30*time.Millisecond {
		t.Errorf("first release at +%v, outside 20±10 ms", got[0].Sub(t0))
	}
}

func TestLossExtremes(t *testing.T) {
	// Randomness at its extremes of [0, 1): 0% must never drop, 100% always.
	for _, r := range []float64{0, 0.5, 0.9999999999} {
		l, _ := newTestLink(1000, seq(r))
		for i := 0; i < 100; i++ {
			if v := l.Enqueue(make([]byte, 64), Dir{LossPct: 0}); v != Queued {
				t.Fatalf("rand=%g loss 0%%: verdict %v", r, v)
			}
			if v := l.Enqueue(make([]byte, 64), Dir{LossPct: 100}); v != DroppedLoss {
				t.Fatalf("rand=%g loss 100%%: verdict %v", r, v)
			}
		}
		s := l.Stats()
		if s.Packets != 200 || s.DroppedLoss != 100 || s.Queued != 100 || s.Bytes != 200*64 {
			t.Errorf("rand=%g stats %+v", r, s)
		}
	}
}

func TestQueueFullDrops(t *testing.T) {
	l, _ := newTestLink(2, seq(0.5))
	d := Dir{LatencyMs: 100}
	verdicts := []Verdict{l.Enqueue([]byte{1}, d), l.Enqueue([]byte{2}, d), l.Enqueue([]byte{3}, d)}
	if verdicts[0] != Queued || verdicts[1] != Queued || verdicts[2] != DroppedQueue {
		t.Fatalf("verdicts %v", verdicts)
	}
	s := l.Stats()
	if s.Packets != 3 || s.DroppedQueue != 1 || s.Queued != 2 {
		t.Errorf("stats %+v", s)
	}
	// FIFO order, and room again after a pop (ring wraps around).
	if p := l.Pop(); p[0] != 1 {
		t.Errorf("popped %v, want [1]", p)
	}
	if v := l.Enqueue([]byte{4}, d); v != Queued {
		t.Errorf("after pop: verdict %v", v)
	}
	if p := l.Pop(); p[0] != 2 {
		t.Errorf("popped %v, want [2]", p)
	}
	if p := l.Pop(); p[0] != 4 {
		t.Errorf("popped %v, want [4]", p)
	}
	if l.Pop() != nil || l.Stats().Queued != 0 {
		t.Error("queue not empty")
	}
}

func TestEnqueueCopiesPacket(t *testing.T) {
	l, _ := newTestLink(2, seq(0.5))
	buf := []byte{7}
	l.Enqueue(buf, Dir{})
	buf[0] = 9 // the reader reuses its buffer for the next packet
	if p := l.Pop(); p[0] != 7 {
		t.Errorf("queued packet aliased the read buffer: %v", p)
	}
}
