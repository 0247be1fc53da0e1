package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// testCA is a certificate authority made up for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strata test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue signs a leaf certificate: a server one for 127.0.0.1, or a client
// one with subject CN cn.
func (ca *testCA) issue(t testing.TB, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSListener: franz-go over the TLS listener with SASL, with a client
// certificate alone (principal = its CN, checked against ACLs), and
// without either (refused). Metadata sends TLS clients to the TLS port.
func TestTLSListener(t *testing.T) {
	ca := newTestCA(t)
	b := startSecureBroker(t, map[string]string{"admin": "admin-pw", "tess": "tess-pw"}, func(o *Options) {
		o.Security.TLS = &tls.Config{
			Certificates: []tls.Certificate{ca.issue(t, "127.0.0.1", true)},
			ClientCAs:    ca.pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12,
		}
		o.Security.SuperUsers = []string{"User:admin"}
	})
	tlsAddr, err := b.srv.ListenTLS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsAddr.String()
	clientTLS := func(cert ...tls.Certificate) kgo.Opt {
		return kgo.DialTLSConfig(&tls.Config{RootCAs: ca.pool, Certificates: cert, MinVersion: tls.VersionTLS12})
	}

	t.Run("sasl", func(t *testing.T) {
		opts := []kgo.Opt{clientTLS(), kgo.SASL(plain.Auth{User: "tess", Pass: "tess-pw"}.AsMechanism())}
		cl := newFranz(t, addr, append(opts, kgo.DefaultProduceTopic("tls-sasl"), kgo.AllowAutoTopicCreation())...)
		roundTrip(t, addr, "tls-sasl", cl, opts...)
	})

	t.Run("client-cert", func(t *testing.T) {
		admin := kadm.NewClient(newFranz(t, b.addr, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pw"}.AsMechanism())))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := admin.CreateTopics(ctx, 1, 1, nil, "tls-alice", "tls-other"); err != nil {
			t.Fatal(err)
		}
		res, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("tls-alice").
			Operations(kadm.OpWrite, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
		if err == nil {
			for _, r := range res {
				err = errors.Join(err, r.Err)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		waitACLs(b)
		opt := clientTLS(ca.issue(t, "alice", false))
		cl := newFranz(t, addr, opt, kgo.DefaultProduceTopic("tls-alice"))
		roundTrip(t, addr, "tls-alice", cl, opt)
		r := &kgo.Record{Topic: "tls-other", Value: []byte("x")}
		if err := cl.ProduceSync(ctx, r).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("alice produce to tls-other: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		// A certificate from another CA is not trusted.
		other := newTestCA(t)
		bad := newFranz(t, addr, clientTLS(other.issue(t, "alice", false)), kgo.RequestRetries(0))
		if err := bad.Ping(ctx); err == nil {
			t.Fatal("a certificate of an unknown CA was accepted")
		}
	})

	t.Run("neither", func(t *testing.T) {
		cl := newFranz(t, addr, clientTLS(), kgo.RequestRetries(0))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := cl.Request(ctx, kmsgMetadataAll()); err == nil {
			t.Fatal("metadata over TLS without a certificate or SASL succeeded")
		}
	})
}

// waitACLs makes the broker reload its ACL snapshot (a change made
// through another path than this broker's CreateAcls would otherwise
// apply within the cache TTL).
func waitACLs(b *testBroker) {
	b.srv.sec.acls.invalidate(context.Background())
}
