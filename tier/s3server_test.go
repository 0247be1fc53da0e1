package tier

import (
	"context"
	"os"
	"testing"
	"time"

	"strata/internal/s3test"
)

// The S3 tests run against a real S3-compatible server from
// internal/s3test: the one `make test` started, or a versitygw it starts
// from bin/tools. A missing binary fails the tests; it never skips them.

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.Stop()
	os.Exit(code)
}

// testS3Env returns the S3 server for tests, with its bucket created.
func testS3Env(t testing.TB) s3test.Env {
	t.Helper()
	return s3test.Start(t)
}

// newTestS3 returns an S3 store on the test server under a fresh prefix.
func newTestS3(t testing.TB, mod func(*S3Options)) *S3 {
	t.Helper()
	env := testS3Env(t)
	opts := S3Options{
		Bucket: env.Bucket, Prefix: s3test.Prefix(t),
		Endpoint: env.Endpoint, PathStyle: true, Region: s3test.Region,
		AccessKey: env.Access, SecretKey: env.Secret,
		PartSize: MinPartSize, HTTPTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&opts)
	}
	st, err := NewS3(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
