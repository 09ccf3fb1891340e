"""The Deployment controller: ReplicaSets per pod template, rolled from one to the next.

    revisions.py   pod-template-hash, revision annotations, history cleanup, rollback target
    sync.py        the pure rollout arithmetic: rolling steps, recreate, proportional scaling
    status.py      status and the Available/Progressing conditions
    controller.py  informers, workqueue and the writes
"""

from controlplane.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
