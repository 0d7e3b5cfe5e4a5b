"""POST /v1/attestations with the payloads of `tests/payloads/attestations/`: each a 202."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from tests.signing import Key, dsse_envelope
from tests.sigstore_fixture import BUNDLE_V02
from tests.trust.test_attestation_payloads import (
    NPM_WORKFLOW,
    PAYLOADS,
    _load,
    write_sigstore_policy,
)


def test_over_http_each_is_a_202_with_its_verdict(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    instance, path = write_sigstore_policy(tmp_path)
    client = make_client(trust_policy=str(path))
    npm = instance.sign_dsse(
        _load("npm-provenance.statement.json"),
        instance.issue(subject=NPM_WORKFLOW),
        media_type=BUNDLE_V02,
    )
    vsa = dsse_envelope(_load("google-vsa-gce.statement.json"), Key.make())
    gpg = orjson.loads((PAYLOADS / "gpg-signed.link").read_bytes())
    answers = {}
    for name, doc in (("npm", npm), ("vsa", vsa), ("gpg", gpg)):
        r = client.post("/v1/attestations", content=orjson.dumps(doc))
        assert r.status_code == 202, (name, r.text)
        assert r.json()["accepted"] == 1
        (answers[name],) = r.json()["verdicts"]
    assert answers["npm"]["verified"] is True and answers["npm"]["digest"].startswith("sha512:")
    assert answers["vsa"]["verified"] is False
    assert answers["vsa"]["digest"] == "gce_image_id:8970095005306000053"
    assert answers["gpg"]["verified"] is False and "GPG" in answers["gpg"]["reason"]
    # The link's product is a sha256 file digest: an artifact, with its unverified verdict.
    r = client.get("/v1/artifacts/" + answers["gpg"]["digest"] + "/evidence")
    assert r.status_code == 200 and r.json()["items"][0]["verified"] is False
