"""HTTPS for local use: a throwaway CA and a certificate for the serving address.

kubectl (client-go) sends bearer tokens only over TLS, so serving it needs HTTPS. The CA comes
from ``trustme`` (in the ``test`` extra), imported only when asked for.
"""

from __future__ import annotations

import ssl


def local_tls(host: str) -> tuple[ssl.SSLContext, bytes]:
    """A server context for ``host`` and the PEM of the CA that signed it."""
    try:
        import trustme
    except ImportError:
        raise SystemExit(
            "serving HTTPS needs trustme: pip install 'jupyter-kchat[test]' or trustme"
        ) from None
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(context)
    return context, ca.cert_pem.bytes()
