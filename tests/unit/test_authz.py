"""Who may do what: admin, bootstrap tokens, nodes and components."""

from __future__ import annotations

import pytest

from controlplane.apiserver.authz import Request, User, authorize
from jota import pki
from jota.api import errors

ADMIN = User("admin", (pki.MASTERS,))
BOOT = User("system:bootstrap:abcdef", (pki.BOOTSTRAPPERS,))
NODE_A = User("system:node:a", (pki.NODES,))
SCHEDULER = User("system:kube-scheduler")


@pytest.mark.parametrize(("user", "req"), [
    (ADMIN, Request("delete", "nodes", name="a")),
    (BOOT, Request("create", "certificatesigningrequests", group="certificates.k8s.io")),
    (BOOT, Request("get", "certificatesigningrequests", name="node-csr-a")),
    (NODE_A, Request("get", "secrets", namespace="default", name="x")),
    (NODE_A, Request("watch", "pods")),
    (NODE_A, Request("create", "nodes", name="a")),
    (NODE_A, Request("patch", "nodes", name="a", subresource="status")),
    (NODE_A, Request("update", "leases", namespace="kube-node-lease", name="a")),
    (NODE_A, Request("patch", "pods", namespace="ns", name="p", subresource="status",
                     bound_node="a")),
    (NODE_A, Request("delete", "pods", namespace="ns", name="p", bound_node="a")),
    (NODE_A, Request("create", "events", namespace="ns")),
    (NODE_A, Request("create", "certificatesigningrequests")),
    (SCHEDULER, Request("create", "pods", namespace="ns", subresource="binding", name="p")),
])
def test_allowed(user: User, req: Request) -> None:
    authorize(user, req)


@pytest.mark.parametrize(("user", "req", "message"), [
    (BOOT, Request("list", "secrets", namespace="kube-system"),
     'secrets is forbidden: User "system:bootstrap:abcdef" cannot list resource "secrets" in '
     'API group "" in the namespace "kube-system"'),
    (NODE_A, Request("patch", "nodes", name="b", subresource="status"),
     'nodes "b" is forbidden: User "system:node:a" cannot patch resource '
     '"nodes/status" in API group "" at the cluster scope: node \'a\' cannot modify node '
     '\'b\''),
    (BOOT, Request("update", "certificatesigningrequests", "certificates.k8s.io",
                   name="x", subresource="approval"),
     'certificatesigningrequests.certificates.k8s.io "x" is forbidden: User '
     '"system:bootstrap:abcdef" cannot update resource "certificatesigningrequests/approval" '
     'in API group "certificates.k8s.io" at the cluster scope'),
    (NODE_A, Request("update", "leases", namespace="kube-node-lease", name="b"),
     "can only access node lease with the same name as the requesting node"),
    (NODE_A, Request("patch", "pods", namespace="ns", name="p", subresource="status",
                     bound_node="b"),
     "node 'a' can only update pods bound to it"),
    (NODE_A, Request("create", "pods", namespace="ns", name="p"),
     "node 'a' can only update pods bound to it"),
    (NODE_A, Request("delete", "secrets", namespace="ns", name="s"),
     'secrets "s" is forbidden: User "system:node:a" cannot delete resource "secrets"'),
    (NODE_A, Request("get", "pods", namespace="ns", name="p", subresource="exec"),
     "cannot get resource \"pods/exec\""),
    (User("system:node:", (pki.NODES,)), Request("get", "pods"), "unknown node"),
    (User(""), Request("get", "pods"), 'User "" cannot get resource "pods"'),
])
def test_forbidden_says_who_what_and_why(user: User, req: Request, message: str) -> None:
    with pytest.raises(errors.Forbidden) as caught:
        authorize(user, req)
    assert message in str(caught.value)


def test_a_node_name_needs_the_nodes_group() -> None:
    assert NODE_A.node == "a"
    assert User("system:node:a").node == ""
