package mqtt

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"strata/meta"
)

// secBroker is a broker on 127.0.0.1 (TCP and TLS listeners) with
// Security over a one-node meta, and a test PKI: a CA, the server's
// certificate and a client certificate with CN "device-7".
type secBroker struct {
	srv           *Server
	sec           *Security
	users         *meta.Security
	tcp, tls, wss string
	// PEM files for mosquitto: the CA, the client certificate and key.
	caFile, certFile, keyFile string
	clientTLS                 *tls.Config // trusts the CA, presents no certificate
	clientCert                tls.Certificate
}

func testMetaNode(t testing.TB) *meta.Node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raft := ln.Addr().String()
	ln.Close()
	n, err := meta.OpenNode(meta.NodeOptions{NodeID: 1, RaftAddr: raft, Dir: filepath.Join(t.TempDir(), "meta"),
		RTT: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !n.Ready(ctx) {
		t.Fatal("meta node not ready")
	}
	for !n.Status().HasLeader {
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

// newSecBroker starts meta, adds users (name -> password), then the
// broker; edit adjusts the security options.
func newSecBroker(t *testing.T, users map[string]string, edit func(*SecurityOptions)) *secBroker {
	t.Helper()
	node := testMetaNode(t)
	b := &secBroker{users: meta.NewSecurity(node)}
	for name, pw := range users {
		if _, err := b.users.SetPassword(t.Context(), name, pw, nil, 1); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sopts := SecurityOptions{Users: b.users, ACLRefresh: 20 * time.Millisecond, Logger: logger}
	if edit != nil {
		edit(&sopts)
	}
	sec, err := NewSecurity(sopts)
	if err != nil {
		t.Fatal(err)
	}
	b.sec = sec
	t.Cleanup(func() { sec.Close() })

	serverTLS := b.pki(t)
	srv, err := NewServer(Options{Logger: logger, TLSConfig: serverTLS, Authenticator: sec, Authorizer: sec, Limiter: sec, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	b.srv = srv
	t.Cleanup(func() { srv.Close() })
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.tcp = a.String()
	if a, err = srv.ListenTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	b.tls = a.String()
	if a, err = srv.ListenWebSocketTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	b.wss = a.String()
	return b
}

// pki makes the CA, the server and client certificates, writes the PEM
// files and returns the server's TLS config (client certificates
// verified when given).
func (b *secBroker) pki(t *testing.T) *tls.Config {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strata-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c, certPEM, keyPEM
	}
	serverCert, _, _ := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	clientCert, clientPEM, clientKeyPEM := issue(3, "device-7", x509.ExtKeyUsageClientAuth)
	b.clientCert = clientCert
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	b.caFile, b.certFile, b.keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	for f, data := range map[string][]byte{b.caFile: caPEM, b.certFile: clientPEM, b.keyFile: clientKeyPEM} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	b.clientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	return &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
}

// rules replaces the MQTT ACL rules in meta and applies them at once.
func (b *secBroker) rules(t *testing.T, rules ...meta.MQTTRule) {
	t.Helper()
	have, err := b.users.ListMQTTRules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range have {
		if err := b.users.RemoveMQTTRule(t.Context(), r.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rules {
		if _, _, err := b.users.AddMQTTRule(t.Context(), r, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.sec.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// connectV5Raw connects with paho.golang and returns the CONNACK (and the
// error) without failing.
func connectV5Raw(t *testing.T, nc net.Conn, cp *paho.Connect, auther paho.Auther) (*paho.Connack, error) {
	t.Helper()
	t.Cleanup(func() { nc.Close() })
	cl := paho.NewClient(paho.ClientConfig{Conn: nc, AuthHandler: auther, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return cl.Connect(ctx, cp)
}

func v3Connect(addr, id, user, pass string, tlsCfg *tls.Config) error {
	o := pahov3.NewClientOptions().AddBroker(addr).SetClientID(id).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetConnectRetry(false)
	if user != "" {
		o.SetUsername(user).SetPassword(pass)
	}
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	c := pahov3.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return errors.New("connect timed out")
	}
	if tok.Error() == nil {
		c.Disconnect(50)
	}
	return tok.Error()
}

func mosq(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, mosquittoBin(t, name), args...).CombinedOutput()
	return string(out), err
}

// TestPasswordAuthentication: users in meta with salted SCRAM
// credentials; a wrong password is CONNACK 0x86 (5.0) / 4 (3.1.1), for
// paho.golang, paho.mqtt.golang and mosquitto_pub -u -P; an unknown user
// the same; anonymous clients follow the policy.
func TestPasswordAuthentication(t *testing.T) {
	b := newSecBroker(t, map[string]string{"alice": "wonder-land"}, func(o *SecurityOptions) { o.Anonymous = AnonymousDeny })
	for _, c := range []struct {
		user, pass string
		want       ReasonCode
	}{{"alice", "wrong", BadUserNameOrPassword}, {"mallory", "wonder-land", BadUserNameOrPassword}, {"alice", "wonder-land", Success}} {
		ca, err := connectV5Raw(t, dial(t, b.tcp), &paho.Connect{ClientID: "p5-" + c.user, CleanStart: true, KeepAlive: 30,
			UsernameFlag: true, Username: c.user, PasswordFlag: true, Password: []byte(c.pass)}, nil)
		if ca == nil || ReasonCode(ca.ReasonCode) != c.want {
			t.Fatalf("5.0 %s/%s: %+v %v, want %#x", c.user, c.pass, ca, err, byte(c.want))
		}
	}
	// Anonymous is refused with 0x87 (policy deny).
	if ca, err := connectV5Raw(t, dial(t, b.tcp), &paho.Connect{ClientID: "anon", CleanStart: true}, nil); ca == nil || ca.ReasonCode != byte(NotAuthorized) {
		t.Fatalf("anonymous: %+v %v", ca, err)
	}
	// 3.1.1: return code 4 (bad user name or password), 5 (not authorized).
	if err := v3Connect("tcp://"+b.tcp, "p3", "alice", "wrong", nil); err == nil || !strings.Contains(err.Error(), "bad user name or password") {
		t.Fatalf("3.1.1 wrong password: %v", err)
	}
	if err := v3Connect("tcp://"+b.tcp, "p3", "", "", nil); err == nil || !strings.Contains(err.Error(), "not Authorized") {
		t.Fatalf("3.1.1 anonymous: %v", err)
	}
	if err := v3Connect("tcp://"+b.tcp, "p3", "alice", "wonder-land", nil); err != nil {
		t.Fatalf("3.1.1 good password: %v", err)
	}
	if st := b.sec.Stats(); st.BadPassword != 3 || st.Anonymous != 2 {
		t.Fatalf("stats %+v", st)
	}
	// mosquitto_pub, 3.1.1 and 5.0.
	port := b.port()
	for _, v := range []string{"mqttv311", "mqttv5"} {
		out, err := mosq(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", v, "-u", "alice", "-P", "wrong", "-t", "x", "-m", "m")
		if err == nil || !strings.Contains(strings.ToLower(out), "bad user name or password") {
			t.Fatalf("mosquitto_pub -V %s wrong password: %v %s", v, err, out)
		}
		if out, err := mosq(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", v, "-u", "alice", "-P", "wonder-land", "-t", "x", "-m", "m"); err != nil {
			t.Fatalf("mosquitto_pub -V %s good password: %v %s", v, err, out)
		}
	}
}

func (b *secBroker) port() string {
	_, p, _ := net.SplitHostPort(b.tcp)
	return p
}

// TestAnonymousLoopback: the embedded default lets loopback clients in
// without credentials (principal ""), and still refuses a wrong password.
func TestAnonymousLoopback(t *testing.T) {
	b := newSecBroker(t, map[string]string{"alice": "pw"}, nil)
	if ca, err := connectV5Raw(t, dial(t, b.tcp), &paho.Connect{ClientID: "anon", CleanStart: true}, nil); err != nil || ca.ReasonCode != 0 {
		t.Fatalf("anonymous on loopback: %+v %v", ca, err)
	}
	if ca, _ := connectV5Raw(t, dial(t, b.tcp), &paho.Connect{ClientID: "a", CleanStart: true, UsernameFlag: true, Username: "alice", PasswordFlag: true, Password: []byte("x")}, nil); ca == nil || ca.ReasonCode != byte(BadUserNameOrPassword) {
		t.Fatalf("wrong password on loopback: %+v", ca)
	}
	for remote, want := range map[string]bool{"127.0.0.1:5": true, "[::1]:5": true, "10.1.2.3:5": false, "[::ffff:127.0.0.1]:5": true} {
		a, _ := net.ResolveTCPAddr("tcp", remote)
		if got := b.sec.anonymousOK(a); got != want {
			t.Errorf("anonymousOK(%s) = %v", remote, got)
		}
	}
}

// scramAuther drives SCRAM over paho.golang's Auther: franz-go's SCRAM
// client makes the messages.
type scramAuther struct {
	t      *testing.T
	sess   sasl.Session
	method string
}

func (a *scramAuther) Authenticate(x *paho.Auth) *paho.Auth {
	_, next, err := a.sess.Challenge(x.Properties.AuthData)
	if err != nil {
		a.t.Errorf("SCRAM client: %v", err)
		return &paho.Auth{ReasonCode: 0x18, Properties: &paho.AuthProperties{AuthMethod: a.method}}
	}
	return &paho.Auth{ReasonCode: 0x18, Properties: &paho.AuthProperties{AuthMethod: a.method, AuthData: next}}
}

func (a *scramAuther) Authenticated() {}

// TestScramEnhancedAuthentication: 5.0 AUTH with SCRAM-SHA-256 against
// the user's stored credential: success (the CONNACK carries the server
// signature, which the client verifies), a wrong password (0x86) and an
// unknown user (0x86, same as a wrong password).
func TestScramEnhancedAuthentication(t *testing.T) {
	b := newSecBroker(t, map[string]string{"carol": "c4r0l"}, func(o *SecurityOptions) { o.Anonymous = AnonymousDeny })
	try := func(user, pass, method string) (*paho.Connack, *scramAuther) {
		m := scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
		if method == "SCRAM-SHA-512" {
			m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
		}
		sess, first, err := m.Authenticate(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		a := &scramAuther{t: t, sess: sess, method: method}
		ca, _ := connectV5Raw(t, dial(t, b.tcp), &paho.Connect{ClientID: "s-" + user, CleanStart: true, KeepAlive: 30,
			Properties: &paho.ConnectProperties{AuthMethod: method, AuthData: first}}, a)
		if ca == nil {
			t.Fatalf("%s/%s: no CONNACK", user, pass)
		}
		if ca.ReasonCode == 0 {
			// The server-final message proves the server knows the key.
			if done, _, err := sess.Challenge(ca.Properties.AuthData); !done || err != nil {
				t.Fatalf("server signature: %v %v", done, err)
			}
		}
		return ca, a
	}
	if ca, _ := try("carol", "c4r0l", "SCRAM-SHA-256"); ca.ReasonCode != 0 || ca.Properties.AuthMethod != "SCRAM-SHA-256" {
		t.Fatalf("SCRAM success: %#x %+v", ca.ReasonCode, ca.Properties)
	}
	if ca, _ := try("carol", "c4r0l", "SCRAM-SHA-512"); ca.ReasonCode != 0 {
		t.Fatalf("SCRAM-SHA-512: %#x", ca.ReasonCode)
	}
	if ca, _ := try("carol", "wrong", "SCRAM-SHA-256"); ca.ReasonCode != byte(BadUserNameOrPassword) {
		t.Fatalf("SCRAM wrong password: %#x", ca.ReasonCode)
	}
	if ca, _ := try("nobody", "x", "SCRAM-SHA-256"); ca.ReasonCode != byte(BadUserNameOrPassword) {
		t.Fatalf("SCRAM unknown user: %#x", ca.ReasonCode)
	}
	if ca, err := connectV5Raw(t, dial(t, b.tcp), &paho.Connect{ClientID: "m", CleanStart: true,
		Properties: &paho.ConnectProperties{AuthMethod: "SCRAM-SHA-256", AuthData: []byte("p=tls-unique,,n=carol,r=x")}}, &scramAuther{t: t}); ca == nil || ca.ReasonCode != byte(NotAuthorized) {
		t.Fatalf("malformed client-first: %+v %v", ca, err)
	}
	if ca, _ := connectV5Raw(t, dial(t, b.tcp), &paho.Connect{ClientID: "k", CleanStart: true,
		Properties: &paho.ConnectProperties{AuthMethod: "KERBEROS"}}, &scramAuther{t: t}); ca == nil || ca.ReasonCode != byte(BadAuthenticationMethod) {
		t.Fatalf("unknown method: %+v", ca)
	}
}

// TestClientCertificate: on the TLS listener a verified client
// certificate authenticates as its CN (paho.golang and mosquitto_pub
// --cert/--key); %u in a rule is that CN; without a certificate or
// password the client is refused.
func TestClientCertificate(t *testing.T) {
	b := newSecBroker(t, nil, func(o *SecurityOptions) {
		o.Anonymous, o.CertificatePrincipal, o.ACLDeny = AnonymousDeny, true, true
	})
	b.rules(t, meta.MQTTRule{Permission: "allow", Action: "all", Topic: "devices/%u/#"})
	withCert := b.clientTLS.Clone()
	withCert.Certificates = []tls.Certificate{b.clientCert}
	nc, err := tls.Dial("tcp", b.tls, withCert)
	if err != nil {
		t.Fatal(err)
	}
	c := connectV5(t, nc, &paho.Connect{ClientID: "cert-1", CleanStart: true}, nil)
	if sa := c.sub(t, paho.SubscribeOptions{Topic: "devices/device-7/#", QoS: 1}, paho.SubscribeOptions{Topic: "devices/other/#", QoS: 1}); sa.Reasons[0] != 1 || sa.Reasons[1] != byte(NotAuthorized) {
		t.Fatalf("subscribe as device-7: %v", sa.Reasons)
	}
	out, err := mosq(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", portOf(b.tls), "-V", "mqttv311", "--cafile", b.caFile,
		"--cert", b.certFile, "--key", b.keyFile, "-t", "devices/device-7/temp", "-m", "21.5", "-q", "1")
	if err != nil {
		t.Fatalf("mosquitto_pub with a client certificate: %v %s", err, out)
	}
	if m := c.next(t); m.Topic != "devices/device-7/temp" || string(m.Payload) != "21.5" {
		t.Fatalf("got %q %q", m.Topic, m.Payload)
	}
	// WebSocket over TLS: the same certificate authenticates (paho.mqtt.golang).
	v3 := dialV3(t, "wss://"+b.wss+"/mqtt", "cert-wss", 4, true, func(o *pahov3.ClientOptions) { o.SetTLSConfig(withCert) })
	wait(t, v3.Publish("devices/device-7/temp", 1, false, "22"))
	if m := c.next(t); string(m.Payload) != "22" {
		t.Fatalf("over WSS got %q", m.Payload)
	}
	if err := v3Connect("wss://"+b.wss+"/mqtt", "nocert-wss", "", "", b.clientTLS); err == nil || !strings.Contains(err.Error(), "not Authorized") {
		t.Fatalf("WSS without a certificate: %v", err)
	}
	// mosquitto_sub with the certificate: %u is the CN; another device's
	// tree is refused (SUBACK 0x80 / 0x87), with the default deny.
	for _, v := range []string{"mqttv311", "mqttv5"} {
		out, err := mosq(t, "mosquitto_sub", "-h", "127.0.0.1", "-p", portOf(b.tls), "-V", v, "--cafile", b.caFile,
			"--cert", b.certFile, "--key", b.keyFile, "-t", "devices/device-8/#", "-C", "1", "-W", "3")
		if !strings.Contains(out, "denied") {
			t.Fatalf("mosquitto_sub -V %s to another device's topics: %v %s", v, err, out)
		}
	}
	// No certificate, no password: refused (5 / 0x87).
	out, err = mosq(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", portOf(b.tls), "-V", "mqttv311", "--cafile", b.caFile, "-t", "devices/x", "-m", "m")
	if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
		t.Fatalf("mosquitto_pub without a certificate: %v %s", err, out)
	}
	nc, err = tls.Dial("tcp", b.tls, b.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	if ca, _ := connectV5Raw(t, nc, &paho.Connect{ClientID: "nocert", CleanStart: true}, nil); ca == nil || ca.ReasonCode != byte(NotAuthorized) {
		t.Fatalf("TLS without a certificate: %+v", ca)
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestACLRules: ordered rules from meta, first match decides, with %u/%c
// substitution and IP rules; 5.0 refusals are PUBACK/SUBACK 0x87, 3.1.1
// ones SUBACK 0x80 and, for a publish, acknowledged and dropped (as
// Mosquitto does); a rule change applies to live connections.
func TestACLRules(t *testing.T) {
	b := newSecBroker(t, map[string]string{"alice": "a", "bob": "b"}, nil)
	b.rules(t,
		meta.MQTTRule{Permission: "deny", Action: "publish", Topic: "secret/#"},
		meta.MQTTRule{Permission: "deny", Action: "retain", Topic: "state/#", Username: "bob"},
		meta.MQTTRule{Permission: "allow", Action: "all", Topic: "devices/%c/#"},
		meta.MQTTRule{Permission: "allow", Action: "subscribe", Topic: "users/%u/#"},
		meta.MQTTRule{Permission: "allow", Action: "subscribe", Topic: "public/#", IP: "10.0.0.0/8"},
		meta.MQTTRule{Permission: "deny", Action: "subscribe", Topic: "public/#", IP: "127.0.0.0/8"},
		meta.MQTTRule{Permission: "deny", Action: "subscribe", Topic: "users/#"},
	)
	login := func(id, user string) *paho.Connect {
		return &paho.Connect{ClientID: id, CleanStart: true, UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(user[:1])}
	}
	alice := dialV5(t, b.tcp, login("dev1", "alice"), nil)
	bob := dialV5(t, b.tcp, login("dev2", "bob"), nil)

	// Publish: deny on secret/#, 0x87.
	if r := alice.pub(t, &paho.Publish{Topic: "secret/plans", QoS: 1, Payload: []byte("x")}); r.ReasonCode != byte(NotAuthorized) {
		t.Fatalf("publish secret/plans: %#x", r.ReasonCode)
	}
	// Subscribe: %u and %c.
	sa := alice.sub(t, paho.SubscribeOptions{Topic: "users/alice/#", QoS: 1}, paho.SubscribeOptions{Topic: "users/bob/#", QoS: 1},
		paho.SubscribeOptions{Topic: "devices/dev1/+", QoS: 1}, paho.SubscribeOptions{Topic: "devices/dev2/+", QoS: 1},
		paho.SubscribeOptions{Topic: "public/news", QoS: 1}, paho.SubscribeOptions{Topic: "$share/g/users/alice/x/y", QoS: 1})
	want := []byte{1, byte(NotAuthorized), 1, 1, byte(NotAuthorized), 1}
	// devices/dev2/+ is allowed by no rule that matches alice's client id
	// ("devices/dev1/#"), so the default (allow) applies: no deny rule
	// names it.
	if !bytes.Equal(sa.Reasons, want) {
		t.Fatalf("alice's SUBACK %v, want %v", sa.Reasons, want)
	}
	// Bob publishes to alice's inbox: alice gets it.
	if r := bob.pub(t, &paho.Publish{Topic: "users/alice/inbox", QoS: 1, Payload: []byte("hi")}); r.ReasonCode >= 0x80 {
		t.Fatalf("bob publish: %#x", r.ReasonCode)
	}
	if m := alice.next(t); m.Topic != "users/alice/inbox" {
		t.Fatalf("alice got %q", m.Topic)
	}
	// Retain: bob may not retain under state/, alice may.
	if r := bob.pub(t, &paho.Publish{Topic: "state/lamp", QoS: 1, Retain: true, Payload: []byte("on")}); r.ReasonCode != byte(NotAuthorized) {
		t.Fatalf("bob retain: %#x", r.ReasonCode)
	}
	if r := alice.pub(t, &paho.Publish{Topic: "state/lamp", QoS: 1, Retain: true, Payload: []byte("on")}); r.ReasonCode >= 0x80 {
		t.Fatalf("alice retain: %#x", r.ReasonCode)
	}
	// No ordered rule is about alice publishing to legacy/x: a Kafka-style
	// mqtt_topic binding (strata acl) decides.
	if _, err := b.users.CreateACLs(t.Context(), []meta.ACLBinding{{ResourceType: meta.ResourceMQTTTopic, ResourceName: "legacy/#",
		PatternType: meta.PatternMQTTFilter, Principal: "User:alice", Host: "*", Operation: "publish", Permission: "deny"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.sec.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := alice.pub(t, &paho.Publish{Topic: "legacy/x", QoS: 1, Payload: []byte("x")}); r.ReasonCode != byte(NotAuthorized) {
		t.Fatalf("publish under an mqtt_topic deny binding: %#x", r.ReasonCode)
	}
	if r := bob.pub(t, &paho.Publish{Topic: "legacy/x", QoS: 1, Payload: []byte("x")}); r.ReasonCode >= 0x80 {
		t.Fatalf("bob is not named by the binding: %#x", r.ReasonCode)
	}

	// 3.1.1: SUBACK 0x80; a refused publish is acknowledged and dropped.
	v3 := dialV3(t, "tcp://"+b.tcp, "dev3", 4, true, func(o *pahov3.ClientOptions) { o.SetUsername("bob").SetPassword("b") })
	tok := v3.Subscribe("users/alice/#", 1, nil)
	wait(t, tok)
	if rc := tok.(*pahov3.SubscribeToken).Result()["users/alice/#"]; rc != 0x80 {
		t.Fatalf("3.1.1 SUBACK %#x, want 0x80", rc)
	}
	wait(t, v3.Subscribe("users/bob/#", 1, nil))
	alice.sub(t, paho.SubscribeOptions{Topic: "devices/dev1/#", QoS: 1}, paho.SubscribeOptions{Topic: "secret/#", QoS: 1})
	wait(t, v3.Publish("secret/x", 1, false, "dropped"))
	wait(t, v3.Publish("devices/dev1/cmd", 1, false, "kept"))
	if m := alice.next(t); m.Topic != "devices/dev1/cmd" {
		t.Fatalf("alice got %q (the refused 3.1.1 publish was delivered?)", m.Topic)
	}

	// A rule change applies to live subscriptions (the receive check):
	// deny alice receiving users/alice/spam.
	b.rules(t,
		meta.MQTTRule{Permission: "deny", Action: "subscribe", Topic: "users/%u/spam"},
		meta.MQTTRule{Permission: "allow", Action: "all", Topic: "#"},
	)
	bob.pub(t, &paho.Publish{Topic: "users/alice/spam", QoS: 1, Payload: []byte("s")})
	bob.pub(t, &paho.Publish{Topic: "users/alice/mail", QoS: 1, Payload: []byte("m")})
	if m := alice.next(t); m.Topic != "users/alice/mail" {
		t.Fatalf("alice got %q, want users/alice/mail", m.Topic)
	}
	if st := b.sec.Stats(); st.DeniedPublish != 3 || st.DeniedSubscribe != 3 || st.DeniedRetain != 1 || st.DeniedReceive != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRateLimits: a client over its publish rate is disconnected with
// 0x96 (5.0); connections over the per-address rate get CONNACK 0x9F
// (5.0) / 3 (3.1.1).
func TestRateLimits(t *testing.T) {
	b := newSecBroker(t, nil, func(o *SecurityOptions) {
		o.PublishRate, o.PublishBurst = 5, 5
		o.ConnectRate, o.ConnectBurst = 0.5, 4
	})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "fast", CleanStart: true}, nil)
	// The burst, then one more; no more after it: bytes the server does
	// not read when it closes would reset the connection, and the reset
	// can discard the DISCONNECT before paho reads it.
	for i := range 6 {
		if _, err := c.Publish(t.Context(), &paho.Publish{Topic: "t", QoS: 0, Payload: []byte{byte(i)}}); err != nil {
			break
		}
	}
	select {
	case d := <-c.discon:
		if d.ReasonCode != byte(MessageRateTooHigh) {
			t.Fatalf("DISCONNECT %#x, want 0x96", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DISCONNECT for a publish flood")
	}
	// Connections: the burst of 4 was spent on "fast" and three more.
	for i := range 2 {
		if ca, err := connectV5Raw(t, dial(t, b.tcp), &paho.Connect{ClientID: "c" + string(rune('a'+i)), CleanStart: true}, nil); err != nil || ca.ReasonCode != 0 {
			t.Fatalf("connection %d: %+v %v", i, ca, err)
		}
	}
	if err := v3Connect("tcp://"+b.tcp, "c3", "", "", nil); err != nil {
		t.Fatalf("3.1.1 within the burst: %v", err)
	}
	if ca, _ := connectV5Raw(t, dial(t, b.tcp), &paho.Connect{ClientID: "over", CleanStart: true}, nil); ca == nil || ca.ReasonCode != byte(ConnectionRateExceeded) {
		t.Fatalf("over the connect rate: %+v", ca)
	}
	if err := v3Connect("tcp://"+b.tcp, "over3", "", "", nil); err == nil || !strings.Contains(err.Error(), "server Unavailable") {
		t.Fatalf("3.1.1 over the connect rate: %v", err)
	}
	if st := b.sec.Stats(); st.PublishesLimited < 1 || st.ConnectsLimited != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPublishRateV3: a 3.1.1 client over its publish rate is cut off
// (3.x has no DISCONNECT from the server).
func TestPublishRateV3(t *testing.T) {
	b := newSecBroker(t, nil, func(o *SecurityOptions) { o.PublishRate, o.PublishBurst = 2, 2 })
	lost := make(chan error, 1)
	c := dialV3(t, "tcp://"+b.tcp, "flood3", 4, true, func(o *pahov3.ClientOptions) {
		o.SetConnectionLostHandler(func(_ pahov3.Client, err error) { lost <- err })
	})
	for range 10 {
		c.Publish("t", 0, false, "x").WaitTimeout(time.Second)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("a 3.1.1 publish flood was not cut off")
	}
}
