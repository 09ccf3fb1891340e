"""Names the local-path provisioner (controller-manager) and the node agents share.

The provisioner makes hostPath PVs under a node's base directory; the node's
agent publishes that directory in a Node annotation and removes a PV's directory
when the PV, deleted, still carries the provisioner's finalizer.
"""

PROVISIONER = "jota.io/local-path"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
BASE_DIR_ANNOTATION = "local-path.jota.io/base-dir"
# external-provisioner's finalizer: the PV stays until its storage is gone.
FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"
