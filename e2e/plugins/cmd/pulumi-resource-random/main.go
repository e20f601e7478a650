// pulumi-resource-random: a stand-in for the pulumi-random provider in the e2e tier, serving the one
// resource the program uses, random:index/randomPassword:RandomPassword.
//
// Why a stand-in: github.com/pulumi/pulumi-random/provider/v4 is not served by the Go module proxy this
// project can reach, at any version (403 "This module version is not available"), and the upstream it
// bridges (github.com/terraform-providers/terraform-provider-random) is served only at v1.3.1 and
// v2.0.0+incompatible, years older than the framework-based random_password pulumi-random 4.21.4 wraps.
//
// It keeps the behaviour the program relies on, as terraform-provider-random's random_password defines
// it: defaults filled in by Check (special/upper/lower/numeric true, min_* 0), every input forces a
// replacement (keepers included: that is how `generation` rotates a password), the password honours the
// character classes and minimums, `result` and `bcryptHash` are outputs (the Python SDK marks both
// additional secret outputs, so the engine stores them encrypted), and Read returns the state unchanged
// (a refresh shows no drift). What it cannot show: anything pulumi-random does beyond that (import,
// upgrades of its state schema, its exact character sets for `overrideSpecial`).
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
	"special": true, "upper": true, "lower": true, "numeric": true, "number": nil,
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

func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news := req.GetNews().AsMap()
	var failures []*pulumirpc.CheckFailure
	for k := range news {
		if _, known := inputs[k]; !known && !strings.HasPrefix(k, "__") {
			failures = append(failures, &pulumirpc.CheckFailure{Property: k, Reason: "unknown input"})
		}
	}
	for k, def := range inputs {
		if _, set := news[k]; !set && def != nil {
			news[k] = def
		}
	}
	// `number` is the deprecated spelling of `numeric`; the provider keeps them equal.
	if n, set := news["number"]; set && n != unknown {
		news["numeric"] = n
	}
	news["number"] = news["numeric"]
	if l, ok := news["length"].(float64); !ok {
		if news["length"] != unknown {
			failures = append(failures, &pulumirpc.CheckFailure{Property: "length", Reason: "length is required"})
		}
	} else if mins := num(news, "minSpecial") + num(news, "minUpper") + num(news, "minLower") +
		num(news, "minNumeric"); int(l) < 1 || int(l) < mins {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "length",
			Reason: fmt.Sprintf("length %d must be at least 1 and at least the sum of the minimums (%d)", int(l), mins)})
	}
	checked, err := structpb.NewStruct(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: checked, Failures: failures}, nil
}

func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	olds, news := req.GetOldInputs().AsMap(), req.GetNews().AsMap()
	if len(olds) == 0 { // state written before old inputs were recorded
		olds = req.GetOlds().AsMap()
	}
	var changed []string
	for k := range inputs {
		if !reflect.DeepEqual(olds[k], news[k]) {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	if len(changed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	// Every input of random_password forces a new password.
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME, Diffs: changed, Replaces: changed}, nil
}

func pick(set string) (byte, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
	if err != nil {
		return 0, err
	}
	return set[i.Int64()], nil
}

// generate draws each class's minimum first, fills up from every enabled class, then shuffles.
func generate(in map[string]any) (string, error) {
	special := specialChars
	if s, ok := in["overrideSpecial"].(string); ok && s != "" {
		special = s
	}
	classes := []struct {
		on    bool
		chars string
		min   int
	}{
		{flag(in, "lower"), lowerChars, num(in, "minLower")},
		{flag(in, "upper"), upperChars, num(in, "minUpper")},
		{flag(in, "numeric"), numericChars, num(in, "minNumeric")},
		{flag(in, "special"), special, num(in, "minSpecial")},
	}
	var all string
	var out []byte
	for _, c := range classes {
		if !c.on {
			continue
		}
		all += c.chars
		for i := 0; i < c.min; i++ {
			b, err := pick(c.chars)
			if err != nil {
				return "", err
			}
			out = append(out, b)
		}
	}
	if all == "" {
		return "", errors.New("every character class is disabled")
	}
	for len(out) < num(in, "length") {
		b, err := pick(all)
		if err != nil {
			return "", err
		}
		out = append(out, b)
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
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
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
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

func (p *provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	return nil, status.Errorf(codes.FailedPrecondition,
		"%s: every input forces a replacement, so no update is possible", req.GetUrn())
}

func (p *provider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
