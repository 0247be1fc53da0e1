package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"strata/internal/acceptloop"
)

// Listener kinds, as ClientInfo.Listener reports them.
const (
	ListenerTCP = "tcp"
	ListenerTLS = "tls"
	ListenerWS  = "ws"
	ListenerWSS = "wss"
)

// Listen serves MQTT over TCP on addr in the background and returns the
// bound address (port 0 picks one).
func (s *Server) Listen(addr string) (net.Addr, error) { return s.listen(addr, ListenerTCP) }

// ListenTLS serves MQTT over TLS (Options.TLSConfig) on addr.
func (s *Server) ListenTLS(addr string) (net.Addr, error) { return s.listen(addr, ListenerTLS) }

// ListenWebSocket serves MQTT over WebSocket (path Options.WebSocketPath,
// subprotocol "mqtt") on addr.
func (s *Server) ListenWebSocket(addr string) (net.Addr, error) { return s.listen(addr, ListenerWS) }

// ListenWebSocketTLS serves MQTT over WebSocket over TLS on addr.
func (s *Server) ListenWebSocketTLS(addr string) (net.Addr, error) {
	return s.listen(addr, ListenerWSS)
}

func (s *Server) listen(addr, kind string) (net.Addr, error) {
	if (kind == ListenerTLS || kind == ListenerWSS) && s.opts.TLSConfig == nil {
		return nil, fmt.Errorf("mqtt: %s listener %s: Options.TLSConfig is nil", kind, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt: listen %s: %w", addr, err)
	}
	bound := ln.Addr()
	if err := s.track(ln); err != nil {
		ln.Close()
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.serve(ln, kind); err != nil && !errors.Is(err, ErrServerClosed) {
			s.log.Error("mqtt: listener failed", "addr", bound.String(), "kind", kind, "err", err)
		}
	}()
	return bound, nil
}

// Serve accepts connections of kind (ListenerTCP, ListenerTLS,
// ListenerWS, ListenerWSS) on ln until Close (ErrServerClosed) or an
// accept error. TLS kinds wrap ln with Options.TLSConfig.
func (s *Server) Serve(ln net.Listener, kind string) error {
	if err := s.track(ln); err != nil {
		ln.Close()
		return err
	}
	return s.serve(ln, kind)
}

func (s *Server) track(c io.Closer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrServerClosed
	}
	s.mu.listeners[c] = struct{}{}
	return nil
}

func (s *Server) untrack(c io.Closer) {
	s.mu.Lock()
	delete(s.mu.listeners, c)
	s.mu.Unlock()
	c.Close()
}

func (s *Server) serve(ln net.Listener, kind string) error {
	defer s.untrack(ln)
	if kind == ListenerTLS || kind == ListenerWSS {
		if s.opts.TLSConfig == nil {
			return errors.New("mqtt: Options.TLSConfig is nil")
		}
		ln = tls.NewListener(ln, s.opts.TLSConfig)
	}
	s.log.Info("mqtt: listening", "addr", ln.Addr().String(), "kind", kind)
	if kind == ListenerWS || kind == ListenerWSS {
		return s.serveWebSocket(ln, kind)
	}
	return acceptloop.Run(ln, s.log, "mqtt", s.isClosed, ErrServerClosed, func(nc net.Conn) { s.startConn(nc, kind) })
}

// serveWebSocket serves HTTP on ln: Options.WebSocketPath upgrades to a
// WebSocket with subprotocol "mqtt" (MQTT 5.0 section 6), whose binary
// messages carry the MQTT byte stream.
func (s *Server) serveWebSocket(ln net.Listener, kind string) error {
	up := websocket.Upgrader{
		Subprotocols:    []string{"mqtt"},
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		// Devices and browsers on other origins are the point.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc(s.opts.WebSocketPath, func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			http.Error(w, "MQTT over WebSocket: upgrade required", http.StatusUpgradeRequired)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade answered the client
		}
		if ws.Subprotocol() != "mqtt" {
			// [MQTT-6.0.0-3]: the client must offer "mqtt"; some old ones
			// offer "mqttv3.1" or nothing. Serve them anyway (mosquitto does).
			s.log.Debug("mqtt: websocket without the mqtt subprotocol", "remote", r.RemoteAddr)
		}
		wc := &wsConn{ws: ws}
		if tc, ok := ws.NetConn().(*tls.Conn); ok {
			st := tc.ConnectionState()
			wc.tls = &st
		}
		s.startConn(wc, kind)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: s.opts.ConnectTimeout, ErrorLog: nil}
	if err := s.track(hs); err != nil {
		return err
	}
	defer s.untrack(hs)
	err := hs.Serve(ln)
	if s.isClosed() || errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// wsConn is a net.Conn over a WebSocket: reads concatenate binary
// messages (an MQTT packet may span messages and a message may hold
// several packets, [MQTT-6.0.0-2]); each Write is one binary message.
type wsConn struct {
	ws  *websocket.Conn
	tls *tls.ConnectionState
	r   io.Reader // the current message
	wmu sync.Mutex
	// wdl is the write deadline: gorilla's SetWriteDeadline may not run
	// concurrently with a write, so Write applies it under wmu.
	wdl atomic.Pointer[time.Time]
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			t, r, err := c.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return 0, io.EOF
				}
				return 0, err
			}
			if t != websocket.BinaryMessage {
				return 0, MalformedPacket // [MQTT-6.0.0-1]: text frames close the connection
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if d := c.wdl.Load(); d != nil {
		c.ws.SetWriteDeadline(*d)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error                      { return c.ws.Close() }
func (c *wsConn) LocalAddr() net.Addr               { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr              { return c.ws.RemoteAddr() }
func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline applies to the next Write, and to one blocked now
// (through the socket, which allows concurrent calls).
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.wdl.Store(&t)
	return c.ws.NetConn().SetWriteDeadline(t)
}

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}
