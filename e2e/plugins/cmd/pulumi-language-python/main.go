// pulumi-language-python: the Python language host of the e2e tier.
//
// Why this exists: the upstream host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// is not served by the Go module proxy this project can reach, at any version (403 "This module version is
// not available"). This host does what a `pulumi up` of a Python program needs and nothing else, with the
// pieces the served github.com/pulumi/pulumi/sdk/v3 module provides:
//
//   - Run: resolve the project's Python toolchain (runtime options `toolchain`/`virtualenv` of Pulumi.yaml,
//     by sdk/v3's python/toolchain package), and start the SDK's own `pulumi-language-python-exec` shim
//     (shipped in sdk/v3 and installed next to this binary) with the arguments and PULUMI_CONFIG /
//     PULUMI_CONFIG_SECRET_KEYS environment the engine's RunRequest carries;
//   - RunPlugin: a Python plugin run from its folder (a component package: PulumiPlugin.yaml, runtime python, a
//     __main__.py calling component_provider_host) as upstream runs one that has a __main__.py: `python <folder>
//     <args>` in its virtualenv (option `virtualenv`, default `venv` in the folder), the engine's working
//     directory and env, output streamed, exit code reported. Refused: policy packs, the debugger, and
//     upstream's `python -m pulumi.run.plugin` mode for a pyproject.toml-only plugin;
//   - Handshake, GetPluginInfo, About, GetProgramDependencies, InstallDependencies, Cancel.
//
// GetRequiredPackages answers with no packages: the tier runs with automatic plugin acquisition disabled and
// the engine loads each provider when the program registers its first resource (the Python SDK sends the
// provider version with every registration). Everything the program does (resource registration, secrets,
// invokes, stack outputs) goes between the real Python SDK and the real engine; this host only starts it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set with -ldflags "-X main.version=..." by the toolchain recipe (e2e/recipes/pulumi.py).
var version = ""

// The exit code the Python SDK uses after it has already shown the user an actionable message.
const exitAfterUserMessage = 32

const execShim = "pulumi-language-python-exec"

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	exec          string
	engineAddress string
	cancelCtx     context.Context
	cancel        context.CancelFunc
}

func main() {
	showVersion := flag.Bool("version", false, "print the plugin version and exit")
	_ = flag.String("tracing", "", "accepted for compatibility with the engine; tracing is not emitted")
	// Older plugin hosts (such as the one inside the YAML language host, pulumi pkg v3.206) pass the runtime
	// options as flags too; the same options arrive with every request's ProgramInfo, which is what is used.
	for _, name := range []string{"root", "virtualenv", "toolchain", "typechecker", "use-executor"} {
		_ = flag.String(name, "", "accepted for compatibility; the request's runtime options are used")
	}
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if version == "" {
		fail(errors.New("built without -X main.version"))
	}

	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	shim := filepath.Join(filepath.Dir(self), execShim)
	if _, err := os.Stat(shim); err != nil {
		fail(fmt.Errorf("missing executor %s: %w", shim, err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	done := make(chan bool)
	go func() {
		<-ctx.Done()
		stop()
		close(done)
	}()

	h := &host{exec: shim}
	h.cancelCtx, h.cancel = context.WithCancel(context.Background())
	if args := flag.Args(); len(args) > 0 {
		h.engineAddress = args[0]
		if err := rpcutil.Healthcheck(ctx, h.engineAddress, 5*time.Minute, stop); err != nil {
			fail(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: done,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fail(fmt.Errorf("could not start the language host: %w", err))
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}

// options reads the runtime options of Pulumi.yaml that select the Python environment.
// resolve is the Python toolchain the program's runtime options name.
func resolve(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts, err := options(info)
	if err != nil {
		return nil, err
	}
	return toolchain.ResolveToolchain(opts)
}

// pluginOptions are a plugin's runtime options: a plugin never runs in the ambient Python, so with pip
// (or no toolchain named) and no virtualenv named it is `venv` in its folder (upstream's parseOptions).
func pluginOptions(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	opts, err := options(info)
	if err != nil {
		return opts, err
	}
	if (opts.Toolchain == toolchain.Pip || opts.Toolchain == toolchain.Auto) && opts.Virtualenv == "" {
		opts.Virtualenv = "venv"
	}
	return opts, nil
}

func options(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory()}
	raw := map[string]any{}
	if info.GetOptions() != nil {
		raw = info.GetOptions().AsMap()
	}
	if v, ok := raw["virtualenv"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return opts, errors.New("runtime option virtualenv must be a string")
		}
		opts.Virtualenv = s
	}
	if v, ok := raw["toolchain"]; ok {
		switch v {
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		case "uv":
			opts.Toolchain = toolchain.Uv
		default:
			return opts, fmt.Errorf("runtime option toolchain %v is not one of pip, poetry, uv", v)
		}
	}
	if v, ok := raw["typechecker"]; ok && v != "" {
		return opts, fmt.Errorf("runtime option typechecker (%v) is not supported by this language host", v)
	}
	return opts, nil
}

func (h *host) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := resolve(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}

	args := []string{h.exec}
	add := func(flagName, value string) {
		if value != "" {
			args = append(args, "--"+flagName, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("organization", req.GetOrganization())
	args = append(args, req.GetInfo().GetEntryPoint())
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("serialising the stack configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serialising the secret configuration keys: %w", err)
	}

	runCtx, runCancel := context.WithCancel(h.cancelCtx)
	defer runCancel()
	context.AfterFunc(ctx, runCancel)
	cmd, err := tc.Command(runCtx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))

	if err := cmd.Run(); err != nil {
		// The program's own output is already on stderr; flush it before the engine reads ours.
		_ = os.Stdout.Sync()
		_ = os.Stderr.Sync()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.ExitStatus() == exitAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d",
				exitErr.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run the Python executor: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	if req.GetKind() == "analyzer" {
		return errors.New("this language host runs resource plugins only, not policy packs")
	}
	if req.GetAttachDebugger() {
		return errors.New("this language host supports no debugger")
	}
	info := req.GetInfo()
	if info == nil {
		return errors.New("RunPlugin without program info")
	}
	dir := info.GetProgramDirectory()
	if _, err := os.Stat(filepath.Join(dir, "__main__.py")); err != nil {
		return fmt.Errorf("plugin %s: no __main__.py in %s (a pyproject.toml-only plugin, upstream's "+
			"`python -m pulumi.run.plugin` mode, is not supported by this host): %w", req.GetName(), dir, err)
	}
	opts, err := pluginOptions(info)
	if err != nil {
		return err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	ctx := server.Context()
	cmd, err := tc.Command(ctx, append([]string{dir}, req.GetArgs()...)...)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Dir = req.GetPwd()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, req.GetEnv()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok {
				return server.Send(&pulumirpc.RunPluginResponse{
					Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(status.ExitStatus())},
				})
			}
			return fmt.Errorf("plugin %s exited unexpectedly: %w", req.GetName(), exitErr)
		}
		return fmt.Errorf("could not run plugin %s: %w", req.GetName(), err)
	}
	return closer.Close()
}

func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	opts, err := options(req.GetInfo())
	if req.GetIsPlugin() {
		opts, err = pluginOptions(req.GetInfo())
	}
	if err != nil {
		return err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := tc.InstallDependencies(server.Context(), req.GetInfo().GetProgramDirectory(),
		req.GetUseLanguageVersionTools(), true, stdout, stderr); err != nil {
		return err
	}
	return closer.Close()
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip}
	if req.GetInfo() != nil {
		var err error
		if opts, err = options(req.GetInfo()); err != nil {
			return nil, err
		}
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: info.PythonExecutable, Version: info.PythonVersion.String(),
		Metadata: map[string]string{"toolchain": toolchain.Name(opts.Toolchain)}}, nil
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := resolve(req.GetInfo())
	if err != nil {
		return nil, err
	}
	deps, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("listing the program's Python packages: %w", err)
	}
	out := make([]*pulumirpc.DependencyInfo, len(deps))
	for i, d := range deps {
		out[i] = &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: out}, nil
}

func (h *host) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}
