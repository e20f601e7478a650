package main

import (
	"context"

	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cache-patterns/cache-patterns/clients/go/v2/twotier"
)

const clientVersion = "2.1.0"

func seconds(v any) time.Duration {
	f, _ := v.(float64)
	return time.Duration(f * float64(time.Second))
}

func options(m map[string]any) twotier.Options {
	o := twotier.Options{L1ConnectTimeout: seconds(m["l1_connect_timeout"]), L1Timeout: seconds(m["l1_timeout"]),
		L2ConnectTimeout: seconds(m["l2_connect_timeout"]), L2Timeout: seconds(m["l2_timeout"]),
		L1RetryInterval: seconds(m["l1_retry_interval"]), L2RetryInterval: seconds(m["l2_retry_interval"]),
		HealthCheckInterval: seconds(m["health_check_interval"]), SubscribeWait: seconds(m["subscribe_wait"])}
	if r, ok := m["retries"].(float64); ok {
		o.Retries = int(r)
		if r == 0 {
			o.Retries = -1
		}
	}
	if v, ok := m["publish_version"].(float64); ok {
		o.PublishVersion = int(v)
	}
	return o
}

func tier(t *twotier.TierSettings) any {
	if t == nil {
		return nil
	}
	sentinels := [][]any{}
	for _, s := range t.Sentinels {
		sentinels = append(sentinels, []any{s.Host, s.Port})
	}
	str := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return map[string]any{"host": t.Host, "port": t.Port, "socket": str(t.Socket), "tls": t.TLS,
		"tls_ca_file": str(t.TLSCAFile), "cluster": t.Cluster, "username": str(t.Username),
		"password_file": str(t.PasswordFile), "has_password": t.Password != nil, "sentinels": sentinels,
		"sentinel_master": str(t.SentinelMaster), "sentinel_password_file": str(t.SentinelPasswordFile)}
}

func settings(env map[string]string) (any, error) {
	s, err := twotier.ParseSettings(env)
	if err != nil {
		return nil, err
	}
	ms := func(v int64) any {
		if v == 0 {
			return nil
		}
		return v
	}
	var name, channel any
	if s.Name != "" {
		name = s.Name
	}
	if s.InvalidationChannel != "" {
		channel = s.InvalidationChannel
	}
	var near any
	if n := s.Near; n != nil {
		prefixes := append([]string{}, n.Prefixes...)
		near = map[string]any{"max_entries": n.MaxEntries, "max_bytes": n.MaxBytes, "tracking": n.Tracking,
			"prefixes": prefixes}
	}
	return map[string]any{"name": name, "l2": tier(&s.L2), "l1": tier(s.L1), "ttl_cap_ms": ms(s.L1TTLCapMillis),
		"channel": channel, "default_ttl_ms": ms(s.DefaultTTLMillis), "near": near}, nil
}

// peek is the in-process L1 as it is: a key's copy (without counting a hit), its size and peaks.
func (d *driver) peek(ctx context.Context, req request) (any, error) {
	store, ok := d.cache.L1().(*twotier.NearL1)
	if !ok {
		return nil, fmt.Errorf("peek: the cache has no in-process L1")
	}
	var value any
	if req.Key != nil {
		if v, found, _ := store.Get(ctx, string(unb64(req.Key))); found {
			value = b64(v)
		}
	}
	n := store.Size()
	return map[string]any{"value_b64": value, "entries": n.Entries, "bytes": n.Bytes, "max_entries_seen": n.PeakEntries,
		"max_bytes_seen": n.PeakBytes, "evictions": n.Evictions}, nil
}

// benchHits times L1 hits one by one (nanoseconds): every key is read twice first.
func (d *driver) benchHits(ctx context.Context, req request) (any, error) {
	keys := make([]string, len(req.Keys))
	for i := range req.Keys {
		keys[i] = string(unb64(&req.Keys[i]))
	}
	for _, k := range append(append([]string{}, keys...), keys...) {
		if _, _, err := d.cache.Get(ctx, k); err != nil {
			return nil, err
		}
	}
	before := d.cache.Stats().L1Hits.Load()
	ns := make([]int64, 0, len(keys)*req.Rounds)
	for r := 0; r < req.Rounds; r++ {
		for _, k := range keys {
			t := time.Now()
			_, _, _ = d.cache.Get(ctx, k)
			ns = append(ns, time.Since(t).Nanoseconds())
		}
	}
	return map[string]any{"ns": ns, "hits": d.cache.Stats().L1Hits.Load() - before}, nil
}

// readMany gets every key in turn (a workload the harness generated).
func (d *driver) readMany(ctx context.Context, req request) (any, error) {
	before := d.cache.Stats().L1Hits.Load()
	for _, k := range req.Keys {
		if _, _, err := d.cache.Get(ctx, string(unb64(&k))); err != nil {
			return nil, err
		}
	}
	return map[string]any{"reads": len(req.Keys), "l1_hits": d.cache.Stats().L1Hits.Load() - before}, nil
}

func (d *driver) open(req request) (any, error) {
	o := options(req.Options)
	o.BeforeL2Read = func(key string) { d.hook("before_l2_read", key) }
	o.AfterL2Read = func(key string, _ []byte) { d.hook("after_l2_read", key) }
	c, err := twotier.FromEnvMap(req.Env, o)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.cache = c
	d.mu.Unlock()
	return map[string]any{"origin": c.Origin(), "ready": c.Subscribed()}, nil
}

func key(req request) (string, error) {
	if len(req.KeyJSON) > 0 {
		return "", kindError{"TypeError", "key: the Go client's keys are strings (the compiler refuses other types)"}
	}
	return string(unb64(req.Key)), nil
}

func (d *driver) getOrLoad(ctx context.Context, req request) (any, error) {
	k, err := key(req)
	if err != nil {
		return nil, err
	}
	var calls atomic.Int64
	load := func(context.Context) ([]byte, bool, error) {
		calls.Add(1)
		time.Sleep(time.Duration(req.Loader.DelayMs) * time.Millisecond)
		if req.Loader.Error != "" {
			return nil, false, kindError{"LoaderError", req.Loader.Error}
		}
		v := unb64(req.Loader.Value)
		return v, v != nil, nil
	}
	opts := twotier.LoadOptions{}
	if req.TTLMillis != nil {
		opts.TTL = time.Duration(*req.TTLMillis) * time.Millisecond
	}
	if req.NegativeTTL != nil {
		opts.NegativeTTL = time.Duration(*req.NegativeTTL) * time.Millisecond
	}
	n := max(req.Concurrency, 1)
	results := make([]any, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, found, err := d.cache.GetOrLoad(ctx, k, load, opts)
			switch {
			case err != nil:
				results[i] = map[string]any{"error": map[string]any{"type": errorKind(err), "message": err.Error()}}
			case !found:
				results[i] = map[string]any{"value_b64": nil}
			default:
				results[i] = map[string]any{"value_b64": b64(v)}
			}
		}(i)
	}
	wg.Wait()
	return map[string]any{"results": results, "loader_calls": calls.Load()}, nil
}

func (d *driver) handle(req request) (any, error) {
	ctx := context.Background()
	switch req.Op {
	case "hello":
		return map[string]any{"language": "go", "client_version": clientVersion, "protocol_version": twotier.ProtocolVersion,
			"runtime": fmt.Sprintf("Go %s, go-redis v9", runtime.Version())}, nil
	case "digest":
		return map[string]any{"digest": twotier.Digest(unb64(req.Value))}, nil
	case "bucket":
		return map[string]any{"bucket": twotier.Bucket(string(unb64(req.Key)))}, nil
	case "encode":
		return encode(req)
	case "decode":
		inv := twotier.Decode(unb64(&req.Payload))
		out := map[string]any{"origin": inv.Origin, "key_b64": b64(inv.Key), "flush": inv.Flush, "digest": nil, "ttl_ms": nil}
		if a := inv.Announced; a != nil {
			out["digest"] = a.Digest
			if a.TTLMillis >= 0 {
				out["ttl_ms"] = a.TTLMillis
			}
		}
		return out, nil
	case "settings":
		return settings(req.Env)
	case "open":
		return d.open(req)
	case "resume":
		close(d.gate(req.Target))
		return map[string]any{}, nil
	case "stats":
		return d.cache.Stats().Snapshot(), nil
	case "info":
		return map[string]any{"origin": d.cache.Origin(), "subscribed": d.cache.Subscribed()}, nil
	case "wait_ready":
		return map[string]any{"ready": d.cache.WaitReady(time.Duration(req.TimeoutMillis) * time.Millisecond)}, nil
	case "get_or_load":
		return d.getOrLoad(ctx, req)
	case "peek":
		return d.peek(ctx, req)
	case "read_many":
		return d.readMany(ctx, req)
	case "bench_hits":
		return d.benchHits(ctx, req)
	case "bench":
		b := req.benchRequest
		b.concurrency = req.Concurrency
		return d.bench(ctx, b)
	case "close":
		if d.cache != nil {
			_ = d.cache.Close()
		}
		return map[string]any{}, nil
	}
	return d.data(ctx, req)
}

func (d *driver) data(ctx context.Context, req request) (any, error) {
	k, err := key(req)
	if err != nil {
		return nil, err
	}
	switch req.Op {
	case "get":
		if req.Pause != "" {
			d.mu.Lock()
			d.pausing[k] = pause{id: req.ID, where: req.Pause}
			d.mu.Unlock()
		}
		v, found, err := d.cache.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		if !found {
			return map[string]any{"value_b64": nil}, nil
		}
		return map[string]any{"value_b64": b64(v)}, nil
	case "set":
		ttl := time.Duration(0)
		if req.TTLMillis != nil {
			ttl = time.Duration(*req.TTLMillis) * time.Millisecond
		}
		return map[string]any{}, d.cache.Set(ctx, k, unb64(req.Value), ttl)
	case "delete":
		existed, err := d.cache.Delete(ctx, k)
		return map[string]any{"existed": existed}, err
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}

func encode(req request) (any, error) {
	version := req.Version
	if version == 0 {
		version = 2
	}
	k := string(unb64(req.Key))
	var payload []byte
	var err error
	switch req.Kind {
	case "value":
		ttl := int64(-1)
		if req.TTLMillis != nil {
			ttl = *req.TTLMillis
		}
		payload, err = twotier.EncodeValue(req.Origin, k, twotier.Digest(unb64(req.Value)), ttl)
	case "key":
		payload, err = twotier.EncodeKey(req.Origin, k, version)
	default:
		payload, err = twotier.EncodeFlush(req.Origin, version)
	}
	return map[string]any{"payload_b64": b64(payload)}, err
}
