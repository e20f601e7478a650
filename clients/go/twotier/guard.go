package twotier

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// The populate guard: a generation per key bucket and the last few invalidations of each bucket
// (key and announcement), so a copy read from L2 is kept out of L1 when a write of that key raced
// the read, unless the write announced the very value read. docs/protocol.md, reader rule 7.
const (
	guardLocks  = 64
	guardEvents = 4
)

type guardEvent struct {
	gen       uint64
	key       string
	announced *Announcement
}

type guardBucket struct {
	gen    atomic.Uint64
	events []guardEvent // under the bucket's lock
}

type guard struct {
	locks     [guardLocks]sync.Mutex
	buckets   [Buckets]guardBucket
	globalGen atomic.Uint64 // changed only with every lock held
}

type snapshot struct {
	bucket    int
	globalGen uint64
	gen       uint64
}

func (g *guard) snapshot(key string) snapshot {
	b := Bucket(key)
	return snapshot{bucket: b, globalGen: g.globalGen.Load(), gen: g.buckets[b].gen.Load()}
}

func (g *guard) lock(s snapshot) *sync.Mutex { return &g.locks[s.bucket%guardLocks] }

// touched tells, under the bucket's lock, whether `key` was invalidated since the snapshot: no; yes
// (refused); or only by writes whose last one announced an entry (returned).
func (g *guard) touched(key string, s snapshot) (refused bool, last *guardEvent) {
	if g.globalGen.Load() != s.globalGen {
		return true, nil
	}
	b := &g.buckets[s.bucket]
	gen := b.gen.Load()
	if gen == s.gen {
		return false, nil
	}
	var newer []guardEvent
	for _, e := range b.events {
		if e.gen > s.gen {
			newer = append(newer, e)
		}
	}
	if uint64(len(newer)) != gen-s.gen {
		return true, nil // more invalidations than the record keeps: cannot tell whose they were
	}
	for i := len(newer) - 1; i >= 0; i-- {
		if newer[i].key == key {
			return false, &newer[i]
		}
	}
	return false, nil // other keys that share the bucket
}

// record notes an invalidation of `key`, under its bucket's lock.
func (g *guard) record(key string, announced *Announcement) {
	s := g.snapshot(key)
	mu := g.lock(s)
	mu.Lock()
	b := &g.buckets[s.bucket]
	gen := b.gen.Add(1)
	b.events = append(b.events, guardEvent{gen: gen, key: key, announced: announced})
	if len(b.events) > guardEvents {
		b.events = append(b.events[:0:0], b.events[len(b.events)-guardEvents:]...)
	}
	mu.Unlock()
}

// populate copies an L2 value into L1 until the L2 entry's deadline (started + pttl; pttl -1: none)
// and at most the cap from now, as an absolute time (SET ... PXAT): however late the SET reaches L1,
// the copy cannot outlive the L2 entry. Invalidations after the check take the same lock, so they
// run after the SET and delete it.
func (c *Cache) populate(ctx context.Context, key string, value []byte, startedMs, pttl int64, s snapshot) {
	mu := c.guard.lock(s)
	mu.Lock()
	defer mu.Unlock()
	now := time.Now().UnixMilli()
	deadline := now + c.capMs
	if pttl != -1 && startedMs+pttl < deadline {
		deadline = startedMs + pttl
	}
	if deadline <= now {
		return // the L2 entry expires before the copy could be made
	}
	refused, last := c.guard.touched(key, s)
	announced := false
	if !refused && last != nil {
		refused = last.announced == nil || last.announced.Digest != Digest(value)
		if !refused {
			announced = true
			if last.announced.TTLMillis >= 0 && startedMs+last.announced.TTLMillis < deadline {
				deadline = startedMs + last.announced.TTLMillis
			}
		}
	}
	if refused || !c.subscribed.Load() || !c.l1OK.Load() {
		c.stats.PopulatesRefused.Add(1)
		return
	}
	if deadline <= now {
		return
	}
	if err := c.l1.Put(ctx, key, value, time.UnixMilli(deadline)); err != nil {
		c.l1Down(err)
		return
	}
	c.stats.Populates.Add(1)
	if announced {
		c.stats.PopulatesAnnounced.Add(1)
	}
}

// invalidateLocal drops the key from L1 and refuses populates of it that started before now
// (unless they read what `announced` describes).
func (c *Cache) invalidateLocal(ctx context.Context, key string, announced *Announcement) {
	c.guard.record(key, announced)
	c.forgetAbsent(key)
	if c.l1 != nil && c.l1OK.Load() {
		if err := c.l1.Delete(ctx, key); err != nil {
			c.l1Down(err) // a flush before the next use: the copy must not survive
		}
	}
}

// flushL1 empties L1 and refuses every populate in flight; whether L1 is usable afterwards.
func (c *Cache) flushL1(ctx context.Context) bool {
	if c.l1 == nil {
		return false
	}
	for i := range c.guard.locks {
		c.guard.locks[i].Lock()
	}
	defer func() {
		for i := range c.guard.locks {
			c.guard.locks[i].Unlock()
		}
	}()
	c.guard.globalGen.Add(1)
	c.forgetAllAbsent()
	if err := c.l1.Flush(ctx); err != nil {
		c.l1Down(err)
		return false
	}
	c.l1OK.Store(true)
	c.stats.L1Flushes.Add(1)
	return true
}

// l1Usable is the slow path of every L1 use while L1 is marked down: at most once per retry
// interval, flush it and use it again.
func (c *Cache) l1Usable(ctx context.Context) bool {
	if c.l1OK.Load() {
		return true
	}
	if c.l1 == nil || time.Now().UnixNano() < c.l1RetryAt.Load() || !c.recoverMu.TryLock() {
		return false
	}
	defer c.recoverMu.Unlock()
	if c.l1OK.Load() {
		return true
	}
	c.l1RetryAt.Store(time.Now().Add(c.opts.L1RetryInterval).UnixNano())
	return c.flushL1(ctx)
}

func (c *Cache) l1Down(error) {
	c.l1OK.Store(false)
	c.l1RetryAt.Store(time.Now().Add(c.opts.L1RetryInterval).UnixNano())
	c.stats.L1Errors.Add(1)
}
