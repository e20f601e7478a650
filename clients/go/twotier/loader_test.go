package twotier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// twoTier starts a redis-server for L2 and one for L1 (unix socket) and returns a cache over them.
// Without redis-server the test is skipped (the conformance suite in CI requires it).
func twoTier(t *testing.T) *Cache {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH")
	}
	dir, err := os.MkdirTemp("", "cp-go-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sock := filepath.Join(dir, "l1.sock")
	for _, args := range [][]string{{"--port", strconv.Itoa(port)}, {"--port", "0", "--unixsocket", sock}} {
		cmd := exec.Command(bin, append(args, "--save", "", "--appendonly", "no", "--dir", dir)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	env := map[string]string{"CACHE_HOST": "127.0.0.1", "CACHE_PORT": strconv.Itoa(port), "CACHE_L1_HOST": "127.0.0.1",
		"CACHE_L1_SOCKET": sock, "CACHE_L1_TTL_CAP": "30", "CACHE_L1_INVALIDATION_CHANNEL": "inv"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := FromEnvMap(env, Options{SubscribeWait: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if c.WaitReady(100 * time.Millisecond) {
			t.Cleanup(func() { c.Close() })
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the servers did not come up")
		}
	}
}

func TestHundredConcurrentMissesCallTheLoaderOnce(t *testing.T) {
	c := twoTier(t)
	ctx := context.Background()
	var calls atomic.Int64
	load := func(context.Context) ([]byte, bool, error) {
		calls.Add(1)
		time.Sleep(100 * time.Millisecond)
		return []byte("loaded"), true, nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, found, err := c.GetOrLoad(ctx, "hot", load, LoadOptions{TTL: time.Minute})
			if err != nil || !found || string(v) != "loaded" {
				t.Errorf("GetOrLoad = %q, %v, %v", v, found, err)
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("the loader ran %d times for 100 concurrent misses", calls.Load())
	}
	if v, found, _ := c.Get(ctx, "hot"); !found || string(v) != "loaded" {
		t.Fatalf("the loaded value was not stored: %q", v)
	}
}

func TestLoaderErrorsAreNotCachedAndAbsencesAre(t *testing.T) {
	c := twoTier(t)
	ctx := context.Background()
	boom := errors.New("source down")
	if _, _, err := c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, bool, error) { return nil, false, boom }, LoadOptions{}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	v, found, err := c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, bool, error) { return []byte{}, true, nil }, LoadOptions{})
	if err != nil || !found || v == nil || len(v) != 0 {
		t.Fatalf("after an error the loader must run again: %q %v %v", v, found, err)
	}
	calls := 0
	absent := func(context.Context) ([]byte, bool, error) { calls++; return nil, false, nil }
	for i := 0; i < 3; i++ {
		if _, found, err := c.GetOrLoad(ctx, "nope", absent, LoadOptions{NegativeTTL: time.Minute}); found || err != nil {
			t.Fatalf("absent: %v %v", found, err)
		}
	}
	if calls != 1 || c.Stats().NegativeHits.Load() != 2 {
		t.Fatalf("an absence must be remembered: %d calls, %d negative hits", calls, c.Stats().NegativeHits.Load())
	}
	if err := c.Set(ctx, "nope", []byte("there"), 0); err != nil {
		t.Fatal(err)
	}
	if v, found, _ := c.GetOrLoad(ctx, "nope", absent, LoadOptions{NegativeTTL: time.Minute}); !found || string(v) != "there" {
		t.Fatalf("a write must forget the absence: %q", v)
	}
}

func ExampleCache_GetOrLoad() {
	cache, err := FromEnv(Options{}) // reads CACHE_*; connects lazily, subscribes in the background
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Close()
	page, found, err := cache.GetOrLoad(context.Background(), "page:/home",
		func(ctx context.Context) ([]byte, bool, error) { return []byte("<html>...</html>"), true, nil },
		LoadOptions{TTL: 5 * time.Minute})
	if errors.Is(err, ErrL2Unavailable) {
		return // never for GetOrLoad: with L2 down the loader answers
	}
	fmt.Println(found, len(page) > 0, err)
}
