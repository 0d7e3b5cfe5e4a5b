"""End to end: a real Distribution 2.8 registry notifies a real `provenance serve`.

Two OCI images are built with umoci, then skopeo pushes A to `acme/app:v1`, pulls it,
pushes B to the same tag (the tag moves) and deletes A by digest. The registry's
notifications are asynchronous, so each step waits until the service has recorded what
that step caused before the next one starts; the assertions then read the service's API.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import need
from tests.integration.conftest import Proc

pytestmark = [pytest.mark.integration, pytest.mark.registry]

T = TypeVar("T")
WAIT_SECONDS = 20.0
REVISION_A = hashlib.sha1(b"image A").hexdigest()  # a fake git sha
REVISION_B = hashlib.sha1(b"image B").hexdigest()
REVISION_LABEL = "org.opencontainers.image.revision"


def run(argv: list[str], *, cwd: Path | None = None, timeout: float = 30.0) -> str:
    """Run a tool; on failure, fail the test with its full output."""
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"timed out after {timeout}s: {' '.join(argv)}\n{exc.stdout}\n{exc.stderr}")
    if done.returncode != 0:
        pytest.fail(
            f"exit {done.returncode}: {' '.join(argv)}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done.stdout


# --- images (umoci) ----------------------------------------------------------------------


def build_image(layout: Path, name: str, content: str, revision: str, work: Path) -> str:
    """An OCI image `layout:name` with one file layer and a revision label; returns its digest.

    `unpack --rootless` works for root and non-root alike (no chown, no device nodes);
    `repack` reads the mapping back from the bundle and has no such flag in umoci 0.4.
    """
    image = f"{layout}:{name}"
    bundle = work / f"bundle-{name}"
    run(["umoci", "new", "--image", image])
    run(["umoci", "unpack", "--rootless", "--image", image, str(bundle)])
    (bundle / "rootfs" / "etc").mkdir(parents=True, exist_ok=True)
    (bundle / "rootfs" / "etc" / "release").write_text(content)
    run(["umoci", "repack", "--image", image, str(bundle)])
    run(["umoci", "config", "--image", image, "--config.label", f"{REVISION_LABEL}={revision}"])
    index = json.loads((layout / "index.json").read_text())
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name") == name:
            return str(descriptor["digest"])
    pytest.fail(f"umoci left no manifest named {name!r} in {layout}/index.json: {index}")


# --- registry traffic (skopeo) -----------------------------------------------------------


def skopeo(tmp: Path, *args: str) -> str:
    # --insecure-policy: no /etc/containers/policy.json needed; the registry is plain HTTP
    # on loopback, so every command also passes --{src,dest,}tls-verify=false.
    return run(["skopeo", "--insecure-policy", "--tmpdir", str(tmp), *args], timeout=60)


def push(tmp: Path, source: str, dest: str, digestfile: Path) -> str:
    skopeo(
        tmp,
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--digestfile",
        str(digestfile),
        source,
        dest,
    )
    return digestfile.read_text().strip()


# --- the service's API -------------------------------------------------------------------


class Service:
    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.http = httpx.Client(base_url=proc.base_url, timeout=10.0, trust_env=False)

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, (
            f"GET {path} {params}: {response.status_code} {response.text}"
        )
        return response.json()

    def maybe(self, path: str, **params: Any) -> Any | None:
        response = self.http.get(path, params=params)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, (
            f"GET {path} {params}: {response.status_code} {response.text}"
        )
        return response.json()

    def timeline(self, digest: str) -> list[dict[str, Any]]:
        body = self.maybe(f"/v1/artifacts/{digest}/timeline", limit=1000)
        return [] if body is None else list(body["events"])

    def audit_entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.get("/v1/audit/log", after=after, limit=1000)["entries"]
            if not page:
                return entries
            entries.extend(page)
            after = max(int(e["seq"]) for e in page)

    def quarantine(self) -> Any:
        response = self.http.get("/v1/quarantine", params={"limit": 1000})
        return response.json() if response.status_code == 200 else response.text

    def diagnostics(self) -> str:
        """What the service holds, for a failure message."""
        try:
            entries = self.audit_entries()
        except Exception as exc:
            return f"(cannot read the audit log: {exc!r})"
        lines = [f"audit log: {len(entries)} entries"]
        for entry in entries[-40:]:
            types = [e.get("type") if isinstance(e, dict) else e for e in entry.get("events", [])]
            lines.append(f"  #{entry.get('seq')} {entry.get('source')} {types}")
        lines.append(f"quarantine: {json.dumps(self.quarantine())[:4000]}")
        return "\n".join(lines)

    def wait_for(self, what: str, probe: Callable[[], T | None]) -> T:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                pytest.fail(
                    f"after {WAIT_SECONDS}s the service still has no {what}\n{self.diagnostics()}"
                )
            time.sleep(0.2)


@pytest.fixture
def svc(provenance_service: Proc) -> Iterator[Service]:
    service = Service(provenance_service)
    try:
        yield service
    finally:
        service.http.close()


def of_type(events: list[dict[str, Any]], etype: str, **fields: Any) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e.get("type") == etype and all(e.get(k) == v for k, v in fields.items())
    ]


def canonical_events(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in entry.get("events") or [] if isinstance(e, dict)]


# --- the test ----------------------------------------------------------------------------


def test_distribution_registry_notifications_end_to_end(
    tmp_path: Path, svc: Service, distribution_registry: Proc
) -> None:
    for tool in ("skopeo", "umoci"):
        need(shutil.which(tool) is not None, f"{tool} not installed (apt-get install {tool})")
    host = str(distribution_registry.extra["host"])
    repository = f"{host}/acme/app"
    ref_v1 = f"docker://{repository}:v1"

    # Two different images in one OCI layout.
    layout = tmp_path / "oci"
    run(["umoci", "init", "--layout", str(layout)])
    digest_a = build_image(layout, "a", "image A\n", REVISION_A, tmp_path)
    digest_b = build_image(layout, "b", "image B\n", REVISION_B, tmp_path)
    assert digest_a != digest_b

    # 1. push A as acme/app:v1
    pushed_a = push(tmp_path, f"oci:{layout}:a", ref_v1, tmp_path / "digest-a")
    assert pushed_a == digest_a, "skopeo --preserve-digests changed the manifest"
    svc.wait_for(
        f"artifact.pushed of A ({digest_a}) as {repository}:v1",
        lambda: of_type(svc.timeline(digest_a), "artifact.pushed", tag="v1"),
    )

    # 2. pull it (GET of the manifest by tag, then its blobs)
    skopeo(
        tmp_path,
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        ref_v1,
        f"oci:{tmp_path / 'pulled'}:v1",
    )
    svc.wait_for(
        f"artifact.pulled of A ({digest_a})",
        lambda: of_type(svc.timeline(digest_a), "artifact.pulled"),
    )

    # 3. push B to the same tag: the tag moves from A to B
    pushed_b = push(tmp_path, f"oci:{layout}:b", ref_v1, tmp_path / "digest-b")
    assert pushed_b == digest_b
    svc.wait_for(
        f"tag.updated of {repository}:v1 from A to B",
        lambda: of_type(svc.timeline(digest_b), "tag.updated", previous_digest=digest_a),
    )

    # 4. delete A by digest
    skopeo(tmp_path, "delete", "--tls-verify=false", f"docker://{repository}@{digest_a}")
    svc.wait_for(
        f"artifact.deleted of A ({digest_a})",
        lambda: of_type(svc.timeline(digest_a), "artifact.deleted"),
    )

    # --- A's timeline
    timeline_a = svc.timeline(digest_a)
    context = json.dumps(timeline_a, indent=1)
    (pushed,) = of_type(timeline_a, "artifact.pushed")
    assert pushed["tag"] == "v1", context
    assert pushed["repository"] == repository, context
    assert pushed["source"] == "distribution", context
    # The copy GETs the manifest by tag (the event carries the tag); `skopeo delete` later
    # GETs it by digest first, a second pull without a tag.
    pulls_by_tag = of_type(timeline_a, "artifact.pulled", repository=repository, tag="v1")
    assert pulls_by_tag, context
    moved = of_type(timeline_a, "tag.updated", previous_digest=digest_a, digest=digest_b, tag="v1")
    assert len(moved) == 1, context
    assert moved[0]["repository"] == repository, context
    deleted = of_type(timeline_a, "artifact.deleted", repository=repository)
    assert deleted, context
    # The order follows the operations: pushed < pulled by tag < moved away < deleted.
    assert pushed["seq"] < pulls_by_tag[0]["seq"] < moved[0]["seq"] < deleted[0]["seq"], context
    assert timeline_a[-1]["type"] == "artifact.deleted", context
    # Blob traffic never shows up in an artifact timeline.
    assert not [e for e in timeline_a if str(e.get("type", "")).startswith("blob.")], context

    # --- B's timeline: its push, and the same tag move
    timeline_b = svc.timeline(digest_b)
    context_b = json.dumps(timeline_b, indent=1)
    assert of_type(timeline_b, "artifact.pushed", tag="v1", repository=repository), context_b
    assert of_type(
        timeline_b, "tag.updated", previous_digest=digest_a, digest=digest_b, tag="v1"
    ), context_b
    assert not of_type(timeline_b, "artifact.deleted"), context_b

    # --- the artifacts
    artifact_a = svc.get(f"/v1/artifacts/{digest_a}")
    assert artifact_a["digest"] == digest_a
    assert artifact_a["deleted"] is True, artifact_a
    assert repository in artifact_a["repositories"], artifact_a
    (tag_a,) = [t for t in artifact_a["tags"] if t["repository"] == repository and t["tag"] == "v1"]
    assert tag_a["current"] is False, artifact_a
    assert tag_a["until"] is not None, artifact_a
    assert artifact_a["pulls"]["count"] >= 1, artifact_a
    artifact_b = svc.get(f"/v1/artifacts/{digest_b}")
    assert artifact_b["deleted"] is False, artifact_b
    (tag_b,) = [t for t in artifact_b["tags"] if t["repository"] == repository and t["tag"] == "v1"]
    assert tag_b["current"] is True, artifact_b
    assert tag_b["until"] is None, artifact_b

    # --- the tag's history: A, then B
    history = svc.get("/v1/tags/history", repository=repository, tag="v1")["history"]
    assert [h["digest"] for h in history] == [digest_a, digest_b], history
    assert history[0]["until"] is not None, history
    assert history[1]["until"] is None, history
    assert history[0]["since"] <= history[0]["until"] <= history[1]["since"], history

    # --- the audit log: what the registry sent, blob traffic included, chain intact
    entries = svc.audit_entries()
    distribution = [e for e in entries if e["source"] == "distribution"]
    assert distribution, svc.diagnostics()
    types = {ev.get("type") for entry in distribution for ev in canonical_events(entry)}
    assert {"artifact.pushed", "artifact.pulled", "artifact.deleted"} <= types, types
    assert {"blob.pushed", "blob.pulled"} <= types, types
    blob_digests = {
        ev.get("digest")
        for entry in distribution
        for ev in canonical_events(entry)
        if str(ev.get("type", "")).startswith("blob.")
    }
    config_and_layers = {
        child["digest"] for d in (digest_a, digest_b) for child in _manifest_children(layout, d)
    }
    assert config_and_layers <= blob_digests, (config_and_layers, blob_digests)
    verify = svc.get("/v1/audit/verify")
    assert verify["ok"] is True, verify
    assert verify["entries"] == len(entries), (verify, len(entries))
    quarantined = svc.quarantine()
    assert isinstance(quarantined, dict), quarantined
    assert quarantined["items"] == [], quarantined

    # --- the revision label: Distribution notifications carry descriptors, not the image
    # config, so the claim can only appear if the registry put the label into a payload.
    bodies = [json.dumps(e.get("body")) for e in distribution]
    if any(REVISION_A in body for body in bodies):
        assert REVISION_A in json.dumps(artifact_a["commits"]), artifact_a
    else:
        # Not in any payload (Distribution 2.8 does not send it): nothing to claim, and
        # whatever commit the service does show for A must not be B's.
        assert all(REVISION_LABEL not in body for body in bodies)
        assert REVISION_B not in json.dumps(artifact_a["commits"]), artifact_a


def _manifest_children(layout: Path, digest: str) -> list[dict[str, Any]]:
    algorithm, hexdigest = digest.split(":", 1)
    manifest = json.loads((layout / "blobs" / algorithm / hexdigest).read_text())
    return [manifest["config"], *manifest["layers"]]
