"""The CertificateSigningRequest strategy: who asked, and which write may change what.

As kube-apiserver's certificates registry: on create the requestor (spec.username,
groups, uid) is the caller's authenticated identity, whatever the body says, and
status starts empty, so nobody creates a pre-approved request. The spec never changes
after create. Three writers own three parts:

- the main resource (update/patch): metadata only;
- `status` (the signer): status.certificate and conditions other than Approved/Denied;
- `approval` (an approver, `jota certificate approve`): the conditions only.

Pure functions over dicts; rest.py calls them where it merges an update.
"""

from __future__ import annotations

import copy

from controlplane.apiserver.authz import User
from jota.api import certificates
from jota.api.meta import Obj

RESOURCE = certificates.RESOURCE
AUTHENTICATED = "system:authenticated"
_APPROVAL = (certificates.APPROVED, certificates.DENIED)


def set_requestor(csr: Obj, user: User) -> None:
    """spec.username/groups from the caller (PrepareForCreate); status is cleared later."""
    spec = csr.get("spec")
    if not isinstance(spec, dict):
        return
    for forged in ("username", "uid", "groups", "extra"):
        spec.pop(forged, None)
    spec["username"] = user.name
    spec["groups"] = [*user.groups, *([] if AUTHENTICATED in user.groups
                                      else [AUTHENTICATED])]


def merge_update(old: Obj, new: Obj, subresource: str) -> Obj:
    """The object to store for a write of `subresource`: "" (the generic merge already
    kept metadata and status: the spec stays too), "status" or "approval"."""
    if subresource == "":
        merged = copy.deepcopy(new)
        merged["spec"] = copy.deepcopy(old.get("spec"))
        return merged
    merged = copy.deepcopy(old)
    old_status = old.get("status") if isinstance(old.get("status"), dict) else None
    new_status = new.get("status") if isinstance(new.get("status"), dict) else None
    if subresource == "approval":
        status = copy.deepcopy(old_status or {})
        status["conditions"] = copy.deepcopy((new_status or {}).get("conditions") or [])
    else:
        status = copy.deepcopy(new_status or {})
        # The signer may not decide approval: the old Approved/Denied stay as they were.
        kept = [c for c in certificates.conditions(old) if c.get("type") in _APPROVAL]
        others = [c for c in certificates.conditions({"status": status})
                  if c.get("type") not in _APPROVAL]
        status["conditions"] = kept + others
    if not status.get("conditions"):
        status.pop("conditions", None)
    merged.pop("status", None)
    if status:
        merged["status"] = status
    return merged
