"""client-go's RealPodControl: how a workload controller creates and deletes its pods.

The ReplicaSet, DaemonSet and Job controllers do it the same way, so it lives here once:
each outcome is an Event on the owner (SuccessfulCreate/FailedCreate,
SuccessfulDelete/FailedDelete, what `jota describe` shows), and a call that fails lowers
the owner's expectations at once, since the informer will never see that pod come or go
(controller/expectations.py), so the owner is not held up waiting for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.controllers.expectations import ControllerExpectations
from jota.api import errors
from jota.api.meta import Obj, name_of, namespace_of
from jota.client import NORMAL, WARNING, Client, EventRecorder, meta_namespace_key


@dataclass
class PodControl:
    client: Client
    recorder: EventRecorder
    expectations: ControllerExpectations

    async def create(self, key: str, owner: Obj, pod: Obj) -> Obj:
        """Create `pod` in `owner`'s namespace; the caller expected it under `key`."""
        try:
            created = await self.client.create("pods", pod, namespace_of(owner))
        except errors.APIError as e:
            self.expectations.creation_observed(key)
            self.recorder.event(owner, WARNING, "FailedCreate", f"Error creating: {e.message}")
            raise
        self.recorder.event(owner, NORMAL, "SuccessfulCreate",
                            f"Created pod: {name_of(created)}")
        return created

    async def delete(self, key: str, owner: Obj, pod: Obj) -> None:
        """Delete `pod`; the caller expected its deletion under `key`. A pod already gone
        is what was wanted."""
        try:
            await self.client.delete("pods", name_of(pod), namespace_of(pod))
        except errors.APIError as e:
            self.expectations.deletion_observed(key, meta_namespace_key(pod))
            if isinstance(e, errors.NotFound):
                return
            self.recorder.event(owner, WARNING, "FailedDelete", f"Error deleting: {e.message}")
            raise
        self.recorder.event(owner, NORMAL, "SuccessfulDelete", f"Deleted pod: {name_of(pod)}")
