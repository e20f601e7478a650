"""An S3-compatible server the real node's pods reach: the live tier's versitygw (testbed/s3server.py)
started inside the cluster's network namespace, listening on the node's address (e2e/netns.NODE_IP),
so a pod reaches it through the CNI bridge as it would reach an S3 endpoint outside the cluster.
Buckets are created, its health checked and restic run against it from inside that namespace.

    with node_s3(real_node, tmp_path) as s3:     # started, bucket made; stopped at the end
        s3.endpoint                              # http://10.250.0.1:<port>
        s3.restic(repository, key, "snapshots", "--json")
"""
from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator

from e2e.netns import NODE_IP
from e2e.node import NodeCluster
from testbed import backups
from testbed.s3server import ROOT_KEY, ROOT_SECRET, S3Server, require_s3
from testbed.support import free_ports

BUCKET = "node-backups"


class NodeS3(S3Server):
    """versitygw in the node's network namespace (not its mount namespace: its data dir is the
    test's), on NODE_IP and a port free there."""

    host = NODE_IP

    def __init__(self, root: Path, cluster: NodeCluster) -> None:
        self.cluster = cluster
        super().__init__(root)
        (self.port,) = self.call(free_ports, 1)
        self.endpoint = f"http://{self.host}:{self.port}"

    def command(self, args: list[str]) -> list[str]:
        return self.cluster.netns.wrap(args, mount=False)

    def call(self, fn, *args):
        return self.cluster.netns.call(fn, *args)

    def restic(self, repository: str, key: str, *args: str) -> subprocess.CompletedProcess:
        """restic (the toolchain's, as an operator would run it) against `repository`, from inside the
        namespace, with the root account's key."""
        binary = backups.restic()
        assert binary is not None, "restic is not built (./run toolchain restic)"
        env = {"RESTIC_REPOSITORY": repository, "RESTIC_PASSWORD": key, "AWS_ACCESS_KEY_ID": ROOT_KEY,
               "AWS_SECRET_ACCESS_KEY": ROOT_SECRET, "PATH": "/usr/bin:/bin", "HOME": str(self.root)}
        cmd = [binary, "--no-cache", "-o", "s3.bucket-lookup=path", "-o", "s3.region=us-east-1", *args]
        return subprocess.run(self.cluster.netns.wrap(cmd, mount=False), env=env, capture_output=True, text=True,
                              timeout=300)


@contextlib.contextmanager
def node_s3(cluster: NodeCluster, root: Path) -> Iterator[NodeS3]:
    require_s3()
    server = NodeS3(root, cluster)
    server.start()
    try:
        server.create_bucket(BUCKET)
        assert server.bucket_exists(BUCKET)
        yield server
    finally:
        server.stop()
