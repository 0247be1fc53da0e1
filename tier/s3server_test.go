package tier

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// The S3 tests run against a real S3-compatible server: the one `make test`
// started (STRATA_TEST_S3_ENDPOINT, _ACCESS, _SECRET, _BUCKET), or else a
// versitygw this package starts from bin/tools (installed by
// `make test-deps`). A missing binary fails the tests; it never skips them.

const (
	versitygwVersion = "v1.8.0"
	installHint      = "install it with `make test-deps` (GOBIN=$(pwd)/bin/tools go install github.com/versity/versitygw/cmd/versitygw@" + versitygwVersion + ")"
)

type s3Env struct {
	Endpoint, Access, Secret, Bucket string
}

var s3srv struct {
	once sync.Once
	env  s3Env
	err  error
	cmd  *exec.Cmd
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopS3Server()
	os.Exit(code)
}

// testS3Env returns the S3 server for tests, starting one if needed, with
// its bucket created.
func testS3Env(t testing.TB) s3Env {
	t.Helper()
	s3srv.once.Do(func() { s3srv.env, s3srv.err = startS3Server() })
	if s3srv.err != nil {
		t.Fatalf("S3 test server: %v", s3srv.err)
	}
	return s3srv.env
}

func startS3Server() (s3Env, error) {
	env := s3Env{
		Endpoint: os.Getenv("STRATA_TEST_S3_ENDPOINT"),
		Access:   os.Getenv("STRATA_TEST_S3_ACCESS"),
		Secret:   os.Getenv("STRATA_TEST_S3_SECRET"),
		Bucket:   os.Getenv("STRATA_TEST_S3_BUCKET"),
	}
	if env.Bucket == "" {
		env.Bucket = "strata-test"
	}
	if env.Endpoint == "" {
		root, err := moduleRoot()
		if err != nil {
			return env, err
		}
		bin := filepath.Join(root, "bin", "tools", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			return env, fmt.Errorf("versitygw not found at %s: %s", bin, installHint)
		}
		dir, err := os.MkdirTemp("", "strata-versitygw-*")
		if err != nil {
			return env, err
		}
		s3srv.dir = dir
		env.Access, env.Secret = "strataaccess", "stratasecret"
		var lastErr error
		for range 5 {
			addr, err := freeLoopbackAddr()
			if err != nil {
				return env, err
			}
			cmd := exec.Command(bin, "--port", addr, "posix", dir)
			cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+env.Access, "ROOT_SECRET_KEY="+env.Secret)
			logf, err := os.Create(filepath.Join(os.TempDir(), filepath.Base(dir)+".log"))
			if err != nil {
				return env, err
			}
			cmd.Stdout, cmd.Stderr = logf, logf
			if err := cmd.Start(); err != nil {
				logf.Close()
				return env, fmt.Errorf("start %s: %w", bin, err)
			}
			logf.Close()
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			if lastErr = waitListening(addr, exited); lastErr == nil {
				s3srv.cmd = cmd
				env.Endpoint = "http://" + addr
				break
			}
			cmd.Process.Kill()
			<-exited
		}
		if env.Endpoint == "" {
			return env, fmt.Errorf("versitygw did not start: %w", lastErr)
		}
	}
	if env.Access == "" || env.Secret == "" {
		return env, errors.New("STRATA_TEST_S3_ENDPOINT set without STRATA_TEST_S3_ACCESS/SECRET")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := NewS3(ctx, S3Options{Bucket: env.Bucket, Endpoint: env.Endpoint, PathStyle: true, Region: "us-east-1", AccessKey: env.Access, SecretKey: env.Secret})
	if err != nil {
		return env, err
	}
	_, err = st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(env.Bucket)})
	var ae smithy.APIError
	if err != nil && !(errors.As(err, &ae) && (ae.ErrorCode() == "BucketAlreadyOwnedByYou" || ae.ErrorCode() == "BucketAlreadyExists")) {
		return env, fmt.Errorf("create bucket %s at %s: %w", env.Bucket, env.Endpoint, err)
	}
	return env, nil
}

func stopS3Server() {
	if s3srv.cmd != nil {
		s3srv.cmd.Process.Kill()
		s3srv.cmd = nil
	}
	if s3srv.dir != "" {
		os.RemoveAll(s3srv.dir)
		os.Remove(filepath.Join(os.TempDir(), filepath.Base(s3srv.dir)+".log"))
	}
}

func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("versitygw on %s exited", addr)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("versitygw on %s: not listening after 10s", addr)
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// newTestS3 returns an S3 store on the test server under a fresh prefix.
func newTestS3(t testing.TB, mod func(*S3Options)) *S3 {
	t.Helper()
	env := testS3Env(t)
	var rnd [6]byte
	rand.Read(rnd[:])
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	opts := S3Options{
		Bucket: env.Bucket, Prefix: "t/" + name + "-" + hex.EncodeToString(rnd[:]),
		Endpoint: env.Endpoint, PathStyle: true, Region: "us-east-1",
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
