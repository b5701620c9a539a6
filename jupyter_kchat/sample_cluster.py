"""``python -m jupyter_kchat.sample_cluster``: serve the sample cluster's Kubernetes API locally.

Generates a :class:`~jupyter_kchat.sample.cluster.SampleCluster`, serves it on loopback,
writes a kubeconfig pointing at it (contexts: admin, read-only, and ``shop-viewer``, who may
read namespace ``shop`` only), prints one banner line (``kchat sample cluster: <url> (N
pods) kubeconfig=<path>``) and serves until SIGINT or SIGTERM. ``--tls`` serves HTTPS, which
kubectl needs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .sample.cluster import SampleCluster
from .sample.kube_api import VIEWER_CONTEXT, KubeAPIServer
from .sample.kube_api.tls import local_tls
from .sample.lifecycle import serve_until_signalled

BANNER = "kchat sample cluster: "


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_kchat.sample_cluster",
        description="Serve kchat's sample Kubernetes cluster on loopback for offline use.",
    )
    parser.add_argument("--pods", type=int, default=60, help="about how many pods (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--kubeconfig", help="where to write the kubeconfig (default: a temp file)")
    parser.add_argument(
        "--token",
        default="admin",
        help='user of the kubeconfig\'s current context: "admin", "readonly", "viewer" or a '
        "literal token",
    )
    parser.add_argument("--admin-token", help="fix the admin bearer token (default: random)")
    parser.add_argument("--readonly-token", help="fix the read-only bearer token (default: random)")
    parser.add_argument(
        "--viewer-token", help="fix the shop namespace viewer's bearer token (default: random)"
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a throwaway CA written into the kubeconfig (kubectl sends "
        "tokens only over TLS)",
    )
    parser.add_argument(
        "--no-metrics",
        action="store_true",
        help="serve no metrics.k8s.io, like a cluster without metrics-server",
    )
    parser.add_argument("--context", default="sample", help="kubeconfig context name")
    parser.add_argument("--namespace", default="default", help="the context's namespace")
    return parser.parse_args(argv)


async def serve(options: argparse.Namespace) -> None:
    """Run until a stop signal; the banner is printed only once the port is listening."""
    cluster = SampleCluster(pods=options.pods, seed=options.seed)
    api = KubeAPIServer(
        cluster,
        admin_token=options.admin_token,
        readonly_token=options.readonly_token,
        viewer_token=options.viewer_token,
        metrics=not options.no_metrics,
    )
    tls, ca_pem = local_tls(options.host) if options.tls else (None, None)
    url = await api.start(host=options.host, port=options.port, tls=tls)
    kubeconfig = options.kubeconfig or str(
        Path(tempfile.mkdtemp(prefix="kchat-sample-")) / "kubeconfig.yaml"
    )
    api.write_kubeconfig(
        kubeconfig,
        token=options.token,
        context=options.context,
        namespace=options.namespace,
        contexts=[options.context, f"{options.context}-readonly", VIEWER_CONTEXT],
        ca_pem=ca_pem,
    )
    print(f"{BANNER}{url} ({cluster.pod_count} pods) kubeconfig={kubeconfig}", flush=True)
    await serve_until_signalled(api.stop)


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
