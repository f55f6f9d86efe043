"""An audit entry as JSON: the same shape in the API and in the archive export (`flask audit export`), with the
hashes, so an exported line can be checked against the chain."""

from ..core.clock import local_iso
from .models import AuditEntry
from .queries import details_of


def entry_json(e: AuditEntry) -> dict:
    return {"seq": e.seq, "at": local_iso(e.at), "actor_id": e.actor_id, "actor_name": e.actor_name,
            "organization_id": e.organization_id, "action": e.action, "object_type": e.object_type,
            "object_id": e.object_id, "outcome": e.outcome, "remote_addr": e.remote_addr,
            "details": details_of(e), "prev_hash": e.prev_hash, "hash": e.hash}
