package s3test

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
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

const (
	// VersitygwVersion is the server version the tests are known to work with.
	VersitygwVersion = "v1.8.0"
	// InstallHint says how to install the server when it is missing.
	InstallHint = "install it with `make test-deps` (GOBIN=$(pwd)/bin/tools go install github.com/versity/versitygw/cmd/versitygw@" + VersitygwVersion + ")"
	// Region is the region tests sign requests for.
	Region = "us-east-1"
	// DefaultBucket is the bucket used when STRATA_TEST_S3_BUCKET is unset.
	DefaultBucket = "strata-test"
)

// Env is an S3 server for tests, with its bucket created.
type Env struct {
	// Endpoint is the server's URL, "http://127.0.0.1:PORT".
	Endpoint       string
	Access, Secret string
	Bucket         string
}

var srv struct {
	once sync.Once
	env  Env
	err  error
	cmd  *exec.Cmd
	// exited is closed when cmd's Wait returns.
	exited <-chan struct{}
	dir    string
}

// Start returns the S3 server for tests, starting one on the first call,
// and fails tb if there is none.
func Start(tb testing.TB) Env {
	tb.Helper()
	srv.once.Do(func() { srv.env, srv.err = start() })
	if srv.err != nil {
		tb.Fatalf("S3 test server: %v", srv.err)
	}
	return srv.env
}

// Stop stops the server Start started, if any, and removes its data. Call
// it from TestMain after m.Run.
func Stop() {
	if srv.cmd != nil {
		srv.cmd.Process.Kill()
		<-srv.exited
		srv.cmd = nil
	}
	if srv.dir != "" {
		os.RemoveAll(srv.dir)
		os.Remove(srv.dir + ".log")
		srv.dir = ""
	}
}

// Prefix returns a key prefix unique to tb and this run:
// "t/<test name>-<12 hex digits>".
func Prefix(tb testing.TB) string {
	var rnd [6]byte
	rand.Read(rnd[:])
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	return "t/" + name + "-" + hex.EncodeToString(rnd[:])
}

// Client returns a bare aws-sdk-go-v2 client for e, path-style, with
// static credentials and the SDK's retries off.
func (e Env) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(e.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(e.Access, e.Secret, ""),
		Retryer:      aws.NopRetryer{},
		// As tier.S3: flexible checksums only where an operation needs them.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func start() (Env, error) {
	env := Env{
		Endpoint: os.Getenv("STRATA_TEST_S3_ENDPOINT"),
		Access:   os.Getenv("STRATA_TEST_S3_ACCESS"),
		Secret:   os.Getenv("STRATA_TEST_S3_SECRET"),
		Bucket:   os.Getenv("STRATA_TEST_S3_BUCKET"),
	}
	if env.Bucket == "" {
		env.Bucket = DefaultBucket
	}
	if env.Endpoint == "" {
		var err error
		if env, err = startVersitygw(env); err != nil {
			return env, err
		}
	}
	if env.Access == "" || env.Secret == "" {
		return env, errors.New("STRATA_TEST_S3_ENDPOINT set without STRATA_TEST_S3_ACCESS/SECRET")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := env.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(env.Bucket)})
	var ae smithy.APIError
	if err != nil && !(errors.As(err, &ae) && (ae.ErrorCode() == "BucketAlreadyOwnedByYou" || ae.ErrorCode() == "BucketAlreadyExists")) {
		return env, fmt.Errorf("create bucket %s at %s: %w", env.Bucket, env.Endpoint, err)
	}
	return env, nil
}

// startVersitygw starts bin/tools/versitygw on a free loopback port, trying
// a few ports in case one is taken between choosing and listening.
func startVersitygw(env Env) (Env, error) {
	root, err := moduleRoot()
	if err != nil {
		return env, err
	}
	bin := filepath.Join(root, "bin", "tools", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		return env, fmt.Errorf("versitygw not found at %s: %s", bin, InstallHint)
	}
	dir, err := os.MkdirTemp("", "strata-versitygw-*")
	if err != nil {
		return env, err
	}
	srv.dir = dir
	env.Access, env.Secret = "strataaccess", "stratasecret"
	var lastErr error
	for range 5 {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return env, err
		}
		cmd := exec.Command(bin, "--port", addr, "posix", dir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+env.Access, "ROOT_SECRET_KEY="+env.Secret)
		logf, err := os.Create(dir + ".log")
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
			srv.cmd, srv.exited = cmd, exited
			env.Endpoint = "http://" + addr
			return env, nil
		}
		cmd.Process.Kill()
		<-exited
	}
	return env, fmt.Errorf("versitygw did not start: %w", lastErr)
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

// moduleRoot is the directory above the working directory (a test runs in
// its package's directory) that holds go.mod.
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
