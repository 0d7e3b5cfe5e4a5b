"""Signatures and attestations: parsing, verification and the service's own signing.

The only package that imports in-toto and securesystemslib (an import-linter contract).

Entry points:
    parse(body, params=...) -> Attestation   DSSE (in-toto Statement v1/v0.1, links),
                                             in-toto link Metablocks, Sigstore bundles
                                             (v0.1-v0.3), cosign simple-signing payloads
    Verifier.from_policy(path) / .null()     judges an Attestation under the trust policy
    ServiceSigner.for_service(key, db_url)   signs exports and checkpoints (DSSE)
    open_envelope(envelope, public_pem)      verifies a DSSE envelope, returns its payload
"""

from provenance.trust.attestations._parse import BUNDLE_TYPES, IN_TOTO_PAYLOAD, parse
from provenance.trust.attestations._sign import ServiceSigner, default_key_path, open_envelope
from provenance.trust.attestations._verify import Verifier

__all__ = [
    "BUNDLE_TYPES",
    "IN_TOTO_PAYLOAD",
    "ServiceSigner",
    "Verifier",
    "default_key_path",
    "open_envelope",
    "parse",
]
