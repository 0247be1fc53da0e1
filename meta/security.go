package meta

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Shard 5, security: users with SCRAM credentials, and ACL rules.
//
// The machine never sees a password. The client derives SCRAM-SHA-256 and
// SCRAM-SHA-512 credentials (RFC 5802: salt, iterations, StoredKey =
// H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword,
// "Server Key"), SaltedPassword = PBKDF2(password, salt, iterations)) and
// proposes those; SASL PLAIN is checked against the same credential
// (VerifyPassword recomputes StoredKey from the offered password).
//
// Operations (Command.Op):
//
//	put_user           {user: User}                          -> {"created": bool}  replaces every credential
//	set_credential     {name, mechanism, credential, updated_ms} -> {"created": bool}  one mechanism (AlterUserScramCredentials upsert)
//	delete_credential  {name, mechanism}  the user goes with its last credential
//	delete_user        {name}
//	create_acls        {acls: [ACLBinding]}  -> {"created": n}; an existing identical binding is not added twice
//	delete_acls        {filters: [ACLFilter]} -> {"deleted": [[ACLBinding]...]} per filter, Kafka's filter semantics
//	mqtt_acl_add, mqtt_acl_remove  the ordered MQTT ACL rules (mqtt_acl.go)
//
// Lookups (Query.Op): get_user {name} -> *User, list_users {} ->
// []UserInfo (no keys), describe_acls {filter} -> []ACLBinding,
// mqtt_acl_list {} -> []MQTTRule.

// SecurityKind names the security machine in its snapshots.
const SecurityKind = "security"

// SCRAM mechanisms and iteration bounds (Kafka's: at least 4096, at most
// 16384).
const (
	MechScramSHA256        = "SCRAM-SHA-256"
	MechScramSHA512        = "SCRAM-SHA-512"
	MinScramIterations     = 4096
	MaxScramIterations     = 16384
	DefaultScramIterations = 8192
)

// ScramMechanisms lists the supported mechanisms.
var ScramMechanisms = []string{MechScramSHA256, MechScramSHA512}

func scramHash(mechanism string) (func() hash.Hash, int, error) {
	switch mechanism {
	case MechScramSHA256:
		return sha256.New, sha256.Size, nil
	case MechScramSHA512:
		return sha512.New, sha512.Size, nil
	}
	return nil, 0, fmt.Errorf("unknown SCRAM mechanism %q (want %s)", mechanism, strings.Join(ScramMechanisms, " or "))
}

// ScramCredential is what the server keeps of a password for one mechanism.
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// ScramCredentialFromSaltedPassword derives the stored credential from a
// salted password (what Kafka's AlterUserScramCredentials carries).
func ScramCredentialFromSaltedPassword(mechanism string, salted, salt []byte, iterations int) (ScramCredential, error) {
	h, size, err := scramHash(mechanism)
	if err != nil {
		return ScramCredential{}, err
	}
	if len(salted) != size {
		return ScramCredential{}, fmt.Errorf("%s: salted password is %d bytes, want %d", mechanism, len(salted), size)
	}
	ck := hmac.New(h, salted)
	ck.Write([]byte("Client Key"))
	stored := h()
	stored.Write(ck.Sum(nil))
	sk := hmac.New(h, salted)
	sk.Write([]byte("Server Key"))
	return ScramCredential{Salt: slices.Clone(salt), Iterations: iterations, StoredKey: stored.Sum(nil), ServerKey: sk.Sum(nil)}, nil
}

// NewScramCredential derives a credential from a password, salt and
// iteration count. Pass a fresh random salt (NewScramSalt).
func NewScramCredential(mechanism, password string, salt []byte, iterations int) (ScramCredential, error) {
	h, size, err := scramHash(mechanism)
	if err != nil {
		return ScramCredential{}, err
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, size)
	if err != nil {
		return ScramCredential{}, err
	}
	return ScramCredentialFromSaltedPassword(mechanism, salted, salt, iterations)
}

// NewScramSalt returns 24 random bytes.
func NewScramSalt() []byte { return []byte(rand.Text())[:24] }

// VerifyPassword reports whether password matches c (SASL PLAIN against a
// SCRAM credential), in constant time in the keys.
func (c ScramCredential) VerifyPassword(mechanism, password string) bool {
	d, err := NewScramCredential(mechanism, password, c.Salt, c.Iterations)
	return err == nil && hmac.Equal(d.StoredKey, c.StoredKey)
}

func (c ScramCredential) validate(mechanism string) error {
	_, size, err := scramHash(mechanism)
	if err != nil {
		return err
	}
	switch {
	case len(c.Salt) == 0:
		return fmt.Errorf("%s: empty salt", mechanism)
	case c.Iterations < MinScramIterations || c.Iterations > MaxScramIterations:
		return fmt.Errorf("%s: %d iterations, want %d to %d", mechanism, c.Iterations, MinScramIterations, MaxScramIterations)
	case len(c.StoredKey) != size || len(c.ServerKey) != size:
		return fmt.Errorf("%s: stored and server keys must be %d bytes", mechanism, size)
	}
	return nil
}

// User is a user and its credentials, one per mechanism (at least one).
type User struct {
	Name        string                     `json:"name"`
	Credentials map[string]ScramCredential `json:"credentials"`
	UpdatedMs   int64                      `json:"updated_ms,omitempty"`
}

// UserInfo is a user as list_users shows it: mechanisms and iterations,
// never keys.
type UserInfo struct {
	Name       string         `json:"name"`
	Mechanisms []UserMechInfo `json:"mechanisms"`
}

// UserMechInfo is one credential's public part.
type UserMechInfo struct {
	Mechanism  string `json:"mechanism"`
	Iterations int    `json:"iterations"`
}

func validUserName(name string) error {
	if name == "" || len(name) > 255 || !utf8.ValidString(name) {
		return fmt.Errorf("bad user name %q", name)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return fmt.Errorf("user name %q has control characters", name)
	}
	return nil
}

// ACL resource types, pattern types, operations and permissions (Kafka's,
// lower case, plus mqtt_topic for the MQTT frontend).
const (
	ACLAny = "any" // in filters only

	ResourceTopic           = "topic"
	ResourceGroup           = "group"
	ResourceCluster         = "cluster"
	ResourceTransactionalID = "transactional_id"
	ResourceDelegationToken = "delegation_token"
	ResourceUser            = "user"
	ResourceMQTTTopic       = "mqtt_topic"

	PatternLiteral    = "literal"
	PatternPrefixed   = "prefixed"
	PatternMQTTFilter = "mqtt_filter" // mqtt_topic only: the name is an MQTT topic filter
	PatternMatch      = "match"       // in filters only

	PermissionAllow = "allow"
	PermissionDeny  = "deny"
)

var (
	aclResourceTypes = []string{ResourceTopic, ResourceGroup, ResourceCluster, ResourceTransactionalID, ResourceDelegationToken, ResourceUser, ResourceMQTTTopic}
	aclKafkaOps      = []string{"all", "read", "write", "create", "delete", "alter", "describe", "cluster_action",
		"describe_configs", "alter_configs", "idempotent_write", "create_tokens", "describe_tokens"}
	aclMQTTOps = []string{"all", "publish", "subscribe", "retain"}
)

// ACLBinding is one stored ACL rule.
type ACLBinding struct {
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	// Principal is "Type:name" ("User:alice", "User:*").
	Principal  string `json:"principal"`
	Host       string `json:"host"`
	Operation  string `json:"operation"`
	Permission string `json:"permission"`
}

// ACLFilter selects bindings with Kafka's AclBindingFilter semantics: an
// empty string or "any" matches everything in that field; PatternType
// "match" with a name matches the bindings that would apply to that name
// (literal equal or "*", prefixed prefix, mqtt_filter matching); "any"
// with a name matches bindings of exactly that name.
type ACLFilter struct {
	ResourceType string `json:"resource_type,omitempty"`
	ResourceName string `json:"resource_name,omitempty"`
	PatternType  string `json:"pattern_type,omitempty"`
	Principal    string `json:"principal,omitempty"`
	Host         string `json:"host,omitempty"`
	Operation    string `json:"operation,omitempty"`
	Permission   string `json:"permission,omitempty"`
}

func (b ACLBinding) validate() error {
	switch {
	case !slices.Contains(aclResourceTypes, b.ResourceType):
		return fmt.Errorf("unknown resource type %q", b.ResourceType)
	case b.ResourceName == "" || !utf8.ValidString(b.ResourceName):
		return fmt.Errorf("bad resource name %q", b.ResourceName)
	case b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed && b.PatternType != PatternMQTTFilter:
		return fmt.Errorf("pattern type %q is not literal, prefixed or mqtt_filter", b.PatternType)
	case b.PatternType == PatternMQTTFilter && b.ResourceType != ResourceMQTTTopic:
		return fmt.Errorf("pattern type mqtt_filter is for mqtt_topic resources only")
	case b.Permission != PermissionAllow && b.Permission != PermissionDeny:
		return fmt.Errorf("permission %q is not allow or deny", b.Permission)
	case b.Host == "":
		return fmt.Errorf("empty host (use \"*\" for any)")
	}
	if i := strings.IndexByte(b.Principal, ':'); i <= 0 || i == len(b.Principal)-1 {
		return fmt.Errorf("principal %q is not Type:name", b.Principal)
	}
	ops := aclKafkaOps
	if b.ResourceType == ResourceMQTTTopic {
		ops = aclMQTTOps
	}
	if !slices.Contains(ops, b.Operation) {
		return fmt.Errorf("operation %q does not apply to %s (want one of %s)", b.Operation, b.ResourceType, strings.Join(ops, ", "))
	}
	if b.PatternType == PatternMQTTFilter {
		if err := ValidateTopicFilter(b.ResourceName); err != nil {
			return err
		}
	}
	return nil
}

func filterAny(s string) bool { return s == "" || s == ACLAny }

// Matches reports whether f selects b.
func (f ACLFilter) Matches(b ACLBinding) bool {
	if !filterAny(f.ResourceType) && f.ResourceType != b.ResourceType {
		return false
	}
	if !filterAny(f.PatternType) && f.PatternType != PatternMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName != "" {
		if filterAny(f.PatternType) || f.PatternType == b.PatternType {
			if f.ResourceName != b.ResourceName {
				return false
			}
		} else { // match
			switch b.PatternType {
			case PatternLiteral:
				if f.ResourceName != b.ResourceName && b.ResourceName != "*" {
					return false
				}
			case PatternPrefixed:
				if !strings.HasPrefix(f.ResourceName, b.ResourceName) {
					return false
				}
			case PatternMQTTFilter:
				if !MatchTopicFilter(b.ResourceName, f.ResourceName) {
					return false
				}
			}
		}
	}
	return (f.Principal == "" || f.Principal == b.Principal) &&
		(f.Host == "" || f.Host == b.Host) &&
		(filterAny(f.Operation) || f.Operation == b.Operation) &&
		(filterAny(f.Permission) || f.Permission == b.Permission)
}

// AuthzRequest is one access check: who (principal "User:alice", client
// host), what (resource type and name) and how (operation).
type AuthzRequest struct {
	Principal, Host                       string
	ResourceType, ResourceName, Operation string
}

// impliedBy lists, per operation, the allowed operations that grant it
// (Kafka: describe is implied by read, write, delete and alter;
// describe_configs by alter_configs; every operation by all).
var impliedBy = map[string][]string{
	"describe":         {"describe", "read", "write", "delete", "alter", "all"},
	"describe_configs": {"describe_configs", "alter_configs", "all"},
}

// Authorize decides r against acls with Kafka's rules: a matching deny
// wins; otherwise a matching allow (directly, or by an operation that
// implies r's) allows; otherwise the request is denied (anyMatch tells the
// caller whether any binding named the resource at all, for
// allow.everyone.if.no.acl.found). A binding matches when its principal is
// r's or "User:*", its host r's or "*", and its pattern covers the name
// (literal equal or "*", prefixed, or for mqtt_topic an MQTT filter that
// matches the topic). Super users and %u/%c substitution are the
// frontends'.
func Authorize(acls []ACLBinding, r AuthzRequest) (allowed, anyMatch bool) {
	resource := ACLFilter{ResourceType: r.ResourceType, ResourceName: r.ResourceName, PatternType: PatternMatch}
	granting := impliedBy[r.Operation]
	if granting == nil {
		granting = []string{r.Operation, "all"}
	}
	for _, a := range acls {
		if !resource.Matches(a) {
			continue
		}
		anyMatch = true
		if (a.Principal != r.Principal && a.Principal != "User:*") || (a.Host != r.Host && a.Host != "*") {
			continue
		}
		switch {
		case a.Permission == PermissionDeny && (a.Operation == r.Operation || a.Operation == "all"):
			return false, true
		case a.Permission == PermissionAllow && slices.Contains(granting, a.Operation):
			allowed = true
		}
	}
	return allowed, anyMatch
}

func compareACL(a, b ACLBinding) int {
	return cmp.Or(
		strings.Compare(a.ResourceType, b.ResourceType), strings.Compare(a.ResourceName, b.ResourceName),
		strings.Compare(a.PatternType, b.PatternType), strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Host, b.Host), strings.Compare(a.Operation, b.Operation), strings.Compare(a.Permission, b.Permission))
}

type (
	putUserBody struct {
		User User `json:"user"`
	}
	setCredentialBody struct {
		Name       string          `json:"name"`
		Mechanism  string          `json:"mechanism"`
		Credential ScramCredential `json:"credential"`
		UpdatedMs  int64           `json:"updated_ms,omitempty"`
	}
	credentialRefBody struct {
		Name      string `json:"name"`
		Mechanism string `json:"mechanism"`
	}
	userNameBody struct {
		Name string `json:"name"`
	}
	createACLsBody struct {
		ACLs []ACLBinding `json:"acls"`
	}
	deleteACLsBody struct {
		Filters []ACLFilter `json:"filters"`
	}
	describeACLsBody struct {
		Filter ACLFilter `json:"filter"`
	}
	createdResult struct {
		Created bool `json:"created"`
	}
	deletedACLsResult struct {
		Deleted [][]ACLBinding `json:"deleted"`
	}
)

type securityMachine struct {
	users map[string]User
	acls  map[ACLBinding]struct{}
	// mqtt is the ordered MQTT ACL rule list (mqtt_acl.go); mqttNextID
	// the last id given to a rule.
	mqtt       []MQTTRule
	mqttNextID uint64
}

func newSecurityMachine() machine {
	return &securityMachine{users: map[string]User{}, acls: map[ACLBinding]struct{}{}}
}

func init() { registerMachine(ShardSecurity, newSecurityMachine) }

func (m *securityMachine) kind() string { return SecurityKind }

func (m *securityMachine) apply(_ uint64, cmd Command) (any, *Rejection) {
	switch cmd.Op {
	case "put_user":
		var b putUserBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "put_user: %v", err)
		}
		u := b.User
		if err := validUserName(u.Name); err != nil {
			return nil, reject(RejectInvalid, "put_user: %v", err)
		}
		if len(u.Credentials) == 0 {
			return nil, reject(RejectInvalid, "put_user: user %q has no credentials", u.Name)
		}
		for _, mech := range slices.Sorted(maps.Keys(u.Credentials)) {
			if err := u.Credentials[mech].validate(mech); err != nil {
				return nil, reject(RejectInvalid, "put_user: user %q: %v", u.Name, err)
			}
		}
		_, exists := m.users[u.Name]
		m.users[u.Name] = u
		return createdResult{!exists}, nil
	case "set_credential":
		var b setCredentialBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "set_credential: %v", err)
		}
		if err := validUserName(b.Name); err != nil {
			return nil, reject(RejectInvalid, "set_credential: %v", err)
		}
		if err := b.Credential.validate(b.Mechanism); err != nil {
			return nil, reject(RejectInvalid, "set_credential: user %q: %v", b.Name, err)
		}
		u, exists := m.users[b.Name]
		creds := make(map[string]ScramCredential, len(u.Credentials)+1)
		maps.Copy(creds, u.Credentials)
		creds[b.Mechanism] = b.Credential
		m.users[b.Name] = User{Name: b.Name, Credentials: creds, UpdatedMs: b.UpdatedMs}
		return createdResult{!exists}, nil
	case "delete_credential":
		var b credentialRefBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "delete_credential: %v", err)
		}
		u, ok := m.users[b.Name]
		if _, has := u.Credentials[b.Mechanism]; !ok || !has {
			return nil, reject(RejectNotFound, "user %q has no %s credential", b.Name, b.Mechanism)
		}
		creds := maps.Clone(u.Credentials)
		delete(creds, b.Mechanism)
		if len(creds) == 0 {
			delete(m.users, b.Name)
		} else {
			u.Credentials = creds
			m.users[b.Name] = u
		}
		return nil, nil
	case "delete_user":
		var b userNameBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "delete_user: %v", err)
		}
		if _, ok := m.users[b.Name]; !ok {
			return nil, reject(RejectNotFound, "user %q does not exist", b.Name)
		}
		delete(m.users, b.Name)
		return nil, nil
	case "create_acls":
		var b createACLsBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "create_acls: %v", err)
		}
		for i, a := range b.ACLs {
			if err := a.validate(); err != nil {
				return nil, reject(RejectInvalid, "create_acls: binding %d: %v", i, err)
			}
		}
		n := 0
		for _, a := range b.ACLs {
			if _, ok := m.acls[a]; !ok {
				m.acls[a] = struct{}{}
				n++
			}
		}
		return struct {
			Created int `json:"created"`
		}{n}, nil
	case "delete_acls":
		var b deleteACLsBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "delete_acls: %v", err)
		}
		// Every filter sees the bindings as they were before the request
		// (Kafka reports a binding under each filter that matches it).
		res := deletedACLsResult{Deleted: make([][]ACLBinding, len(b.Filters))}
		for i, f := range b.Filters {
			res.Deleted[i] = m.matching(f)
		}
		for _, del := range res.Deleted {
			for _, a := range del {
				delete(m.acls, a)
			}
		}
		return res, nil
	}
	if strings.HasPrefix(cmd.Op, "mqtt_acl_") {
		return m.applyMQTT(cmd)
	}
	return nil, reject(RejectInvalid, "unknown security op %q", cmd.Op)
}

// matching returns the bindings f selects, sorted.
func (m *securityMachine) matching(f ACLFilter) []ACLBinding {
	out := []ACLBinding{}
	for a := range m.acls {
		if f.Matches(a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, compareACL)
	return out
}

func (m *securityMachine) lookup(q any) (any, error) {
	query, err := asQuery(q)
	if err != nil {
		return nil, err
	}
	switch query.Op {
	case "get_user":
		var b userNameBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		u, ok := m.users[b.Name]
		if !ok {
			return (*User)(nil), nil
		}
		u.Credentials = maps.Clone(u.Credentials)
		return &u, nil
	case "list_users":
		var b struct{}
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		out := []UserInfo{}
		for _, name := range slices.Sorted(maps.Keys(m.users)) {
			u := m.users[name]
			info := UserInfo{Name: name, Mechanisms: []UserMechInfo{}}
			for _, mech := range slices.Sorted(maps.Keys(u.Credentials)) {
				info.Mechanisms = append(info.Mechanisms, UserMechInfo{Mechanism: mech, Iterations: u.Credentials[mech].Iterations})
			}
			out = append(out, info)
		}
		return out, nil
	case "describe_acls":
		var b describeACLsBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		return m.matching(b.Filter), nil
	}
	if strings.HasPrefix(query.Op, "mqtt_acl_") {
		return m.lookupMQTT(query)
	}
	return nil, reject(RejectInvalid, "unknown security lookup %q", query.Op)
}

type securitySnapshot struct {
	Users []User       `json:"users"`
	ACLs  []ACLBinding `json:"acls"`
	// The MQTT rules; absent in snapshots written before them (= none).
	MQTTACLs   []MQTTRule `json:"mqtt_acls,omitempty"`
	MQTTNextID uint64     `json:"mqtt_acl_next_id,omitempty"`
}

func (m *securityMachine) save(w io.Writer) error {
	snap := securitySnapshot{Users: []User{}, ACLs: m.matching(ACLFilter{}), MQTTACLs: m.mqtt, MQTTNextID: m.mqttNextID}
	for _, name := range slices.Sorted(maps.Keys(m.users)) {
		snap.Users = append(snap.Users, m.users[name])
	}
	return writeJSON(w, snap)
}

func (m *securityMachine) load(r io.Reader) error {
	var snap securitySnapshot
	if err := decodeSnapshotBody(r, &snap); err != nil {
		return err
	}
	users := make(map[string]User, len(snap.Users))
	for _, u := range snap.Users {
		if _, dup := users[u.Name]; dup || len(u.Credentials) == 0 {
			return fmt.Errorf("%w: security: user %q twice or without credentials", ErrCorruptSnapshot, u.Name)
		}
		users[u.Name] = u
	}
	acls := make(map[ACLBinding]struct{}, len(snap.ACLs))
	for _, a := range snap.ACLs {
		acls[a] = struct{}{}
	}
	if err := loadMQTT(snap.MQTTACLs, snap.MQTTNextID); err != nil {
		return err
	}
	m.users, m.acls = users, acls
	m.mqtt, m.mqttNextID = snap.MQTTACLs, snap.MQTTNextID
	return nil
}

// Security is the typed client of the security shard.
type Security struct{ p Proposer }

// NewSecurity returns a security client over p.
func NewSecurity(p Proposer) *Security { return &Security{p: p} }

// SetPassword creates or replaces user name with credentials derived here
// from password for each mechanism (both when mechanisms is empty), with
// fresh random salts and DefaultScramIterations. The password never leaves
// this call.
func (c *Security) SetPassword(ctx context.Context, name, password string, mechanisms []string, nowMs int64) (created bool, err error) {
	if len(mechanisms) == 0 {
		mechanisms = ScramMechanisms
	}
	u := User{Name: name, Credentials: map[string]ScramCredential{}, UpdatedMs: nowMs}
	for _, mech := range mechanisms {
		cred, err := NewScramCredential(mech, password, NewScramSalt(), DefaultScramIterations)
		if err != nil {
			return false, &clientError{"security", "put_user", err}
		}
		u.Credentials[mech] = cred
	}
	return c.PutUser(ctx, u)
}

// PutUser creates or replaces a user with exactly u's credentials.
func (c *Security) PutUser(ctx context.Context, u User) (created bool, err error) {
	var res createdResult
	err = proposeOp(ctx, c.p, ShardSecurity, "put_user", putUserBody{User: u}, &res)
	return res.Created, err
}

// SetCredential adds or replaces one mechanism's credential, creating the
// user if needed (Kafka's AlterUserScramCredentials upsertion; build cred
// with ScramCredentialFromSaltedPassword).
func (c *Security) SetCredential(ctx context.Context, name, mechanism string, cred ScramCredential, nowMs int64) (created bool, err error) {
	var res createdResult
	err = proposeOp(ctx, c.p, ShardSecurity, "set_credential",
		setCredentialBody{Name: name, Mechanism: mechanism, Credential: cred, UpdatedMs: nowMs}, &res)
	return res.Created, err
}

// DeleteCredential removes one mechanism's credential; removing the last
// one removes the user.
func (c *Security) DeleteCredential(ctx context.Context, name, mechanism string) error {
	return proposeOp(ctx, c.p, ShardSecurity, "delete_credential", credentialRefBody{Name: name, Mechanism: mechanism}, nil)
}

// DeleteUser removes a user (not_found if there is none).
func (c *Security) DeleteUser(ctx context.Context, name string) error {
	return proposeOp(ctx, c.p, ShardSecurity, "delete_user", userNameBody{Name: name}, nil)
}

// GetUser returns a user with its credentials; ok is false if none.
func (c *Security) GetUser(ctx context.Context, name string) (u User, ok bool, err error) {
	p, err := readOp[*User](ctx, c.p, ShardSecurity, "get_user", userNameBody{Name: name})
	if err != nil || p == nil {
		return User{}, false, err
	}
	return *p, true, nil
}

// ListUsers lists users and their mechanisms, sorted by name.
func (c *Security) ListUsers(ctx context.Context) ([]UserInfo, error) {
	return readOp[[]UserInfo](ctx, c.p, ShardSecurity, "list_users", nil)
}

// Authenticate checks a SASL PLAIN login: the user exists and password
// matches its SCRAM-SHA-512 credential, or its SCRAM-SHA-256 one.
func (c *Security) Authenticate(ctx context.Context, name, password string) (bool, error) {
	u, ok, err := c.GetUser(ctx, name)
	if err != nil || !ok {
		return false, err
	}
	for _, mech := range []string{MechScramSHA512, MechScramSHA256} {
		if cred, has := u.Credentials[mech]; has {
			return cred.VerifyPassword(mech, password), nil
		}
	}
	return false, nil
}

// CreateACLs adds bindings (all validated first; identical ones are not
// added twice) and returns how many were new.
func (c *Security) CreateACLs(ctx context.Context, acls []ACLBinding) (int, error) {
	var res struct {
		Created int `json:"created"`
	}
	err := proposeOp(ctx, c.p, ShardSecurity, "create_acls", createACLsBody{ACLs: acls}, &res)
	return res.Created, err
}

// DeleteACLs deletes every binding some filter selects and returns, per
// filter, the bindings it selected.
func (c *Security) DeleteACLs(ctx context.Context, filters []ACLFilter) ([][]ACLBinding, error) {
	var res deletedACLsResult
	err := proposeOp(ctx, c.p, ShardSecurity, "delete_acls", deleteACLsBody{Filters: filters}, &res)
	return res.Deleted, err
}

// DescribeACLs returns the bindings f selects, sorted.
func (c *Security) DescribeACLs(ctx context.Context, f ACLFilter) ([]ACLBinding, error) {
	return readOp[[]ACLBinding](ctx, c.p, ShardSecurity, "describe_acls", describeACLsBody{Filter: f})
}
