// Package twotier is the Go client of cache-patterns' two-tier cache: it reads the CACHE_* env
// contract and reads through a pod-local L1 (a Redis sidecar) to the shared L2, keeping every pod's
// L1 coherent with invalidation messages on L2 (docs/protocol.md, protocol 2). Without an L1 in the
// pod it is a plain client over L2 with the same API.
package twotier

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrL2Unavailable: L1 could not answer and L2 could not be reached in time (connect or read
// timeout, refused, failed authentication, a read-only replica). Test with errors.Is. A failed write
// may or may not have been applied; the local L1 copy is dropped either way.
var ErrL2Unavailable = errors.New("L2 unavailable")

// Config is what New needs besides the L2 client; FromEnv fills it from the contract.
type Config struct {
	L1         L1Store       // nil: a single tier (with Tracking: a *NearL1)
	Subscriber *redis.Client // the invalidation subscription's client (default: L2; required for a cluster)
	Channel    string        // required with an L1
	TTLCap     time.Duration // required with an L1: the longest an L1 copy lives
	DefaultTTL time.Duration // applied by Set when its ttl is 0; 0: no expiry
	Name       string        // CACHE_NAME
	Options    Options
	// Tracking makes the L1 an in-process one kept coherent by the L2 server's client tracking,
	// through the client TrackingClient makes (required with it; L2 must not be a cluster).
	Tracking       *NearSettings
	TrackingClient TrackingClientFunc
}

// Cache is safe for concurrent use; one per process is enough.
type Cache struct {
	Name       string
	opts       Options
	l2         redis.UniversalClient
	sub        *redis.Client
	l1         L1Store
	channel    string
	defaultTTL time.Duration
	capMs      int64
	origin     string
	cluster    bool
	stats      Stats
	guard      guard
	loader     loaderState
	l1OK       atomic.Bool
	subscribed atomic.Bool
	l1RetryAt  atomic.Int64
	l2RetryAt  atomic.Int64
	recoverMu  sync.Mutex
	ready      chan struct{}
	readyOnce  sync.Once
	closed     chan struct{}
	closeOnce  sync.Once
	done       sync.WaitGroup

	near           *NearSettings // the in-process L1's tracking (tracking.go); nil: a sidecar L1 or none
	tracker        *redis.Client
	trackName      string
	trackID        atomic.Int64 // the tracking connection's CLIENT ID while subscribed; 0: none
	pendingID      atomic.Int64 // the id its last (re)connect got, until the subscription confirms
	trackStale     atomic.Bool  // a read found the tracking connection on another server
	trackCheckedAt atomic.Int64
}

// FromEnv builds the cache from the process environment (see SettingsFromEnv).
func FromEnv(opts Options) (*Cache, error) {
	s, err := SettingsFromEnv()
	if err != nil {
		return nil, err
	}
	return FromSettings(s, opts)
}

// FromEnvMap builds the cache from an env map (tests, or an app that reads its env elsewhere).
func FromEnvMap(env map[string]string, opts Options) (*Cache, error) {
	s, err := ParseSettings(env)
	if err != nil {
		return nil, err
	}
	return FromSettings(s, opts)
}

// FromSettings builds the clients of both tiers (nothing connects until the first use; the
// subscription starts at once and New waits up to Options.SubscribeWait for it).
func FromSettings(s Settings, opts Options) (*Cache, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	l2, sub, err := l2Client(s.L2, o)
	if err != nil {
		return nil, err
	}
	cfg := Config{Subscriber: sub, Channel: s.InvalidationChannel, Name: s.Name, Options: o,
		TTLCap:     time.Duration(s.L1TTLCapMillis) * time.Millisecond,
		DefaultTTL: time.Duration(s.DefaultTTLMillis) * time.Millisecond}
	if s.L1 != nil {
		cfg.L1 = RedisL1{Client: l1Client(*s.L1, o)}
	}
	if s.Near != nil {
		cfg.L1, cfg.Subscriber, cfg.Tracking = NewNearL1(s.Near.MaxEntries, s.Near.MaxBytes), nil, s.Near
		if cfg.TrackingClient, err = trackingClient(s.L2, o); err != nil {
			return nil, err
		}
		if sub != l2 {
			_ = sub.Close()
		}
	}
	return New(l2, cfg)
}

// New builds a cache over ready clients. With an L1 it subscribes to the channel in the background.
func New(l2 redis.UniversalClient, cfg Config) (*Cache, error) {
	o, err := cfg.Options.withDefaults()
	if err != nil {
		return nil, err
	}
	_, cluster := l2.(*redis.ClusterClient)
	if cfg.Tracking != nil && (cfg.TrackingClient == nil || cluster) {
		return nil, configErr("tracking_client: required with tracking, and l2 must not be a cluster")
	}
	if cfg.L1 != nil {
		if cfg.Channel == "" {
			return nil, configErr("channel: required when an L1 is given")
		}
		if cfg.TTLCap <= 0 {
			return nil, configErr("ttl_cap: must be > 0 when an L1 is given, got %v", cfg.TTLCap)
		}
		if cfg.Subscriber == nil && cfg.Tracking == nil {
			plain, ok := l2.(*redis.Client)
			if !ok {
				return nil, configErr("subscriber: required when l2 is not a plain *redis.Client")
			}
			cfg.Subscriber = plain
		}
	}
	if cfg.DefaultTTL < 0 {
		return nil, configErr("default_ttl: must be > 0, got %v", cfg.DefaultTTL)
	}
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	c := &Cache{Name: cfg.Name, opts: o, l2: l2, sub: cfg.Subscriber, l1: cfg.L1, channel: cfg.Channel,
		defaultTTL: cfg.DefaultTTL, capMs: cfg.TTLCap.Milliseconds(), origin: hex.EncodeToString(raw),
		cluster: cluster, ready: make(chan struct{}), closed: make(chan struct{})}
	c.loader.init()
	// L1 starts "down": the first use (or the subscription) flushes it, because copies left by an
	// earlier process may have missed invalidations.
	if c.l1 != nil {
		if c.capMs < 1 {
			c.capMs = 1
		}
		c.done.Add(1)
		if cfg.Tracking != nil {
			c.near, c.trackName = cfg.Tracking, "cp-near-"+c.origin
			c.tracker = cfg.TrackingClient(c.onTrackingConnect)
			go c.trackingLoop()
		} else {
			go c.subscriptionLoop()
		}
		c.WaitReady(o.SubscribeWait)
	}
	return c, nil
}

// Stats are the cache's counters.
func (c *Cache) Stats() *Stats { return &c.stats }

// Origin is this client instance's id in invalidation messages.
func (c *Cache) Origin() string { return c.origin }

// L1 is the cache's L1 store (a RedisL1, a *NearL1, or nil without an L1).
func (c *Cache) L1() L1Store { return c.l1 }

// HasL1 tells whether the cache has an L1 tier.
func (c *Cache) HasL1() bool { return c.l1 != nil }

// Subscribed tells whether invalidations arrive (L1 is populated only then).
func (c *Cache) Subscribed() bool { return c.subscribed.Load() }

// WaitReady waits until the invalidation subscription is up (always true without an L1).
func (c *Cache) WaitReady(timeout time.Duration) bool {
	if c.l1 == nil {
		return true
	}
	select {
	case <-c.ready:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Get returns the value and found == true, or found == false on a miss. An empty value is a value.
// The error is ErrL2Unavailable (wrapped) only when L1 cannot answer and L2 is down.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if value, found := c.fromL1(ctx, key); found {
		return value, true, nil
	}
	return c.readThrough(ctx, key)
}

func (c *Cache) fromL1(ctx context.Context, key string) ([]byte, bool) {
	if c.l1 == nil {
		return nil, false
	}
	if c.l1Usable(ctx) {
		value, found, err := c.l1.Get(ctx, key)
		if err != nil {
			c.l1Down(err)
		} else if found {
			c.stats.L1Hits.Add(1)
			return value, true
		}
	}
	c.stats.L1Misses.Add(1)
	return nil, false
}

func (c *Cache) readThrough(ctx context.Context, key string) ([]byte, bool, error) {
	if err := c.checkL2(); err != nil {
		return nil, false, err
	}
	if !(c.l1 != nil && c.l1OK.Load() && c.subscribed.Load() && c.keeps(key)) {
		value, err := c.l2.Get(ctx, key).Bytes()
		return c.answered(value, err)
	}
	s := c.guard.snapshot(key)
	if hook := c.opts.BeforeL2Read; hook != nil {
		hook(key)
	}
	// Wall-clock milliseconds: the L2 entry lives at least until started + PTTL, since PTTL is
	// measured after this instant. GET and PTTL in one round trip; a change between them is a write,
	// whose invalidation refuses or removes this populate. An in-process L1 puts its tracking checks
	// first (tracking.go).
	started := time.Now().UnixMilli()
	pipe := c.l2.Pipeline()
	checks := c.trackCommands(ctx, pipe)
	get := pipe.Get(ctx, key)
	pttl := pipe.Do(ctx, "PTTL", key)
	_, execErr := pipe.Exec(ctx)
	value, err := get.Bytes()
	if err == nil {
		err = failedRead(execErr) // go-redis leaves a command's error unset when the pipeline could not be sent
	}
	value, found, err := c.answered(value, err)
	if err != nil || !found {
		return value, found, err
	}
	ttl, err := pttl.Int64()
	if err != nil {
		return value, true, nil // no copy without the entry's TTL
	}
	if ttl != -2 && c.trackedBy(checks) {
		if hook := c.opts.AfterL2Read; hook != nil {
			hook(key, value)
		}
		c.populate(ctx, key, value, started, ttl, s)
	}
	return value, true, nil
}

func (c *Cache) answered(value []byte, err error) ([]byte, bool, error) {
	if errors.Is(err, redis.Nil) {
		c.l2RetryAt.Store(0)
		c.stats.L2Misses.Add(1)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, c.l2Failed(err, "read")
	}
	c.l2RetryAt.Store(0)
	c.stats.L2Hits.Add(1)
	return value, true, nil
}

// failed is a pipeline's error unless it is only a command's nil reply.
func failed(execErr error) error {
	if errors.Is(execErr, redis.Nil) {
		return nil
	}
	return execErr
}

// failedRead is a read pipeline's error unless it is only a command's reply (a nil, or an error reply
// of a tracking check): the GET carries its own reply error.
func failedRead(execErr error) error {
	var reply redis.Error
	if errors.As(execErr, &reply) {
		return nil
	}
	return failed(execErr)
}

// unavailable: the error means "L2 cannot serve now" rather than "this call is wrong".
func unavailable(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true // network, timeouts, dialing, the password file, a closed client
	}
	for _, prefix := range []string{"READONLY", "NOAUTH", "WRONGPASS", "CLUSTERDOWN", "MASTERDOWN", "LOADING",
		"ERR AUTH", "ERR invalid password", "TRYAGAIN"} {
		if strings.HasPrefix(err.Error(), prefix) {
			return true
		}
	}
	return false
}

func (c *Cache) l2Failed(err error, what string) error {
	if !unavailable(err) {
		return err
	}
	c.l2RetryAt.Store(time.Now().Add(c.opts.L2RetryInterval).UnixNano())
	c.stats.L2Errors.Add(1)
	return fmt.Errorf("%w: L2 %s failed: %v", ErrL2Unavailable, what, err)
}

func (c *Cache) checkL2() error {
	if at := c.l2RetryAt.Load(); at != 0 && time.Now().UnixNano() < at {
		return fmt.Errorf("%w: L2 failed moments ago; not retrying until %v have passed", ErrL2Unavailable,
			c.opts.L2RetryInterval)
	}
	return nil
}

// Close stops the subscription and closes every connection. Idempotent.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	c.done.Wait()
	var errs []error
	if c.l1 != nil {
		errs = append(errs, c.l1.Close())
	}
	if c.sub != nil && c.sub != c.l2 {
		errs = append(errs, c.sub.Close())
	}
	if c.tracker != nil {
		errs = append(errs, c.tracker.Close())
	}
	errs = append(errs, c.l2.Close())
	err := errors.Join(errs...)
	if errors.Is(err, redis.ErrClosed) {
		return nil
	}
	return err
}
