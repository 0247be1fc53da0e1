package main

import (
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// listCommand builds a `list` subcommand over the admin API: GET path into
// a T, printed as indented JSON with `-o json`, else as a table with the
// tab-separated header and the lines rows writes (tab-separated too).
// client checks -o and connects; output is the command group's -o value.
func listCommand[T any](short string, client func() (*apiClient, error), output *string, path, header string, rows func(w io.Writer, v T)) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var out T
			if err := c.do(cmd.Context(), http.MethodGet, path, nil, &out); err != nil {
				return err
			}
			if *output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, header)
			rows(tw, out)
			return tw.Flush()
		},
	}
}
