// Command conformance-driver is the Go client's driver for the conformance suite
// (clients/conformance/README.md, "Driver protocol"): JSON lines on stdin, answers on stdout. One
// driver is one pod's client; each request runs in its own goroutine, so a read paused at a hook
// does not hold up the others.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cache-patterns/cache-patterns/clients/go/v2/twotier"
)

type request struct {
	ID            int64             `json:"id"`
	Op            string            `json:"op"`
	Key           *string           `json:"key_b64"`
	KeyJSON       json.RawMessage   `json:"key_json"`
	Value         *string           `json:"value_b64"`
	TTLMillis     *int64            `json:"ttl_ms"`
	NegativeTTL   *int64            `json:"negative_ttl_ms"`
	Concurrency   int               `json:"concurrency"`
	Pause         string            `json:"pause"`
	Target        int64             `json:"target"`
	Env           map[string]string `json:"env"`
	Options       map[string]any    `json:"options"`
	Loader        loaderSpec        `json:"loader"`
	Kind          string            `json:"kind"`
	Origin        string            `json:"origin"`
	Version       int               `json:"version"`
	Payload       string            `json:"payload_b64"`
	TimeoutMillis int64             `json:"timeout_ms"`
	Keys          []string          `json:"keys_b64"`
	benchRequest
}

type loaderSpec struct {
	Value   *string `json:"value_b64"`
	Error   string  `json:"error"`
	DelayMs int64   `json:"delay_ms"`
}

type driver struct {
	outMu   sync.Mutex
	out     *bufio.Writer
	mu      sync.Mutex
	cache   *twotier.Cache
	resume  map[int64]chan struct{}
	pausing map[string]pause // key -> the paused request, for the hooks
}

type pause struct {
	id    int64
	where string
}

func (d *driver) emit(v map[string]any) {
	line, _ := json.Marshal(v)
	d.outMu.Lock()
	d.out.Write(append(line, '\n'))
	d.out.Flush()
	d.outMu.Unlock()
}

func (d *driver) gate(id int64) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resume[id] == nil {
		d.resume[id] = make(chan struct{})
	}
	return d.resume[id]
}

// hook pauses the read of `key` at `where` when a request asked for it.
func (d *driver) hook(where, key string) {
	d.mu.Lock()
	p, ok := d.pausing[key]
	if ok && p.where == where {
		delete(d.pausing, key)
	}
	d.mu.Unlock()
	if !ok || p.where != where {
		return
	}
	gate := d.gate(p.id)
	d.emit(map[string]any{"id": p.id, "event": "paused"})
	select {
	case <-gate:
	case <-time.After(30 * time.Second):
	}
}

func b64(data []byte) any {
	if data == nil {
		return nil
	}
	return base64.StdEncoding.EncodeToString(data)
}

func unb64(s *string) []byte {
	if s == nil {
		return nil
	}
	out, _ := base64.StdEncoding.DecodeString(*s)
	return out
}

type kindError struct{ kind, msg string }

func (e kindError) Error() string { return e.msg }

func errorKind(err error) string {
	var ke kindError
	var ce *twotier.ConfigurationError
	switch {
	case errors.As(err, &ke):
		return ke.kind
	case errors.Is(err, twotier.ErrL2Unavailable):
		return "L2Unavailable"
	case errors.As(err, &ce):
		return "ConfigurationError"
	}
	return "Error"
}

func (d *driver) serve(req request) {
	result, err := d.handle(req)
	if err != nil {
		d.emit(map[string]any{"id": req.ID, "ok": false, "error": map[string]any{"type": errorKind(err), "message": err.Error()}})
		return
	}
	d.emit(map[string]any{"id": req.ID, "ok": true, "result": result})
}

func main() {
	d := &driver{out: bufio.NewWriter(os.Stdout), resume: map[int64]chan struct{}{}, pausing: map[string]pause{}}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	var wg sync.WaitGroup
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "bad request:", err)
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); d.serve(req) }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}
