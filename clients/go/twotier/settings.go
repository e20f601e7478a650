package twotier

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ContractVersion is the version of the CACHE_* env contract this client reads.
const ContractVersion = "1"

// The same strict syntax in every client (clients/conformance/env.json): no signs, exponents,
// underscores, hex or surrounding spaces.
var (
	portSyntax    = regexp.MustCompile(`^[0-9]{1,5}$`)
	secondsSyntax = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	countSyntax   = regexp.MustCompile(`^[0-9]{1,15}$`)
)

// ConfigurationError is a missing or unusable value of the env contract (or an option). The message
// names the variable: "CACHE_L1_TTL_CAP: must be a number of seconds > 0, got '30s'".
type ConfigurationError struct{ Message string }

func (e *ConfigurationError) Error() string { return e.Message }

func configErr(format string, args ...any) error {
	return &ConfigurationError{Message: fmt.Sprintf(format, args...)}
}

// quote renders a value in an error message as every client does: in single quotes.
func quote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// HostPort is one Sentinel address.
type HostPort struct {
	Host string
	Port int
}

// TierSettings is how to reach one tier (the L1 sidecar or the shared L2), as the contract says.
type TierSettings struct {
	Host                 string
	Port                 int
	Socket               string
	TLS                  bool
	TLSCAFile            string
	Cluster              bool
	Username             string
	PasswordFile         string
	Password             *string // set only from CACHE_*_PASSWORD (a file is preferred)
	Sentinels            []HostPort
	SentinelMaster       string
	SentinelPasswordFile string
	// READ_HOST/READ_PORT are parsed but not used: a lagging replica would reopen the populate race.
	ReadHost string
	ReadPort int
}

// String never shows the password.
func (t TierSettings) String() string {
	shown := "<nil>"
	if t.Password != nil {
		shown = "***"
	}
	return fmt.Sprintf("TierSettings{Host:%q Port:%d Socket:%q TLS:%v Cluster:%v Sentinels:%v PasswordFile:%q Password:%s}",
		t.Host, t.Port, t.Socket, t.TLS, t.Cluster, t.Sentinels, t.PasswordFile, shown)
}

// Settings is the whole contract for one app container.
type Settings struct {
	L2                  TierSettings
	L1                  *TierSettings // nil: a single tier
	Name                string
	Pattern             string
	DefaultTTLMillis    int64 // 0: entries written without a TTL never expire
	L1TTLCapMillis      int64 // set whenever L1 or Near is
	InvalidationChannel string
	Near                *NearSettings // an in-process L1 (CACHE_L1_MODE=in-process); then L1 is nil
}

// NearSettings are an in-process L1's bounds and how the server tracks keys for it.
type NearSettings struct {
	MaxEntries int64
	MaxBytes   int64
	Tracking   string   // "default" or "broadcast"
	Prefixes   []string // broadcast: only keys under one of them are kept
}

// SettingsFromEnv reads the contract from the process environment.
func SettingsFromEnv() (Settings, error) {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return ParseSettings(env)
}

// ParseSettings reads the contract from a map. Absent CACHE_L1_HOST means a single tier over
// CACHE_L2_* (or CACHE_* when there is no CACHE_L2_HOST).
func ParseSettings(env map[string]string) (Settings, error) {
	var s Settings
	if v, ok := env["CACHE_CONTRACT_VERSION"]; ok && v != ContractVersion {
		return s, configErr("CACHE_CONTRACT_VERSION: this client speaks %s, got %s", quote(ContractVersion), quote(v))
	}
	prefix := "CACHE"
	if _, ok := env["CACHE_L2_HOST"]; ok {
		prefix = "CACHE_L2"
	}
	l2, err := parseTier(env, prefix)
	if err != nil {
		return s, err
	}
	s.L2, s.Name, s.Pattern = l2, env["CACHE_NAME"], env["CACHE_PATTERN"]
	mode, hasMode := env["CACHE_L1_MODE"]
	if mode == "in-process" {
		if err := parseNear(env, prefix, &s); err != nil {
			return s, err
		}
	} else if _, ok := env["CACHE_L1_HOST"]; ok && (!hasMode || mode == "sidecar") {
		l1, err := parseTier(env, "CACHE_L1")
		if err != nil {
			return s, err
		}
		if l1.Cluster || len(l1.Sentinels) > 0 || l1.TLS {
			return s, configErr("CACHE_L1_*: the L1 tier must be a plain loopback redis (no TLS, cluster, Sentinel)")
		}
		if s.L1TTLCapMillis, err = millis(env, "CACHE_L1_TTL_CAP", true); err != nil {
			return s, err
		}
		if s.InvalidationChannel = env["CACHE_L1_INVALIDATION_CHANNEL"]; s.InvalidationChannel == "" {
			return s, configErr("CACHE_L1_INVALIDATION_CHANNEL: required when CACHE_L1_HOST is set")
		}
		s.L1 = &l1
	}
	if s.DefaultTTLMillis, err = millis(env, "CACHE_DEFAULT_TTL", false); err != nil {
		return s, err
	}
	return s, nil
}

func parseTier(env map[string]string, prefix string) (TierSettings, error) {
	t := TierSettings{Host: env[prefix+"_HOST"]}
	if t.Host == "" {
		return t, configErr("%s_HOST: required (is the container bound to a cache?)", prefix)
	}
	var err error
	if t.Sentinels, err = parseSentinels(env, prefix+"_SENTINELS"); err != nil {
		return t, err
	}
	t.SentinelMaster = env[prefix+"_SENTINEL_MASTER"]
	if len(t.Sentinels) > 0 && t.SentinelMaster == "" {
		return t, configErr("%s_SENTINEL_MASTER: required when %s_SENTINELS is set", prefix, prefix)
	}
	t.Username, t.PasswordFile = env[prefix+"_USERNAME"], env[prefix+"_PASSWORD_FILE"]
	if pw, ok := env[prefix+"_PASSWORD"]; ok {
		t.Password = &pw
	}
	if t.Username != "" && t.PasswordFile == "" && t.Password == nil {
		return t, configErr("%s_USERNAME: set, but neither %s_PASSWORD_FILE nor %s_PASSWORD is", prefix, prefix, prefix)
	}
	if t.Cluster, err = parseBool(env, prefix+"_CLUSTER"); err != nil {
		return t, err
	}
	if t.Cluster && len(t.Sentinels) > 0 {
		return t, configErr("%s_CLUSTER: cluster mode and Sentinel cannot both be set", prefix)
	}
	if t.Port, err = parsePort(env, prefix+"_PORT", 6379); err != nil {
		return t, err
	}
	t.Socket = env[prefix+"_SOCKET"]
	if t.TLS, err = parseBool(env, prefix+"_TLS"); err != nil {
		return t, err
	}
	t.TLSCAFile = env[prefix+"_TLS_CA_FILE"]
	t.SentinelPasswordFile = env[prefix+"_SENTINEL_PASSWORD_FILE"]
	if t.ReadHost = env[prefix+"_READ_HOST"]; t.ReadHost != "" {
		if t.ReadPort, err = parsePort(env, prefix+"_READ_PORT", 6379); err != nil {
			return t, err
		}
	}
	return t, nil
}

func parseBool(env map[string]string, name string) (bool, error) {
	raw, ok := env[name]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, configErr("%s: must be 'true' or 'false', got %s", name, quote(raw))
}

func parsePort(env map[string]string, name string, def int) (int, error) {
	raw, ok := env[name]
	if !ok {
		return def, nil
	}
	port := -1
	if portSyntax.MatchString(raw) {
		port, _ = strconv.Atoi(raw)
	}
	if port < 1 || port > 65535 {
		return 0, configErr("%s: must be a TCP port (1-65535), got %s", name, quote(raw))
	}
	return port, nil
}

// parseNear reads an in-process L1's variables, checked in the same order as in every client.
func parseNear(env map[string]string, prefix string, s *Settings) error {
	if _, ok := env["CACHE_L1_HOST"]; ok {
		return configErr("CACHE_L1_MODE: in-process takes no CACHE_L1_HOST (the L1 is in the process)")
	}
	if s.L2.Cluster {
		return configErr("CACHE_L1_MODE: in-process needs an L2 that is not a cluster (tracking is per node), got %s_CLUSTER=true", prefix)
	}
	var err error
	if s.L1TTLCapMillis, err = millisWhen(env, "CACHE_L1_TTL_CAP", true, "CACHE_L1_MODE is in-process"); err != nil {
		return err
	}
	if s.InvalidationChannel = env["CACHE_L1_INVALIDATION_CHANNEL"]; s.InvalidationChannel == "" {
		return configErr("CACHE_L1_INVALIDATION_CHANNEL: required when CACHE_L1_MODE is in-process")
	}
	n := &NearSettings{Tracking: "default"}
	if t, ok := env["CACHE_L1_TRACKING"]; ok {
		n.Tracking = t
	}
	if n.Tracking != "default" && n.Tracking != "broadcast" {
		return configErr("CACHE_L1_TRACKING: must be 'default' or 'broadcast', got %s", quote(n.Tracking))
	}
	raw := env["CACHE_L1_TRACKING_PREFIXES"]
	if n.Tracking == "broadcast" {
		if raw == "" {
			return configErr("CACHE_L1_TRACKING_PREFIXES: required when CACHE_L1_TRACKING is broadcast")
		}
		for _, p := range strings.Split(raw, ",") {
			if p == "" || p != strings.TrimSpace(p) {
				return configErr("CACHE_L1_TRACKING_PREFIXES: comma-separated prefixes, none empty or with spaces, got %s", quote(raw))
			}
			n.Prefixes = append(n.Prefixes, p)
		}
	} else if raw != "" {
		return configErr("CACHE_L1_TRACKING_PREFIXES: only used when CACHE_L1_TRACKING is broadcast, got %s", quote(raw))
	}
	if n.MaxEntries, err = count(env, "CACHE_L1_MAX_ENTRIES"); err != nil {
		return err
	}
	if n.MaxBytes, err = count(env, "CACHE_L1_MAX_BYTES"); err != nil {
		return err
	}
	s.Near = n
	return nil
}

func count(env map[string]string, name string) (int64, error) {
	raw := env[name]
	if raw == "" {
		return 0, configErr("%s: required when CACHE_L1_MODE is in-process", name)
	}
	var v int64
	if countSyntax.MatchString(raw) {
		v, _ = strconv.ParseInt(raw, 10, 64)
	}
	if v <= 0 {
		return 0, configErr("%s: must be a whole number > 0, got %s", name, quote(raw))
	}
	return v, nil
}

// millis parses a number of seconds (the contract's unit) into whole milliseconds (at least 1).
func millis(env map[string]string, name string, required bool) (int64, error) {
	return millisWhen(env, name, required, "CACHE_L1_HOST is set")
}

func millisWhen(env map[string]string, name string, required bool, when string) (int64, error) {
	raw := env[name]
	if raw == "" {
		if required {
			return 0, configErr("%s: required when %s", name, when)
		}
		return 0, nil
	}
	value := -1.0
	if secondsSyntax.MatchString(raw) {
		value, _ = strconv.ParseFloat(raw, 64)
	}
	if !(value > 0) {
		return 0, configErr("%s: must be a number of seconds > 0, got %s", name, quote(raw))
	}
	ms := int64(value*1000 + 0.5)
	if ms < 1 {
		ms = 1
	}
	return ms, nil
}

func parseSentinels(env map[string]string, name string) ([]HostPort, error) {
	raw := env[name]
	if raw == "" {
		return nil, nil
	}
	var out []HostPort
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		i := strings.LastIndex(item, ":")
		port := -1
		if i > 0 && portSyntax.MatchString(item[i+1:]) {
			port, _ = strconv.Atoi(item[i+1:])
		}
		if port < 1 || port > 65535 {
			return nil, configErr("%s: each entry must be host:port, got %s", name, quote(item))
		}
		out = append(out, HostPort{Host: strings.Trim(item[:i], "[]"), Port: port})
	}
	return out, nil
}
