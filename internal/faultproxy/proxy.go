package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards TCP connections to a target and injects faults.
type Proxy struct {
	target string
	addr   string
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		ln       net.Listener // nil while refusing
		conns    map[*pair]struct{}
		delay    time.Duration
		cutAfter int64 // cut each new connection after this many bytes downstream; 0: never
		accepted int64
		closed   bool
	}
}

type pair struct {
	client, server net.Conn
	once           sync.Once
}

// close closes both sides; reset sends the client a TCP reset (an injected
// cut) instead of a clean close, which would let it read what is buffered.
func (p *pair) close(reset bool) {
	p.once.Do(func() {
		if tc, ok := p.client.(*net.TCPConn); ok && reset {
			tc.SetLinger(0)
		}
		p.client.Close()
		p.server.Close()
	})
}

// New starts a proxy on a free loopback port in front of target
// ("host:port").
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String()}
	p.mu.conns = make(map[*pair]struct{})
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's "host:port".
func (p *Proxy) Addr() string { return p.addr }

// URL is "http://" + Addr.
func (p *Proxy) URL() string { return "http://" + p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Refuse or Close
			}
			p.handle(c)
		}
	}()
}

func (p *Proxy) handle(c net.Conn) {
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	pr := &pair{client: c, server: s}
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		pr.close(true)
		return
	}
	p.mu.conns[pr] = struct{}{}
	p.mu.accepted++
	cutAfter := p.mu.cutAfter
	p.mu.Unlock()
	// Each direction half-closes its destination at EOF; the pair closes
	// when both are done, or at once when one fails or is cut.
	var done sync.WaitGroup
	done.Add(2)
	p.wg.Add(3)
	go func() {
		defer p.wg.Done()
		defer done.Done()
		if !p.copy(s, c, -1) { // upstream: client -> server
			pr.close(false)
		}
	}()
	go func() {
		defer p.wg.Done()
		defer done.Done()
		limit := int64(-1)
		if cutAfter > 0 {
			limit = cutAfter
		}
		if !p.copy(c, s, limit) { // downstream: server -> client
			pr.close(limit >= 0)
		}
	}()
	go func() {
		defer p.wg.Done()
		done.Wait()
		pr.close(false)
		p.mu.Lock()
		delete(p.mu.conns, pr)
		p.mu.Unlock()
	}()
}

// copy forwards src to dst in chunks, sleeping the current delay before
// each chunk, and stops after limit bytes (limit < 0: no limit). At src's
// EOF it half-closes dst and reports true; any other end reports false.
func (p *Proxy) copy(dst, src net.Conn, limit int64) bool {
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			d := p.mu.delay
			p.mu.Unlock()
			if d > 0 {
				time.Sleep(d)
			}
			chunk := buf[:n]
			if limit >= 0 && sent+int64(n) > limit {
				chunk = chunk[:limit-sent]
			}
			if len(chunk) > 0 {
				if _, werr := dst.Write(chunk); werr != nil {
					return false
				}
			}
			sent += int64(len(chunk))
			if limit >= 0 && sent >= limit {
				return false
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return false
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return true
		}
	}
}

// SetDelay sleeps d before forwarding each chunk, both ways (latency; a
// long delay stalls connections).
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.mu.delay = d
	p.mu.Unlock()
}

// CutAfter cuts each connection accepted from now on once n bytes went
// from the server to the client (0: never).
func (p *Proxy) CutAfter(n int64) {
	p.mu.Lock()
	p.mu.cutAfter = n
	p.mu.Unlock()
}

// CutAll resets every open connection.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	conns := make([]*pair, 0, len(p.mu.conns))
	for c := range p.mu.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close(true)
	}
}

// Refuse stops listening (new dials are refused) and cuts every open
// connection: the server looks down.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	ln := p.mu.ln
	p.mu.ln = nil
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	p.CutAll()
}

// Heal clears every fault and listens again if refusing.
func (p *Proxy) Heal() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.delay, p.mu.cutAfter = 0, 0
	if p.mu.ln != nil || p.mu.closed {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("faultproxy: listen again on %s: %w", p.addr, err)
	}
	p.serve(ln)
	return nil
}

// Accepted returns how many connections the proxy forwarded.
func (p *Proxy) Accepted() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.accepted
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.mu.closed = true
	ln := p.mu.ln
	p.mu.ln = nil
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	p.CutAll()
	p.wg.Wait()
	return nil
}
