package twotier

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// The byte-level and env vectors every client is tested against (clients/conformance).
const conformance = "../../conformance/"

func load(t *testing.T, name string, into any) {
	t.Helper()
	raw, err := os.ReadFile(conformance + name)
	if err != nil {
		t.Fatalf("the shared vectors: %v", err)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatal(err)
	}
}

// field is a byte field of a vector: name (text) or name_hex.
func field(c map[string]any, name string) []byte {
	if h, ok := c[name+"_hex"].(string); ok {
		b, _ := hex.DecodeString(h)
		return b
	}
	if s, ok := c[name].(string); ok {
		return []byte(s)
	}
	return nil
}

func TestProtocolVectors(t *testing.T) {
	var v struct {
		Digest, Bucket, Encode, Decode []map[string]any
	}
	load(t, "vectors.json", &v)
	for _, c := range v.Digest {
		if got := Digest(field(c, "value")); got != c["digest"] {
			t.Errorf("Digest(%v) = %s", c, got)
		}
	}
	for _, c := range v.Bucket {
		if got := Bucket(string(field(c, "key"))); float64(got) != c["bucket"] {
			t.Errorf("Bucket(%v) = %d", c, got)
		}
	}
	for _, c := range v.Encode {
		version := 2
		if f, ok := c["version"].(float64); ok {
			version = int(f)
		}
		origin, key := c["origin"].(string), string(field(c, "key"))
		var got []byte
		var err error
		switch c["kind"] {
		case "value":
			ttl := int64(-1)
			if f, ok := c["ttl_ms"].(float64); ok {
				ttl = int64(f)
			}
			got, err = EncodeValue(origin, key, Digest(field(c, "value")), ttl)
		case "key":
			got, err = EncodeKey(origin, key, version)
		default:
			got, err = EncodeFlush(origin, version)
		}
		if err != nil || string(got) != string(field(c, "payload")) {
			t.Errorf("encode %v = %q, %v", c, got, err)
		}
	}
	for _, c := range v.Decode {
		inv := Decode(field(c, "payload"))
		want := Invalidation{Origin: c["origin"].(string), Key: field(c, "key"), Flush: c["flush"].(bool)}
		if d, ok := c["digest"].(string); ok {
			ttl := int64(-1)
			if f, ok := c["ttl_ms"].(float64); ok {
				ttl = int64(f)
			}
			want.Announced = &Announcement{Digest: d, TTLMillis: ttl}
		}
		if want.Key == nil && !want.Flush {
			want.Key = []byte{}
		}
		if inv.Origin != want.Origin || string(inv.Key) != string(want.Key) || (inv.Key == nil) != (want.Key == nil) ||
			inv.Flush != want.Flush || !reflect.DeepEqual(inv.Announced, want.Announced) {
			t.Errorf("Decode(%q) = %+v, want %+v", field(c, "payload"), inv, want)
		}
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	var e struct {
		Base   map[string]string
		Errors []struct {
			Env     map[string]*string
			Replace map[string]string
			Error   string
		}
	}
	load(t, "env.json", &e)
	for _, c := range e.Errors {
		env := map[string]string{}
		if c.Replace != nil {
			env = c.Replace
		} else {
			for k, v := range e.Base {
				env[k] = v
			}
			for k, v := range c.Env {
				if v == nil {
					delete(env, k)
				} else {
					env[k] = *v
				}
			}
		}
		_, err := ParseSettings(env)
		var ce *ConfigurationError
		if !errors.As(err, &ce) || ce.Message != c.Error {
			t.Errorf("%v: got %v, want %q", c.Env, err, c.Error)
		}
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	pw := "hunter2-secret"
	s := TierSettings{Host: "h", Password: &pw}
	if got := s.String(); got == "" || contains(got, pw) {
		t.Errorf("String() shows the password: %s", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
