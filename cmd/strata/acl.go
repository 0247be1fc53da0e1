package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"strata/meta"
)

// aclCLI holds the flags shared by every `strata acl` subcommand.
type aclCLI struct {
	server  string
	output  string
	timeout time.Duration
}

func newACLCommand() *cobra.Command {
	ac := &aclCLI{}
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Add, list and remove ACLs (who may do what to topics, groups, the cluster, ...)",
		Long: `Manage ACL bindings through a running server's admin API (/api/v1/acls),
with Kafka's model: a principal (User:alice, User:* for everyone) is allowed or
denied an operation on a resource from a host (* for any).

Resources: --topic, --group, --transactional-id (repeatable), --cluster, or
--resource-type/--resource-name for any type (mqtt_topic included). Pattern
types: literal (the exact name, or * for all), prefixed (names starting with
it); list and remove also take match (every binding that applies to the name)
and any.

Operations: all, read, write, create, delete, alter, describe, cluster_action,
describe_configs, alter_configs, idempotent_write (mqtt_topic: publish,
subscribe, retain, all).

While no Kafka ACL exists the Kafka listener allows every authenticated (or
permitted anonymous) client everything; the first ACL turns enforcement on,
after which a resource that no ACL names is denied to all but the super users
(kafka-super-users), unless kafka-allow-everyone-if-no-acl-found is set.`,
	}
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = defaultServer
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&ac.server, "server", server, "admin API base URL (env STRATA_SERVER)")
	pf.StringVarP(&ac.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&ac.timeout, "timeout", 30*time.Second, "request timeout")
	cmd.AddCommand(ac.addCommand(), ac.listCommand(), ac.removeCommand())
	return cmd
}

func (ac *aclCLI) client() (*apiClient, error) {
	if ac.output != "table" && ac.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", ac.output)
	}
	return newAPIClient(ac.server, ac.timeout)
}

// aclResourceFlags are the resource selectors every subcommand takes.
type aclResourceFlags struct {
	topics, groups, txnIDs []string
	cluster                bool
	resType, resName       string
	pattern                string
}

func (f *aclResourceFlags) add(cmd *cobra.Command, defaultPattern string) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.topics, "topic", nil, "topic name or prefix (repeatable)")
	fl.StringArrayVar(&f.groups, "group", nil, "consumer group name or prefix (repeatable)")
	fl.StringArrayVar(&f.txnIDs, "transactional-id", nil, "transactional id or prefix (repeatable)")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	fl.StringVar(&f.resType, "resource-type", "", "any resource type (topic, group, cluster, transactional_id, user, delegation_token, mqtt_topic)")
	fl.StringVar(&f.resName, "resource-name", "", "the name for --resource-type")
	fl.StringVar(&f.pattern, "resource-pattern-type", defaultPattern, "literal, prefixed (add); also match, any (list, remove)")
}

// resources returns (type, name) pairs; none given means any resource.
func (f *aclResourceFlags) resources() ([][2]string, error) {
	var out [][2]string
	for _, t := range f.topics {
		out = append(out, [2]string{meta.ResourceTopic, t})
	}
	for _, g := range f.groups {
		out = append(out, [2]string{meta.ResourceGroup, g})
	}
	for _, x := range f.txnIDs {
		out = append(out, [2]string{meta.ResourceTransactionalID, x})
	}
	if f.cluster {
		out = append(out, [2]string{meta.ResourceCluster, "kafka-cluster"})
	}
	switch {
	case f.resType != "":
		out = append(out, [2]string{strings.ToLower(f.resType), f.resName})
	case f.resName != "":
		return nil, errors.New("--resource-name needs --resource-type")
	}
	return out, nil
}

func normOp(op string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(op)), "-", "_")
}

func (ac *aclCLI) addCommand() *cobra.Command {
	var res aclResourceFlags
	var allow, deny, ops, hosts []string
	cmd := &cobra.Command{
		Use:   "add --allow-principal|--deny-principal P --operation OP RESOURCE...",
		Short: "Add ACL bindings (every principal x resource x operation given)",
		Example: "  strata acl add --allow-principal User:alice --operation read --operation write --topic orders\n" +
			"  strata acl add --allow-principal User:etl --operation all --topic etl- --resource-pattern-type prefixed\n" +
			"  strata acl add --allow-principal User:alice --operation read --group billing",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resources, err := res.resources()
			if err != nil {
				return err
			}
			switch {
			case len(resources) == 0:
				return errors.New("name a resource: --topic, --group, --transactional-id, --cluster or --resource-type/--resource-name")
			case len(allow)+len(deny) == 0:
				return errors.New("name a principal: --allow-principal or --deny-principal (User:name, User:* for everyone)")
			case len(ops) == 0:
				return errors.New("name an operation: --operation (read, write, describe, all, ...)")
			}
			if len(hosts) == 0 {
				hosts = []string{"*"}
			}
			var req aclListJSON
			for _, perm := range []struct {
				name       string
				principals []string
			}{{meta.PermissionAllow, allow}, {meta.PermissionDeny, deny}} {
				for _, p := range perm.principals {
					for _, r := range resources {
						for _, op := range ops {
							for _, h := range hosts {
								req.ACLs = append(req.ACLs, meta.ACLBinding{ResourceType: r[0], ResourceName: r[1], PatternType: strings.ToLower(res.pattern),
									Principal: p, Host: h, Operation: normOp(op), Permission: perm.name})
							}
						}
					}
				}
			}
			c, err := ac.client()
			if err != nil {
				return err
			}
			var out aclCreatedJSON
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/acls", req, &out); err != nil {
				return err
			}
			if ac.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), out)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "added %d ACLs (%d given; identical ones are kept once)\n", out.Created, len(req.ACLs))
			return err
		},
	}
	res.add(cmd, meta.PatternLiteral)
	cmd.Flags().StringArrayVar(&allow, "allow-principal", nil, "principal to allow (repeatable)")
	cmd.Flags().StringArrayVar(&deny, "deny-principal", nil, "principal to deny (repeatable)")
	cmd.Flags().StringArrayVar(&ops, "operation", nil, "operation (repeatable)")
	cmd.Flags().StringArrayVar(&hosts, "host", nil, "client host (IP) the binding applies to (repeatable; default *)")
	return cmd
}

// filterQueries builds one query string per resource (one for any).
func filterQueries(res *aclResourceFlags, principal, host, op, perm string) ([]url.Values, error) {
	resources, err := res.resources()
	if err != nil {
		return nil, err
	}
	base := url.Values{}
	set := func(k, v string) {
		if v != "" {
			base.Set(k, v)
		}
	}
	set("pattern_type", strings.ToLower(res.pattern))
	set("principal", principal)
	set("host", host)
	set("operation", normOp(op))
	set("permission", strings.ToLower(perm))
	if len(resources) == 0 {
		return []url.Values{base}, nil
	}
	var out []url.Values
	for _, r := range resources {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		q.Set("resource_type", r[0])
		if r[1] != "" {
			q.Set("resource_name", r[1])
		}
		out = append(out, q)
	}
	return out, nil
}

func printACLs(cmd *cobra.Command, acls []meta.ACLBinding) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tPERMISSION\tOPERATION\tRESOURCE\tNAME\tPATTERN\tHOST")
	for _, a := range acls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Principal, a.Permission, a.Operation, a.ResourceType, a.ResourceName, a.PatternType, a.Host)
	}
	return tw.Flush()
}

func (ac *aclCLI) listCommand() *cobra.Command {
	var res aclResourceFlags
	var principal, host, op, perm string
	cmd := &cobra.Command{
		Use:     "list [FILTER]",
		Short:   "List ACL bindings (all, or those a filter selects)",
		Example: "  strata acl list\n  strata acl list --topic orders --resource-pattern-type match   # what applies to orders",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			qs, err := filterQueries(&res, principal, host, op, perm)
			if err != nil {
				return err
			}
			c, err := ac.client()
			if err != nil {
				return err
			}
			all := aclListJSON{ACLs: []meta.ACLBinding{}}
			for _, q := range qs {
				var out aclListJSON
				if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/acls?"+q.Encode(), nil, &out); err != nil {
					return err
				}
				all.ACLs = append(all.ACLs, out.ACLs...)
			}
			if ac.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), all)
			}
			return printACLs(cmd, all.ACLs)
		},
	}
	res.add(cmd, "")
	cmd.Flags().StringVar(&principal, "principal", "", "only this principal's bindings")
	cmd.Flags().StringVar(&host, "host", "", "only bindings for this host")
	cmd.Flags().StringVar(&op, "operation", "", "only this operation")
	cmd.Flags().StringVar(&perm, "permission", "", "allow or deny")
	return cmd
}

func (ac *aclCLI) removeCommand() *cobra.Command {
	var res aclResourceFlags
	var principal, host, op, perm string
	var all bool
	cmd := &cobra.Command{
		Use:     "remove FILTER",
		Aliases: []string{"delete"},
		Short:   "Remove the ACL bindings a filter selects (--all for every one)",
		Example: "  strata acl remove --principal User:bob --topic orders\n  strata acl remove --all",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			qs, err := filterQueries(&res, principal, host, op, perm)
			if err != nil {
				return err
			}
			if len(qs) == 1 && len(qs[0]) == 0 {
				if !all {
					return errors.New("no filter: name what to remove (--principal, --topic, ...), or --all to remove every ACL")
				}
				qs[0].Set("all", "true")
			}
			c, err := ac.client()
			if err != nil {
				return err
			}
			removed := aclDeletedJSON{Deleted: []meta.ACLBinding{}}
			for _, q := range qs {
				var out aclDeletedJSON
				if err := c.do(cmd.Context(), http.MethodDelete, "/api/v1/acls?"+q.Encode(), nil, &out); err != nil {
					return err
				}
				removed.Deleted = append(removed.Deleted, out.Deleted...)
			}
			if ac.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), removed)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d ACLs\n", len(removed.Deleted))
			if len(removed.Deleted) == 0 {
				return nil
			}
			return printACLs(cmd, removed.Deleted)
		},
	}
	res.add(cmd, "")
	cmd.Flags().StringVar(&principal, "principal", "", "only this principal's bindings")
	cmd.Flags().StringVar(&host, "host", "", "only bindings for this host")
	cmd.Flags().StringVar(&op, "operation", "", "only this operation")
	cmd.Flags().StringVar(&perm, "permission", "", "allow or deny")
	cmd.Flags().BoolVar(&all, "all", false, "with no filter: remove every ACL")
	return cmd
}
