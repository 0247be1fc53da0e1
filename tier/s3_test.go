package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestS3Options(t *testing.T) {
	for _, c := range []struct {
		o  S3Options
		ok bool
	}{
		{S3Options{Bucket: "b"}, true},
		{S3Options{}, false},
		{S3Options{Bucket: "b", PartSize: 1 << 20}, false},
		{S3Options{Bucket: "b", AccessKey: "a"}, false},
		{S3Options{Bucket: "b", Prefix: "/p"}, false},
		{S3Options{Bucket: "b", Concurrency: -1}, false},
	} {
		o := c.o
		o.EnsureDefaults()
		if err := o.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.o, err)
		}
	}
	o := S3Options{Bucket: "b", Prefix: "p"}
	o.EnsureDefaults()
	if o.Prefix != "p/" || o.PartSize != DefaultPartSize || o.Concurrency != DefaultConcurrency {
		t.Fatalf("defaults: %+v", o)
	}
}

// statusErr is an SDK-like error carrying an HTTP status and API code.
type statusErr struct {
	status int
	code   string
}

func (e statusErr) Error() string                 { return fmt.Sprintf("status %d %s", e.status, e.code) }
func (e statusErr) HTTPStatusCode() int           { return e.status }
func (e statusErr) ErrorCode() string             { return e.code }
func (e statusErr) ErrorMessage() string          { return e.code }
func (e statusErr) ErrorFault() smithy.ErrorFault { return smithy.FaultServer }

func TestS3ErrorMapping(t *testing.T) {
	for _, c := range []struct {
		err  error
		want error // nil: none of the sentinels
	}{
		{statusErr{404, "NoSuchKey"}, ErrNotFound},
		{statusErr{404, "NotFound"}, ErrNotFound},
		{statusErr{404, "NoSuchBucket"}, nil},
		{statusErr{416, "InvalidRange"}, ErrRange},
		{statusErr{400, "InvalidRange"}, ErrRange},
		{statusErr{503, "SlowDown"}, ErrUnavailable},
		{statusErr{500, "InternalError"}, ErrUnavailable},
		{statusErr{429, ""}, ErrUnavailable},
		{statusErr{400, "RequestTimeout"}, ErrUnavailable},
		{statusErr{403, "AccessDenied"}, nil},
		{&smithyhttp.RequestSendError{Err: errors.New("dial")}, ErrUnavailable},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ErrUnavailable},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), ErrUnavailable},
		{io.ErrUnexpectedEOF, ErrUnavailable},
		{context.DeadlineExceeded, ErrUnavailable},
		{context.Canceled, nil},
		{errors.New("something else"), nil},
	} {
		got := classifyS3(c.err)
		if !errors.Is(got, c.err) {
			t.Errorf("%v: the original is not wrapped: %v", c.err, got)
		}
		for _, s := range []error{ErrNotFound, ErrRange, ErrUnavailable} {
			if errors.Is(got, s) != (s == c.want) {
				t.Errorf("%v: mapped to %v, want %v", c.err, got, c.want)
			}
		}
	}
}

// TestS3EnvironmentConfig: with no Endpoint and no static keys, the SDK's
// usual environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) is used.
func TestS3EnvironmentConfig(t *testing.T) {
	env := testS3Env(t)
	t.Setenv("AWS_ENDPOINT_URL", env.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", env.Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", env.Secret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	st, err := NewS3(context.Background(), S3Options{Bucket: env.Bucket, Prefix: "t/env", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustPut(t, st, "k", []byte("from the environment"))
	if got, err := readObject(ctx, st, "k", 0, -1); err != nil || string(got) != "from the environment" {
		t.Fatalf("%q %v", got, err)
	}
	st.Delete(ctx, "k")

	// Wrong credentials are a definite answer, not ErrUnavailable.
	bad, _ := NewS3(ctx, S3Options{Bucket: env.Bucket, Endpoint: env.Endpoint, PathStyle: true, Region: "us-east-1", AccessKey: "nobody", SecretKey: "wrong"})
	err = bad.Put(ctx, "k", bytes.NewReader(nil), 0)
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("bad credentials: %v", err)
	}
}

// TestS3MultipartAbortedOnFailure: a multipart upload that fails leaves no
// object and no pending upload behind.
func TestS3MultipartAbortedOnFailure(t *testing.T) {
	st := newTestS3(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	data := randBytes(3, 12<<20)
	// The body fails after the first part (while it is spooled).
	r := io.MultiReader(bytes.NewReader(data[:6<<20]), iotestErrReader{errors.New("disk gone")})
	err := st.Put(ctx, "aborted", onlyReader{r}, int64(len(data)))
	cancel()
	if err == nil {
		t.Fatal("put with a failing body succeeded")
	}
	ctx = context.Background()
	if _, err := st.Head(ctx, "aborted"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("head: %v", err)
	}
	// Seekable body whose bytes change between the CRC pass and the upload.
	ch := &changingReader{data: bytes.Clone(data)}
	if err := st.Put(ctx, "changed", ch, int64(len(data))); err == nil {
		t.Fatal("put of a changing body succeeded")
	}
	if _, err := st.Head(ctx, "changed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("head: %v", err)
	}
	uploads, err := st.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(st.Bucket()), Prefix: aws.String(st.ObjectKey(""))})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left behind", len(uploads.Uploads))
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// changingReader flips a byte the second time it is read from the start.
type changingReader struct {
	data   []byte
	pos    int64
	rewind int
}

func (c *changingReader) Read(p []byte) (int, error) {
	if c.pos >= int64(len(c.data)) {
		return 0, io.EOF
	}
	n := copy(p, c.data[c.pos:])
	c.pos += int64(n)
	return n, nil
}

func (c *changingReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		c.pos = off
		if c.rewind++; c.rewind == 1 {
			c.data[len(c.data)-1] ^= 1
		}
	case io.SeekCurrent:
		c.pos += off
	default:
		return 0, errors.New("unsupported whence")
	}
	return c.pos, nil
}
