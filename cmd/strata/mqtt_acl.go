package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"strata/meta"
)

// The MQTT ACL rules: `strata mqtt acl add|list|remove` and their admin
// API routes, over meta's security shard (meta.MQTTRule). The rules are
// an ordered list: the first rule that matches a request decides; when
// none does, the mqtt_topic ACL bindings may (frontends/mqtt/acl.go), and
// then mqtt-acl-no-match (allow by default). Brokers re-read
// the list every 2 seconds.
//
//	GET    /api/v1/mqtt/acls       {"rules": [rule...]} in evaluation order
//	POST   /api/v1/mqtt/acls       {permission, action, topic, username?, client_id?, ip?, position?}
//	                               -> 201 {"rule": rule, "created": true}; 200 when an equal rule exists
//	DELETE /api/v1/mqtt/acls/{id}  204, 404 unknown_rule

// codeUnknownRule is the error code of an MQTT ACL rule that does not exist.
const codeUnknownRule = "unknown_rule"

// mqttRuleListJSON is GET /api/v1/mqtt/acls.
type mqttRuleListJSON struct {
	Rules []meta.MQTTRule `json:"rules"`
}

// mqttRuleRequest is POST /api/v1/mqtt/acls: a rule (no id) and where to
// put it (1-based; 0 or absent = at the end).
type mqttRuleRequest struct {
	Permission string `json:"permission"`
	Action     string `json:"action,omitempty"`
	Topic      string `json:"topic"`
	Username   string `json:"username,omitempty"`
	ClientID   string `json:"client_id,omitempty"`
	IP         string `json:"ip,omitempty"`
	Position   int    `json:"position,omitempty"`
}

// mqttRuleAddedJSON is its response.
type mqttRuleAddedJSON struct {
	Rule    meta.MQTTRule `json:"rule"`
	Created bool          `json:"created"`
}

// mqttACLRoutes adds the MQTT ACL routes to mux.
func (a *httpAPI) mqttACLRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/mqtt/acls", a.listMQTTRules)
	mux.HandleFunc("POST /api/v1/mqtt/acls", a.addMQTTRule)
	mux.HandleFunc("DELETE /api/v1/mqtt/acls/{id}", a.removeMQTTRule)
}

func (a *httpAPI) listMQTTRules(w http.ResponseWriter, r *http.Request) {
	sec, ctx, cancel, ok := a.securityContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	rules, err := sec.ListMQTTRules(ctx)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mqttRuleListJSON{Rules: rules})
}

func (a *httpAPI) addMQTTRule(w http.ResponseWriter, r *http.Request) {
	var req mqttRuleRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Action == "" {
		req.Action = meta.MQTTActionAll
	}
	rule := meta.MQTTRule{Permission: strings.ToLower(req.Permission), Action: strings.ToLower(req.Action), Topic: req.Topic,
		Username: req.Username, ClientID: req.ClientID, IP: req.IP}
	if err := rule.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	sec, ctx, cancel, ok := a.securityContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	id, created, err := sec.AddMQTTRule(ctx, rule, req.Position)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	rule.ID = id
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		a.log.Info("MQTT ACL rule added", "id", id, "permission", rule.Permission, "action", rule.Action, "topic", rule.Topic, "position", req.Position)
	}
	writeJSON(w, status, mqttRuleAddedJSON{Rule: rule, Created: created})
}

func (a *httpAPI) removeMQTTRule(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("rule id %q: want a positive integer", r.PathValue("id")))
		return
	}
	sec, ctx, cancel, ok := a.securityContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	switch err := sec.RemoveMQTTRule(ctx, id); {
	case meta.RejectedWith(err, meta.RejectNotFound):
		writeError(w, http.StatusNotFound, codeUnknownRule, fmt.Sprintf("no MQTT ACL rule %d", id))
	case err != nil:
		a.writeStoreError(w, r, err)
	default:
		a.log.Info("MQTT ACL rule removed", "id", id)
		w.WriteHeader(http.StatusNoContent)
	}
}

// mqttCLI holds the flags shared by `strata mqtt` subcommands.
type mqttCLI struct {
	server  string
	output  string
	timeout time.Duration
}

func newMQTTCommand() *cobra.Command {
	mc := &mqttCLI{}
	cmd := &cobra.Command{
		Use:   "mqtt",
		Short: "Manage the MQTT broker's ACL rules",
	}
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = defaultServer
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&mc.server, "server", server, "admin API base URL (env STRATA_SERVER)")
	pf.StringVarP(&mc.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&mc.timeout, "timeout", 30*time.Second, "request timeout")
	acl := &cobra.Command{
		Use:   "acl",
		Short: "Add, list and remove MQTT ACL rules (who may publish, subscribe and retain where)",
		Long: `MQTT ACL rules are an ordered list, kept in meta (/api/v1/mqtt/acls). For each
publish, retain, subscribe and delivery the broker tries the rules in order;
the first rule that matches decides (allow or deny). When none matches, the
Kafka-style mqtt_topic bindings of "strata acl" decide if one applies (a
matching deny wins), and otherwise mqtt-acl-no-match does (allow by default, as
EMQX; set deny for Mosquitto's deny-unless-listed, or end the list with a deny
rule on "#").

A rule matches when all it names matches: the action (publish, subscribe,
retain, all; subscribe also decides what a subscriber is sent), the topic
filter (with %u = the client's user name, %c = its client id; a subscription
must be within the rule's filter), and optionally --user, --client-id and
--ip (an address or CIDR). Brokers pick a change up within 2 seconds.

Examples:
  strata mqtt acl add --allow --topic 'devices/%c/#'
  strata mqtt acl add --allow --action subscribe --topic 'users/%u/#'
  strata mqtt acl add --deny --action subscribe --topic '#' --ip 10.0.0.0/8
  strata mqtt acl add --deny --topic '#' --position 1 --user mallory`,
	}
	acl.AddCommand(mc.aclAddCommand(), mc.aclListCommand(), mc.aclRemoveCommand())
	cmd.AddCommand(acl)
	return cmd
}

func (mc *mqttCLI) client() (*apiClient, error) {
	if mc.output != "table" && mc.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", mc.output)
	}
	return newAPIClient(mc.server, mc.timeout)
}

func (mc *mqttCLI) aclAddCommand() *cobra.Command {
	var allow, deny bool
	var req mqttRuleRequest
	cmd := &cobra.Command{
		Use:   "add --allow|--deny --topic FILTER [--action A] [--user U] [--client-id C] [--ip CIDR] [--position N]",
		Short: "Add an MQTT ACL rule (at the end, or at --position)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if allow == deny {
				return errors.New("give exactly one of --allow and --deny")
			}
			req.Permission = meta.PermissionAllow
			if deny {
				req.Permission = meta.PermissionDeny
			}
			if req.Topic == "" {
				return errors.New("--topic is required (a topic filter; '#' for all)")
			}
			c, err := mc.client()
			if err != nil {
				return err
			}
			var out mqttRuleAddedJSON
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/mqtt/acls", req, &out); err != nil {
				return err
			}
			if mc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), out)
			}
			verb := "added"
			if !out.Created {
				verb = "exists already:"
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s rule %d: %s\n", verb, out.Rule.ID, describeMQTTRule(out.Rule))
			return err
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&allow, "allow", false, "the rule allows")
	fl.BoolVar(&deny, "deny", false, "the rule denies")
	fl.StringVar(&req.Action, "action", meta.MQTTActionAll, "publish, subscribe, retain or all")
	fl.StringVar(&req.Topic, "topic", "", "topic filter; %u is the user name, %c the client id")
	fl.StringVar(&req.Username, "user", "", "only this user (the authenticated name, or a certificate's CN)")
	fl.StringVar(&req.ClientID, "client-id", "", "only this client id")
	fl.StringVar(&req.IP, "ip", "", "only clients from this address or CIDR")
	fl.IntVar(&req.Position, "position", 0, "1-based place in the list (default: at the end)")
	return cmd
}

// describeMQTTRule says a rule in one line.
func describeMQTTRule(r meta.MQTTRule) string {
	s := fmt.Sprintf("%s %s on %q", r.Permission, r.Action, r.Topic)
	for _, kv := range [][2]string{{"user", r.Username}, {"client id", r.ClientID}, {"ip", r.IP}} {
		if kv[1] != "" {
			s += fmt.Sprintf(", %s %s", kv[0], kv[1])
		}
	}
	return s
}

func (mc *mqttCLI) aclListCommand() *cobra.Command {
	return listCommand("List the MQTT ACL rules in evaluation order", mc.client, &mc.output,
		"/api/v1/mqtt/acls", "POS\tID\tPERMISSION\tACTION\tTOPIC\tUSER\tCLIENT ID\tIP", func(w io.Writer, out mqttRuleListJSON) {
			dash := func(s string) string {
				if s == "" {
					return "*"
				}
				return s
			}
			for i, r := range out.Rules {
				fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, r.ID, r.Permission, r.Action, r.Topic, dash(r.Username), dash(r.ClientID), dash(r.IP))
			}
		})
}

func (mc *mqttCLI) aclRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "remove ID",
		Aliases: []string{"delete"},
		Short:   "Remove an MQTT ACL rule by id (see list)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("rule id %q: want a positive integer (strata mqtt acl list shows them)", args[0])
			}
			c, err := mc.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, "/api/v1/mqtt/acls/"+args[0], nil, nil); err != nil {
				return err
			}
			if mc.output == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), map[string]uint64{"removed": id})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed rule %d\n", id)
			return err
		},
	}
}
