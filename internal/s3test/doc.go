// Package s3test gives tests a real S3-compatible server: the one `make
// test` started (STRATA_TEST_S3_ENDPOINT, _ACCESS, _SECRET, _BUCKET), or
// else a versitygw this package starts from bin/tools (installed by `make
// test-deps`) on a free loopback port, with its data in a temporary
// directory. A missing binary fails the tests with the install hint; it
// never skips them.
//
// It creates the bucket with the aws-sdk-go-v2 S3 client directly, so that
// tier's own tests can use it without an import cycle.
//
// # Invariants
//
//  1. One server per test binary: the first Start starts it (or reads the
//     environment), later calls return the same Env or the same error.
//  2. Stop, called from TestMain after m.Run, kills the server this package
//     started and removes its data and log; a server `make test` started is
//     left alone.
//  3. Prefix gives each test its own key prefix, so tests (and runs) that
//     share a bucket never see each other's objects.
//
// Use:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		s3test.Stop()
//		os.Exit(code)
//	}
//
//	env := s3test.Start(t)
//	st, err := tier.NewS3(ctx, tier.S3Options{Bucket: env.Bucket, Prefix: s3test.Prefix(t),
//		Endpoint: env.Endpoint, PathStyle: true, Region: s3test.Region,
//		AccessKey: env.Access, SecretKey: env.Secret})
package s3test
