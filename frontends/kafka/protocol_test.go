package kafka

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn speaks the wire protocol by hand, for the cases no client
// sends: unsupported versions, oversized and malformed frames.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// request frames req at version v with the header kmsg's flexibility
// calls for, and writes it.
func (c *rawConn) request(req kmsg.Request, v int16, corr int32) {
	c.t.Helper()
	req.SetVersion(v)
	b := []byte{0, 0, 0, 0}
	b = kbin.AppendInt16(b, req.Key())
	b = kbin.AppendInt16(b, v)
	b = kbin.AppendInt32(b, corr)
	b = kbin.AppendNullableString(b, nil)
	if v <= req.MaxVersion() && req.IsFlexible() || req.Key() == 18 && v >= 3 {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	c.write(b)
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// response reads one response frame and returns its correlation id and
// body (after the header, which is v0 for ApiVersions and when !flexible).
func (c *rawConn) response(flexibleHeader bool) (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.br, b); err != nil {
		return 0, nil, err
	}
	corr := int32(binary.BigEndian.Uint32(b))
	b = b[4:]
	if flexibleHeader {
		b = b[1:]
	}
	return corr, b, nil
}

func TestApiVersionsAdvertisesTheRegistry(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	for _, v := range []int16{0, 3, 4} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "strata-test", "1.0"
		c.request(req, v, int32(v))
		corr, body, err := c.response(false)
		if err != nil || corr != int32(v) {
			t.Fatalf("v%d: %v corr %d", v, err, corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = v
		if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != 0 {
			t.Fatalf("v%d: %v %d", v, err, resp.ErrorCode)
		}
		if len(resp.ApiKeys) != len(handlers) {
			t.Fatalf("v%d: %d keys advertised, %d registered", v, len(resp.ApiKeys), len(handlers))
		}
		for _, k := range resp.ApiKeys {
			h := handlers[k.ApiKey]
			if h == nil || h.min != k.MinVersion || h.max != k.MaxVersion {
				t.Fatalf("key %d advertised %d-%d", k.ApiKey, k.MinVersion, k.MaxVersion)
			}
		}
	}
	// A version above ours: a v0 response with UNSUPPORTED_VERSION and
	// the table (KIP-511).
	c.request(kmsg.NewPtrApiVersionsRequest(), 5, 99)
	corr, body, err := c.response(false)
	if err != nil || corr != 99 {
		t.Fatalf("v5: %v corr %d", err, corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("v5 answer: %v %+v", err, resp)
	}
}

func TestUnsupportedVersionGetsErrorCode(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	// DescribeCluster v2 is outside our 0-1 and has a top-level error code.
	c.request(kmsg.NewPtrDescribeClusterRequest(), 2, 5)
	corr, body, err := c.response(true)
	if err != nil || corr != 5 {
		t.Fatalf("%v corr %d", err, corr)
	}
	resp := kmsg.NewPtrDescribeClusterResponse()
	resp.Version = 2
	if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("%v %+v", err, resp)
	}
	// The connection stays usable.
	c.request(kmsg.NewPtrDescribeClusterRequest(), 0, 6)
	if corr, _, err := c.response(true); err != nil || corr != 6 {
		t.Fatalf("after unsupported: %v corr %d", err, corr)
	}
	// Produce v2 (below our minimum) has no top-level code: the
	// connection is closed.
	c.request(kmsg.NewPtrProduceRequest(), 2, 7)
	if _, _, err := c.response(false); err == nil {
		t.Fatal("produce v2 got a response")
	}
}

func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.MaxFrameBytes = 1 << 20 })
	cases := map[string][]byte{
		"too large":   {0x7f, 0xff, 0xff, 0xff},
		"negative":    {0xff, 0xff, 0xff, 0xff},
		"too small":   {0, 0, 0, 2, 0, 18},
		"unknown key": append([]byte{0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1}, 0xff, 0xff),
		"bad body":    {0, 0, 0, 14, 0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0x05, 0xff, 0xff, 0xff},
	}
	for name, frame := range cases {
		c := dialRaw(t, b.addr)
		c.write(frame)
		if _, _, err := c.response(false); err == nil {
			t.Fatalf("%s: got a response", name)
		}
	}
	// The server still serves.
	c := dialRaw(t, b.addr)
	c.request(kmsg.NewPtrApiVersionsRequest(), 3, 1)
	if _, _, err := c.response(false); err != nil {
		t.Fatal(err)
	}
}

// TestPipelinedResponsesInOrder writes many requests before reading any
// response; the responses come back in request order.
func TestPipelinedResponsesInOrder(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	const n = 200
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			c.request(kmsg.NewPtrApiVersionsRequest(), 3, int32(i))
		} else {
			c.request(kmsg.NewPtrMetadataRequest(), 12, int32(i))
		}
	}
	for i := 0; i < n; i++ {
		corr, _, err := c.response(i%2 == 1)
		if err != nil || corr != int32(i) {
			t.Fatalf("response %d: corr %d, %v", i, corr, err)
		}
	}
}
