// pulumi-resource-random: a stand-in for the pulumi-random provider in the e2e tier, serving the one
// resource the program uses, random:index/randomPassword:RandomPassword.
//
// Why a stand-in: github.com/pulumi/pulumi-random/provider/v4 is not served by the Go module proxy this
// project can reach, at any version (403 "This module version is not available"), and the upstream it
// bridges (github.com/terraform-providers/terraform-provider-random) is served only at v1.3.1 and
// v2.0.0+incompatible, years older than the framework-based random_password pulumi-random 4.21.4 wraps.
//
// What it does is terraform-provider-random v3.9.0's random_password (the release pulumi-random 4.21
// bridges: its provider/go.mod requires commit f8d869dc98d9, the v3.9.0 tag), rule by rule as
// docs/engine.md's table lists it with the upstream file each rule comes from:
// internal/provider/resource_password.go (schema: defaults, validators, plan modifiers) and
// internal/random/string.go (generation). tests/test_random_standin.py drives this binary over gRPC,
// as the engine does, against that table. What it cannot show: import, state upgrades of older
// schema versions, and pulumi-random's own bridge code.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is set with -ldflags "-X main.version=..." by the toolchain recipe (e2e/recipes/pulumi.py).
var version = ""

const (
	passwordType = "random:index/randomPassword:RandomPassword"
	// The engine's sentinel for a value not known during preview.
	unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars = "0123456789"
	// terraform-provider-random's default special characters.
	specialChars = "!@#$%&*()-_=+[]{}<>:?"
)

// The inputs of random_password and their defaults (nil: no default).
var inputs = map[string]any{
	"length": nil, "keepers": nil, "overrideSpecial": nil,
	"special": true, "upper": true, "lower": true, "numeric": nil, "number": nil, // numeric/number: Check
	"minSpecial": 0.0, "minUpper": 0.0, "minLower": 0.0, "minNumeric": 0.0,
}

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		fmt.Println(version)
		return
	}
	if version == "" {
		fmt.Fprintln(os.Stderr, "pulumi-resource-random: built without -X main.version")
		os.Exit(1)
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, &provider{})
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-random: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-random: %v\n", err)
		os.Exit(1)
	}
}

func (p *provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":"random","version":%q}`, version)}, nil
}

func (p *provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{}, nil
}

func checkType(urn string) error {
	parts := strings.Split(urn, "::")
	typ := parts[len(parts)-2]
	if i := strings.LastIndex(typ, "$"); i >= 0 {
		typ = typ[i+1:]
	}
	if typ != passwordType {
		return status.Errorf(codes.Unimplemented, "this stand-in serves only %s, not %s", passwordType, typ)
	}
	return nil
}

func num(m map[string]any, k string) int {
	if f, ok := m[k].(float64); ok {
		return int(f)
	}
	return 0
}

func flag(m map[string]any, k string) bool {
	b, _ := m[k].(bool)
	return b
}

func isSet(m map[string]any, k string) bool {
	v, ok := m[k]
	return ok && v != nil
}

// Check applies random_password's schema (resource_password.go passwordSchemaV3) to the config:
// unknown inputs refused; `number`/`numeric` configured with different values refused (their plan
// modifier); `number` or `numeric` configured false while special, upper and lower are all
// configured false refused (validators.AtLeastOneOfTrue: an unset one counts as true); `length` required,
// at least 1 and at least the sum of the minimums; then the defaults: special, upper, lower true,
// min* 0, numeric and number equal (true when both are unset).
func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news := req.GetNews().AsMap()
	var failures []*pulumirpc.CheckFailure
	fail := func(prop, reason string) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: prop, Reason: reason})
	}
	for k := range news {
		if _, known := inputs[k]; !known && !strings.HasPrefix(k, "__") {
			fail(k, "unknown input")
		}
	}
	if isSet(news, "number") && isSet(news, "numeric") && news["number"] != unknown && news["numeric"] != unknown &&
		news["number"] != news["numeric"] {
		fail("numeric", "Number and numeric are both configured with different values")
	}
	for _, k := range []string{"number", "numeric"} {
		if v, ok := news[k].(bool); ok && !v {
			allFalse := true
			for _, other := range []string{"special", "upper", "lower"} {
				if b, ok := news[other].(bool); !ok || b {
					allFalse = false
				}
			}
			if allFalse {
				fail(k, "At least one attribute out of [special, upper, lower, "+k+"] must be specified as true")
			}
		}
	}
	for k, def := range inputs {
		if !isSet(news, k) && def != nil {
			news[k] = def
		}
	}
	switch {
	case isSet(news, "numeric"):
		news["number"] = news["numeric"]
	case isSet(news, "number"):
		news["numeric"] = news["number"]
	default:
		news["numeric"], news["number"] = true, true
	}
	if l, ok := news["length"].(float64); !ok {
		if news["length"] != unknown {
			fail("length", "length is required")
		}
	} else if mins := num(news, "minSpecial") + num(news, "minUpper") + num(news, "minLower") +
		num(news, "minNumeric"); int(l) < 1 || int(l) < mins {
		fail("length", fmt.Sprintf("length %d must be at least 1 and at least the sum of the minimums (%d)", int(l), mins))
	}
	checked, err := structpb.NewStruct(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: checked, Failures: failures}, nil
}

// replaces says whether a change of input k from old to new forces a new password: every input
// does (RequiresReplace), except `overrideSpecial` going from "" to unset
// (RequiresReplaceUnlessEmptyStringToNull), which is an update.
func replaces(k string, old, new any) bool {
	if k == "overrideSpecial" && old == "" && new == nil {
		return false
	}
	return true
}

func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	olds, news := req.GetOldInputs().AsMap(), req.GetNews().AsMap()
	if len(olds) == 0 { // state written before old inputs were recorded
		olds = req.GetOlds().AsMap()
	}
	var changed, replaced []string
	for k := range inputs {
		if !reflect.DeepEqual(olds[k], news[k]) {
			changed = append(changed, k)
			if replaces(k, olds[k], news[k]) {
				replaced = append(replaced, k)
			}
		}
	}
	sort.Strings(changed)
	sort.Strings(replaced)
	if len(changed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME, Diffs: changed, Replaces: replaced}, nil
}

// generateRunes draws n characters of set (as runes: an overrideSpecial may hold any UTF-8), each
// with crypto/rand (random/string.go generateRandomBytes).
func generateRunes(set []rune, n int) ([]rune, error) {
	if len(set) == 0 && n > 0 {
		return nil, errors.New("charSet is empty")
	}
	out := make([]rune, 0, max(n, 0))
	for i := 0; i < n; i++ {
		idx, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return nil, err
		}
		out = append(out, set[idx.Int64()])
	}
	return out, nil
}

// generate is random/string.go CreateString: the pool is every enabled class; each class's minimum is
// drawn from that class whether or not the class is enabled (upstream's minMapping ignores the
// flags); the rest, up to length, from the pool; then the characters are put in a random order.
func generate(in map[string]any) (string, error) {
	special := specialChars
	if s, ok := in["overrideSpecial"].(string); ok && s != "" {
		special = s
	}
	pool := ""
	for _, c := range []struct {
		on    bool
		chars string
	}{{flag(in, "upper"), upperChars}, {flag(in, "lower"), lowerChars}, {flag(in, "numeric"), numericChars},
		{flag(in, "special"), special}} {
		if c.on {
			pool += c.chars
		}
	}
	if pool == "" {
		return "", errors.New("the character set specified is empty")
	}
	var out []rune
	for _, m := range []struct {
		chars string
		min   int
	}{{numericChars, num(in, "minNumeric")}, {lowerChars, num(in, "minLower")}, {upperChars, num(in, "minUpper")},
		{special, num(in, "minSpecial")}} {
		drawn, err := generateRunes([]rune(m.chars), m.min)
		if err != nil {
			return "", err
		}
		out = append(out, drawn...)
	}
	rest, err := generateRunes([]rune(pool), num(in, "length")-len(out))
	if err != nil {
		return "", err
	}
	out = append(out, rest...)
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

// bcryptHash is resource_password.go generateHash: bcrypt (default cost) of the first 72 bytes.
func bcryptHash(pw string) (string, error) {
	b := []byte(pw)
	if len(b) > 72 {
		b = b[:72]
	}
	hash, err := bcrypt.GenerateFromPassword(b, bcrypt.DefaultCost)
	return string(hash), err
}

func (p *provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	state := req.GetProperties().AsMap()
	if req.GetPreview() {
		state["result"], state["bcryptHash"] = unknown, unknown
	} else {
		pw, err := generate(state)
		if err != nil {
			return nil, err
		}
		hash, err := bcryptHash(pw)
		if err != nil {
			return nil, err
		}
		state["result"], state["bcryptHash"] = pw, string(hash)
	}
	props, err := structpb.NewStruct(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: "none", Properties: props}, nil
}

func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	// Nothing lives outside the state: what was generated is what there is.
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// Update is what a change that forces no new password does: the new inputs, with the password, its
// hash and the id kept (resource_password.go Update; result and bcrypt_hash are UseStateForUnknown).
func (p *provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	state := req.GetNews().AsMap()
	olds := req.GetOlds().AsMap()
	state["result"], state["bcryptHash"] = olds["result"], olds["bcryptHash"]
	props, err := structpb.NewStruct(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *provider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
