package twotier

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// passwordFile reads the file on every new connection, so a rotated Secret is picked up at the
// next reconnect without a restart (the kubelet swaps the file atomically).
func passwordFile(path, username string) func(context.Context) (string, string, error) {
	return func(context.Context) (string, string, error) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return "", "", fmt.Errorf("cannot read password file %s: %w", path, err)
		}
		return username, strings.TrimRight(string(raw), "\r\n"), nil
	}
}

func tlsConfig(t TierSettings) (*tls.Config, error) {
	if !t.TLS {
		return nil, nil
	}
	// No CA file: the system trust store (managed services with public CAs). Hostnames are checked.
	cfg := &tls.Config{ServerName: t.Host, MinVersion: tls.VersionTLS12}
	if t.TLSCAFile != "" {
		pem, err := os.ReadFile(t.TLSCAFile)
		if err != nil {
			return nil, configErr("CACHE_L2_TLS_CA_FILE: cannot read %s: %v", quote(t.TLSCAFile), err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, configErr("CACHE_L2_TLS_CA_FILE: no certificate in %s", quote(t.TLSCAFile))
		}
	}
	return cfg, nil
}

func retries(o Options) int {
	if o.Retries < 0 {
		return -1 // go-redis: no retries
	}
	return o.Retries
}

// l1Client is the sidecar: the unix socket when the contract offers one (faster than TCP loopback).
func l1Client(t TierSettings, o Options) *redis.Client {
	opt := &redis.Options{Network: "tcp", Addr: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)),
		DialTimeout: o.L1ConnectTimeout, ReadTimeout: o.L1Timeout, WriteTimeout: o.L1Timeout,
		MaxRetries: retries(o), MinRetryBackoff: -1, DialerRetries: 1, PoolTimeout: o.L1Timeout,
		Protocol: 2, DisableIdentity: true}
	if t.Socket != "" {
		opt.Network, opt.Addr = "unix", t.Socket
	}
	return redis.NewClient(opt)
}

// l2Client is the shared tier: a Sentinel-managed primary, a cluster, or a plain endpoint. The second
// client is the one the invalidation subscription runs on (in cluster mode a plain connection to the
// configured endpoint: PUBLISH reaches every node).
func l2Client(t TierSettings, o Options) (redis.UniversalClient, *redis.Client, error) {
	tlsCfg, err := tlsConfig(t)
	if err != nil {
		return nil, nil, err
	}
	var creds func(context.Context) (string, string, error)
	password := ""
	if t.PasswordFile != "" {
		creds = passwordFile(t.PasswordFile, t.Username)
	} else if t.Password != nil {
		password = *t.Password
	}
	plain := func(network, addr string) *redis.Client {
		return redis.NewClient(&redis.Options{Network: network, Addr: addr, Username: t.Username, Password: password,
			CredentialsProviderContext: creds, TLSConfig: tlsCfg, DialTimeout: o.L2ConnectTimeout,
			ReadTimeout: o.L2Timeout, WriteTimeout: o.L2Timeout, MaxRetries: retries(o), MinRetryBackoff: -1,
			DialerRetries: 1, PoolTimeout: o.L2Timeout, Protocol: 2, DisableIdentity: true})
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	switch {
	case t.Cluster:
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, Username: t.Username, Password: password,
			CredentialsProviderContext: creds, TLSConfig: tlsCfg, DialTimeout: o.L2ConnectTimeout,
			ReadTimeout: o.L2Timeout, WriteTimeout: o.L2Timeout, MaxRetries: retries(o), MinRetryBackoff: -1,
			DialerRetries: 1, PoolTimeout: o.L2Timeout, Protocol: 2, DisableIdentity: true})
		return c, plain("tcp", addr), nil
	case len(t.Sentinels) > 0:
		sentinelPassword := ""
		if t.SentinelPasswordFile != "" {
			if _, pw, err := passwordFile(t.SentinelPasswordFile, "")(context.Background()); err == nil {
				sentinelPassword = pw // read once: go-redis asks Sentinels with a fixed password
			}
		}
		addrs := make([]string, len(t.Sentinels))
		for i, s := range t.Sentinels {
			addrs[i] = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
		}
		c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: t.SentinelMaster, SentinelAddrs: addrs,
			SentinelPassword: sentinelPassword, Username: t.Username, Password: password,
			CredentialsProviderContext: creds, TLSConfig: tlsCfg, DialTimeout: o.L2ConnectTimeout,
			ReadTimeout: o.L2Timeout, WriteTimeout: o.L2Timeout, MaxRetries: retries(o), MinRetryBackoff: -1,
			DialerRetries: 1, PoolTimeout: o.L2Timeout, Protocol: 2, DisableIdentity: true})
		return c, c, nil
	case t.Socket != "" && !t.TLS:
		c := plain("unix", t.Socket)
		return c, c, nil
	}
	c := plain("tcp", addr)
	return c, c, nil
}

// trackingClient makes the in-process L1's tracking connection's client: to the server L2 talks to
// (through the Sentinels when there are Sentinels), speaking RESP2, where the server sends
// invalidations redirected to a subscribed connection as Pub/Sub messages on __redis__:invalidate.
func trackingClient(t TierSettings, o Options) (TrackingClientFunc, error) {
	tlsCfg, err := tlsConfig(t)
	if err != nil {
		return nil, err
	}
	var creds func(context.Context) (string, string, error)
	password := ""
	if t.PasswordFile != "" {
		creds = passwordFile(t.PasswordFile, t.Username)
	} else if t.Password != nil {
		password = *t.Password
	}
	return func(onConnect func(context.Context, *redis.Conn) error) *redis.Client {
		if len(t.Sentinels) > 0 {
			sentinelPassword := ""
			if t.SentinelPasswordFile != "" {
				if _, pw, err := passwordFile(t.SentinelPasswordFile, "")(context.Background()); err == nil {
					sentinelPassword = pw
				}
			}
			addrs := make([]string, len(t.Sentinels))
			for i, s := range t.Sentinels {
				addrs[i] = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
			}
			return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: t.SentinelMaster, SentinelAddrs: addrs,
				SentinelPassword: sentinelPassword, Username: t.Username, Password: password,
				CredentialsProviderContext: creds, TLSConfig: tlsCfg, DialTimeout: o.L2ConnectTimeout,
				ReadTimeout: o.L2Timeout, WriteTimeout: o.L2Timeout, MaxRetries: retries(o), MinRetryBackoff: -1,
				DialerRetries: 1, PoolTimeout: o.L2Timeout, Protocol: 2, DisableIdentity: true, OnConnect: onConnect})
		}
		network, addr := "tcp", net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
		if t.Socket != "" && !t.TLS {
			network, addr = "unix", t.Socket
		}
		return redis.NewClient(&redis.Options{Network: network, Addr: addr, Username: t.Username, Password: password,
			CredentialsProviderContext: creds, TLSConfig: tlsCfg, DialTimeout: o.L2ConnectTimeout,
			ReadTimeout: o.L2Timeout, WriteTimeout: o.L2Timeout, MaxRetries: retries(o), MinRetryBackoff: -1,
			DialerRetries: 1, PoolTimeout: o.L2Timeout, Protocol: 2, DisableIdentity: true, OnConnect: onConnect})
	}, nil
}
