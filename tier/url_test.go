package tier

import (
	"context"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Location
		ok   bool
	}{
		{"s3://bucket/prefix", Location{Scheme: "s3", Bucket: "bucket", Prefix: "prefix/"}, true},
		{"s3://bucket/a/b/", Location{Scheme: "s3", Bucket: "bucket", Prefix: "a/b/"}, true},
		{"s3://bucket", Location{Scheme: "s3", Bucket: "bucket"}, true},
		{"s3://bucket/", Location{Scheme: "s3", Bucket: "bucket"}, true},
		{"file:///var/lib/strata/objects", Location{Scheme: "file", Dir: "/var/lib/strata/objects"}, true},
		{"file://rel/dir", Location{Scheme: "file", Dir: "rel/dir"}, true},
		{"/plain/dir", Location{Scheme: "file", Dir: "/plain/dir"}, true},
		{"mem://", Location{Scheme: "mem"}, true},
		{"", Location{}, false},
		{"s3://", Location{}, false},
		{"s3://b/a//c", Location{}, false},
		{"s3://b/p?x=1", Location{}, false},
		{"s3://user@b/p", Location{}, false},
		{"file://", Location{}, false},
		{"mem://x", Location{}, false},
		{"gs://bucket", Location{}, false},
	} {
		got, err := ParseURL(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v ok=%v", c.in, got, err, c.want, c.ok)
			continue
		}
		if c.ok {
			again, err := ParseURL(got.String())
			if err != nil || again != got {
				t.Errorf("round trip of %q via %q: %+v %v", c.in, got.String(), again, err)
			}
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, c := range []struct {
		url  string
		want string
	}{
		{"mem://", "*tier.Memory"},
		{"file://" + dir, "*tier.LocalDir"},
		{"s3://bucket/p", "*tier.S3"},
	} {
		loc, err := ParseURL(c.url)
		if err != nil {
			t.Fatal(err)
		}
		st, err := Open(ctx, loc, S3Options{Region: "us-east-1", AccessKey: "a", SecretKey: "s", Endpoint: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if got := typeName(st); got != c.want {
			t.Errorf("%s: %s, want %s", c.url, got, c.want)
		}
	}
}
