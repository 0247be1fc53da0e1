package kafka

// The TLS listener: a second listener that speaks the same protocol over
// crypto/tls (SecurityOptions.TLS). With ClientAuth set to verify client
// certificates, a verified certificate authenticates the connection as
// "User:<subject CN>" (SASL on top replaces that principal, as Kafka's
// SASL_SSL does). Clients of this listener are told its own address in
// Metadata, FindCoordinator and DescribeCluster (rewriteListener), so a
// TLS client never gets sent to the plaintext port.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListenTLS opens the TLS listener on addr and serves it in the
// background, like Listen. Open the plaintext listener first when there is
// one: the first listener's address is the broker's default advertised
// address.
func (s *Server) ListenTLS(addr string) (net.Addr, error) {
	cfg := s.opts.Security.TLS
	if cfg == nil {
		return nil, errors.New("kafka: ListenTLS without Options.Security.TLS")
	}
	inner, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kafka: listen %s: %w", addr, err)
	}
	host, port := "", int32(0)
	if a := s.opts.Security.TLSAdvertisedAddr; a != "" {
		host, port, _ = splitHostPort(a)
	} else if h, p, err := splitHostPort(inner.Addr().String()); err == nil {
		host, port = h, p
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			host = ""
		}
	}
	ln := tls.NewListener(inner, cfg.Clone())
	if err := s.track(ln); err != nil {
		ln.Close()
		return nil, err
	}
	s.mu.Lock()
	if host == "" {
		host = s.mu.host
	}
	s.sec.tlsHost, s.sec.tlsPort = host, port
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.serve(ln); err != nil && !errors.Is(err, ErrServerClosed) {
			s.log.Error("kafka: TLS listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return ln.Addr(), nil
}

// certPrincipal is "User:<CN>" of a verified client certificate, or "".
func certPrincipal(cs tls.ConnectionState) string {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return ""
	}
	cn := cs.PeerCertificates[0].Subject.CommonName
	if cn == "" {
		return ""
	}
	return "User:" + cn
}

// LoadTLSConfig builds the TLS listener's config from PEM files: the
// server certificate and key, and when clientCA is set, client
// certificates signed by it are verified when offered (require = they
// must be offered). The minimum version is TLS 1.2.
func LoadTLSConfig(certFile, keyFile, clientCA string, require bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("kafka: TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: TLS client CA %s: no PEM certificate in it", clientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if require {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, nil
}

// rewriteListener gives a TLS connection the TLS listener's address in
// the responses that name brokers. The handlers fill in the plain
// listener's address (Server.advertised); this runs after them, from
// conn.handle.
func (c *conn) rewriteListener(resp kmsg.Response) {
	if !c.info.sasl.tls || c.srv.sec.tlsPort == 0 {
		return
	}
	host, port := c.srv.sec.tlsHost, c.srv.sec.tlsPort
	plainHost, plainPort := c.srv.advertised()
	fix := func(h *string, p *int32) {
		if *h == plainHost && *p == plainPort {
			*h, *p = host, port
		}
	}
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			fix(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.FindCoordinatorResponse:
		fix(&r.Host, &r.Port)
		for i := range r.Coordinators {
			fix(&r.Coordinators[i].Host, &r.Coordinators[i].Port)
		}
	case *kmsg.DescribeClusterResponse:
		for i := range r.Brokers {
			fix(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	}
}
