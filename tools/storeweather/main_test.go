package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every server here is an httptest.Server (127.0.0.1, random port) and is
// closed by its test; every wait is bounded.

const waitLimit = 5 * time.Second

func mustProfile(t *testing.T, js string) Profile {
	t.Helper()
	p, err := ParseProfile([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// frontProxy puts a proxy with the given profile in front of upstream.
func frontProxy(t *testing.T, api API, upstream *httptest.Server, profile string) (*proxy, *httptest.Server) {
	t.Helper()
	hostPort := strings.TrimPrefix(upstream.URL, "http://")
	p := newProxy(api, hostPort, NewWeather(mustProfile(t, profile), time.Now, rand.Float64), log.New(io.Discard, "", 0))
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.transport.CloseIdleConnections()
	})
	return p, srv
}

func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 4},
		Timeout:   30 * time.Second,
	}
}

// do sends a request and returns the status, headers and body, and whether
// the connection was a reused keep-alive one.
func do(t *testing.T, c *http.Client, method, url string, body io.Reader) (*http.Response, []byte, bool) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	var reused bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b, reused
}

func TestTransparentPassThrough(t *testing.T) {
	type seen struct {
		method, uri, host, auth, date string
		contentLength                 int64
		body                          string
	}
	got := make(chan seen, 10)
	firstPart := make(chan struct{})
	bigGate := make(chan struct{})
	const bigSize = 5 << 20
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			// Stream 5 MB: the first 64 KiB, then (only once the client has
			// seen those bytes, proving nothing buffers the whole body) the rest.
			w.Header().Set("Content-Length", fmt.Sprint(bigSize))
			w.Header().Set("Content-Type", "application/octet-stream")
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			w.Write(chunk)
			w.(http.Flusher).Flush()
			select {
			case <-bigGate:
			case <-time.After(waitLimit):
				return // the client sees a short body and the test fails
			}
			for n := len(chunk); n < bigSize; n += len(chunk) {
				w.Write(chunk)
			}
			return
		case "/stream-up":
			// Read the first part of a streamed request body before the
			// client has sent the rest.
			head := make([]byte, 6)
			if _, err := io.ReadFull(r.Body, head); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			close(firstPart)
			rest, _ := io.ReadAll(r.Body)
			got <- seen{method: r.Method, uri: r.RequestURI, host: r.Host, body: string(head) + string(rest), contentLength: r.ContentLength}
			w.WriteHeader(200)
			return
		}
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), r.ContentLength, string(b)}
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("X-Amz-Request-Id", "UPSTREAM")
		w.WriteHeader(201)
		io.WriteString(w, "created")
	}))
	defer upstream.Close()
	p, front := frontProxy(t, S3, upstream, "")
	c := newClient()

	// Method, encoded path, unparseable query, Host, signed headers, body.
	const uri = "/my-bucket/dir/a%20b%2Fc+d%7Bx%7D%7E?partNumber=1&uploadId=x%2By&semi=a;b&flag"
	req, _ := http.NewRequest("PUT", front.URL+uri, strings.NewReader("payload bytes"))
	req.Host = "my-bucket.s3.riftdrill.test:9000"
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 || string(body) != "created" || res.Header.Get("ETag") != `"abc"` || res.Header.Get("X-Amz-Request-Id") != "UPSTREAM" {
		t.Errorf("response: %d %q %v", res.StatusCode, body, res.Header)
	}
	s := <-got
	want := seen{"PUT", uri, "my-bucket.s3.riftdrill.test:9000", req.Header.Get("Authorization"), "20260101T000000Z", 13, "payload bytes"}
	if s != want {
		t.Errorf("upstream saw\n %+v\nwant\n %+v", s, want)
	}

	// A raw request line with characters Go would re-encode is forwarded as sent.
	conn, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "DELETE /b/{odd}|key?x=1;2 HTTP/1.1\r\nHost: b.example\r\n\r\n")
	rres, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	rres.Body.Close()
	if s := <-got; s.method != "DELETE" || s.uri != "/b/{odd}|key?x=1;2" || s.host != "b.example" {
		t.Errorf("raw request line: upstream saw %+v", s)
	}

	// The request body streams: the upstream reads its first part while the
	// client is still holding back the rest.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		res, err := c.Post(front.URL+"/stream-up", "application/octet-stream", pr)
		if err == nil {
			res.Body.Close()
			if res.StatusCode != 200 {
				err = fmt.Errorf("status %d", res.StatusCode)
			}
		}
		done <- err
	}()
	pw.Write([]byte("hello "))
	select {
	case <-firstPart:
	case <-time.After(waitLimit):
		t.Fatal("upstream did not see the first part of a streamed request body: the proxy buffers requests")
	}
	pw.Write([]byte("world"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.body != "hello world" || s.method != "POST" || s.contentLength != -1 {
		t.Errorf("streamed upload: %+v", s)
	}

	// The 5 MB response streams.
	res, err = c.Get(front.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.ContentLength != bigSize {
		t.Errorf("Content-Length %d, want %d", res.ContentLength, bigSize)
	}
	first := make([]byte, 1000)
	readFirst := make(chan error, 1)
	go func() { _, err := io.ReadFull(res.Body, first); readFirst <- err }()
	select {
	case err := <-readFirst:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("no response bytes before the upstream finished: the proxy buffers responses")
	}
	close(bigGate)
	rest, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	all := append(first, rest...)
	if len(all) != bigSize || !bytes.Equal(all, bytes.Repeat([]byte("0123456789abcdef"), bigSize/16)) {
		t.Errorf("big body: %d bytes or wrong content", len(all))
	}

	st := p.stats.snapshot()
	if st.Requests != 4 || st.Proxied != 4 || st.Throttled+st.ErrorsInjected+st.UpstreamErrors+st.Delayed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestInjectedErrors(t *testing.T) {
	var hits atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	defer upstream.Close()
	cases := []struct {
		api     API
		profile string
		status  int
		ctype   string
		body    string
	}{
		{S3, `{"error_pct": 100}`, 503, "application/xml", `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>riftdrill-storeweather</RequestId></Error>`},
		{S3, `{"error_pct": 100, "error_status": 500}`, 500, "application/xml", `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>riftdrill-storeweather</RequestId></Error>`},
		{GCS, `{"error_pct": 100}`, 503, "application/json; charset=UTF-8",
			`{"error":{"code":503,"message":"Service Unavailable","errors":[{"reason":"backendError","message":"Service Unavailable"}]}}`},
		{GCS, `{"error_pct": 100, "error_status": 500}`, 500, "application/json; charset=UTF-8",
			`{"error":{"code":500,"message":"Internal Error","errors":[{"reason":"backendError","message":"Internal Error"}]}}`},
	}
	for _, cs := range cases {
		p, front := frontProxy(t, cs.api, upstream, cs.profile)
		c := newClient()
		for i, body := range []io.Reader{nil, bytes.NewReader(make([]byte, 1<<20)), strings.NewReader("x")} {
			res, b, reused := do(t, c, "PUT", front.URL+"/bkt/key?x=1", body)
			if res.StatusCode != cs.status || res.Header.Get("Content-Type") != cs.ctype || string(b) != cs.body {
				t.Errorf("%s %s: %d %q %q", cs.api, cs.profile, res.StatusCode, res.Header.Get("Content-Type"), b)
			}
			if rid := res.Header.Get("x-amz-request-id"); (cs.api == S3) != (rid == RequestID) {
				t.Errorf("%s: x-amz-request-id %q", cs.api, rid)
			}
			// The body (1 MiB in the second request) was drained, so the
			// connection stays usable.
			if i > 0 && !reused {
				t.Errorf("%s %s request %d: keep-alive connection not reused", cs.api, cs.profile, i+1)
			}
		}
		if st := p.stats.snapshot(); st.Requests != 3 || st.ErrorsInjected != 3 || st.Proxied != 0 {
			t.Errorf("stats %+v", st)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("upstream reached %d times with error_pct 100", hits.Load())
	}
}

func TestThrottle(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer upstream.Close()

	p, front := frontProxy(t, S3, upstream, `{"throttle_rps": 1, "burst": 1}`)
	c := newClient()
	res, b, _ := do(t, c, "GET", front.URL+"/bkt/k", nil)
	if res.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("first request: %d %q", res.StatusCode, b)
	}
	res, b, _ = do(t, c, "GET", front.URL+"/bkt/k", nil)
	if res.StatusCode != 503 || !strings.Contains(string(b), "<Code>SlowDown</Code>") || res.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("immediate second request: %d %q", res.StatusCode, b)
	}
	if st := p.stats.snapshot(); st.Requests != 2 || st.Proxied != 1 || st.Throttled != 1 {
		t.Errorf("stats %+v", st)
	}

	_, front = frontProxy(t, GCS, upstream, `{"throttle_rps": 1, "burst": 1}`)
	do(t, c, "GET", front.URL+"/storage/v1/b/bkt/o", nil)
	res, b, _ = do(t, c, "GET", front.URL+"/storage/v1/b/bkt/o", nil)
	var e struct {
		Error struct {
			Code   int
			Errors []struct{ Reason string }
		}
	}
	if res.StatusCode != 429 || json.Unmarshal(b, &e) != nil || e.Error.Code != 429 || e.Error.Errors[0].Reason != "rateLimitExceeded" {
		t.Fatalf("gcs throttled: %d %q", res.StatusCode, b)
	}
}

func TestLatency(t *testing.T) {
	var hits atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer upstream.Close()
	p, front := frontProxy(t, S3, upstream, `{"latency_ms": 150, "jitter_ms": 50}`)
	c := newClient()
	start := time.Now()
	res, _, _ := do(t, c, "GET", front.URL+"/bkt", nil)
	if el := time.Since(start); res.StatusCode != 200 || el < 100*time.Millisecond {
		t.Errorf("status %d after %v, want 200 after at least 100 ms", res.StatusCode, el)
	}
	// A client giving up during its delay never reaches the upstream.
	p.weather.Set(mustProfile(t, `{"latency_ms": 3000}`))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/bkt", nil)
	if _, err := c.Do(req); err == nil {
		t.Error("request with a 100 ms deadline succeeded through a 3 s delay")
	}
	deadline := time.Now().Add(waitLimit)
	for p.stats.delayed.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if st := p.stats.snapshot(); st.Requests != 2 || st.Delayed != 2 || st.Proxied != 1 || hits.Load() != 1 {
		t.Errorf("stats %+v, upstream hits %d", st, hits.Load())
	}
}

func TestUpstreamDown(t *testing.T) {
	upstream := httptest.NewServer(http.NotFoundHandler())
	p, front := frontProxy(t, S3, upstream, "")
	upstream.Close() // nothing listens there now
	res, _, _ := do(t, newClient(), "GET", front.URL+"/bkt", nil)
	if res.StatusCode != 502 {
		t.Errorf("status %d, want 502", res.StatusCode)
	}
	if st := p.stats.snapshot(); st.UpstreamErrors != 1 || st.Proxied != 1 {
		t.Errorf("stats %+v", st)
	}
}

// ctlClient is one connection to the control socket.
type ctlClient struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
}

func dialControl(t *testing.T, path string) *ctlClient {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(waitLimit))
	return &ctlClient{t, conn, bufio.NewReader(conn)}
}

func (c *ctlClient) call(req string) map[string]any {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(req + "\n")); err != nil {
		c.t.Fatal(err)
	}
	line, err := c.rd.ReadString('\n')
	if err != nil {
		c.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		c.t.Fatalf("reply %q: %v", line, err)
	}
	return m
}

func TestControlSocket(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer upstream.Close()
	p, front := frontProxy(t, S3, upstream, `{"latency_ms": 1}`)

	path := filepath.Join(t.TempDir(), "sw.sock")
	if err := os.WriteFile(path, nil, 0o644); err != nil { // a stale file to replace
		t.Fatal(err)
	}
	ln, err := listenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, want a 0600 socket", fi.Mode())
	}
	go p.serveControl(ln)
	ctl := dialControl(t, path)
	hc := newClient()

	do(t, hc, "GET", front.URL+"/bkt", nil)
	m := ctl.call(`{"op": "get"}`)
	prof, base, st := m["profile"].(map[string]any), m["base"].(map[string]any), m["stats"].(map[string]any)
	if m["ok"] != true || prof["latency_ms"] != 1.0 || base["latency_ms"] != 1.0 || prof["error_status"] != 503.0 || prof["burst"] != 1.0 {
		t.Errorf("get: %v", m)
	}
	for k, want := range map[string]float64{"requests": 1, "proxied": 1, "throttled": 0, "errors_injected": 0, "upstream_errors": 0, "delayed": 1} {
		if st[k] != want {
			t.Errorf("get stats %s = %v, want %v (%v)", k, st[k], want, st)
		}
	}

	m = ctl.call(`{"op": "set", "profile": {"error_pct": 100}}`)
	if m["ok"] != true || m["profile"].(map[string]any)["error_pct"] != 100.0 || m["profile"].(map[string]any)["latency_ms"] != 0.0 {
		t.Errorf("set: %v", m)
	}
	if res, b, _ := do(t, hc, "GET", front.URL+"/bkt", nil); res.StatusCode != 503 || !strings.Contains(string(b), "SlowDown") {
		t.Errorf("after set error_pct 100: %d %q", res.StatusCode, b)
	}
	m = ctl.call(`{"op": "set", "profile": {"error_pct": 101}}`)
	if m["ok"] != false || !strings.Contains(m["error"].(string), "error_pct = 101") || p.weather.Profile().ErrorPct != 100 {
		t.Errorf("bad set: %v", m)
	}
	for _, bad := range []string{`{"op": "set"}`, `{"op": "set", "profile": null}`, `{"op": "set", "profile": {"nope": 1}}`} {
		if m = ctl.call(bad); m["ok"] != false || m["error"] == "" {
			t.Errorf("%s: %v", bad, m)
		}
	}
	m = ctl.call(`{"op": "reset"}`)
	if m["ok"] != true || m["profile"].(map[string]any)["latency_ms"] != 1.0 || p.weather.Profile() != p.weather.Base() {
		t.Errorf("reset: %v", m)
	}
	if res, _, _ := do(t, hc, "GET", front.URL+"/bkt", nil); res.StatusCode != 200 {
		t.Errorf("after reset: %d", res.StatusCode)
	}
	m = ctl.call(`{"op":"get"}`)
	st = m["stats"].(map[string]any)
	if st["requests"] != 3.0 || st["errors_injected"] != 1.0 || st["proxied"] != 2.0 {
		t.Errorf("stats after set/reset: %v", st)
	}
	for _, bad := range []string{`{"op": "nope"}`, `not json`, `{"op": "get", "x": 1}`, `{"op": "get"} {}`, ``} {
		if m = ctl.call(bad); m["ok"] != false || m["error"] == "" {
			t.Errorf("%q: %v", bad, m)
		}
	}

	// Concurrent clients each get their own replies, one per line.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := dialControl(t, path)
			for j := 0; j < 25; j++ {
				req := `{"op":"get"}`
				if j%2 == 1 {
					req = fmt.Sprintf(`{"op":"set","profile":{"latency_ms":%d}}`, i)
				}
				conn := c.conn
				if _, err := conn.Write([]byte(req + "\n")); err != nil {
					t.Error(err)
					return
				}
				line, err := c.rd.ReadString('\n')
				var r reply
				if err != nil || json.Unmarshal([]byte(line), &r) != nil || !r.OK {
					t.Errorf("client %d: %q %v", i, line, err)
					return
				}
				if j%2 == 1 && r.Profile.LatencyMs != float64(i) {
					t.Errorf("client %d: set reply %q", i, line)
				}
			}
		}(i)
	}
	wg.Wait()
}

func TestRunArguments(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "x.sock")
	ok := []string{"-listen", "127.0.0.1:0", "-upstream", "127.0.0.1:9", "-api", "s3", "-control", sock}
	with := func(kv ...string) []string {
		args := append([]string(nil), ok...)
		for i := 0; i < len(kv); i += 2 {
			found := false
			for j := 0; j < len(args); j += 2 {
				if args[j] == kv[i] {
					args[j+1], found = kv[i+1], true
				}
			}
			if !found {
				args = append(args, kv[i], kv[i+1])
			}
		}
		return args
	}
	cases := []struct {
		args []string
		want []string
	}{
		{with("-api", "azure"), []string{"-api", "allowed s3 or gcs"}},
		{with("-listen", ""), []string{"-listen", "HOST:PORT"}},
		{with("-upstream", "http://127.0.0.1:9000"), []string{"-upstream", "HOST:PORT"}},
		{with("-upstream", ":9000"), []string{"-upstream"}},
		{with("-control", ""), []string{"-control", "required"}},
		{with("-profile", `{"error_pct": 150}`), []string{"-profile: error_pct = 150", "allowed 0 to 100"}},
		{with("-profile", `{"latency_ms": 5, "jitter_ms": 9}`), []string{"jitter_ms = 9", "allowed 0 to latency_ms (5)"}},
		{with("-profile", `{"throttle_rps": 1, "burst": 0}`), []string{"burst = 0", "allowed 1 to 1000000"}},
		{with("-profile", `{"latency_ms": 5, "bogus": 1}`), []string{`unknown field "bogus"`}},
		{append(with(), "extra"), []string{"unexpected argument"}},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr, nil); code != 2 {
			t.Errorf("%q: exit %d, want 2", c.args, code)
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "riftdrill-storeweather: ") {
			t.Errorf("%q: stderr %q, want one line", c.args, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q: stderr %q lacks %q", c.args, msg, w)
			}
		}
		if _, err := os.Stat(sock); err == nil {
			t.Errorf("%q: control socket created despite bad arguments", c.args)
		}
	}
}

func TestRunServeAndStop(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	}))
	defer upstream.Close()
	sock := filepath.Join(t.TempDir(), "sw.sock")
	up := strings.TrimPrefix(upstream.URL, "http://")
	outR, outW := io.Pipe()
	stop := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		exited <- run([]string{"-listen", "127.0.0.1:0", "-upstream", up, "-api", "gcs", "-control", sock,
			"-profile", `{"latency_ms": 2, "jitter_ms": 1, "throttle_rps": 100, "burst": 5}`}, outW, &stderr, stop)
		outW.Close()
	}()
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(outR).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, outR)
	}()
	var ready string
	select {
	case ready = <-lines:
	case <-time.After(waitLimit):
		t.Fatal("no ready line")
	}
	re := regexp.MustCompile(`^riftdrill-storeweather: gcs listen (127\.0\.0\.1:\d+) -> upstream ` + regexp.QuoteMeta(up) +
		`, latency 2±1 ms, errors 0%, throttle 100 rps burst 5\n$`)
	mm := re.FindStringSubmatch(ready)
	if mm == nil {
		t.Fatalf("ready line %q", ready)
	}
	req, _ := http.NewRequest("GET", "http://"+mm[1]+"/storage/v1/b", nil)
	req.Host = "storage.googleapis.test"
	res, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "storage.googleapis.test" {
		t.Errorf("through the proxy: %d %q", res.StatusCode, b)
	}
	m := dialControl(t, sock).call(`{"op":"get"}`)
	if m["ok"] != true || m["stats"].(map[string]any)["proxied"] != 1.0 {
		t.Errorf("get: %v", m)
	}

	stop <- os.Interrupt
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(waitLimit):
		t.Fatal("no exit within 5 s of the stop signal")
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("control socket left behind")
	}
	if _, err := net.DialTimeout("tcp", mm[1], time.Second); err == nil {
		t.Error("still listening after stop")
	}
}

// TestExpectContinue: a proxied "Expect: 100-continue" upload reaches the
// upstream whole; an injected reply is sent without asking for the body (as
// S3 does), and the client's next request still works on a new connection.
func TestExpectContinue(t *testing.T) {
	got := make(chan string, 2)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Header.Get("Expect") + " " + string(b)
	}))
	defer upstream.Close()
	p, front := frontProxy(t, S3, upstream, "")
	c := &http.Client{Transport: &http.Transport{Proxy: nil, ExpectContinueTimeout: waitLimit}, Timeout: 30 * time.Second}
	put := func() (int, []byte, time.Duration) {
		req, _ := http.NewRequest("PUT", front.URL+"/bkt/k", strings.NewReader("the body"))
		req.Header.Set("Expect", "100-continue")
		start := time.Now()
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b, time.Since(start)
	}
	if code, _, el := put(); code != 200 || el > waitLimit/2 {
		t.Fatalf("proxied: %d after %v", code, el)
	}
	if s := <-got; s != "100-continue the body" {
		t.Errorf("upstream saw %q", s)
	}
	p.weather.Set(mustProfile(t, `{"error_pct": 100}`))
	if code, b, el := put(); code != 503 || !bytes.Contains(b, []byte("SlowDown")) || el > waitLimit/2 {
		t.Fatalf("injected: %d %q after %v", code, b, el)
	}
	p.weather.Reset()
	if code, _, _ := put(); code != 200 {
		t.Fatalf("after the injected reply: %d", code)
	}
	<-got
}

func TestInjectedHead(t *testing.T) {
	upstream := httptest.NewServer(http.NotFoundHandler())
	defer upstream.Close()
	_, front := frontProxy(t, S3, upstream, `{"error_pct": 100}`)
	c := newClient()
	for i := 0; i < 2; i++ {
		res, b, reused := do(t, c, "HEAD", front.URL+"/bkt/k", nil)
		if res.StatusCode != 503 || len(b) != 0 || res.Header.Get("Content-Type") != "application/xml" || (i == 1 && !reused) {
			t.Errorf("HEAD %d: %d %q reused=%v", i, res.StatusCode, b, reused)
		}
	}
}
