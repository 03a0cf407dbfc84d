// Command riftdrill-wan is a userspace WAN link emulator for the lab's
// cross-cloud link. The kernel here has no netem/tbf/fq, so the router
// namespace policy-routes every cross-cloud packet into a TUN device; this
// program reads each packet, delays / drops / rate-limits it per direction and
// writes it back into the same TUN, from which the kernel routes it onwards.
//
//	riftdrill-wan -tun NAME -control SOCKETPATH -a CIDR -b CIDR -profile JSON [-queue-packets N]
//
// The control socket takes one JSON request per line ({"op": "get"|"set"|"reset"})
// and answers one JSON line each. See model.go for the link model.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	tunSetIff = 0x400454ca // _IOW('T', 202, int)
	iffTun    = 0x0001
	iffNoPi   = 0x1000
	maxPacket = 65535
	maxLine   = 1 << 20 // longest control request we accept
)

// usageError prints one line and exits 2, the convention for bad arguments.
func usageError(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "riftdrill-wan: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	tunName := flag.String("tun", "", "name of an existing TUN device (ip tuntap add dev NAME mode tun)")
	control := flag.String("control", "", "path of the unix control socket")
	aFlag := flag.String("a", "", "IPv4 CIDR of cloud A")
	bFlag := flag.String("b", "", "IPv4 CIDR of cloud B")
	profileFlag := flag.String("profile", "", `JSON {"a-to-b": DIR, "b-to-a": DIR}`)
	queueLimit := flag.Int("queue-packets", 20000, "per-direction queue limit in packets")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("riftdrill-wan: ")

	if flag.NArg() > 0 {
		usageError("unexpected argument %q", flag.Arg(0))
	}
	if *tunName == "" || len(*tunName) > 15 {
		usageError("-tun: required, an interface name of 1 to 15 characters")
	}
	if *control == "" {
		usageError("-control: required, a unix socket path")
	}
	a, err := ParseCloud(*aFlag)
	if err != nil {
		usageError("-a: %v", err)
	}
	b, err := ParseCloud(*bFlag)
	if err != nil {
		usageError("-b: %v", err)
	}
	if a.Overlaps(b) {
		usageError("-a %s and -b %s overlap: the two clouds must be disjoint", a, b)
	}
	if *queueLimit < 1 || *queueLimit > 1000000 {
		usageError("-queue-packets = %d is out of range: allowed 1 to 1000000", *queueLimit)
	}
	base, err := ParseProfile([]byte(*profileFlag))
	if err != nil {
		usageError("-profile: %v", err)
	}

	fd, err := openTun(*tunName)
	if err != nil {
		log.Fatalf("tun %s: %v", *tunName, err)
	}
	e := &emulator{fd: fd, a: a, b: b, base: base}
	e.cur.Store(&base)
	for i := range e.links {
		e.links[i] = NewLink(*queueLimit, time.Now, rand.Float64)
	}

	ln, err := listenControl(*control)
	if err != nil {
		log.Fatalf("control socket %s: %v", *control, err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		ln.Close() // a net.UnixListener unlinks its socket file on Close
		os.Exit(0)
	}()

	go e.writer(AToB)
	go e.writer(BToA)
	go e.serveControl(ln)
	// Printed only once the TUN is attached and the socket listens, so the
	// caller can use this line as the "ready" signal.
	fmt.Printf("riftdrill-wan: tun %s, a-to-b %s, b-to-a %s\n", *tunName, base.AToB, base.BToA)
	e.reader()
}

type emulator struct {
	fd               int
	a, b             netip.Prefix
	base             Profile
	cur              atomic.Pointer[Profile] // swapped whole, so a set applies to both directions at once
	links            [3]*Link                // indexed by Direction; links[Other] unused
	other            atomic.Uint64
	otherWriteErrors atomic.Uint64
}

// openTun attaches to an existing TUN device. IFF_NO_PI: packets are raw IP
// with no 4-byte packet-info prefix.
func openTun(name string) (int, error) {
	// TUNSETIFF on a name that does not exist would quietly create a new,
	// unrouted device, so insist on the one the lab plumbed. InterfaceByName
	// asks netlink in our own network namespace (a /sys check would not: /sys
	// may belong to another namespace). If the name is not a TUN device,
	// TUNSETIFF itself fails with EINVAL.
	if _, err := net.InterfaceByName(name); err != nil {
		return -1, fmt.Errorf("no such device in this network namespace (create it first: ip tuntap add dev %s mode tun): %v", name, err)
	}
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr [40]byte // struct ifreq: 16-byte name, then the flags short, padded
	copy(ifr[:15], name)
	binary.NativeEndian.PutUint16(ifr[16:], iffTun|iffNoPi)
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		syscall.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF: %w (does the device exist, is it a single-queue tun, and are we allowed to use it?)", errno)
	}
	// Blocking fd used with plain syscalls: one blocked reader thread is
	// simpler than the netpoller and costs nothing here.
	return fd, nil
}

// write puts one packet back into the kernel. One write(2) is one packet on
// a TUN fd, so sharing the fd between goroutines is safe.
func (e *emulator) write(pkt []byte) error {
	for {
		_, err := syscall.Write(e.fd, pkt)
		if err != syscall.EINTR {
			return err
		}
	}
}

// reader is the single TUN reader: classify, pass "other" straight back,
// hand the rest to their direction's queue.
func (e *emulator) reader() {
	buf := make([]byte, maxPacket)
	var errCount uint64
	for {
		n, err := syscall.Read(e.fd, buf)
		if err != nil {
			switch {
			case err == syscall.EINTR || err == syscall.EAGAIN:
				continue
			case err == syscall.EBADFD || err == syscall.EBADF:
				log.Fatalf("tun read: %v (device detached)", err) // nothing will ever come again
			}
			// Anything else (e.g. the device briefly down) is survivable;
			// log sparingly and back off a little.
			errCount++
			if errCount&(errCount-1) == 0 {
				log.Printf("tun read error #%d: %v", errCount, err)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		pkt := buf[:n]
		prof := e.cur.Load()
		switch dir := Classify(pkt, e.a, e.b); dir {
		case AToB:
			e.links[AToB].Enqueue(pkt, prof.AToB)
		case BToA:
			e.links[BToA].Enqueue(pkt, prof.BToA)
		default:
			e.other.Add(1)
			if err := e.write(pkt); err != nil {
				if c := e.otherWriteErrors.Add(1); c&(c-1) == 0 {
					log.Printf("other: tun write error #%d: %v", c, err)
				}
			}
		}
	}
}

// writer releases one direction's packets in FIFO order at their release
// times. A new packet is never due before the current head (release times
// only grow), so sleeping until the head is due never misses anything.
func (e *emulator) writer(dir Direction) {
	l := e.links[dir]
	for {
		release, ok := l.Head()
		if !ok {
			<-l.Wake()
			continue
		}
		if d := time.Until(release); d > 0 {
			time.Sleep(d)
		}
		if err := e.write(l.Pop()); err != nil {
			// Log on the 1st, 2nd, 4th, 8th... error: visible but bounded.
			if c := l.NoteWriteError(); c&(c-1) == 0 {
				log.Printf("%s: tun write error #%d: %v", dir, c, err)
			}
		}
	}
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

type stats struct {
	AToB  DirStats `json:"a-to-b"`
	BToA  DirStats `json:"b-to-a"`
	Other struct {
		Packets     uint64 `json:"packets"`
		WriteErrors uint64 `json:"write_errors"`
	} `json:"other"`
}

type reply struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`
	Profile *Profile `json:"profile,omitempty"`
	Base    *Profile `json:"base,omitempty"`
	Stats   *stats   `json:"stats,omitempty"`
}

func (e *emulator) serveControl(ln *net.UnixListener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("control accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go e.serveConn(conn)
	}
}

// serveConn answers each request line with exactly one reply line, so a
// client can pair them up without ids.
func (e *emulator) serveConn(conn net.Conn) {
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 4096), maxLine)
	enc := json.NewEncoder(conn) // Encode adds the trailing newline
	enc.SetEscapeHTML(false)
	for sc.Scan() {
		if err := enc.Encode(e.handle(sc.Bytes())); err != nil {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		enc.Encode(reply{Error: fmt.Sprintf("request line longer than %d bytes", maxLine)})
	}
}

func (e *emulator) handle(line []byte) reply {
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
		s := &stats{AToB: e.links[AToB].Stats(), BToA: e.links[BToA].Stats()}
		s.Other.Packets = e.other.Load()
		s.Other.WriteErrors = e.otherWriteErrors.Load()
		return reply{OK: true, Profile: e.cur.Load(), Base: &e.base, Stats: s}
	case "set":
		if len(req.Profile) == 0 {
			return reply{Error: `profile is required for op "set" (` + profileHelp + `)`}
		}
		p, err := ParseProfile(req.Profile)
		if err != nil {
			return reply{Error: err.Error()}
		}
		e.cur.Store(&p)
		return reply{OK: true, Profile: &p}
	case "reset":
		p := e.base
		e.cur.Store(&p)
		return reply{OK: true, Profile: &p}
	}
	return reply{Error: fmt.Sprintf(`unknown op %q: allowed "get", "set", "reset"`, req.Op)}
}
