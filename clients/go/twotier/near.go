package twotier

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// EntryOverhead is what a copy costs the byte bound beyond its key and value, the same in every
// client (a nominal figure; what the runtime spends per entry is measured in docs/benchmarks.md).
const EntryOverhead = 64

type nearEntry struct {
	key      string
	value    []byte
	deadline time.Time // monotonic: a step of the wall clock cannot stretch it
}

// NearL1 is the in-process L1 (CACHE_L1_MODE=in-process): an L1Store that keeps copies in this
// process's memory, bounded by entries and bytes (least recently used evicted first). The L2
// server's client tracking and the populate guard keep it coherent; the store only bounds and
// expires. Safe for concurrent use; it never fails.
type NearL1 struct {
	maxEntries, maxBytes int64
	mu                   sync.Mutex
	items                map[string]*list.Element
	order                *list.List // front: most recently used
	bytes                int64
	evictions            int64
	peakEntries          int64
	peakBytes            int64
}

// NewNearL1 returns an empty store with these bounds (both > 0).
func NewNearL1(maxEntries, maxBytes int64) *NearL1 {
	if maxEntries < 1 || maxBytes < 1 {
		panic("twotier: NearL1 bounds must be > 0")
	}
	return &NearL1{maxEntries: maxEntries, maxBytes: maxBytes, items: map[string]*list.Element{}, order: list.New()}
}

func cost(key string, value []byte) int64 { return int64(len(key)+len(value)) + EntryOverhead }

// Get returns a copy of the value (the caller may keep or change it), or found == false.
func (n *NearL1) Get(_ context.Context, key string) ([]byte, bool, error) {
	n.mu.Lock()
	el, ok := n.items[key]
	if !ok {
		n.mu.Unlock()
		return nil, false, nil
	}
	e := el.Value.(*nearEntry)
	if !time.Now().Before(e.deadline) {
		n.remove(el)
		n.mu.Unlock()
		return nil, false, nil
	}
	n.order.MoveToFront(el)
	out := append([]byte(nil), e.value...)
	n.mu.Unlock()
	if out == nil {
		out = []byte{}
	}
	return out, true, nil
}

// Put keeps a copy until deadline (turned into this process's monotonic clock at once). A value
// bigger than the whole byte bound is not kept.
func (n *NearL1) Put(_ context.Context, key string, value []byte, deadline time.Time) error {
	e := &nearEntry{key: key, value: append([]byte(nil), value...), deadline: time.Now().Add(time.Until(deadline))}
	n.mu.Lock()
	defer n.mu.Unlock()
	if el, ok := n.items[key]; ok {
		n.remove(el)
	}
	c := cost(key, value)
	if c > n.maxBytes {
		return nil
	}
	n.items[key] = n.order.PushFront(e)
	n.bytes += c
	for int64(len(n.items)) > n.maxEntries || n.bytes > n.maxBytes {
		n.remove(n.order.Back())
		n.evictions++
	}
	n.peakEntries = max(n.peakEntries, int64(len(n.items)))
	n.peakBytes = max(n.peakBytes, n.bytes)
	return nil
}

// Delete drops the key's copy.
func (n *NearL1) Delete(_ context.Context, key string) error {
	n.mu.Lock()
	if el, ok := n.items[key]; ok {
		n.remove(el)
	}
	n.mu.Unlock()
	return nil
}

// Flush drops every copy.
func (n *NearL1) Flush(context.Context) error {
	n.mu.Lock()
	n.items, n.bytes = map[string]*list.Element{}, 0
	n.order.Init()
	n.mu.Unlock()
	return nil
}

// Close drops every copy.
func (n *NearL1) Close() error { return n.Flush(context.Background()) }

// NearSize is what the store holds and has held: its copies and bytes now, the most ever held at
// once (the bounds' proof), and the copies evicted to stay within them.
type NearSize struct {
	Entries, Bytes, PeakEntries, PeakBytes, Evictions int64
}

// Size reports the store's size.
func (n *NearL1) Size() NearSize {
	n.mu.Lock()
	defer n.mu.Unlock()
	return NearSize{Entries: int64(len(n.items)), Bytes: n.bytes, PeakEntries: n.peakEntries, PeakBytes: n.peakBytes,
		Evictions: n.evictions}
}

func (n *NearL1) remove(el *list.Element) {
	e := n.order.Remove(el).(*nearEntry)
	delete(n.items, e.key)
	n.bytes -= cost(e.key, e.value)
}
