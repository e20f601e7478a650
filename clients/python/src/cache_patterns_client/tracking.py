"""The in-process L1's invalidations (a base class of TwoTierCache, sharing its state): the L2 server
tracks keys for this process (CLIENT TRACKING) and sends their invalidations to one connection of
ours, the tracking connection, subscribed to `__redis__:invalidate` (RESP2, redirect mode).
docs/protocol.md, "In-process L1 (client tracking)".

- The tracking connection, on every (re)connect: `CLIENT ID`, `CLIENT SETNAME cp-near-<origin>`, with
  broadcast `CLIENT TRACKING ON REDIRECT <own id> BCAST PREFIX ...`, then `SUBSCRIBE`; the confirmation
  flushes the L1 (what changed meanwhile was never announced) and lets populates start.
- A read that may populate adds to its L2 pipeline `CLIENT LIST ID <tracking id>` (the tracking
  connection must be on the server that answers: a failover or a proxy may split them) and, in default
  mode, `CLIENT TRACKING ON REDIRECT <id> OPTIN` + `CLIENT CACHING YES` (only this GET is tracked).
  A reply that shows another server refuses the copy and reconnects the tracking connection.
- A message names keys (each dropped under the populate guard's lock) or is nil (a flush on the
  server, or tracking state lost): the whole L1 goes.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, List, Optional, Sequence

from redis.exceptions import TimeoutError

from .l1 import L1Coherence
from .settings import NearSettings

log = logging.getLogger("cache_patterns_client")
CHANNEL = b"__redis__:invalidate"


class TrackingSubscriber(L1Coherence):
    """The tracking connection's loop and the read pipeline's checks. State lives on the TwoTierCache."""

    _near: Optional[NearSettings]
    _tracking_client: Any
    _origin: str
    _ready: threading.Event
    _closed: threading.Event

    def _init_tracking(self, near: Optional[NearSettings], client: Any) -> None:
        self._near = near
        self._tracking_client = client
        self._tracking_id: Optional[int] = None
        self._tracking_name = f"cp-near-{self._origin}"
        self._tracking_stale = False       # set by a read that found the tracking connection elsewhere
        self._tracking_checked_at = 0.0

    def _keeps(self, key: bytes) -> bool:
        """Whether a copy of `key` may be kept: with broadcast, only keys under a tracked prefix (no
        invalidation would come for the others)."""
        near = self._near
        return near is None or not near.prefixes or key.startswith(near.prefixes)

    # ---- the read pipeline ----------------------------------------------------------------------

    def _track_commands(self, pipe: Any) -> int:
        """Queue the checks a populating read needs before its GET; how many were queued."""
        tid = self._tracking_id
        if self._near is None or tid is None:
            return 0
        pipe.execute_command("CLIENT", "LIST", "ID", tid)
        if self._near.tracking == "broadcast":
            return 1
        pipe.execute_command("CLIENT", "TRACKING", "ON", "REDIRECT", tid, "OPTIN")
        pipe.execute_command("CLIENT", "CACHING", "YES")
        return 3

    def _tracked(self, replies: Sequence[Any]) -> bool:
        """Whether the checks' replies show the tracking connection on the server that answered."""
        if not replies:
            return self._near is None
        listing = replies[0]
        listing = listing.decode("utf-8", "replace") if isinstance(listing, bytes) else str(listing)
        here = f" name={self._tracking_name} " in listing
        if here and all(r in (b"OK", "OK", True) for r in replies[1:]):
            return True
        now = time.monotonic()
        if not here and now - self._tracking_checked_at >= self.options.health_check_interval:
            # Reads reach a server the tracking connection is not on (a failover, a proxy): move it.
            self._tracking_checked_at = now
            self._tracking_stale = True
            log.warning("cache tracking connection is not on the server that answers reads; reconnecting it")
        return False

    # ---- the tracking connection ----------------------------------------------------------------

    def _tracking_loop(self) -> None:
        backoff = 0.05
        while not self._closed.is_set():
            conn = None
            try:
                conn = _connection(self._tracking_client.connection_pool)
                self._tracking_session(conn)
            except Exception as exc:  # the thread must survive anything and reconnect
                if not self._closed.is_set():
                    log.warning("cache tracking connection lost, in-process L1 not populated until it is back: %s", exc)
            else:
                backoff = 0.05
            finally:
                was_up, self._subscribed, self._tracking_id = self._subscribed, False, None
                if was_up:
                    # Flushed at once, not only when it is back: no copy outlives the connection whose
                    # invalidations kept it fresh (unlike a sidecar L1, hits stop while L2 is away).
                    self._flush_l1("tracking connection lost")
                if conn is not None:
                    conn.disconnect()
                    self._tracking_client.connection_pool.release(conn)
            self._closed.wait(backoff)
            backoff = min(backoff * 2, 2.0)

    def _tracking_session(self, conn: Any) -> None:
        """One life of the tracking connection: set up, then read until it fails or is moved."""
        assert self._near is not None
        tid = int(self._ask(conn, "CLIENT", "ID"))
        self._ask(conn, "CLIENT", "SETNAME", self._tracking_name)
        if self._near.tracking == "broadcast":
            prefixes: List[Any] = [a for p in self._near.prefixes for a in (b"PREFIX", p)]
            self._ask(conn, "CLIENT", "TRACKING", "ON", "REDIRECT", tid, "BCAST", *prefixes)
        conn.send_command("SUBSCRIBE", CHANNEL)
        interval = self.options.health_check_interval
        last_rx, ping_sent = time.monotonic(), None
        checked = last_rx
        while not self._closed.is_set():
            now = time.monotonic()
            if self._tracking_id is not None and now - checked >= interval:
                checked = now
                self._check_where(tid)
            if self._tracking_stale:
                self._tracking_stale = False
                return
            if not conn.can_read(timeout=min(0.2, interval)):
                if ping_sent is not None and now - ping_sent >= interval:
                    raise TimeoutError("no reply to PING on the tracking connection")
                if ping_sent is None and now - last_rx >= interval:
                    conn.send_command("PING")
                    ping_sent = now
                continue
            reply = conn.read_response()
            last_rx, ping_sent = time.monotonic(), None
            if isinstance(reply, list) and reply and reply[0] in (b"subscribe", "subscribe"):
                self._tracking_id = tid
                self.stats.subscriptions += 1
                self._flush_l1("tracking connection (re)connected")
                self._subscribed = True
                self._ready.set()
            elif isinstance(reply, list) and len(reply) == 3 and reply[0] in (b"message", "message"):
                self._on_tracking_message(reply[2])

    def _check_where(self, tid: int) -> None:
        """Every health interval, ask through a data connection whether the tracking connection is on the
        server that answers: a proxy that moves new connections elsewhere, or a split, would otherwise
        leave copies that no invalidation reaches for as long as no read misses."""
        try:
            listing = self._l2.execute_command("CLIENT", "LIST", "ID", tid)  # type: ignore[attr-defined]
        except Exception:  # L2 unreachable: the tracking connection's own PING decides
            return
        self._tracking_checked_at = 0.0
        self._tracked([listing])

    @staticmethod
    def _ask(conn: Any, *args: Any) -> Any:
        conn.send_command(*args)
        return conn.read_response()

    def _on_tracking_message(self, keys: Optional[List[bytes]]) -> None:
        self.stats.invalidations_received += 1
        if keys is None:
            self._flush_l1("the server flushed, or dropped its tracking state")
            return
        for key in keys:
            self._invalidate_local(key if isinstance(key, bytes) else str(key).encode("utf-8"))


def _connection(pool: Any) -> Any:
    """A connection of the tracking client's own pool (redis-py 5.0 wants a command name, later ones none)."""
    try:
        return pool.get_connection()
    except TypeError:
        return pool.get_connection("SUBSCRIBE")
