package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// userCLI holds the flags shared by every `strata user` subcommand.
type userCLI struct {
	server  string
	output  string
	timeout time.Duration
}

func newUserCommand() *cobra.Command {
	uc := &userCLI{}
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Add, list and remove the users Kafka (SASL) and MQTT clients log in as",
		Long: `Manage users through a running server's admin API (/api/v1/users).

A user has a SCRAM-SHA-256 and/or SCRAM-SHA-512 credential (a random salt
and PBKDF2-derived keys, in meta's security shard); the password itself is
never stored, printed or logged. Kafka clients log in with SASL PLAIN or
SCRAM; the principal in ACLs is User:<name>.`,
	}
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = defaultServer
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&uc.server, "server", server, "admin API base URL (env STRATA_SERVER)")
	pf.StringVarP(&uc.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&uc.timeout, "timeout", 30*time.Second, "request timeout")
	cmd.AddCommand(uc.addCommand(), uc.listCommand(), uc.removeCommand())
	return cmd
}

func (uc *userCLI) client() (*apiClient, error) {
	if uc.output != "table" && uc.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", uc.output)
	}
	return newAPIClient(uc.server, uc.timeout)
}

// readPassword returns the password: from --password, from stdin's first
// line with --password-stdin, or asked for twice on a terminal.
func readPassword(cmd *cobra.Command, flag string, fromStdin bool) (string, error) {
	switch {
	case flag != "" && fromStdin:
		return "", errors.New("give --password or --password-stdin, not both")
	case flag != "":
		return flag, nil
	case fromStdin:
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("--password-stdin: stdin has no password")
		}
		return pw, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errors.New("no password: give --password-stdin (or --password), or run on a terminal to be asked")
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
	a, err := term.ReadPassword(fd)
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", err
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Again: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", err
	}
	if string(a) != string(b) {
		return "", errors.New("the passwords differ")
	}
	if len(a) == 0 {
		return "", errors.New("empty password")
	}
	return string(a), nil
}

func (uc *userCLI) addCommand() *cobra.Command {
	var password string
	var fromStdin bool
	var mechanisms []string
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user, or set a user's password (both SCRAM mechanisms unless --mechanism)",
		Example: "  echo \"$PW\" | strata user add alice --password-stdin\n" +
			"  strata user add bob --mechanism SCRAM-SHA-512        # asks for the password",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := uc.client()
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, password, fromStdin)
			if err != nil {
				return err
			}
			var out putUserJSON
			req := putUserRequest{Name: args[0], Password: pw, Mechanisms: mechanisms}
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/users", req, &out); err != nil {
				return err
			}
			if uc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), out)
			}
			verb := "updated"
			if out.Created {
				verb = "added"
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s user %s (%s)\n", verb, out.Name, strings.Join(out.Mechanisms, ", "))
			return err
		},
	}
	cmd.Flags().StringVar(&password, "password", "", "the password (visible to other local users in the process list: prefer --password-stdin)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from stdin's first line")
	cmd.Flags().StringArrayVar(&mechanisms, "mechanism", nil, "SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; default both)")
	return cmd
}

func (uc *userCLI) listCommand() *cobra.Command {
	return listCommand("List users and their SCRAM mechanisms", uc.client, &uc.output,
		"/api/v1/users", "USER\tMECHANISMS", func(w io.Writer, out userListJSON) {
			for _, u := range out.Users {
				var ms []string
				for _, m := range u.Mechanisms {
					ms = append(ms, fmt.Sprintf("%s (%d iterations)", m.Mechanism, m.Iterations))
				}
				fmt.Fprintf(w, "%s\t%s\n", u.Name, strings.Join(ms, ", "))
			}
		})
}

func (uc *userCLI) removeCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"delete"},
		Short:   "Remove a user (its ACLs stay; remove them with strata acl remove)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := uc.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, "/api/v1/users/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if uc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), map[string]string{"removed": args[0]})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed user %s\n", args[0])
			return err
		},
	}
}
