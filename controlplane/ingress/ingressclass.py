"""The IngressClass this controller serves, created if missing.

As a cluster's installer creates ingress-nginx's `nginx` class, jota-ingress makes
sure `jota` (controller `jota.io/ingress-nginx`) exists, annotated as the cluster's
default so an Ingress without a class is served too. An existing class is left as the
user keeps it (they may have made another class the default).
"""

from __future__ import annotations

import logging

from jota.api import errors
from jota.api.meta import Obj
from jota.client import Client

logger = logging.getLogger("jota-ingress")

CONTROLLER = "jota.io/ingress-nginx"


def ingress_class(name: str, default: bool = True) -> Obj:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name, "annotations": annotations,
                         "labels": {"app.kubernetes.io/component": "controller",
                                    "app.kubernetes.io/name": "jota-ingress"}},
            "spec": {"controller": CONTROLLER}}


async def ensure(client: Client, name: str) -> None:
    try:
        await client.create("ingressclasses", ingress_class(name))
        logger.info("created IngressClass %s (controller %s, the default)", name, CONTROLLER)
    except errors.AlreadyExists:
        pass


__all__ = ["CONTROLLER", "ensure", "ingress_class"]
