package tier

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Location is a parsed --tier URL.
type Location struct {
	// Scheme is "s3", "file" or "mem".
	Scheme string
	// Bucket and Prefix for s3.
	Bucket, Prefix string
	// Dir for file.
	Dir string
}

// ParseURL parses a tier location: "s3://bucket/prefix" (prefix
// optional), "file:///abs/dir" (or "file://rel/dir"; a bare path is taken
// as a directory too) or "mem://".
func ParseURL(raw string) (Location, error) {
	if raw == "" {
		return Location{}, fmt.Errorf("tier: empty location")
	}
	if !strings.Contains(raw, "://") {
		return Location{Scheme: "file", Dir: filepath.Clean(raw)}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("tier: location %q: %w", raw, err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Location{}, fmt.Errorf("tier: location %q: no user, query or fragment allowed", raw)
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" {
			return Location{}, fmt.Errorf("tier: location %q: no bucket", raw)
		}
		prefix := strings.TrimPrefix(u.Path, "/")
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		if strings.Contains(prefix, "//") {
			return Location{}, fmt.Errorf("tier: location %q: empty prefix component", raw)
		}
		return Location{Scheme: "s3", Bucket: u.Host, Prefix: prefix}, nil
	case "file":
		dir := u.Host + u.Path
		if dir == "" {
			return Location{}, fmt.Errorf("tier: location %q: no directory", raw)
		}
		return Location{Scheme: "file", Dir: filepath.Clean(filepath.FromSlash(dir))}, nil
	case "mem":
		if u.Host != "" || (u.Path != "" && u.Path != "/") {
			return Location{}, fmt.Errorf("tier: location %q: mem:// takes no path", raw)
		}
		return Location{Scheme: "mem"}, nil
	}
	return Location{}, fmt.Errorf("tier: location %q: scheme %q (want s3, file or mem)", raw, u.Scheme)
}

// String formats the location as a URL ParseURL accepts.
func (l Location) String() string {
	switch l.Scheme {
	case "s3":
		return "s3://" + l.Bucket + "/" + l.Prefix
	case "file":
		return "file://" + filepath.ToSlash(l.Dir)
	case "mem":
		return "mem://"
	}
	return ""
}

// Open builds the store the location names. s3 takes the rest of its
// options (endpoint, region, path style, credentials, part size) from
// base; its Bucket and Prefix are replaced by the location's.
func Open(ctx context.Context, loc Location, base S3Options) (ObjectStore, error) {
	switch loc.Scheme {
	case "s3":
		base.Bucket, base.Prefix = loc.Bucket, loc.Prefix
		return NewS3(ctx, base)
	case "file":
		return NewLocalDir(loc.Dir)
	case "mem":
		return NewMemory(), nil
	}
	return nil, fmt.Errorf("tier: location scheme %q", loc.Scheme)
}
