package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn is one client connection: a read goroutine that reads, decodes and
// serves requests one at a time, in order, and a write goroutine that
// writes their responses in the same order. The two meet at out, a
// bounded queue (Options.ResponseQueue; full = the reader blocks), so a
// client may pipeline requests while earlier responses are being written.
type conn struct {
	srv  *Server
	nc   net.Conn
	log  *slog.Logger
	info connInfo

	ctx    context.Context
	cancel context.CancelFunc

	out chan response
	// stopping is set by stopReading: the read deadline that follows is
	// a shutdown, not an idle client.
	stopping atomic.Bool
	// dead is set once a write failed: later responses are only released.
	dead atomic.Bool
}

// response is one queued reply. A nil resp is never queued (acks=0).
type response struct {
	corr int32
	resp kmsg.Response
}

// streamer is a response whose body holds file chunks (Fetch): the writer
// asks it for its pieces instead of calling AppendTo, and releases it
// after writing (or instead of writing, when the connection died).
type streamer interface {
	kmsg.Response
	// pieces returns the body as byte slices and file chunks, and its size.
	pieces() ([]piece, int)
	release()
}

// startConn registers nc and starts its two goroutines.
func (s *Server) startConn(nc net.Conn) {
	c := &conn{srv: s, nc: nc, log: s.log.With("remote", nc.RemoteAddr().String())}
	c.info = connInfo{remoteAddr: nc.RemoteAddr().String(), principal: "User:ANONYMOUS"}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.out = make(chan response, s.opts.ResponseQueue)
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAlive(true)
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.mu.conns[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.accepted.Inc()
	s.metrics.connections.Inc()
	s.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
}

// stopReading makes the reader stop at its next frame boundary: a request
// being served finishes and its response is written.
func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) readLoop() {
	defer c.srv.wg.Done()
	defer func() {
		c.srv.metrics.connections.Dec()
		c.cancel()
		close(c.out)
		c.srv.mu.Lock()
		delete(c.srv.mu.conns, c)
		c.srv.mu.Unlock()
	}()
	br := bufio.NewReaderSize(c.nc, 16<<10)
	var sizeBuf [4]byte
	for {
		// Idle timeout: the next request must start within IdleTimeout
		// (a long poll in hand does not count: the deadline is set after
		// it is answered). stopReading's deadline is never overwritten:
		// stopping is checked after each reset.
		c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
		if c.stopping.Load() {
			return
		}
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			c.readEnded(err, true)
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if err := checkFrameSize(size, c.srv.opts.MaxFrameBytes); err != nil && !c.rawSASLSize(size) {
			c.log.Warn("kafka: closing connection", "reason", err)
			c.srv.metrics.closedBad.Inc()
			return
		}
		// A new buffer per frame: a produced batch may be kept by
		// reference (the memory engine), so frames are never reused.
		frame := make([]byte, size)
		if _, err := io.ReadFull(br, frame); err != nil {
			c.readEnded(err, false)
			return
		}
		handle := c.handle
		if c.info.sasl.raw {
			// After SaslHandshake v0 the next frames are bare tokens.
			handle = c.rawSASL
		}
		if err := handle(frame); err != nil {
			c.log.Warn("kafka: closing connection", "reason", err)
			c.srv.metrics.closedBad.Inc()
			return
		}
		if c.dead.Load() {
			return
		}
	}
}

// readEnded logs why reading stopped; a clean EOF between frames and a
// shutdown are not worth a warning.
func (c *conn) readEnded(err error, atBoundary bool) {
	switch {
	case c.stopping.Load():
	case atBoundary && errors.Is(err, io.EOF):
	case errors.Is(err, net.ErrClosed), c.dead.Load():
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Info("kafka: closing idle connection", "idle_timeout", c.srv.opts.IdleTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		c.log.Info("kafka: connection closed mid-frame")
	default:
		c.log.Info("kafka: connection read failed", "err", err)
	}
}

// handle serves one frame. An error closes the connection.
//
// Security (sasl.go): admit refuses any request but ApiVersions and the
// SASL ones before a connection that must authenticate has; a failed
// authentication closes the connection once its response is written.
func (c *conn) handle(frame []byte) error {
	if len(frame) >= 2 {
		if err := c.admit(int16(binary.BigEndian.Uint16(frame))); err != nil {
			return err
		}
	}
	resp, corr, err := c.srv.dispatch(c.ctx, &c.info, c.log, frame)
	if err != nil {
		return err
	}
	if resp != nil {
		// Security (tls.go): TLS clients are told the TLS listener's address.
		c.rewriteListener(resp)
		c.enqueue(response{corr: corr, resp: resp})
	}
	return c.saslFailure()
}

// dispatch decodes one frame, serves it and returns the response to write
// (nil: none, for acks=0) with its correlation id. An error means the
// connection must close: broken framing, an unknown key, a body that does
// not decode, or a handler that panicked (a broken invariant in that
// handler, logged with its stack; the process keeps running).
func (s *Server) dispatch(ctx context.Context, info *connInfo, log *slog.Logger, frame []byte) (kmsg.Response, int32, error) {
	h, body, err := parseHeader(frame)
	if err != nil {
		return nil, 0, err
	}
	hd := handlers[h.key]
	if hd == nil || h.version < hd.min || h.version > hd.max || !h.known {
		resp, err := unsupported(log, h, hd)
		return resp, h.correlationID, err
	}
	req, err := decodeRequest(h, body)
	if err != nil {
		return nil, 0, err
	}
	rc := &reqCtx{ctx: ctx, srv: s, conn: info, key: h.key, version: h.version, correlationID: h.correlationID, clientID: h.clientID}
	start := time.Now()
	defer func() { s.metrics.request(h.key, time.Since(start).Seconds()) }()
	// Security (authz_request.go): when ACLs apply to this principal, the
	// handler is wrapped in the request-level ACL checks.
	resp, err := serveRecovered(log, rc.authorizedHandler(hd), rc, req)
	if err != nil || resp == nil {
		return nil, 0, err
	}
	resp.SetVersion(h.version)
	return resp, h.correlationID, nil
}

// serveRecovered runs a handler, turning a panic into an error.
func serveRecovered(log *slog.Logger, hd *handler, rc *reqCtx, req kmsg.Request) (resp kmsg.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("kafka: handler panic", "api", kmsg.NameForKey(rc.key), "version", rc.version, "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("kafka: %s handler panicked: %v", kmsg.NameForKey(rc.key), r)
		}
	}()
	return hd.serve(rc, req)
}

// unsupported answers a request for a key or version we do not serve.
// ApiVersions gets a v0 response with UNSUPPORTED_VERSION and our key
// table (KIP-511), so the client retries at a version we serve. Any other
// known request gets its response with the top-level error code set to
// UNSUPPORTED_VERSION where the response has one; a response without a
// top-level code, or a key kmsg does not know, closes the connection
// (what Kafka does: it cannot frame a reply).
func unsupported(log *slog.Logger, h requestHeader, hd *handler) (kmsg.Response, error) {
	if h.key == 18 {
		return apiVersionsResponse(0, kerr.UnsupportedVersion.Code), nil
	}
	if !h.known {
		return nil, fmt.Errorf("%w %d version %d", errUnknownKey, h.key, h.version)
	}
	resp := kmsg.RequestForKey(h.key).ResponseKind()
	resp.SetVersion(h.version)
	f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode")
	if hd == nil || !f.IsValid() || f.Kind() != reflect.Int16 {
		return nil, fmt.Errorf("kafka: %s v%d is not served (no api key %d here, or outside its versions)", kmsg.NameForKey(h.key), h.version, h.key)
	}
	f.SetInt(int64(kerr.UnsupportedVersion.Code))
	log.Info("kafka: unsupported version", "api", kmsg.NameForKey(h.key), "version", h.version, "served", fmt.Sprintf("%d-%d", hd.min, hd.max))
	return resp, nil
}

// enqueue hands a response to the writer; it blocks while the queue is
// full (the named full-policy: the reader waits for the writer).
func (c *conn) enqueue(r response) {
	c.out <- r
}

func (c *conn) writeLoop() {
	defer c.srv.wg.Done()
	defer c.nc.Close()
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	for r := range c.out {
		if c.dead.Load() {
			if st, ok := r.resp.(streamer); ok {
				st.release()
			}
			continue
		}
		var err error
		if st, ok := r.resp.(streamer); ok {
			err = c.writeStreamed(bw, r.corr, st)
			st.release()
		} else {
			buf = appendResponseHeader(buf[:0], r.corr, r.resp)
			buf = r.resp.AppendTo(buf)
			binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
			_, err = bw.Write(buf)
			if cap(buf) > 1<<20 {
				buf = nil
			}
		}
		// Flush when nothing else is queued: pipelined responses share
		// a write.
		if err == nil && len(c.out) == 0 {
			err = bw.Flush()
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.log.Info("kafka: connection write failed", "err", err)
			}
			c.dead.Store(true)
			c.cancel()
			// Unblock the reader: it stops at its next read.
			c.nc.Close()
		}
	}
	if !c.dead.Load() {
		bw.Flush()
	}
}

// writeStreamed writes a response whose body has file chunks: the bytes
// through the buffered writer, file chunks with sendfile(2) straight from
// the segment file to the socket where both sides allow it.
func (c *conn) writeStreamed(bw *bufio.Writer, corr int32, st streamer) error {
	ps, size := st.pieces()
	hdr := appendResponseHeader(nil, corr, st)
	binary.BigEndian.PutUint32(hdr, uint32(len(hdr)-4+size))
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	for _, p := range ps {
		if p.file == nil {
			if _, err := bw.Write(p.b); err != nil {
				return err
			}
			continue
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := sendFileChunk(c.nc, p.file, p.pos, p.n); err != nil {
			return err
		}
	}
	return nil
}

// errShortFile is returned when a segment file ends before a chunk does.
var errShortFile = errors.New("kafka: segment file shorter than the chunk being sent")

// fdFile is what sendfile needs of a file chunk.
type fdFile interface {
	io.ReaderAt
	Fd() uintptr
}

// sendFileChunk copies n bytes at pos of f to nc.
func sendFileChunk(nc net.Conn, f fdFile, pos, n int64) error {
	if tc, ok := nc.(*net.TCPConn); ok && f.Fd() != invalidFd {
		done, err := sendfile(tc, f.Fd(), pos, n)
		if err == nil || done > 0 {
			return err
		}
		// Nothing sent: fall back to a copy (sendfile unsupported here).
	}
	w, err := io.Copy(nc, io.NewSectionReader(f, pos, n))
	if err == nil && w < n {
		err = errShortFile
	}
	return err
}

const invalidFd = ^uintptr(0)
