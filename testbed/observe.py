"""What a LocalStatefulSet says about itself: clients of its processes, who is primary, what the
Sentinels agree on, readiness and logs (a mixin: the state is LocalStatefulSet's)."""
from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cache_patterns.patterns.statefulset import ha

from testbed.support import PASSWORD, _pairs, user_password, wait_until


class Observe:
    """Clients and views of a LocalStatefulSet's processes."""

    # -- clients ----------------------------------------------------------------------------

    def client(self, target: int | ha.Address, timeout: float = 1.0, user: str | None = None,
               password: str | None = None) -> redis.Redis:
        """A client of one port of 127.0.0.1 or of one address, as the default user or as ACL user
        `user` (with its password unless `password` is given)."""
        addr = target if isinstance(target, ha.Address) else ha.Address("127.0.0.1", target)
        kwargs: dict = {}
        if self.tls is not None:
            kwargs = {"ssl": True, "ssl_ca_certs": str(self.client_ca), "ssl_check_hostname": False}
        if password is None:
            password = PASSWORD if user is None else user_password(user)
        return redis.Redis(host=addr.host, port=addr.port, username=user, password=password, socket_timeout=timeout,
                           socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), decode_responses=True,
                           **kwargs)

    def redis(self, i: int, timeout: float = 1.0) -> redis.Redis:
        return self.client(self.redis_addrs[i], timeout)

    def sentinel(self, i: int, timeout: float = 1.0) -> redis.Redis:
        return self.client(self.sentinel_addrs[i], timeout)

    def endpoint(self, timeout: float = 1.0, read: bool = False, j: int = 0) -> redis.Redis:
        e = self.endpoints[j]
        return self.client(e.read if read else e.write, timeout)

    def server_index(self, address: str) -> int:
        """The index of the server at "host:port"."""
        return [str(a) for a in self.redis_addrs].index(address)

    def role(self, i: int) -> str | None:
        try:
            with self.redis(i, 0.5) as r:
                return r.info("replication")["role"]
        except (redis.RedisError, OSError):
            return None

    def primaries(self) -> list[int]:
        return [i for i in range(self.servers) if self.role(i) == "master"]

    def sentinel_views(self) -> list[str | None]:
        """The primary each Sentinel names ("host:port"), None where one does not answer."""
        out: list[str | None] = []
        for i in range(self.sentinels):
            try:
                with self.sentinel(i, 0.5) as s:
                    host, port = s.execute_command("SENTINEL", "get-master-addr-by-name", self.master)
                    out.append(f"{host}:{port}")
            except (redis.RedisError, OSError, TypeError, ValueError):
                out.append(None)
        return out

    def agreed_primary(self) -> int | None:
        """The server every Sentinel names, if they all name the same one and it reports role:master."""
        views = set(self.sentinel_views())
        if len(views) != 1 or None in views:
            return None
        i = self.server_index(next(iter(views)))  # type: ignore[arg-type]
        return i if self.role(i) == "master" else None

    def settled(self) -> int | None:
        """The primary, once the set is ready for a fault: exactly one server reports role:master,
        every Sentinel names it, sees every replica up and every other Sentinel, and every replica's
        link is up. (Faulting earlier gives -failover-abort-no-good-slave: see FIELD-NOTES.)"""
        primary = self.agreed_primary()
        if primary is None or self.primaries() != [primary]:
            return None
        for i in range(self.sentinels):
            with self.sentinel(i, 0.5) as s:
                state = _pairs(s.execute_command("SENTINEL", "MASTER", self.master))
                if state["flags"] != "master" or int(state["num-slaves"]) != self.servers - 1 \
                        or int(state["num-other-sentinels"]) != self.sentinels - 1:
                    return None
                for replica in s.execute_command("SENTINEL", "REPLICAS", self.master):
                    if _pairs(replica)["flags"] != "slave":
                        return None
        for i in range(self.servers):
            if i != primary:
                with self.redis(i, 0.5) as r:
                    if r.info("replication").get("master_link_status") != "up":
                        return None
                    # Promotable: the readiness probe restored its replica-priority after the sync.
                    if int(r.config_get("replica-priority").get("replica-priority", 0)) == 0:
                        return None
        return primary

    def settle(self, timeout: float = 40) -> int:
        """Restart whatever is not running (through its script) and wait until `settled()`."""
        for name, m in self.members.items():
            if not m.running():
                self.start(name)
        return wait_until("the set to settle (one primary, all Sentinels agree and see everyone)",
                          self.settled, timeout, interval=0.25)  # type: ignore[arg-type]

    def wait_ready(self, name: str, timeout: float = 30) -> None:
        m = self.members[name]
        addr = next((a for a in self.redis_addrs + self.sentinel_addrs + [e.write for e in self.endpoints]
                     if a.port == m.port and (self.network is None or a.host == self.network.ip(m.pod))), None)
        def answers() -> bool:
            assert m.running(), f"{name} exited; log:\n{self.logs(name)}"
            with self.client(addr or m.port, 0.5) as c:
                return bool(c.ping())
        wait_until(f"{name} to answer PING", answers, timeout)

    def last_start(self, name: str) -> str:
        """The log of a member since its latest start."""
        return self.members[name].log.read_text(errors="replace").rsplit("---- start ", 1)[-1]

    def logs(self, *names: str, tail: int = 40) -> str:
        out = []
        for name in names or tuple(self.members):
            path = self.members[name].log
            lines = path.read_text(errors="replace").splitlines()[-tail:] if path.exists() else []
            out.append(f"==== {name}\n" + "\n".join(lines))
        return "\n".join(out)
