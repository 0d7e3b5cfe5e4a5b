"""A digest's evidence: `history(session, digest, limit=) -> list[EvidenceRow]`.

Every verdict about the digest, oldest first: the one given on arrival and each
re-verification's.
"""

from __future__ import annotations

from provenance.store import Session
from provenance.store import evidence as store_evidence
from provenance.store.evidence import EvidenceRow


def history(session: Session, digest: str, *, limit: int = 1000) -> list[EvidenceRow]:
    return store_evidence.history(session, digest, limit=limit)


__all__ = ["EvidenceRow", "history"]
