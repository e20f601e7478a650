package twotier

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"regexp"
	"strconv"
)

// ProtocolVersion is the invalidation protocol this client speaks (docs/protocol.md); it also reads
// version 1 messages, and can publish them (Options.PublishVersion) during a rolling update.
const ProtocolVersion = 2

// Buckets is the number of populate-guard buckets: crc32 (IEEE) of the key mod 1024, in every client.
const Buckets = 1024

var (
	originSyntax = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	digestSyntax = regexp.MustCompile(`^[0-9a-f]{32}$`)
	ttlSyntax    = regexp.MustCompile(`^(-|[0-9]{1,15})$`)
)

// Announcement is what a "v" message says a key now holds: the value's digest and the write's TTL
// in milliseconds (-1: none).
type Announcement struct {
	Digest    string
	TTLMillis int64
}

// Invalidation is one decoded message. Key is nil for a flush ("*") and for an unreadable payload.
type Invalidation struct {
	Origin    string
	Key       []byte
	Flush     bool
	Announced *Announcement
}

// Digest is a value's digest as messages carry it: SHA-256, first 16 bytes, lowercase hex.
func Digest(value []byte) string {
	sum := sha256.Sum256(value)
	return hex.EncodeToString(sum[:16])
}

// Bucket is the key's populate-guard bucket.
func Bucket(key string) int { return int(crc32.ChecksumIEEE([]byte(key)) % Buckets) }

func checkOrigin(origin string) error {
	if !originSyntax.MatchString(origin) {
		return fmt.Errorf("origin: only letters, digits, '-' and '_' are allowed, got %q", origin)
	}
	return nil
}

func versionBytes(version int) (string, error) {
	if version != 1 && version != 2 {
		return "", fmt.Errorf("version: must be 1 or 2, got %d", version)
	}
	return strconv.Itoa(version), nil
}

// EncodeKey is the payload that drops one key from every other pod's L1 (version 1 or 2).
func EncodeKey(origin, key string, version int) ([]byte, error) {
	v, err := versionBytes(version)
	if err != nil {
		return nil, err
	}
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	return []byte(v + " " + origin + " k " + key), nil
}

// EncodeValue is the payload of a write (version 2): drop the key, and announce the value it now
// holds by its Digest and the write's TTL in milliseconds (-1: no expiry).
func EncodeValue(origin, key, digest string, ttlMillis int64) ([]byte, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	if !digestSyntax.MatchString(digest) {
		return nil, fmt.Errorf("digest: must be 32 lowercase hex digits, got %q", digest)
	}
	ttl := "-"
	if ttlMillis >= 0 {
		ttl = strconv.FormatInt(ttlMillis, 10)
	}
	return []byte("2 " + origin + " v " + ttl + " " + digest + " " + key), nil
}

// EncodeFlush is the payload that flushes every other pod's whole L1.
func EncodeFlush(origin string, version int) ([]byte, error) {
	v, err := versionBytes(version)
	if err != nil {
		return nil, err
	}
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	return []byte(v + " " + origin + " *"), nil
}

var unreadable = Invalidation{Flush: true}

// Decode parses a payload. Anything unexpected decodes as a flush from an unknown origin.
func Decode(payload []byte) Invalidation {
	parts := bytes.SplitN(payload, []byte(" "), 4)
	if len(parts) < 3 || !(string(parts[0]) == "1" || string(parts[0]) == "2") || !originSyntax.Match(parts[1]) {
		return unreadable
	}
	origin, op := string(parts[1]), string(parts[2])
	switch {
	case op == "k" && len(parts) == 4:
		return Invalidation{Origin: origin, Key: parts[3]}
	case op == "*" && len(parts) == 3:
		return Invalidation{Origin: origin, Flush: true}
	case op == "v" && string(parts[0]) == "2" && len(parts) == 4:
		fields := bytes.SplitN(parts[3], []byte(" "), 3)
		if len(fields) != 3 || !ttlSyntax.Match(fields[0]) || !digestSyntax.Match(fields[1]) {
			return unreadable
		}
		ttl := int64(-1)
		if string(fields[0]) != "-" {
			ttl, _ = strconv.ParseInt(string(fields[0]), 10, 64)
		}
		return Invalidation{Origin: origin, Key: fields[2], Announced: &Announcement{Digest: string(fields[1]), TTLMillis: ttl}}
	}
	return unreadable
}
