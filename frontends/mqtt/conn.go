package mqtt

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// readBufferSize is each connection's read buffer: small packets come in
// together; a larger body is read straight into its own slice.
const readBufferSize = 1024

// finalFlushTimeout bounds the writer's last flush after the reader has
// finished (a client that stopped reading cannot hold a goroutine).
const finalFlushTimeout = 5 * time.Second

// conn is one network connection: a read goroutine (readLoop) that
// decodes and handles packets in order, and a write goroutine
// (writeLoop) that encodes what the queue holds. Both are started by
// Server.startConn and counted in Server.wg.
type conn struct {
	srv *Server
	nc  net.Conn
	br  *bufio.Reader
	log *slog.Logger
	out *outq

	info    ClientInfo
	version byte // 0 until CONNECT
	sess    *session

	// Negotiated at CONNECT (read by the writer after the CONNACK is
	// queued, so no lock is needed).
	window          int    // outbound in-flight window
	clientMaxPacket uint32 // 0 = no limit
	clientAliasMax  uint16
	problemInfo     bool
	keepAlive       time.Duration

	// writerInfo is the ClientInfo the writer gives the Authorizer
	// (ActionReceive): a copy, replaced after re-authentication, since
	// the reader owns info.
	writerInfo atomic.Pointer[ClientInfo]

	// Reader-only state.
	reauth     AuthExchange // a 5.0 re-authentication in progress
	inAliases  map[uint16]string
	normalExit bool // DISCONNECT 0x00 from the client: no will
	authMethod string

	// Writer-only state.
	outAliases map[string]uint16

	// kicked is set when the server closes the connection from another
	// goroutine (takeover, shutdown): the reader's error is expected.
	kicked atomic.Bool
	// finishing is set when the reader is done: the writer keeps the
	// final flush deadline finish set.
	finishing atomic.Bool
	counted   bool // counted in stats.connected
}

// startConn registers nc and starts its two goroutines.
func (s *Server) startConn(nc net.Conn, listener string) {
	c := &conn{srv: s, nc: nc, log: s.log, out: newOutq(s.opts.OutboundQueue), problemInfo: true}
	c.br = bufio.NewReaderSize(countReader{nc, &s.stats.bytesIn}, readBufferSize)
	c.info = ClientInfo{Remote: nc.RemoteAddr(), Listener: listener}
	if _, ok := nc.(*tls.Conn); ok {
		c.info.TLS = true // the handshake runs on the reader (readLoop)
	} else if ws, ok := nc.(*wsConn); ok && ws.tls != nil {
		c.info.TLS = true
		c.info.TLSState = ws.tls
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.mu.conns[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.readLoop()
	}()
	go func() {
		defer s.wg.Done()
		c.writeLoop()
	}()
}

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// kick closes the connection from outside its reader: a 5.0 client gets
// DISCONNECT with reason first. The reader stops at once (read deadline).
func (c *conn) kick(reason ReasonCode, why string) {
	if c.kicked.Swap(true) {
		return
	}
	c.sendDisconnect(reason, why)
	c.nc.SetReadDeadline(time.Now())
	// A writer stuck on a client that reads nothing gives up soon, which
	// also frees a reader waiting for room in the queue.
	c.nc.SetWriteDeadline(time.Now().Add(finalFlushTimeout))
}

// sendDisconnect queues a server DISCONNECT (5.0 only; 3.x has none) and
// seals the queue.
func (c *conn) sendDisconnect(reason ReasonCode, why string) {
	if c.version != Version5 {
		return
	}
	d := &Disconnect{Reason: reason}
	if why != "" && c.problemInfo {
		d.Props.ReasonString = why
		d.Props.Set(PropReasonString)
	}
	c.out.pushCtrl(d, true)
}

// readLoop reads CONNECT, then packets until the connection ends.
func (c *conn) readLoop() {
	s := c.srv
	abnormal := true
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("mqtt: connection handler panic; closing the connection", "remote", c.info.Remote, "panic", r, "stack", string(debug.Stack()))
			abnormal = true
		}
		c.finish(abnormal)
	}()
	c.nc.SetReadDeadline(time.Now().Add(s.opts.ConnectTimeout))
	if tc, ok := c.nc.(*tls.Conn); ok {
		tc.SetWriteDeadline(time.Now().Add(s.opts.ConnectTimeout))
		if err := tc.Handshake(); err != nil {
			c.log.Info("mqtt: TLS handshake", "remote", c.info.Remote, "err", err)
			return
		}
		tc.SetWriteDeadline(time.Time{})
		st := tc.ConnectionState()
		c.info.TLSState = &st
	}
	h, body, err := readFrame(c.br, s.opts.MaxPacketSize)
	var pk Packet
	if err == nil {
		pk, err = DecodePacket(h, body, 0)
	}
	if err != nil {
		var rc ReasonCode
		switch {
		case errors.Is(err, UnsupportedProtocolVersion):
			// [MQTT-3.1.2-2]: CONNACK 0x01 in the 3.1.1 format, then close.
			c.version = Version311
			c.out.pushCtrl(&Connack{Reason: ReasonCode(connackV3BadVersion)}, true)
		case errors.As(err, &rc) && PacketType(h>>4) == CONNECT && connectLevel(body) == Version5:
			// A bad 5.0 CONNECT: CONNACK with the reason, then close
			// ([MQTT-4.13.1-1] allows it before the close).
			c.version = Version5
			c.out.pushCtrl(&Connack{Reason: rc}, true)
			c.srv.stats.malformed.Add(1)
			c.log.Info("mqtt: bad CONNECT", "remote", c.info.Remote, "err", err)
			return
		}
		c.readFailed(err)
		return
	}
	if !c.onConnect(pk.(*Connect)) {
		return
	}
	for {
		if c.keepAlive > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		if c.kicked.Load() {
			return
		}
		pk, err := ReadPacket(c.br, c.version, s.opts.MaxPacketSize)
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.handle(pk) {
			abnormal = !c.normalExit
			return
		}
	}
}

// readFailed ends the connection after a read error, telling a 5.0
// client why when it is the client's fault.
func (c *conn) readFailed(err error) {
	s := c.srv
	if c.kicked.Load() {
		return
	}
	var rc ReasonCode
	switch {
	case errors.As(err, &rc):
		s.stats.malformed.Add(1)
		c.log.Info("mqtt: closing a connection on a bad packet", "remote", c.info.Remote, "client", c.info.ClientID, "err", err)
		if c.version == Version5 && rc != UnsupportedProtocolVersion {
			c.sendDisconnect(rc, rc.Error())
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		if c.version == 0 {
			c.log.Info("mqtt: no CONNECT in time", "remote", c.info.Remote)
		} else {
			c.log.Info("mqtt: keep alive timeout", "client", c.info.ClientID, "keep_alive", c.keepAlive)
			c.sendDisconnect(KeepAliveTimeout, "")
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
	default:
		c.log.Debug("mqtt: read", "client", c.info.ClientID, "err", err)
	}
}

// finish runs when the reader is done: the session lets go of the
// connection (publishing the will when abnormal), the write queue closes
// (the writer flushes and closes the socket).
func (c *conn) finish(abnormal bool) {
	s := c.srv
	if c.sess != nil {
		shutdown := c.kicked.Load() && s.isClosed()
		c.sess.detach(c, abnormal && !shutdown)
	}
	if c.counted {
		s.stats.connected.Add(-1)
	}
	c.finishing.Store(true)
	c.nc.SetWriteDeadline(time.Now().Add(finalFlushTimeout))
	c.out.close()
}

// writeLoop writes queued packets, flushing when the queue is empty, and
// closes the socket once the queue is closed and drained.
func (c *conn) writeLoop() {
	s := c.srv
	w := countWriter{c.nc, &s.stats.bytesOut}
	var (
		items []outItem
		dead  bool
	)
	for {
		var closed bool
		items, closed = c.out.take(items)
		if closed {
			break
		}
		if !dead && !c.kicked.Load() && !c.finishing.Load() {
			c.nc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		}
		// The write buffer comes from a pool for the batch only: an idle
		// connection holds none.
		bp := writeBufs.Get().(*[]byte)
		out := (*bp)[:0]
		for i := range items {
			it := items[i]
			items[i] = outItem{}
			if dead {
				continue
			}
			out = c.encode(out, it)
			if len(out) >= writeChunk {
				if _, err := w.Write(out); err != nil {
					dead = true
				}
				out = out[:0]
			}
		}
		if !dead && len(out) > 0 {
			if _, err := w.Write(out); err != nil {
				dead = true
			}
		}
		if cap(out) <= 4*writeChunk {
			*bp = out[:0]
			writeBufs.Put(bp)
		}
		if cap(items) > 256 {
			items = nil // a burst's queue is not kept by an idle connection
		}
		if dead {
			c.nc.Close() // the reader stops too
		}
	}
	c.nc.Close()
	s.mu.Lock()
	delete(s.mu.conns, c)
	s.mu.Unlock()
}

// writeChunk is how much the writer encodes before it writes.
const writeChunk = 64 << 10

// writeBufs are the writers' batch buffers.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// encode appends one item's packet; an empty result means the item was
// dropped (an expired message, or one larger than the client accepts).
func (c *conn) encode(dst []byte, it outItem) []byte {
	s := c.srv
	if it.om == nil {
		out := AppendPacket(dst, it.pkt, c.version)
		if c.clientMaxPacket > 0 && uint32(len(out)-len(dst)) > c.clientMaxPacket {
			// [MQTT-3.1.2-25]: drop reason string and user properties and try again.
			stripProblemInfo(it.pkt)
			out = AppendPacket(dst, it.pkt, c.version)
		}
		return out
	}
	om := it.om
	m := om.msg
	now := s.now()
	if m.Expired(now) {
		s.stats.droppedOther.Add(1)
		c.dropped(om)
		return dst
	}
	if s.checkReceive && !s.opts.Authorizer.Authorize(&AuthzRequest{Client: c.writerInfo.Load(), Action: ActionReceive, Topic: m.Topic, QoS: om.qos}) {
		s.stats.droppedOther.Add(1)
		c.dropped(om)
		return dst
	}
	p := &Publish{Dup: it.dup, QoS: om.qos, Retain: om.retain, Topic: m.Topic, PacketID: om.id, Payload: m.Payload}
	if om.qos == 0 {
		p.PacketID = 0
	}
	if c.version == Version5 {
		p.Props = m.Props
		if m.Props.Has(PropMessageExpiry) {
			p.Props.MessageExpiry = m.remaining(now) // [MQTT-3.3.2-6]
		}
		p.Props.SubscriptionIDs = om.subIDs
		if c.clientAliasMax > 0 {
			if c.outAliases == nil {
				c.outAliases = make(map[string]uint16)
			}
			if a, ok := c.outAliases[m.Topic]; ok {
				p.Topic = ""
				p.Props.TopicAlias = a
				p.Props.Set(PropTopicAlias)
			} else if len(c.outAliases) < int(c.clientAliasMax) {
				a := uint16(len(c.outAliases) + 1)
				c.outAliases[m.Topic] = a
				p.Props.TopicAlias = a
				p.Props.Set(PropTopicAlias)
			}
		}
	}
	out := AppendPacket(dst, p, c.version)
	if c.clientMaxPacket > 0 && uint32(len(out)-len(dst)) > c.clientMaxPacket {
		// [MQTT-3.1.2-25]: too large for the client: discard as if sent.
		// (An alias assigned above is unused; the client never saw it, and
		// the next message on this topic would wrongly send the alias alone,
		// so take it back.)
		if p.Props.Has(PropTopicAlias) && p.Topic != "" {
			delete(c.outAliases, m.Topic)
		}
		s.stats.droppedOther.Add(1)
		c.dropped(om)
		return dst
	}
	s.stats.sent.Add(1)
	return out
}

// dropped completes a QoS 1/2 message the writer will not send.
func (c *conn) dropped(om *outMsg) {
	if om.qos > 0 && c.sess != nil {
		c.sess.complete(om.id)
	}
}

func stripProblemInfo(p Packet) {
	var props *Properties
	switch p := p.(type) {
	case *Ack:
		props = &p.Props
	case *Suback:
		props = &p.Props
	case *Unsuback:
		props = &p.Props
	case *Disconnect:
		props = &p.Props
	case *Connack:
		props = &p.Props
	case *Auth:
		props = &p.Props
	}
	if props != nil {
		props.Clear(PropReasonString)
		props.ReasonString = ""
		props.User = nil
	}
}
