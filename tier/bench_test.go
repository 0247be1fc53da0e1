package tier

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkObjectGet reads 4 MiB ranges of one 64 MiB object from LocalDir,
// from S3 on the test server (versitygw), and from the same S3 object with
// a bare aws-sdk-go-v2 GetObject, in one run:
//
//	go test ./tier -run '^$' -bench ObjectGet -benchtime 2s
func BenchmarkObjectGet(b *testing.B) {
	const (
		objSize = 64 << 20
		block   = 4 << 20
	)
	ctx := context.Background()
	data := randBytes(42, objSize)
	local, err := NewLocalDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s3st := newTestS3(b, func(o *S3Options) { o.PartSize = DefaultPartSize })
	for _, st := range []ObjectStore{local, s3st} {
		if err := st.Put(ctx, "bench/obj", bytes.NewReader(data), objSize); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, block)
	readRange := func(b *testing.B, get func(off int64) (io.ReadCloser, error)) {
		b.SetBytes(block)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			off := int64(i%(objSize/block)) * block
			rc, err := get(off)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(rc, buf); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	}
	b.Run("LocalDir", func(b *testing.B) {
		readRange(b, func(off int64) (io.ReadCloser, error) { return local.Get(ctx, "bench/obj", off, block) })
	})
	b.Run("S3-versitygw", func(b *testing.B) {
		readRange(b, func(off int64) (io.ReadCloser, error) { return s3st.Get(ctx, "bench/obj", off, block) })
	})
	b.Run("S3-versitygw-retry", func(b *testing.B) {
		r := WithRetry(s3st, RetryOptions{})
		readRange(b, func(off int64) (io.ReadCloser, error) { return r.Get(ctx, "bench/obj", off, block) })
	})
	b.Run("raw-sdk-versitygw", func(b *testing.B) {
		c := s3st.Client()
		key := s3st.ObjectKey("bench/obj")
		readRange(b, func(off int64) (io.ReadCloser, error) {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{
				Bucket: aws.String(s3st.Bucket()), Key: aws.String(key),
				Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+block-1)),
			})
			if err != nil {
				return nil, err
			}
			return out.Body, nil
		})
	})
}
