// Command riftdrill-storeweather is an HTTP reverse proxy in front of one of
// the lab's object-store servers (moto for S3, fake-gcs-server for GCS, both
// plain HTTP) that injects "object-store weather" on demand: added latency,
// a fraction of requests answered with the service's own error replies, and
// request-rate throttling (S3 503 SlowDown, GCS 429 rateLimitExceeded).
//
//	riftdrill-storeweather -listen HOST:PORT -upstream HOST:PORT -api s3|gcs -control SOCKETPATH [-profile JSON]
//
// Requests are forwarded byte for byte: the Host header (covered by SigV4
// signatures), the path and the query are passed on exactly as received, and
// bodies stream both ways without buffering. The control socket takes one
// JSON request per line ({"op": "get"|"set"|"reset"}) and answers one JSON
// line each, like riftdrill-wan's. See model.go for the weather model.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	maxLine         = 1 << 20 // longest control request we accept
	maxDrain        = 64 << 20
	drainTimeout    = 30 * time.Second
	shutdownTimeout = 2 * time.Second
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sigs))
}

// run is the whole program; it returns the exit status: 0 after a graceful
// stop (a value on stop), 2 for bad arguments, 1 if it cannot start or serve.
func run(args []string, stdout, stderr io.Writer, stop <-chan os.Signal) int {
	logger := log.New(stderr, "riftdrill-storeweather: ", 0)
	fs := flag.NewFlagSet("riftdrill-storeweather", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "HOST:PORT to serve on (the address clients use as their object-store endpoint)")
	upstream := fs.String("upstream", "", "HOST:PORT of the real object-store server (plain HTTP)")
	apiFlag := fs.String("api", "", "s3 or gcs: the dialect of injected replies")
	control := fs.String("control", "", "path of the unix control socket")
	profileFlag := fs.String("profile", "", `JSON {"latency_ms", "jitter_ms", "error_pct", "error_status", "throttle_rps", "burst"} (default transparent)`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageError := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "riftdrill-storeweather: "+format+"\n", args...)
		return 2
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	if err := checkHostPort(*listen, true); err != nil {
		return usageError("-listen: %v", err)
	}
	if err := checkHostPort(*upstream, false); err != nil {
		return usageError("-upstream: %v", err)
	}
	api, err := ParseAPI(*apiFlag)
	if err != nil {
		return usageError("-api: %v", err)
	}
	if *control == "" {
		return usageError("-control: required, a unix socket path")
	}
	base, err := ParseProfile([]byte(*profileFlag))
	if err != nil {
		return usageError("-profile: %v", err)
	}

	p := newProxy(api, *upstream, NewWeather(base, time.Now, rand.Float64), logger)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		logger.Printf("listen %s: %v", *listen, err)
		return 1
	}
	ctl, err := listenControl(*control)
	if err != nil {
		ln.Close()
		logger.Printf("control socket %s: %v", *control, err)
		return 1
	}
	go p.serveControl(ctl)

	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Printed only once both listeners are up, so the caller can use this
	// line as the "ready" signal.
	fmt.Fprintf(stdout, "riftdrill-storeweather: %s listen %s -> upstream %s, %s\n", api, ln.Addr(), *upstream, base)

	select {
	case <-stop:
	case err := <-served:
		ctl.Close()
		logger.Printf("serve: %v", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close() // cut what is still in flight (long delays, big transfers)
	}
	p.transport.CloseIdleConnections()
	ctl.Close() // a net.UnixListener unlinks its socket file on Close
	return 0
}

// checkHostPort insists on HOST:PORT with a numeric port; the listen address
// may leave the host empty (all addresses) and use port 0 (any free port).
func checkHostPort(s string, listen bool) error {
	help := "required, HOST:PORT such as 198.18.1.5:9000"
	if s == "" {
		return errors.New(help)
	}
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	lo := 1
	if listen {
		lo = 0
	}
	if err != nil || perr != nil || n < lo || n > 65535 || (!listen && host == "") || strings.Contains(s, "/") {
		return fmt.Errorf("%q is not valid: %s", s, help)
	}
	return nil
}

// counters are the proxy's statistics. requests counts every request;
// proxied, throttled and errors_injected are disjoint subsets of it (the
// rest are clients that gave up during their delay); delayed counts requests
// that were made to wait; upstream_errors counts proxied requests that got
// no response from the upstream (answered 502).
type counters struct {
	requests, proxied, throttled, errorsInjected, upstreamErrors, delayed atomic.Uint64
}

type stats struct {
	Requests       uint64 `json:"requests"`
	Proxied        uint64 `json:"proxied"`
	Throttled      uint64 `json:"throttled"`
	ErrorsInjected uint64 `json:"errors_injected"`
	UpstreamErrors uint64 `json:"upstream_errors"`
	Delayed        uint64 `json:"delayed"`
}

func (c *counters) snapshot() *stats {
	return &stats{
		Requests:       c.requests.Load(),
		Proxied:        c.proxied.Load(),
		Throttled:      c.throttled.Load(),
		ErrorsInjected: c.errorsInjected.Load(),
		UpstreamErrors: c.upstreamErrors.Load(),
		Delayed:        c.delayed.Load(),
	}
}

type proxy struct {
	api       API
	weather   *Weather
	rp        *httputil.ReverseProxy
	transport *http.Transport
	log       *log.Logger
	stats     counters
}

func newProxy(api API, upstream string, w *Weather, logger *log.Logger) *proxy {
	p := &proxy{api: api, weather: w, log: logger}
	p.transport = &http.Transport{
		Proxy: nil, // never an HTTP_PROXY from the environment: the upstream is local
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: 1 * time.Second, // pass 100-continue through to the upstream
		// Otherwise the Transport would add Accept-Encoding: gzip and
		// transparently decompress, changing what the client sees.
		DisableCompression: true,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = upstream
			pr.Out.Host = pr.In.Host // SigV4 signs the Host header: forward it as received
			// ReverseProxy drops query parameters it cannot parse before
			// calling Rewrite; forward the query byte for byte instead.
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.URL.ForceQuery = pr.In.URL.ForceQuery
			// The request line is rebuilt from the parsed URL; where that
			// would re-encode the path differently from the client (whose
			// encoding the signature covers), send the client's bytes.
			if raw, _, _ := strings.Cut(pr.In.RequestURI, "?"); strings.HasPrefix(raw, "/") &&
				!strings.HasPrefix(raw, "//") && raw != pr.Out.URL.EscapedPath() {
				pr.Out.URL.Opaque = raw
			}
		},
		Transport:     p.transport,
		FlushInterval: -1, // stream: flush after every write
		ErrorLog:      logger,
		ErrorHandler:  p.upstreamError,
	}
	return p
}

// upstreamError answers 502 like ReverseProxy's default handler, counting
// (and sparingly logging) failures that are the upstream's, not a client
// that went away.
func (p *proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		// Log the 1st, 2nd, 4th, 8th... error: visible but bounded.
		if n := p.stats.upstreamErrors.Add(1); n&(n-1) == 0 {
			p.log.Printf("upstream error #%d: %v", n, err)
		}
	}
	w.WriteHeader(http.StatusBadGateway)
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.stats.requests.Add(1)
	d := p.weather.Decide()
	switch d.Action {
	case Throttled:
		p.stats.throttled.Add(1)
		p.inject(w, r, ThrottleReply(p.api))
		return
	case Injected:
		p.stats.errorsInjected.Add(1)
		p.inject(w, r, ErrorReply(p.api, d.Status))
		return
	}
	if d.Delay > 0 {
		p.stats.delayed.Add(1)
		t := time.NewTimer(d.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			// The client is gone (or the server is closing): abort without
			// a response rather than send an empty 200.
			panic(http.ErrAbortHandler)
		}
	}
	p.stats.proxied.Add(1)
	p.rp.ServeHTTP(w, r)
}

// inject answers with an injected reply. The request body is drained first
// so the keep-alive connection stays usable, with two exceptions: a client
// that sent "Expect: 100-continue" is never asked for its body (as S3 does;
// net/http then closes the connection after the reply), and a body beyond
// maxDrain, or one that does not arrive within drainTimeout, closes the
// connection instead.
func (p *proxy) inject(w http.ResponseWriter, r *http.Request, rep Reply) {
	h := w.Header()
	if r.ContentLength != 0 && !strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Now().Add(drainTimeout))
		_, err := io.CopyN(io.Discard, r.Body, maxDrain+1)
		rc.SetReadDeadline(time.Time{})
		if err != io.EOF {
			h.Set("Connection", "close")
		}
	}
	h.Set("Content-Type", rep.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(rep.Body)))
	if p.api == S3 {
		h.Set("x-amz-request-id", RequestID)
	}
	w.WriteHeader(rep.Status)
	w.Write(rep.Body) // nothing to do about a client that has gone
}

// listenControl creates the control socket with mode 0600 from the start
// (umask), replacing a stale socket file left by a killed run.
func listenControl(path string) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	return ln, os.Chmod(path, 0o600)
}

type request struct {
	Op      string          `json:"op"`
	Profile json.RawMessage `json:"profile"`
}

type reply struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`
	Profile *Profile `json:"profile,omitempty"`
	Base    *Profile `json:"base,omitempty"`
	Stats   *stats   `json:"stats,omitempty"`
}

func (p *proxy) serveControl(ln *net.UnixListener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Printf("control accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go p.serveConn(conn)
	}
}

// serveConn answers each request line with exactly one reply line, so a
// client can pair them up without ids.
func (p *proxy) serveConn(conn net.Conn) {
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 4096), maxLine)
	enc := json.NewEncoder(conn) // Encode adds the trailing newline
	enc.SetEscapeHTML(false)
	for sc.Scan() {
		if err := enc.Encode(p.handle(sc.Bytes())); err != nil {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		enc.Encode(reply{Error: fmt.Sprintf("request line longer than %d bytes", maxLine)})
	}
}

func (p *proxy) handle(line []byte) reply {
	var req request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		if _, tail := dec.Token(); tail != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err != nil {
		return reply{Error: fmt.Sprintf(`bad request: %s (expected one JSON object per line: {"op": "get"|"set"|"reset", "profile": {...} for set})`, oneLine(err.Error()))}
	}
	switch req.Op {
	case "get":
		cur, base := p.weather.Profile(), p.weather.Base()
		return reply{OK: true, Profile: &cur, Base: &base, Stats: p.stats.snapshot()}
	case "set":
		if len(req.Profile) == 0 || string(req.Profile) == "null" {
			return reply{Error: `profile is required for op "set" (` + profileHelp + `)`}
		}
		prof, err := ParseProfile(req.Profile)
		if err != nil {
			return reply{Error: err.Error()}
		}
		p.weather.Set(prof)
		return reply{OK: true, Profile: &prof}
	case "reset":
		prof := p.weather.Reset()
		return reply{OK: true, Profile: &prof}
	}
	return reply{Error: fmt.Sprintf(`unknown op %q: allowed "get", "set", "reset"`, req.Op)}
}
