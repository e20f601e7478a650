package twotier

import (
	"context"
	"testing"
	"time"
)

func TestNearL1KeepsWithinItsBoundsLeastRecentlyUsedFirst(t *testing.T) {
	ctx, far := context.Background(), time.Now().Add(time.Hour)
	n := NewNearL1(3, 1<<20)
	for _, k := range []string{"a", "b", "c"} {
		_ = n.Put(ctx, k, []byte(k), far)
	}
	if _, ok, _ := n.Get(ctx, "a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	_ = n.Put(ctx, "d", []byte("d"), far)
	if _, ok, _ := n.Get(ctx, "b"); ok {
		t.Fatal("b, the least recently used, should have been evicted")
	}
	if s := n.Size(); s.Entries != 3 || s.PeakEntries != 3 || s.Evictions != 1 {
		t.Fatalf("size %+v", s)
	}
	b := NewNearL1(100, 3*(EntryOverhead+2))
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		_ = b.Put(ctx, k, nil, far)
	}
	if s := b.Size(); s.Entries != 3 || s.Bytes != 3*(EntryOverhead+2) || s.PeakBytes > 3*(EntryOverhead+2) {
		t.Fatalf("byte bound: %+v", s)
	}
	_ = b.Put(ctx, "huge", make([]byte, 1000), far)
	if _, ok, _ := b.Get(ctx, "huge"); ok {
		t.Fatal("a value bigger than the bound must not be kept")
	}
}

func TestNearL1CopiesExpireAndAreTheCallersOwn(t *testing.T) {
	ctx := context.Background()
	n := NewNearL1(10, 1<<20)
	_ = n.Put(ctx, "k", []byte("v1"), time.Now().Add(30*time.Millisecond))
	v, ok, _ := n.Get(ctx, "k")
	if !ok || string(v) != "v1" {
		t.Fatalf("got %q %v", v, ok)
	}
	v[0] = 'X'
	if again, _, _ := n.Get(ctx, "k"); string(again) != "v1" {
		t.Fatalf("a caller's change reached the store: %q", again)
	}
	if e, ok, _ := n.Get(ctx, "empty"); ok || e != nil {
		t.Fatal("absent key found")
	}
	_ = n.Put(ctx, "empty", []byte{}, time.Now().Add(time.Hour))
	if e, ok, _ := n.Get(ctx, "empty"); !ok || e == nil || len(e) != 0 {
		t.Fatalf("an empty value is a value: %v %v", e, ok)
	}
	time.Sleep(40 * time.Millisecond)
	if _, ok, _ := n.Get(ctx, "k"); ok {
		t.Fatal("expired copy served")
	}
}
