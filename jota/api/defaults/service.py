"""Service defaults (SetDefaults_Service plus what the REST strategy fills in)."""

from __future__ import annotations

from jota.api.defaults.common import fill, items, sub
from jota.api.meta import Obj


def service(o: Obj) -> None:
    spec = sub(o, "spec")
    if spec is None:
        return
    fill(spec, type="ClusterIP", sessionAffinity="None")
    stype = spec.get("type")
    if spec.get("sessionAffinity") == "ClientIP":
        config = sub(spec, "sessionAffinityConfig")
        fill(sub(config, "clientIP"), timeoutSeconds=10800)
    for port in items(spec, "ports"):
        fill(port, protocol="TCP")
        if port.get("targetPort") is None and port.get("port") is not None:
            port["targetPort"] = port["port"]
    if stype == "ExternalName":
        return
    fill(spec, ipFamilyPolicy="SingleStack", internalTrafficPolicy="Cluster")
    if stype in ("NodePort", "LoadBalancer"):
        fill(spec, externalTrafficPolicy="Cluster")
    if stype == "LoadBalancer":
        fill(spec, allocateLoadBalancerNodePorts=True)
