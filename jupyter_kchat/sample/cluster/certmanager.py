"""cert-manager: its CustomResourceDefinitions and the Certificates and issuers they serve.

The CRDs carry what the API emulation derives discovery, REST paths and Tables from (names,
scope, ``additionalPrinterColumns``, categories). ``shop/shop-tls`` (made by the ingress shim for
the shop Ingress) failed issuance: as cert-manager v1.14 writes it, ``Issuing`` is False with
reason ``Failed`` and the ACME error, and ``Ready`` is False because the Secret was never made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import Obj, owner_ref, rfc3339

if TYPE_CHECKING:
    from . import SampleCluster

GROUP = "cert-manager.io"
VERSION = "v1.14.4"
CERT_ORDER = "shop-tls-1-3046311"
CERT_FAILURE = (
    "The certificate request has failed to complete and will be retried: Failed to wait for "
    f'order resource "{CERT_ORDER}" to become ready: order is in "invalid" state: '
    "403 urn:ietf:params:acme:error:unauthorized"
)
CERT_NO_SECRET = "Issuing certificate as Secret does not exist"
READY = '.status.conditions[?(@.type=="Ready")].status'
READY_MESSAGE = '.status.conditions[?(@.type=="Ready")].message'
AGE = {
    "jsonPath": ".metadata.creationTimestamp",
    "name": "Age",
    "type": "date",
    "description": "CreationTimestamp is a timestamp representing the server time when this "
    "object was created.",
}


def make_cert_manager(c: SampleCluster) -> None:
    """The three CRDs, the ClusterIssuer, an Issuer, and a failed and a ready Certificate."""
    installed = c.now - 86400 * 160
    columns = [
        {"jsonPath": READY, "name": "Ready", "type": "string"},
        {"jsonPath": ".spec.secretName", "name": "Secret", "type": "string"},
        {"jsonPath": ".spec.issuerRef.name", "name": "Issuer", "priority": 1, "type": "string"},
        {"jsonPath": READY_MESSAGE, "name": "Status", "priority": 1, "type": "string"},
        AGE,
    ]
    issuer_columns = [
        {"jsonPath": READY, "name": "Ready", "type": "string"},
        {"jsonPath": READY_MESSAGE, "name": "Status", "priority": 1, "type": "string"},
        AGE,
    ]
    _crd(c, "certificates", "Certificate", "Namespaced", ["cert", "certs"], columns, installed)
    _crd(c, "issuers", "Issuer", "Namespaced", [], issuer_columns, installed)
    _crd(c, "clusterissuers", "ClusterIssuer", "Cluster", [], issuer_columns, installed)
    made = c.now - 86400 * 150
    acme = {
        "email": "platform@example.com",
        "server": "https://acme-v02.api.letsencrypt.org/directory",
        "privateKeySecretRef": {"name": "letsencrypt-prod-account-key"},
        "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
    }
    cluster_issuer = _resource(c, "ClusterIssuer", "letsencrypt-prod", None, made, {"acme": acme})
    cluster_issuer["status"] = {
        "acme": {
            "lastPrivateKeyHash": "q7Ty1KjQp1p2v5eC8m5cTqkB0m4Xh0c9rY3aQ1f8d2s=",
            "lastRegisteredEmail": "platform@example.com",
            "uri": "https://acme-v02.api.letsencrypt.org/acme/acct/1738271643",
        },
        "conditions": [
            _ready(
                True,
                made + 20,
                "ACMEAccountRegistered",
                "The ACME account was registered with the ACME server",
            )
        ],
    }
    c.store("clusterissuers.cert-manager.io", cluster_issuer)
    issuer = _resource(
        c, "Issuer", "internal-ca", "payments", made, {"ca": {"secretName": "internal-ca-keypair"}}
    )
    issuer["status"] = {
        "conditions": [_ready(True, made + 5, "KeyPairVerified", "Signing CA verified")]
    }
    c.store("issuers.cert-manager.io", issuer)
    _failed_certificate(c)
    good = _resource(
        c,
        "Certificate",
        "payments-tls",
        "payments",
        c.now - 86400 * 30,
        {
            "dnsNames": ["payments-api.payments.svc", "payments-api.payments.svc.cluster.local"],
            "issuerRef": {"group": GROUP, "kind": "Issuer", "name": "internal-ca"},
            "secretName": "payments-api-tls",
            "duration": "2160h0m0s",
            "renewBefore": "360h0m0s",
        },
    )
    issued = c.now - 86400 * 30 + 12
    good["status"] = {
        "conditions": [
            _ready(True, issued, "Ready", "Certificate is up to date and has not expired")
        ],
        "notAfter": rfc3339(issued + 90 * 86400),
        "notBefore": rfc3339(issued),
        "renewalTime": rfc3339(issued + 75 * 86400),
        "revision": 1,
    }
    c.store("certificates.cert-manager.io", good)


def certificate(c: SampleCluster, ns: str, name: str, created: float, healthy: bool) -> Obj:
    """An ordinary Certificate from the ClusterIssuer, issued or (``healthy=False``) failing."""
    cert = _resource(
        c,
        "Certificate",
        name,
        ns,
        created,
        {
            "dnsNames": [f"{name}.example.com"],
            "issuerRef": {"group": GROUP, "kind": "ClusterIssuer", "name": "letsencrypt-prod"},
            "secretName": f"{name}-tls",
        },
    )
    if healthy:
        cert["status"] = {
            "conditions": [
                _ready(True, created + 30, "Ready", "Certificate is up to date and has not expired")
            ],
            "notAfter": rfc3339(created + 30 + 90 * 86400),
            "notBefore": rfc3339(created + 30),
            "renewalTime": rfc3339(created + 30 + 60 * 86400),
            "revision": 1,
        }
    else:
        cert["status"] = _failing_status(created + 40)
    return c.store("certificates.cert-manager.io", cert)


def _failing_status(since: float) -> Obj:
    return {
        "conditions": [
            _ready(False, since, "DoesNotExist", CERT_NO_SECRET),
            {
                "type": "Issuing",
                "status": "False",
                "lastTransitionTime": rfc3339(since + 35),
                "observedGeneration": 1,
                "reason": "Failed",
                "message": CERT_FAILURE,
            },
        ],
        "failedIssuanceAttempts": 1,
        "lastFailureTime": rfc3339(since + 35),
    }


def _failed_certificate(c: SampleCluster) -> None:
    ingress = c.objects["ingresses"][("shop", "shop")]
    created = c.now - 3600 * 20
    cert = _resource(
        c,
        "Certificate",
        "shop-tls",
        "shop",
        created,
        {
            "dnsNames": ["shop.example.com"],
            "issuerRef": {"group": GROUP, "kind": "ClusterIssuer", "name": "letsencrypt-prod"},
            "secretName": "shop-tls",
            "usages": ["digital signature", "key encipherment"],
        },
    )
    cert["metadata"]["ownerReferences"] = [owner_ref(ingress)]
    cert["status"] = _failing_status(created)
    c.store("certificates.cert-manager.io", cert)
    c.event(
        ingress,
        "CreateCertificate",
        'Successfully created Certificate "shop-tls"',
        "Normal",
        "cert-manager-ingress-shim",
        created,
        created,
    )
    for reason, message, component, kind, offset in (
        ("Issuing", CERT_NO_SECRET, "cert-manager-certificates-trigger", "Normal", 1),
        (
            "Generated",
            'Stored new private key in temporary Secret resource "shop-tls-x7k2p"',
            "cert-manager-certificates-key-manager",
            "Normal",
            2,
        ),
        (
            "Requested",
            'Created new CertificateRequest resource "shop-tls-1"',
            "cert-manager-certificates-request-manager",
            "Normal",
            3,
        ),
        ("Failed", CERT_FAILURE, "cert-manager-certificates-issuing", "Warning", 75),
    ):
        c.event(cert, reason, message, kind, component, created + offset, created + offset)


def _ready(ok: bool, since: float, reason: str, message: str) -> Obj:
    return {
        "type": "Ready",
        "status": "True" if ok else "False",
        "lastTransitionTime": rfc3339(since),
        "observedGeneration": 1,
        "reason": reason,
        "message": message,
    }


def _resource(
    c: SampleCluster, kind: str, name: str, ns: str | None, created: float, spec: Obj
) -> Obj:
    meta = c.meta(name, ns, created)
    meta["generation"] = 1
    return {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": meta, "spec": spec}


def _crd(
    c: SampleCluster,
    plural: str,
    kind: str,
    scope: str,
    short: list[str],
    columns: list[Obj],
    created: float,
) -> None:
    singular = kind.lower()
    names: Obj = {
        "categories": ["cert-manager"],
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": singular,
    }
    if short:
        names["shortNames"] = short
    name = f"{plural}.{GROUP}"
    labels = {
        "app": "cert-manager",
        "app.kubernetes.io/instance": "cert-manager",
        "app.kubernetes.io/name": "cert-manager",
        "app.kubernetes.io/version": VERSION,
    }
    meta = c.meta(name, None, created, labels, {"helm.sh/resource-policy": "keep"})
    meta["generation"] = 1
    since = rfc3339(created)
    c.store(
        "customresourcedefinitions",
        {
            "kind": "CustomResourceDefinition",
            "apiVersion": "apiextensions.k8s.io/v1",
            "metadata": meta,
            "spec": {
                "group": GROUP,
                "names": names,
                "scope": scope,
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "description": f"A {kind} resource of cert-manager.",
                                "type": "object",
                                "required": ["spec"],
                                "properties": {
                                    "apiVersion": {"type": "string"},
                                    "kind": {"type": "string"},
                                    "metadata": {"type": "object"},
                                    "spec": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                    "status": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            }
                        },
                        "subresources": {"status": {}},
                        "additionalPrinterColumns": columns,
                    }
                ],
                "conversion": {"strategy": "None"},
            },
            "status": {
                "conditions": [
                    {
                        "type": "NamesAccepted",
                        "status": "True",
                        "lastTransitionTime": since,
                        "reason": "NoConflicts",
                        "message": "no conflicts found",
                    },
                    {
                        "type": "Established",
                        "status": "True",
                        "lastTransitionTime": since,
                        "reason": "InitialNamesAccepted",
                        "message": "the initial names have been accepted",
                    },
                ],
                "acceptedNames": names,
                "storedVersions": ["v1"],
            },
        },
    )
