package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"
)

// crcMetaKey is the user-metadata key (x-amz-meta-crc32c) that holds an
// object's CRC32C as 8 lower-case hex digits.
const crcMetaKey = "crc32c"

// S3 defaults.
const (
	DefaultPartSize    = 8 << 20
	MinPartSize        = 5 << 20 // S3's minimum for every part but the last
	DefaultConcurrency = 4
	DefaultHTTPTimeout = 30 * time.Second
	maxParts           = 10000
)

// S3Options configure NewS3.
type S3Options struct {
	// Bucket is required.
	Bucket string
	// Prefix is prepended to every key ("" or ending in "/" is usual; a
	// missing trailing "/" is added).
	Prefix string
	// Endpoint overrides the service endpoint (MinIO, Ceph, R2,
	// versitygw). Empty: the SDK's resolution, which honours
	// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_S3.
	Endpoint string
	// Region; empty: the SDK's chain (AWS_REGION, profile), else us-east-1.
	Region string
	// PathStyle addresses buckets as endpoint/bucket/key, as most
	// S3-compatible servers want.
	PathStyle bool
	// AccessKey and SecretKey are static credentials; empty: the default
	// AWS credential chain (environment, profile, SSO, IMDS, ...).
	AccessKey, SecretKey string
	// PartSize: objects larger than this are uploaded in parts of this
	// size (default 8 MiB, at least 5 MiB).
	PartSize int64
	// Concurrency is the number of parts uploaded at once (default 4).
	Concurrency int
	// HTTPTimeout bounds connecting and waiting for a response's headers
	// (default 30 s); bodies are bounded by the caller's context only.
	HTTPTimeout time.Duration
	// HTTPClient replaces the SDK's HTTP client (tests); HTTPTimeout is
	// then ignored.
	HTTPClient *http.Client
}

// EnsureDefaults fills unset fields.
func (o *S3Options) EnsureDefaults() {
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.HTTPTimeout == 0 {
		o.HTTPTimeout = DefaultHTTPTimeout
	}
	if o.Prefix != "" && !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
}

// Validate checks the options after EnsureDefaults.
func (o *S3Options) Validate() error {
	switch {
	case o.Bucket == "":
		return errors.New("tier: s3: bucket required")
	case o.PartSize < MinPartSize:
		return fmt.Errorf("tier: s3: part size %d below S3's minimum %d", o.PartSize, MinPartSize)
	case o.Concurrency < 1:
		return fmt.Errorf("tier: s3: concurrency %d", o.Concurrency)
	case (o.AccessKey == "") != (o.SecretKey == ""):
		return errors.New("tier: s3: access key and secret key go together")
	case strings.HasPrefix(o.Prefix, "/"):
		return fmt.Errorf("tier: s3: prefix %q starts with /", o.Prefix)
	}
	return nil
}

// S3 is an ObjectStore in an S3 bucket (or an S3-compatible server) under
// a key prefix. Each object carries its CRC32C in x-amz-meta-crc32c; objects
// above PartSize go up as multipart uploads, aborted on failure. The SDK's
// own retries are off: wrap the store in WithRetry.
type S3 struct {
	client *s3.Client
	opts   S3Options
}

var _ ObjectStore = (*S3)(nil)

// NewS3 builds the client. It does not contact the server.
func NewS3(ctx context.Context, opts S3Options) (*S3, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	var hc aws.HTTPClient = opts.HTTPClient
	if opts.HTTPClient == nil {
		hc = awshttp.NewBuildableClient().WithTimeout(0).WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = opts.HTTPTimeout
			t.TLSHandshakeTimeout = opts.HTTPTimeout
			t.MaxIdleConnsPerHost = 4 * opts.Concurrency
		}).WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = opts.HTTPTimeout
		})
	}
	lo := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if opts.Region != "" {
		lo = append(lo, config.WithRegion(opts.Region))
	}
	if opts.AccessKey != "" {
		lo = append(lo, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("tier: s3: load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
		// Integrity is end to end through x-amz-meta-crc32c; the SDK's
		// flexible checksums are used only where an operation needs them.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &S3{client: client, opts: opts}, nil
}

// Client returns the underlying SDK client (benchmarks, tools).
func (s *S3) Client() *s3.Client { return s.client }

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.opts.Bucket }

// ObjectKey returns the S3 key that holds key: the prefix plus key.
func (s *S3) ObjectKey(key string) string { return s.opts.Prefix + key }

// Put implements ObjectStore. Bodies up to PartSize go up in one PutObject;
// larger ones as a multipart upload. A multipart body that is not an
// io.ReadSeeker is spooled to a temporary file first, because the CRC32C
// must be known when the upload is created.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if size >= 0 && size <= s.opts.PartSize {
		buf, err := readAllSized(r, size)
		if err != nil {
			return fmt.Errorf("tier: s3 put %q: %w", key, err)
		}
		return s.putSingle(ctx, key, buf)
	}
	if rs, ok := r.(io.ReadSeeker); ok && size >= 0 {
		return s.putMultipart(ctx, key, rs, size)
	}
	// Unknown size or not seekable: read up to one part into memory.
	head := make([]byte, s.opts.PartSize+1)
	n, err := io.ReadFull(r, head)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		if size >= 0 && int64(n) != size {
			return fmt.Errorf("tier: s3 put %q: body has %d bytes, size says %d", key, n, size)
		}
		return s.putSingle(ctx, key, head[:n])
	}
	if err != nil {
		return fmt.Errorf("tier: s3 put %q: %w", key, err)
	}
	spool, err := os.CreateTemp("", "strata-s3-put-*")
	if err != nil {
		return fmt.Errorf("tier: s3 put %q: spool: %w", key, err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	total, err := io.Copy(spool, io.MultiReader(bytes.NewReader(head), ctxReader{ctx, r}))
	if err != nil {
		return fmt.Errorf("tier: s3 put %q: spool: %w", key, err)
	}
	if size >= 0 && total != size {
		return fmt.Errorf("tier: s3 put %q: body has %d bytes, size says %d", key, total, size)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("tier: s3 put %q: spool: %w", key, err)
	}
	return s.putMultipart(ctx, key, spool, total)
}

func crcMeta(crc uint32) map[string]string {
	return map[string]string{crcMetaKey: fmt.Sprintf("%08x", crc)}
}

func (s *S3) putSingle(ctx context.Context, key string, buf []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.opts.Bucket,
		Key:           aws.String(s.ObjectKey(key)),
		Body:          bytes.NewReader(buf),
		ContentLength: aws.Int64(int64(len(buf))),
		Metadata:      crcMeta(CRC32C(buf)),
	})
	if err != nil {
		return s.mapErr("put", key, err)
	}
	return nil
}

// putMultipart uploads size bytes from rs (positioned at the body's start)
// in parts, Concurrency at a time. It reads the body twice: once for the
// CRC32C that goes into the object's metadata, once to upload, and it
// aborts the upload if the second pass sees different bytes.
func (s *S3) putMultipart(ctx context.Context, key string, rs io.ReadSeeker, size int64) (err error) {
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("tier: s3 put %q: %w", key, err)
	}
	h := newCRC32C()
	if n, err := io.Copy(h, io.LimitReader(ctxReader{ctx, rs}, size)); err != nil || n != size {
		return fmt.Errorf("tier: s3 put %q: body has %d of %d bytes: %v", key, n, size, err)
	}
	crc := h.Sum32()
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("tier: s3 put %q: %w", key, err)
	}
	partSize := s.opts.PartSize
	for (size+partSize-1)/partSize > maxParts {
		partSize *= 2
	}
	okey := s.ObjectKey(key)
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:   &s.opts.Bucket,
		Key:      &okey,
		Metadata: crcMeta(crc),
	})
	if err != nil {
		return s.mapErr("put", key, err)
	}
	uploadID := created.UploadId
	defer func() {
		if err != nil {
			// Abort with a fresh context: ctx may be the reason we failed.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.HTTPTimeout)
			defer cancel()
			s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
				Bucket: &s.opts.Bucket, Key: &okey, UploadId: uploadID,
			})
		}
	}()

	nparts := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, nparts)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	h2 := newCRC32C()
	for i := range nparts {
		// Parts are read in order on this goroutine (the reader is not
		// safe for concurrent use) and uploaded concurrently; SetLimit
		// bounds the buffers in flight to Concurrency.
		n := min(partSize, size-int64(i)*partSize)
		buf := make([]byte, n)
		if _, err := io.ReadFull(ctxReader{gctx, rs}, buf); err != nil {
			g.Wait()
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return fmt.Errorf("tier: s3 put %q: part %d: %w", key, i+1, err)
		}
		h2.Write(buf)
		num := int32(i + 1)
		g.Go(func() error {
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket:        &s.opts.Bucket,
				Key:           &okey,
				UploadId:      uploadID,
				PartNumber:    &num,
				Body:          bytes.NewReader(buf),
				ContentLength: aws.Int64(n),
			})
			if err != nil {
				return s.mapErr("put", key, err)
			}
			parts[num-1] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if h2.Sum32() != crc {
		return fmt.Errorf("tier: s3 put %q: body changed during upload (crc32c %08x then %08x)", key, crc, h2.Sum32())
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &s.opts.Bucket,
		Key:             &okey,
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return s.mapErr("put", key, err)
	}
	return nil
}

// Get implements ObjectStore with a ranged GetObject ("bytes=off-end");
// whole-object reads verify the CRC32C from the object's metadata (objects
// written without it are not verified). A length of 0 costs a HeadObject.
func (s *S3) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if off < 0 || length < -1 {
		return nil, fmt.Errorf("%w: %q: invalid range off=%d length=%d", ErrRange, key, off, length)
	}
	if length == 0 {
		info, err := s.Head(ctx, key)
		if err != nil {
			return nil, err
		}
		if _, err := checkRange(key, off, length, info.Size); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	in := &s3.GetObjectInput{Bucket: &s.opts.Bucket, Key: aws.String(s.ObjectKey(key))}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		err = s.mapErr("get", key, err)
		if off == 0 && errors.Is(err, ErrRange) {
			// S3 refuses any range of an empty object; off 0 is valid.
			if info, herr := s.Head(ctx, key); herr == nil && info.Size == 0 {
				return newVerifyReader(io.NopCloser(bytes.NewReader(nil)), key, 0, 0), nil
			}
		}
		return nil, err
	}
	body := &s3Body{rc: out.Body, s: s, key: key}
	size := objectSize(out)
	if size >= 0 && wholeObject(off, length, size) {
		if crc, ok := parseCRCMeta(out.Metadata); ok {
			return newVerifyReader(body, key, crc, size), nil
		}
	}
	return body, nil
}

// objectSize returns the whole object's size from a GetObject response:
// Content-Range's total for a ranged read, else Content-Length; -1 if
// unknown.
func objectSize(out *s3.GetObjectOutput) int64 {
	if out.ContentRange != nil {
		cr := *out.ContentRange
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				return n
			}
		}
		return -1
	}
	if out.ContentLength != nil {
		return *out.ContentLength
	}
	return -1
}

func parseCRCMeta(md map[string]string) (uint32, bool) {
	for k, v := range md {
		if strings.EqualFold(k, crcMetaKey) {
			n, err := strconv.ParseUint(v, 16, 32)
			return uint32(n), err == nil
		}
	}
	return 0, false
}

// s3Body maps errors while reading a response body (a cut connection is
// ErrUnavailable).
type s3Body struct {
	rc  io.ReadCloser
	s   *S3
	key string
}

func (b *s3Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = b.s.mapErr("get", b.key, err)
	}
	return n, err
}

func (b *s3Body) Close() error { return b.rc.Close() }

// Head implements ObjectStore.
func (s *S3) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opts.Bucket, Key: aws.String(s.ObjectKey(key))})
	if err != nil {
		return ObjectInfo{}, s.mapErr("head", key, err)
	}
	return ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		LastModified: aws.ToTime(out.LastModified),
		ETag:         aws.ToString(out.ETag),
	}, nil
}

// List implements ObjectStore with ListObjectsV2, page by page.
func (s *S3) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.opts.Bucket,
		Prefix: aws.String(s.ObjectKey(prefix)),
	})
	out := make([]ObjectInfo, 0)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.mapErr("list", prefix, err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), s.opts.Prefix)
			out = append(out, ObjectInfo{
				Key:          k,
				Size:         aws.ToInt64(o.Size),
				LastModified: aws.ToTime(o.LastModified),
				ETag:         aws.ToString(o.ETag),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements ObjectStore.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.opts.Bucket, Key: aws.String(s.ObjectKey(key))})
	if err != nil {
		err = s.mapErr("delete", key, err)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// mapErr wraps an SDK error in the tier's sentinels, keeping the original:
// NoSuchKey/404 -> ErrNotFound, 416/InvalidRange -> ErrRange, throttling,
// 5xx, timeouts and connection failures -> ErrUnavailable. The caller's
// own cancellation stays as it is.
func (s *S3) mapErr(op, key string, err error) error {
	return fmt.Errorf("tier: s3 %s %q: %w", op, key, classifyS3(err))
}

func classifyS3(err error) error {
	var status int
	var hs interface{ HTTPStatusCode() int }
	if errors.As(err, &hs) {
		status = hs.HTTPStatusCode()
	}
	var code string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case code == "NoSuchKey" || code == "NotFound" || (status == http.StatusNotFound && code != "NoSuchBucket" && code != "NoSuchUpload"):
		return wrap2(ErrNotFound, err)
	case code == "InvalidRange" || status == http.StatusRequestedRangeNotSatisfiable:
		return wrap2(ErrRange, err)
	case status == http.StatusTooManyRequests || status >= 500 || retryableCode(code):
		return wrap2(ErrUnavailable, err)
	}
	if status != 0 {
		return err // a definite answer from the server: not retryable
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if transient(err) {
		return wrap2(ErrUnavailable, err)
	}
	return err
}

func retryableCode(code string) bool {
	switch code {
	case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeoutException",
		"InternalError", "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequests", "BadDigest":
		return true
	}
	return false
}

// transient reports connection-level failures: refused, reset, cut,
// timed out.
func transient(err error) bool {
	var sendErr *smithyhttp.RequestSendError
	var ne net.Error
	switch {
	case errors.As(err, &sendErr),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed),
		errors.As(err, &ne):
		return true
	}
	return false
}

// wrap2 returns an error that is both sentinel and orig for errors.Is/As.
func wrap2(sentinel, orig error) error {
	return fmt.Errorf("%w: %w", sentinel, orig)
}
