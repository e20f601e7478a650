package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cache-patterns/cache-patterns/clients/go/v2/twotier"
	"github.com/redis/go-redis/v9"
)

// benchRequest is the `bench` request (benchmarks/two_tier_clients.py): L1 hits and misses of the
// open cache against raw go-redis GETs on the same sockets, and the loader's stampede figure.
type benchRequest struct {
	L1Socket       string `json:"l1_socket"`
	L2Port         int    `json:"l2_port"`
	Keys           int    `json:"keys"`
	Rounds         int    `json:"rounds"`
	StampedeRounds int    `json:"stampede_rounds"`
	LoaderMs       int    `json:"loader_ms"`
	concurrency    int    // the request's own "concurrency"
}

func timed(keys []string, sink *[]int64, fn func(string)) {
	for _, k := range keys {
		t := time.Now()
		fn(k)
		*sink = append(*sink, time.Since(t).Nanoseconds())
	}
}

func (d *driver) bench(ctx context.Context, b benchRequest) (any, error) {
	keys := make([]string, b.Keys)
	for i := range keys {
		keys[i] = "bench:" + strconv.Itoa(i)
	}
	rawL1 := redis.NewClient(&redis.Options{Network: "unix", Addr: b.L1Socket, Protocol: 2, DisableIdentity: true})
	rawL2 := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(b.L2Port), Protocol: 2, DisableIdentity: true})
	defer rawL1.Close()
	defer rawL2.Close()
	c := d.cache
	get := func(k string) { _, _, _ = c.Get(ctx, k) }
	for _, k := range append(keys, keys...) {
		get(k)
	}
	if n := rawL1.Exists(ctx, keys...).Val(); n != int64(len(keys)) {
		return nil, fmt.Errorf("only %d of %d bench keys are in L1", n, len(keys))
	}
	out := map[string]*[]int64{"hit_raw": {}, "hit_client": {}, "miss_raw": {}, "miss_client": {}}
	rawGet := func(client *redis.Client) func(string) { return func(k string) { client.Get(ctx, k) } }
	for r := 0; r < b.Rounds; r++ {
		if r%2 == 0 {
			timed(keys, out["hit_raw"], rawGet(rawL1))
			timed(keys, out["hit_client"], get)
		} else {
			timed(keys, out["hit_client"], get)
			timed(keys, out["hit_raw"], rawGet(rawL1))
		}
	}
	for r := 0; r < b.Rounds; r++ {
		rawL1.FlushDB(ctx)
		if r%2 == 0 {
			timed(keys, out["miss_raw"], rawGet(rawL2))
			timed(keys, out["miss_client"], get)
		} else {
			timed(keys, out["miss_client"], get)
			timed(keys, out["miss_raw"], rawGet(rawL2))
		}
	}
	result := map[string]any{"stampede_calls": d.stampede(ctx, b)}
	for name, values := range out {
		result[name] = *values
	}
	return result, nil
}

func (d *driver) stampede(ctx context.Context, b benchRequest) []int64 {
	var perRound []int64
	value := make([]byte, 512)
	for r := 0; r < b.StampedeRounds; r++ {
		var calls atomic.Int64
		load := func(context.Context) ([]byte, bool, error) {
			calls.Add(1)
			time.Sleep(time.Duration(b.LoaderMs) * time.Millisecond)
			return value, true, nil
		}
		key := "stampede:" + strconv.Itoa(r)
		var start, done sync.WaitGroup
		start.Add(1)
		for i := 0; i < b.concurrency; i++ {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				_, _, _ = d.cache.GetOrLoad(ctx, key, load, twotier.LoadOptions{TTL: time.Minute})
			}()
		}
		start.Done()
		done.Wait()
		perRound = append(perRound, calls.Load())
	}
	return perRound
}
