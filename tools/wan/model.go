package main

// The pure part of the emulator: profile parsing and validation, telling the
// two directions apart from a raw IPv4 header, and the per-direction queue that
// decides when (or whether) each packet leaves. Nothing here touches the TUN
// device or the wall clock, so model_test.go can drive it with a fake clock and
// a scripted random source.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Dir is the emulated behaviour of one direction of the link.
type Dir struct {
	LatencyMs float64 `json:"latency_ms"`
	JitterMs  float64 `json:"jitter_ms"`
	LossPct   float64 `json:"loss_pct"`
	RateMbit  float64 `json:"rate_mbit"` // 0 = unlimited
}

// Profile is the whole link: one Dir per direction.
type Profile struct {
	AToB Dir `json:"a-to-b"`
	BToA Dir `json:"b-to-a"`
}

const (
	maxLatencyMs = 60000
	// A positive rate below this would make one packet's serialization time
	// so long that queued release times could overflow time.Duration.
	minRateMbit = 0.001
	profileHelp = `expected {"a-to-b": DIR, "b-to-a": DIR}, DIR = {"latency_ms", "jitter_ms", "loss_pct", "rate_mbit"}`
)

// ParseProfile decodes and validates a profile. Both directions must be
// present (a forgotten direction silently meaning "perfect link" would hide
// mistakes); a field left out of a DIR means 0. Errors are one line and name
// the offending field and its allowed range.
func ParseProfile(data []byte) (Profile, error) {
	var raw struct {
		AToB *Dir `json:"a-to-b"`
		BToA *Dir `json:"b-to-a"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Profile{}, fmt.Errorf("%s (%s)", oneLine(err.Error()), profileHelp)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Profile{}, fmt.Errorf("trailing data after the profile object (%s)", profileHelp)
	}
	if raw.AToB == nil {
		return Profile{}, fmt.Errorf("a-to-b is missing (%s)", profileHelp)
	}
	if raw.BToA == nil {
		return Profile{}, fmt.Errorf("b-to-a is missing (%s)", profileHelp)
	}
	p := Profile{AToB: *raw.AToB, BToA: *raw.BToA}
	return p, p.Validate()
}

// Validate checks every field's range. The comparisons are written as
// !(in range) so NaN is rejected too.
func (p Profile) Validate() error {
	for _, d := range []struct {
		name string
		d    Dir
	}{{"a-to-b", p.AToB}, {"b-to-a", p.BToA}} {
		if err := d.d.validate(d.name); err != nil {
			return err
		}
	}
	return nil
}

func (d Dir) validate(name string) error {
	if !(d.LatencyMs >= 0 && d.LatencyMs <= maxLatencyMs) {
		return fmt.Errorf("%s.latency_ms = %g is out of range: allowed 0 to %d", name, d.LatencyMs, maxLatencyMs)
	}
	// jitter <= latency keeps latency+jitter offset non-negative, so a packet
	// is never released before it was serialized.
	if !(d.JitterMs >= 0 && d.JitterMs <= d.LatencyMs) {
		return fmt.Errorf("%s.jitter_ms = %g is out of range: allowed 0 to latency_ms (%g)", name, d.JitterMs, d.LatencyMs)
	}
	if !(d.LossPct >= 0 && d.LossPct <= 100) {
		return fmt.Errorf("%s.loss_pct = %g is out of range: allowed 0 to 100", name, d.LossPct)
	}
	if !(d.RateMbit == 0 || d.RateMbit >= minRateMbit) {
		return fmt.Errorf("%s.rate_mbit = %g is out of range: allowed 0 (unlimited) or %g and above", name, d.RateMbit, minRateMbit)
	}
	return nil
}

// String is the human summary used in the startup line, e.g. "20±2 ms 0.5% 100 Mbit/s".
func (d Dir) String() string {
	rate := "unlimited"
	if d.RateMbit > 0 {
		rate = fmt.Sprintf("%g Mbit/s", d.RateMbit)
	}
	return fmt.Sprintf("%g±%g ms %g%% %s", d.LatencyMs, d.JitterMs, d.LossPct, rate)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Direction of a packet across the emulated link.
type Direction int

const (
	Other Direction = iota // not IPv4, or not between the two clouds: passed through untouched
	AToB
	BToA
)

func (d Direction) String() string {
	return [...]string{"other", "a-to-b", "b-to-a"}[d]
}

// Classify looks only at the IPv4 version nibble and the source/destination
// addresses (bytes 12..19); that is all the decision needs, and the kernel
// has already validated the rest of the header before routing it to us.
func Classify(pkt []byte, a, b netip.Prefix) Direction {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return Other
	}
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	dst := netip.AddrFrom4([4]byte(pkt[16:20]))
	switch {
	case a.Contains(src) && b.Contains(dst):
		return AToB
	case b.Contains(src) && a.Contains(dst):
		return BToA
	}
	return Other
}

// ParseCloud parses one cloud's CIDR; only IPv4 makes sense since Classify
// only looks at IPv4 headers.
func ParseCloud(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 CIDR such as 198.18.1.0/24", s)
	}
	return p.Masked(), nil
}

// Verdict is what Enqueue did with a packet.
type Verdict int

const (
	Queued Verdict = iota
	DroppedLoss
	DroppedQueue
)

// DirStats are the counters of one direction. Packets/Bytes count every packet
// classified into the direction; DroppedLoss, DroppedQueue and Queued are
// subsets of it (delivered = packets - dropped_loss - dropped_queue - queued).
type DirStats struct {
	Packets      uint64 `json:"packets"`
	Bytes        uint64 `json:"bytes"`
	DroppedLoss  uint64 `json:"dropped_loss"`
	DroppedQueue uint64 `json:"dropped_queue"`
	Queued       int    `json:"queued"`
	WriteErrors  uint64 `json:"write_errors"`
}

type queued struct {
	release time.Time
	pkt     []byte
}

// Link is one direction: a bounded FIFO of packets with their release times.
// One goroutine enqueues (the TUN reader), one dequeues (the direction's
// writer); the mutex also covers Stats from the control server.
type Link struct {
	now  func() time.Time
	rand func() float64 // uniform in [0, 1)
	wake chan struct{}  // poked on enqueue so an idle writer notices

	mu          sync.Mutex
	ring        []queued // fixed size: the queue limit, so memory is bounded
	head, n     int
	busyUntil   time.Time // when the emulated wire finishes sending what is already queued
	lastRelease time.Time // release time of the last packet queued: the no-reordering floor
	stats       DirStats
}

// NewLink makes a direction holding at most limit packets.
func NewLink(limit int, now func() time.Time, rand func() float64) *Link {
	return &Link{now: now, rand: rand, wake: make(chan struct{}, 1), ring: make([]queued, limit)}
}

// Enqueue applies loss, then the queue limit, then computes the release time
// with the profile d in force when the packet arrived. pkt is copied only if
// it is queued, so the caller may reuse its buffer.
func (l *Link) Enqueue(pkt []byte, d Dir) Verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Packets++
	l.stats.Bytes += uint64(len(pkt))
	// rand() < 1 always and never < 0, so 100% and 0% are exact.
	if d.LossPct > 0 && l.rand() < d.LossPct/100 {
		l.stats.DroppedLoss++
		return DroppedLoss
	}
	if l.n == len(l.ring) {
		l.stats.DroppedQueue++
		return DroppedQueue
	}
	release := l.releaseTime(len(pkt), d)
	l.ring[(l.head+l.n)%len(l.ring)] = queued{release: release, pkt: bytes.Clone(pkt)}
	l.n++
	select { // non-blocking: one pending wake-up is enough
	case l.wake <- struct{}{}:
	default:
	}
	return Queued
}

// releaseTime is the netem-like model: serialization at the rate after
// whatever is still on the wire, then latency ± jitter, clamped so this
// direction never reorders. Called with l.mu held.
func (l *Link) releaseTime(size int, d Dir) time.Time {
	now := l.now()
	depart := now
	if d.RateMbit > 0 {
		if l.busyUntil.After(now) {
			depart = l.busyUntil
		}
		depart = depart.Add(seconds(float64(size*8) / (d.RateMbit * 1e6)))
		l.busyUntil = depart
	}
	delay := d.LatencyMs
	if d.JitterMs > 0 {
		delay += (2*l.rand() - 1) * d.JitterMs
	}
	release := depart.Add(seconds(delay / 1000))
	if release.Before(l.lastRelease) {
		release = l.lastRelease
	}
	l.lastRelease = release
	return release
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// Head returns the release time of the oldest queued packet.
func (l *Link) Head() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return time.Time{}, false
	}
	return l.ring[l.head].release, true
}

// Pop removes and returns the oldest queued packet (nil if none). Release
// times only grow along the FIFO, so the head is always the next one due.
func (l *Link) Pop() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return nil
	}
	pkt := l.ring[l.head].pkt
	l.ring[l.head] = queued{} // let the GC have the buffer
	l.head = (l.head + 1) % len(l.ring)
	l.n--
	return pkt
}

// Wake fires (at most once per burst) after an enqueue.
func (l *Link) Wake() <-chan struct{} { return l.wake }

// NoteWriteError counts a failed TUN write and returns the running total.
func (l *Link) NoteWriteError() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.WriteErrors++
	return l.stats.WriteErrors
}

// Stats is a snapshot of the counters.
func (l *Link) Stats() DirStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Queued = l.n
	return s
}
