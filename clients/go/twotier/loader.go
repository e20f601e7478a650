package twotier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// NegativeEntries is how many absences a process remembers at most (the oldest go first).
const NegativeEntries = 10000

// LoaderFunc loads a value from the source of truth. found == false is an absence (no error).
type LoaderFunc func(ctx context.Context) (value []byte, found bool, err error)

// LoadOptions of GetOrLoad.
type LoadOptions struct {
	TTL time.Duration // how long the loaded value lives in L2 (0: as Set with 0)
	// NegativeTTL > 0: an absence is remembered this long, in this process only; an invalidation of
	// the key (or an L1 flush) forgets it sooner.
	NegativeTTL time.Duration
}

type flight struct {
	done  chan struct{}
	value []byte
	found bool
	err   error
}

type loaderState struct {
	mu       sync.Mutex
	flights  map[string]*flight
	negMu    sync.Mutex
	negative map[string]time.Time
	negOrder []string
}

func (l *loaderState) init() {
	l.flights = map[string]*flight{}
	l.negative = map[string]time.Time{}
}

// GetOrLoad returns the cached value, else the loader's, stored like Set. Concurrent misses of one key
// in this process call the loader once and share its result or its error; a loader error is
// returned and never cached. With L2 down the loader still answers (nothing is stored).
func (c *Cache) GetOrLoad(ctx context.Context, key string, load LoaderFunc, opts LoadOptions) ([]byte, bool, error) {
	if opts.TTL < 0 || opts.NegativeTTL < 0 {
		return nil, false, fmt.Errorf("ttl: must be > 0, got %v / %v", opts.TTL, opts.NegativeTTL)
	}
	if value, found := c.fromL1(ctx, key); found {
		return value, true, nil
	}
	if c.absent(key) {
		return nil, false, nil
	}
	c.loader.mu.Lock()
	f, waiting := c.loader.flights[key]
	if !waiting {
		f = &flight{done: make(chan struct{})}
		c.loader.flights[key] = f
	}
	c.loader.mu.Unlock()
	if waiting {
		c.stats.LoadWaits.Add(1)
		select {
		case <-f.done:
			return f.value, f.found, f.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	defer func() {
		c.loader.mu.Lock()
		delete(c.loader.flights, key)
		c.loader.mu.Unlock()
		close(f.done)
	}()
	f.value, f.found, f.err = c.load(ctx, key, load, opts)
	return f.value, f.found, f.err
}

func (c *Cache) load(ctx context.Context, key string, load LoaderFunc, opts LoadOptions) ([]byte, bool, error) {
	value, found, err := c.readThrough(ctx, key)
	l2OK := err == nil
	if err != nil && !errors.Is(err, ErrL2Unavailable) {
		return nil, false, err
	}
	if found {
		return value, true, nil
	}
	s := c.guard.snapshot(key)
	c.stats.Loads.Add(1)
	value, found, err = load(ctx)
	if err != nil {
		c.stats.LoadErrors.Add(1)
		return nil, false, err
	}
	if !found {
		if opts.NegativeTTL > 0 {
			c.rememberAbsent(key, s, opts.NegativeTTL)
		}
		return nil, false, nil
	}
	if value == nil {
		value = []byte{}
	}
	if l2OK {
		_ = c.Set(ctx, key, value, opts.TTL) // not stored: the caller still has its value
	}
	return value, true, nil
}

func (c *Cache) absent(key string) bool {
	c.loader.negMu.Lock()
	defer c.loader.negMu.Unlock()
	expires, ok := c.loader.negative[key]
	if !ok {
		return false
	}
	if !time.Now().Before(expires) {
		delete(c.loader.negative, key)
		return false
	}
	c.stats.NegativeHits.Add(1)
	return true
}

// rememberAbsent is like a populate: not when the key was invalidated (or L1 flushed) since the
// snapshot taken before the L2 read, nor while invalidations are not arriving.
func (c *Cache) rememberAbsent(key string, s snapshot, ttl time.Duration) {
	if c.l1 != nil && !c.subscribed.Load() {
		return
	}
	mu := c.guard.lock(s)
	mu.Lock()
	defer mu.Unlock()
	if refused, last := c.guard.touched(key, s); refused || last != nil {
		return
	}
	c.loader.negMu.Lock()
	defer c.loader.negMu.Unlock()
	for len(c.loader.negative) >= NegativeEntries && len(c.loader.negOrder) > 0 {
		delete(c.loader.negative, c.loader.negOrder[0])
		c.loader.negOrder = c.loader.negOrder[1:]
	}
	if _, ok := c.loader.negative[key]; !ok {
		c.loader.negOrder = append(c.loader.negOrder, key)
	}
	if len(c.loader.negOrder) > 2*NegativeEntries { // keys forgotten meanwhile: keep the live ones
		live := c.loader.negOrder[:0]
		for _, k := range c.loader.negOrder {
			if _, ok := c.loader.negative[k]; ok {
				live = append(live, k)
			}
		}
		c.loader.negOrder = live
	}
	c.loader.negative[key] = time.Now().Add(ttl)
}

func (c *Cache) forgetAbsent(key string) {
	c.loader.negMu.Lock()
	delete(c.loader.negative, key)
	c.loader.negMu.Unlock()
}

func (c *Cache) forgetAllAbsent() {
	c.loader.negMu.Lock()
	c.loader.negative = map[string]time.Time{}
	c.loader.negOrder = nil
	c.loader.negMu.Unlock()
}
