"""Trust: the policy (what is trusted) and the verification of signatures,
attestations and tokens. The only code that imports in-toto, securesystemslib, sigstore
and cryptography."""
