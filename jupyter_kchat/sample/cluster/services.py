"""Services, Secrets and ConfigMaps: the workloads' Services and the hand-written config."""

from __future__ import annotations

import copy

import orjson

from .catalog import CONFIG_API_KEY, CONFIG_DB_PASSWORD, DB_PASSWORD, FAKE_CA
from .common import Obj, b64, parse_rfc3339
from .state import ClusterState


class Services(ClusterState):
    """Services, Secrets and ConfigMaps: the workloads' Services and the hand-written config."""

    def _cluster_ip(self, fixed: str | None = None) -> str:
        if fixed:
            self._service_ips.add(fixed)
            return fixed
        while True:
            ip = f"10.0.{self.rng.randint(1, 250)}.{self.rng.randint(2, 254)}"
            if ip not in self._service_ips:
                self._service_ips.add(ip)
                return ip

    def make_service(
        self,
        ns: str,
        name: str,
        kind: str,
        ports: list[Obj],
        selector: dict[str, str] | None,
        created: float,
        ip: str | None = None,
    ) -> Obj:
        headless = kind == "Headless"
        cluster_ip = "None" if headless else self._cluster_ip(ip)
        spec: Obj = {
            "ports": ports,
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "type": "ClusterIP" if headless else kind,
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        }
        if selector:
            spec["selector"] = selector
        status: Obj = {"loadBalancer": {}}
        if kind == "LoadBalancer":
            spec["externalTrafficPolicy"] = "Cluster"
            spec["allocateLoadBalancerNodePorts"] = True
            for port in ports:
                port["nodePort"] = self.rng.randint(30000, 32767)
            status = {
                "loadBalancer": {
                    "ingress": [{"ip": f"203.0.113.{self.rng.randint(2, 250)}", "ipMode": "VIP"}]
                }
            }
        return self.store(
            "services",
            {
                "kind": "Service",
                "apiVersion": "v1",
                "metadata": self.meta(name, ns, created, {"app": name}),
                "spec": spec,
                "status": status,
            },
        )

    def _secret(
        self,
        ns: str,
        name: str,
        kind: str,
        data: dict[str, str],
        created: float,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.store(
            "secrets",
            {
                "kind": "Secret",
                "apiVersion": "v1",
                "metadata": self.meta(name, ns, created, labels),
                "data": {k: b64(v) for k, v in data.items()},
                "type": kind,
            },
        )

    def _config_map(self, ns: str, name: str, data: dict[str, str], created: float) -> None:
        self.store(
            "configmaps",
            {
                "kind": "ConfigMap",
                "apiVersion": "v1",
                "metadata": self.meta(name, ns, created),
                "data": data,
            },
        )

    def _make_services_secrets_configs(self, namespaces: list[str]) -> None:
        t0 = self.now - 86400 * 180
        self.make_service(
            "default",
            "kubernetes",
            "ClusterIP",
            [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            None,
            t0,
            "10.0.0.1",
        )
        for (kind, ns, name), wl in self._workloads.items():
            if wl.service is None:
                continue
            created = self.now - 86400 * wl.age_days
            selector = wl.service_selector or {"app": name}
            ports = []
            for c in wl.containers:
                if c.port is not None:
                    ports.append(
                        {
                            "name": c.port_name,
                            "port": 80 if c.port == 8080 else c.port,
                            "protocol": c.protocol,
                            "targetPort": c.port_name,
                        }
                    )
            if name == "coredns":
                ports = [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                    {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
                ]
            svc_name = "kube-dns" if name == "coredns" else name
            self.make_service(ns, svc_name, wl.service, ports, selector, created, wl.service_ip)
            if kind == "StatefulSet":
                self.make_service(
                    ns, f"{name}-headless", "Headless", copy.deepcopy(ports), {"app": name}, created
                )
        self._secret(
            "payments",
            "payments-db",
            "Opaque",
            {
                "username": "payments",
                "password": DB_PASSWORD,
                "host": "postgres.data",
                "port": "5432",
            },
            self.now - 86400 * 45,
        )
        self._secret(
            "payments",
            "payments-stripe",
            "Opaque",
            {"api-key": "sk_live_51HxKchatSampleNotARealKey0000aBcDeFgHiJkLmNoP"},
            self.now - 86400 * 45,
        )
        self._secret(
            "payments",
            "payments-api-tls",
            "kubernetes.io/tls",
            {
                "tls.crt": FAKE_CA.replace("MIIC", "MIID"),
                "tls.key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                "-----END PRIVATE KEY-----\n",
            },
            self.now - 86400 * 30,
        )
        auth = b64("shop-ci:gh0st-Regcred-2024")
        docker = orjson.dumps(
            {
                "auths": {
                    "registry.example.com": {
                        "username": "shop-ci",
                        "password": "gh0st-Regcred-2024",
                        "auth": auth,
                    }
                }
            }
        ).decode()
        self._secret(
            "shop",
            "regcred",
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": docker},
            self.now - 86400 * 90,
        )
        self._secret(
            "data",
            "postgres-credentials",
            "Opaque",
            {"postgres-password": "pg-Sup3rUser-2024", "replication-password": "repl-9f8e7d"},
            self.now - 86400 * 200,
        )
        self._secret(
            "monitoring",
            "grafana-admin",
            "Opaque",
            {"admin-user": "admin", "admin-password": "grafana-Adm1n!"},
            self.now - 86400 * 150,
        )
        self._secret(
            "ml",
            "hf-token",
            "Opaque",
            {"token": "hf_kchatSampleTokenNotReal12345"},
            self.now - 86400 * 20,
        )
        self._config_map(
            "payments",
            "payments-api-config",
            {
                "config.yaml": "listen: :8080\ndatabase:\n  host: postgres.data\n  port: 5432\n"
                "  pool: 20\nstripe:\n  timeout: 10s\n"
            },
            self.now - 86400 * 45,
        )
        self._config_map(
            "shop",
            "app-config",
            {
                "LOG_LEVEL": "info",
                "FEATURE_FLAGS": "checkout-v2,new-cart",
                "DATABASE_URL": f"postgres://shop:{CONFIG_DB_PASSWORD}@postgres.data.svc:5432/shop",
                "PAYMENT_API_KEY": CONFIG_API_KEY,
            },
            self.now - 86400 * 60,
        )
        self._config_map(
            "kube-system",
            "coredns",
            {
                "Corefile": ".:53 {\n    errors\n    health\n    kubernetes cluster.local "
                "in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough "
                "in-addr.arpa ip6.arpa\n    }\n    prometheus :9153\n    forward . "
                "/etc/resolv.conf\n    cache 30\n    loop\n    reload\n}\n"
            },
            t0,
        )
        self._config_map(
            "monitoring",
            "prometheus-config",
            {
                "prometheus.yml": "global:\n  scrape_interval: 30s\nscrape_configs:\n"
                "  - job_name: node-exporter\n    kubernetes_sd_configs:\n"
                "      - role: node\n"
            },
            self.now - 86400 * 150,
        )
        for ns in namespaces:
            created = parse_rfc3339(
                self.objects["namespaces"][("", ns)]["metadata"]["creationTimestamp"]
            )
            self._config_map(ns, "kube-root-ca.crt", {"ca.crt": FAKE_CA}, created)
            if ns.startswith("team-"):
                self._secret(
                    ns,
                    f"{ns}-app-secrets",
                    "Opaque",
                    {
                        "api-key": f"{ns}-{self.rng.getrandbits(64):016x}",
                        "db-password": f"pw-{self.rng.getrandbits(48):012x}",
                    },
                    created,
                )
