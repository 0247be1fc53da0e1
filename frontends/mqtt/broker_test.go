package mqtt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
)

// testBroker is a Server on 127.0.0.1 with all four listeners.
type testBroker struct {
	srv               *Server
	tcp, tls, ws, wss string // host:port
	caFile            string // PEM of the self-signed certificate
	clientTLS         *tls.Config
	certFile, keyFile string
}

// newBroker starts a broker; opts may set anything but TLSConfig.
func newBroker(t testing.TB, opts Options) *testBroker {
	t.Helper()
	b := &testBroker{}
	cert, certPEM, keyPEM := selfSigned(t)
	dir := t.TempDir()
	b.caFile = filepath.Join(dir, "ca.pem")
	b.certFile, b.keyFile = b.caFile, filepath.Join(dir, "key.pem")
	if err := os.WriteFile(b.caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	b.clientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = srv
	t.Cleanup(func() { srv.Close() })
	for _, l := range []struct {
		f   func(string) (net.Addr, error)
		dst *string
	}{{srv.Listen, &b.tcp}, {srv.ListenTLS, &b.tls}, {srv.ListenWebSocket, &b.ws}, {srv.ListenWebSocketTLS, &b.wss}} {
		a, err := l.f("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*l.dst = a.String()
	}
	return b
}

func (b *testBroker) port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func selfSigned(t testing.TB) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strata-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

// ---- paho.golang (MQTT 5.0) ----

// v5Client is a connected paho.golang client; msgs receives every PUBLISH.
type v5Client struct {
	*paho.Client
	msgs    chan *paho.Publish
	connack *paho.Connack
	discon  chan *paho.Disconnect
}

// dialV5 connects over TCP unless nc is given.
func dialV5(t testing.TB, addr string, cp *paho.Connect, cfg func(*paho.ClientConfig)) *v5Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return connectV5(t, nc, cp, cfg)
}

func connectV5(t testing.TB, nc net.Conn, cp *paho.Connect, cfg func(*paho.ClientConfig)) *v5Client {
	t.Helper()
	c := &v5Client{msgs: make(chan *paho.Publish, 1000), discon: make(chan *paho.Disconnect, 1)}
	conf := paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			c.msgs <- r.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.discon <- d:
			default:
			}
		},
		OnClientError: func(error) {},
	}
	if cfg != nil {
		cfg(&conf)
	}
	c.Client = paho.NewClient(conf)
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("paho.golang connect %s: %v (connack %+v)", cp.ClientID, err, ca)
	}
	c.connack = ca
	t.Cleanup(func() {
		// paho.golang v0.23.0 can wait forever in Disconnect when the
		// connection is failing at the same time: bound it, then cut.
		done := make(chan struct{})
		go func() { c.Disconnect(&paho.Disconnect{}); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			nc.Close()
		}
	})
	return c
}

func (c *v5Client) sub(t testing.TB, opts ...paho.SubscribeOptions) *paho.Suback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts})
	if sa == nil { // paho returns the SUBACK with an error when a filter was refused
		t.Fatalf("subscribe: %v", err)
	}
	return sa
}

func (c *v5Client) pub(t testing.TB, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Publish(ctx, p)
	if r == nil && err != nil { // paho returns the PUBACK with an error for a reason >= 0x80
		t.Fatalf("publish %s: %v", p.Topic, err)
	}
	return r
}

func (c *v5Client) next(t testing.TB) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.msgs:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

func (c *v5Client) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case p := <-c.msgs:
		t.Fatalf("unexpected message on %q: %q", p.Topic, p.Payload)
	case <-time.After(d):
	}
}

// ---- paho.mqtt.golang (MQTT 3.1 and 3.1.1) ----

type v3Client struct {
	pahov3.Client
	msgs chan pahov3.Message
}

// dialV3 connects with paho.mqtt.golang to url (tcp://, ssl://, ws://, wss://).
func dialV3(t testing.TB, url, id string, version uint, clean bool, cfg func(*pahov3.ClientOptions)) *v3Client {
	t.Helper()
	c := &v3Client{msgs: make(chan pahov3.Message, 1000)}
	o := pahov3.NewClientOptions().AddBroker(url).SetClientID(id).SetProtocolVersion(version).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ pahov3.Client, m pahov3.Message) { c.msgs <- m })
	if cfg != nil {
		cfg(o)
	}
	c.Client = pahov3.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho.mqtt.golang connect %s to %s: %v", id, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func wait(t testing.TB, tok pahov3.Token) {
	t.Helper()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("token timed out")
	}
	if tok.Error() != nil {
		t.Fatal(tok.Error())
	}
}

func (c *v3Client) next(t testing.TB) pahov3.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}
