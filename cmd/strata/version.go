package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at link time:
//
//	go build -ldflags "-X main.version=v0.1.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/strata
var (
	version = "dev"
	commit  = ""
)

// buildInfo returns the version, the commit (from -ldflags, else from the
// VCS stamp Go embeds when building inside a repository) and the Go version.
func buildInfo() (ver, rev, goVersion string) {
	rev = commit
	if rev == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					rev = s.Value
				}
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	return version, rev, runtime.Version()
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, rev, gv := buildInfo()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "strata %s\ncommit %s\n%s %s/%s\n", v, rev, gv, runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
