package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestControlProtocol drives the real control server over a unix socket
// (no TUN involved): get, set, bad set, reset, unknown op, bad JSON.
func TestControlProtocol(t *testing.T) {
	base := Profile{AToB: Dir{LatencyMs: 20}, BToA: Dir{LatencyMs: 30}}
	e := &emulator{base: base}
	e.cur.Store(&base)
	for i := range e.links {
		e.links[i] = NewLink(4, time.Now, func() float64 { return 0.5 })
	}
	e.links[AToB].Enqueue(make([]byte, 100), base.AToB)
	e.other.Add(3)

	path := filepath.Join(t.TempDir(), "wan.sock")
	if err := os.WriteFile(path, nil, 0o644); err != nil { // a stale file to replace
		t.Fatal(err)
	}
	ln, err := listenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	go e.serveControl(ln)

	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	call := func(req string) map[string]any {
		t.Helper()
		if _, err := conn.Write([]byte(req + "\n")); err != nil {
			t.Fatal(err)
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("reply %q: %v", line, err)
		}
		return m
	}
	latency := func(m map[string]any, key, dir string) any {
		return m[key].(map[string]any)[dir].(map[string]any)["latency_ms"]
	}

	m := call(`{"op": "get"}`)
	st := m["stats"].(map[string]any)
	if m["ok"] != true || latency(m, "profile", "a-to-b") != 20.0 || latency(m, "base", "b-to-a") != 30.0 {
		t.Errorf("get: %v", m)
	}
	if ab := st["a-to-b"].(map[string]any); ab["packets"] != 1.0 || ab["queued"] != 1.0 || ab["bytes"] != 100.0 {
		t.Errorf("get stats: %v", st)
	}
	if st["other"].(map[string]any)["packets"] != 3.0 {
		t.Errorf("get other: %v", st)
	}

	m = call(`{"op": "set", "profile": {"a-to-b": {"latency_ms": 50, "loss_pct": 1}, "b-to-a": {"latency_ms": 50}}}`)
	if m["ok"] != true || latency(m, "profile", "a-to-b") != 50.0 || e.cur.Load().AToB.LossPct != 1 {
		t.Errorf("set: %v", m)
	}
	m = call(`{"op": "set", "profile": {"a-to-b": {"loss_pct": 101}, "b-to-a": {}}}`)
	if m["ok"] != false || !strings.Contains(m["error"].(string), "a-to-b.loss_pct") || e.cur.Load().AToB.LatencyMs != 50 {
		t.Errorf("bad set: %v", m)
	}
	if m = call(`{"op": "set"}`); m["ok"] != false {
		t.Errorf("set without profile: %v", m)
	}
	m = call(`{"op": "reset"}`)
	if m["ok"] != true || latency(m, "profile", "a-to-b") != 20.0 || *e.cur.Load() != base {
		t.Errorf("reset: %v", m)
	}
	for _, bad := range []string{`{"op": "nope"}`, `not json`, `{"op": "get", "x": 1}`, `{"op": "get"} {}`, ``} {
		if m = call(bad); m["ok"] != false || m["error"] == "" {
			t.Errorf("%q: %v", bad, m)
		}
	}
}
