"""Pod networking on a node: the pod CIDR bridge (podnet) and routes to other nodes' pods
(routes), as flannel's host-gw backend."""
