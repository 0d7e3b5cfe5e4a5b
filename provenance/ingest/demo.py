"""The built-in example story behind `provenance demo`.

Every delivery is generated here, in the wire format of the system that would send it
(Distribution 2.8 notification envelopes, a GitHub `package` webhook, a Harbor Default
payload, CDEvents in CloudEvents binary mode), and goes through the same `ingest` path
as a real webhook. Times are fixed and every id is derived from a name, so loading the
story again only yields duplicates. The image digests are the sha256 of small OCI
manifests generated below, exactly as a registry would compute them.

The story (all times UTC, 2026), for `github.com/acme/shop-api`:

* 05-04 09:12  PR #57 is merged (CDEvents change.merged, merge commit in customData).
* 05-04 09:12-09:15  GitHub Actions builds the release (build.started / build.finished). The
  registry sees the base layer mounted, the app layer and config uploaded, then the
  manifest (the *original* digest) pushed as `registry.acme.test/acme/shop-api:v2.0.0`
  and `:sha-<short commit>`. The workflow mirrors it to `ghcr.io/acme/shop-api:v2.0.0`
  (GitHub `package` webhook; OCI labels name the commit).
* 05-04 10:02  Argo CD deploys it to staging; 05-05 08:30 to prod, after a prod node pulls it
  (HEAD by tag, GET by digest, then the config blob).
* 05-06 02:15  a robot account of the DR site's Harbor proxy cache pulls it by digest.
* 05-12 16:40  a base-image CVE: the release is rebuilt from the same commit. The *rebuild*
  is pushed to the same tag (`v2.0.0` moves: tag.updated) and mirrored to GHCR again; prod
  is upgraded to it (service.upgraded). Staging is not.
* 05-26 03:00  the registry clean-up deletes the original digest (manifest delete, then the
  tag delete for `sha-<short>`, which still pointed at it), while staging still runs it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from packageurl import PackageURL

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.alerts import DEFAULT_MIN_SEVERITY
from provenance.model.errors import RejectedInput
from provenance.store import Database

if TYPE_CHECKING:
    from provenance.client import ServiceClient

# --- the cast ---------------------------------------------------------------------------

REGISTRY = "registry.acme.test"
IMAGE_PATH = "acme/shop-api"
REPOSITORY = f"{REGISTRY}/{IMAGE_PATH}"
GHCR_REPOSITORY = "ghcr.io/acme/shop-api"
HARBOR = "harbor.acme.test"
HARBOR_PROJECT = "acme-proxy"  # a proxy-cache project in front of registry.acme.test
VCS_URL = "https://github.com/acme/shop-api"
TAG = "v2.0.0"
PR = 57

CI_PUSHER = "ci-shop-api"
NODE_ACTOR = "svc-k8s-prod-pull"
NODE_ADDR = "10.60.3.21"
ROBOT = f"robot${HARBOR_PROJECT}+dr-nodes"
GC_ACTOR = "ops-gc-bot"
MERGER = "dana-kowalski"
REBUILDER = "lee-osei"
BUILDER_ID = f"{VCS_URL}/.github/workflows/release.yml@refs/heads/main"

#: GitHub signs its webhooks with the hook's secret. The demo is loaded with no secret
#: configured (nothing to verify), but its deliveries carry a correct X-Hub-Signature-256
#: under this one, as GitHub would: set PROVENANCE_GITHUB_WEBHOOK_SECRET to it to replay them.
DEMO_WEBHOOK_SECRET = b"provenance-demo-webhook-secret"

# The merge commit. Git names a commit by the sha1 of its object; this is such an object.
_COMMIT_OBJECT = (
    "tree 6b1f0c2d9a4e1f07d3b8c5a2e9f4d1c07b3a8e52\n"
    "parent 0d5c7e2a9b8f1c3e4d6a7b9c0e2f4a6b8c1d3e5f\n"
    "parent 9a4b2c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b\n"
    f"author {MERGER.replace('-', ' ').title()} <{MERGER}@acme.test> 1777885950 +0000\n"
    "committer GitHub <noreply@github.com> 1777885950 +0000\n"
    "\n"
    f"Merge pull request #{PR} from acme/feature/checkout-v2\n"
)
COMMIT = hashlib.sha1(  # noqa: S324 - git object naming, not security
    f"commit {len(_COMMIT_OBJECT.encode())}\0{_COMMIT_OBJECT}".encode()
).hexdigest()
SHORT = COMMIT[:7]
SHA_TAG = f"sha-{SHORT}"

BUILD_1 = f"{VCS_URL}/actions/runs/15011223344/attempts/1"
BUILD_2 = f"{VCS_URL}/actions/runs/15200887766/attempts/1"

_DIST_TYPE = "application/vnd.docker.distribution.events.v1+json"
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


# --- deterministic ids and times --------------------------------------------------------


def _hash(name: str) -> bytes:
    return hashlib.sha256(f"provenance-demo/{name}".encode()).digest()


def _uuid(name: str) -> str:
    """A random-looking (version 4) UUID that is always the same for the same name."""
    return str(uuid.UUID(bytes=_hash(name)[:16], version=4))


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _at(text: str) -> datetime:
    """`2026-05-04 09:12:30` -> aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _nanos(name: str) -> int:
    return int.from_bytes(_hash(f"ns/{name}")[:8], "big") % 1_000_000_000


def _go_time(when: datetime, nanos: int) -> str:
    """Go's RFC3339Nano, as Distribution writes it: nanoseconds, trailing zeros dropped."""
    base = when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def _rfc3339(when: datetime) -> str:
    spec = "milliseconds" if when.microsecond else "seconds"
    return when.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


# --- the images -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Blob:
    digest: str
    size: int
    media_type: str

    def descriptor(self) -> dict[str, Any]:
        """As in an OCI manifest (mediaType, digest, size)."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    def reference(self) -> dict[str, Any]:
        """As in a Distribution notification's `references` (mediaType, size, digest)."""
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class Image:
    manifest: bytes
    config: Blob
    layers: tuple[Blob, ...]

    @property
    def digest(self) -> str:
        return _sha256(self.manifest)

    @property
    def size(self) -> int:
        return len(self.manifest)

    def references(self) -> list[dict[str, Any]]:
        return [self.config.reference(), *(layer.reference() for layer in self.layers)]


def _layer(name: str, size: int) -> tuple[Blob, str]:
    """A layer (compressed digest) and its diff id (uncompressed digest)."""
    blob = Blob(_sha256(f"{name}.tar.gz".encode()), size, _OCI_LAYER)
    return blob, _sha256(f"{name}.tar".encode())


def _json_indented(value: object) -> bytes:
    """Go's json.MarshalIndent(v, "", "  "), which BuildKit uses for manifests and configs."""
    return json.dumps(value, indent=2).encode()


def _image(*, created: str, base: str, base_layer: str, base_size: int) -> Image:
    base_blob, base_diff = _layer(base_layer, base_size)
    app_blob, app_diff = _layer(f"shop-api-{COMMIT}-app", 9_412_305)
    labels = {
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.revision": COMMIT,
        "org.opencontainers.image.source": VCS_URL,
        "org.opencontainers.image.version": TAG,
    }
    config = _json_indented(
        {
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": "65532:65532",
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Entrypoint": ["/usr/local/bin/shop-api"],
                "WorkingDir": "/",
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": [base_diff, app_diff]},
            "history": [
                {"created": created, "created_by": f"FROM {base}", "comment": "buildkit"},
                {"created": created, "created_by": "COPY /out/shop-api /usr/local/bin/shop-api"},
            ],
        }
    )
    config_blob = Blob(_sha256(config), len(config), _OCI_CONFIG)
    manifest = _json_indented(
        {
            "schemaVersion": 2,
            "mediaType": _OCI_MANIFEST,
            "config": config_blob.descriptor(),
            "layers": [base_blob.descriptor(), app_blob.descriptor()],
            "annotations": {
                "org.opencontainers.image.base.name": base,
                "org.opencontainers.image.created": created,
                "org.opencontainers.image.revision": COMMIT,
                "org.opencontainers.image.source": VCS_URL,
                "org.opencontainers.image.version": TAG,
            },
        }
    )
    return Image(manifest, config_blob, (base_blob, app_blob))


ORIGINAL = _image(
    created="2026-05-04T09:14:52Z",
    base="docker.io/library/debian:bookworm-20260420-slim",
    base_layer="debian-bookworm-20260420-slim",
    base_size=28_231_486,
)
REBUILD = _image(
    created="2026-05-12T16:42:31Z",
    base="docker.io/library/debian:bookworm-20260511-slim",
    base_layer="debian-bookworm-20260511-slim",
    base_size=28_236_118,
)


# --- Distribution 2.8 notifications -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Client:
    addr: str  # ip:port as the registry saw it
    useragent: str
    actor: str | None


_CI = _Client("10.40.12.7:53124", "buildkit/v0.21.1", CI_PUSHER)
_NODE = _Client(f"{NODE_ADDR}:41880", "containerd/v2.0.5", NODE_ACTOR)
_GC = _Client("10.40.0.15:38810", "regctl/v0.8.3", GC_ACTOR)


def _distribution(
    name: str,
    when: datetime,
    action: str,
    target: Mapping[str, Any],
    *,
    by: _Client,
    method: str,
    request: str | None = None,
    instance: str = "registry-01/boot-1",
    nanos: int | None = None,
) -> Delivery:
    """One notification as Distribution 2.8 POSTs it: one event in a 3-space-indented envelope."""
    ns = _nanos(name) if nanos is None else nanos
    event = {
        "id": _uuid(f"distribution/{name}"),
        "timestamp": _go_time(when, ns),
        "action": action,
        "target": dict(target),
        "request": {
            "id": _uuid(f"request/{request or name}"),
            "addr": by.addr,
            "host": REGISTRY,
            "method": method,
            "useragent": by.useragent,
        },
        "actor": {"name": by.actor} if by.actor else {},
        "source": {"addr": "registry-01:5000", "instanceID": _uuid(instance)},
    }
    body = json.dumps({"events": [event]}, indent=3).encode()
    return Delivery(
        source="distribution",
        body=body,
        received_at=when + timedelta(microseconds=ns // 1000 + 3_000),
        content_type=_DIST_TYPE,
        headers={
            "content-type": _DIST_TYPE,
            "user-agent": "Go-http-client/1.1",
            "accept-encoding": "gzip",
        },
    )


def _blob_target(blob: Blob, *, from_repository: str | None = None) -> dict[str, Any]:
    target: dict[str, Any] = {
        "mediaType": "application/octet-stream",
        "size": blob.size,
        "digest": blob.digest,
        "length": blob.size,
        "repository": IMAGE_PATH,
    }
    if from_repository is not None:
        target["fromRepository"] = from_repository
    target["url"] = f"https://{REGISTRY}/v2/{IMAGE_PATH}/blobs/{blob.digest}"
    return target


def _manifest_target(image: Image, tag: str | None) -> dict[str, Any]:
    """A manifest push/pull target (the endpoint has `includereferences` on)."""
    target: dict[str, Any] = {
        "mediaType": _OCI_MANIFEST,
        "size": image.size,
        "digest": image.digest,
        "length": image.size,
        "repository": IMAGE_PATH,
        "url": f"https://{REGISTRY}/v2/{IMAGE_PATH}/manifests/{image.digest}",
    }
    if tag is not None:
        target["tag"] = tag
    target["references"] = image.references()
    return target


# --- GitHub `package` webhook (GHCR) ----------------------------------------------------


def _gh_user(login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
    return {
        "login": login,
        "id": user_id,
        "node_id": ("U_kgDO" if kind == "User" else "O_kgDO") + _hash(login).hex()[:6].upper(),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": f"https://api.github.com/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": kind,
        "site_admin": False,
    }


_ACME = _gh_user("acme", 81234567, "Organization")


def _ghcr(name: str, when: datetime, image: Image, version_id: int, sender: str) -> Delivery:
    stamp = _rfc3339(when)
    user = _gh_user(sender, 60000000 + int.from_bytes(_hash(sender)[:3], "big"))
    labels = {
        "org.opencontainers.image.created": stamp,
        "org.opencontainers.image.revision": COMMIT,
        "org.opencontainers.image.source": VCS_URL,
        "org.opencontainers.image.version": TAG,
    }
    payload = {
        "action": "published",
        "package": {
            "id": 6120457,
            "name": "shop-api",
            "namespace": "acme",
            "description": None,
            "ecosystem": "CONTAINER",
            "package_type": "CONTAINER",
            "html_url": "https://github.com/orgs/acme/packages/container/package/shop-api",
            "created_at": "2025-11-18T13:40:22Z",
            "updated_at": stamp,
            "owner": _ACME,
            "package_version": {
                "id": version_id,
                "version": image.digest,
                "name": image.digest,
                "summary": "",
                "description": "",
                "body": "",
                "body_html": "",
                "html_url": f"https://github.com/orgs/acme/packages/container/shop-api/{version_id}",
                "target_commitish": "",
                "target_oid": "",
                "created_at": stamp,
                "updated_at": stamp,
                "metadata": [],
                "container_metadata": {
                    "tag": {"name": TAG, "digest": image.digest},
                    "labels": {
                        "description": "",
                        "source": VCS_URL,
                        "revision": COMMIT,
                        "image_url": VCS_URL,
                        "licenses": "",
                        "all_labels": labels,
                    },
                    "manifest": {
                        "digest": image.digest,
                        "media_type": _OCI_MANIFEST,
                        "uri": f"repositories/acme/shop-api/manifests/{image.digest}",
                        "size": image.size,
                        "config": {
                            "digest": image.config.digest,
                            "media_type": _OCI_CONFIG,
                            "size": image.config.size,
                        },
                        "layers": [
                            {"digest": b.digest, "media_type": b.media_type, "size": b.size}
                            for b in image.layers
                        ],
                    },
                },
                "package_files": [],
                "package_url": f"{GHCR_REPOSITORY}:{TAG}",
                "author": user,
                "installation_command": f"docker pull {GHCR_REPOSITORY}:{TAG}",
            },
            "registry": {
                "about_url": "https://docs.github.com/packages/learn-github-packages/introduction-to-github-packages",
                "name": "GitHub CONTAINER registry",
                "type": "CONTAINER",
                "url": "https://CONTAINER.pkg.github.com/acme",
                "vendor": "GitHub Inc",
            },
        },
        "repository": {
            "id": 894512376,
            "node_id": "R_kgDONVFa-A",
            "name": "shop-api",
            "full_name": "acme/shop-api",
            "private": True,
            "owner": _ACME,
            "html_url": VCS_URL,
            "description": "Acme shop API",
            "fork": False,
            "url": "https://api.github.com/repos/acme/shop-api",
            "default_branch": "main",
            "visibility": "private",
        },
        "organization": {
            "login": "acme",
            "id": 81234567,
            "url": "https://api.github.com/orgs/acme",
            "description": "Acme Corp",
        },
        "sender": user,
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    sha1 = hmac.new(DEMO_WEBHOOK_SECRET, body, hashlib.sha1).hexdigest()
    sha256 = hmac.new(DEMO_WEBHOOK_SECRET, body, hashlib.sha256).hexdigest()
    return Delivery(
        source="ghcr",
        body=body,
        received_at=when + timedelta(milliseconds=870),
        content_type="application/json",
        headers={
            "user-agent": "GitHub-Hookshot/4f1c2e9",
            "content-type": "application/json",
            "x-github-delivery": _uuid(f"github-delivery/{name}"),
            "x-github-event": "package",
            "x-github-hook-id": "498812271",
            "x-github-hook-installation-target-id": str(_ACME["id"]),
            "x-github-hook-installation-target-type": "organization",
            "x-hub-signature": f"sha1={sha1}",
            "x-hub-signature-256": f"sha256={sha256}",
        },
    )


# --- Harbor (Default payload format) ----------------------------------------------------


def _harbor_pull_by_digest(when: datetime, image: Image, operator: str) -> Delivery:
    repo_name = f"{HARBOR_PROJECT}/{IMAGE_PATH}"
    payload = {
        "type": "PULL_ARTIFACT",
        "occur_at": int(when.timestamp()),
        "operator": operator,
        "event_data": {
            "resources": [
                {
                    "digest": image.digest,
                    "tag": image.digest,  # pulled by digest: Harbor puts the digest here
                    "resource_url": f"{HARBOR}/{repo_name}@{image.digest}",
                }
            ],
            "repository": {
                "date_created": int(_at("2026-01-14 10:31:07").timestamp()),
                "name": IMAGE_PATH,
                "namespace": HARBOR_PROJECT,
                "repo_full_name": repo_name,
                "repo_type": "private",
            },
        },
    }
    return Delivery(
        source="harbor",
        body=json.dumps(payload, separators=(",", ":")).encode(),
        received_at=when + timedelta(milliseconds=412),
        content_type="application/json",
        headers={"content-type": "application/json", "user-agent": "Go-http-client/1.1"},
    )


# --- CDEvents (v0.5.1) in CloudEvents binary mode ---------------------------------------


def _purl(image: Image) -> str:
    qualifiers = {"repository_url": REPOSITORY, "tag": TAG}
    return str(PackageURL("oci", None, "shop-api", image.digest, qualifiers).to_string())


def _cdevent(
    name: str,
    when: datetime,
    cd_type: str,
    source: str,
    subject: Mapping[str, Any],
    *,
    custom: Mapping[str, Any] | None = None,
    chain: str | None = None,
) -> Delivery:
    context: dict[str, Any] = {
        "specversion": "0.5.1",
        "id": _uuid(f"cdevents/{name}"),
        "source": source,
        "type": cd_type,
        "timestamp": _rfc3339(when),
    }
    if chain is not None:
        context["chainId"] = _uuid(f"chain/{chain}")
    cdevent: dict[str, Any] = {"context": context, "subject": dict(subject)}
    if custom:
        cdevent["customData"] = dict(custom)
        cdevent["customDataContentType"] = "application/json"
    return Delivery(
        source="cdevents",
        body=json.dumps(cdevent, separators=(",", ":")).encode(),
        received_at=when + timedelta(milliseconds=95),
        content_type="application/json",
        headers={
            "content-type": "application/json",
            "user-agent": "Go-http-client/1.1",
            "ce-specversion": "1.0",
            "ce-id": context["id"],
            "ce-source": source,
            "ce-type": cd_type,
            "ce-subject": str(subject["id"]),
            "ce-time": context["timestamp"],
        },
    )


_GH_SOURCE = "/github/acme/shop-api"
_ACTIONS_SOURCE = "/github/acme/shop-api/actions"


def _build(name: str, when: datetime, predicate: str, build: str, image: Image | None) -> Delivery:
    content: dict[str, Any] = {} if image is None else {"artifactId": _purl(image)}
    return _cdevent(
        name,
        when,
        f"dev.cdevents.build.{predicate}.0.3.0",
        _ACTIONS_SOURCE,
        {"id": build, "source": VCS_URL, "content": content},
        custom={
            "commit": COMMIT,
            "vcsUrl": VCS_URL,
            "builder": BUILDER_ID,
            "workflow": "release.yml",
        },
        chain=build,
    )


@dataclass(frozen=True, slots=True)
class _Target:
    environment: str
    cluster: str
    namespace: str


STAGING = _Target("staging", "staging-eu-1", "shop-staging")
PROD = _Target("prod", "prod-eu-1", "shop-prod")


def _service(name: str, when: datetime, predicate: str, target: _Target, image: Image) -> Delivery:
    argocd = f"/argocd/{target.cluster}"
    return _cdevent(
        name,
        when,
        f"dev.cdevents.service.{predicate}.0.3.0",
        argocd,
        {
            "id": "shop-api",
            "source": argocd,
            "content": {
                "environment": {"id": target.environment, "source": argocd},
                "artifactId": _purl(image),
            },
        },
        custom={
            "cluster": target.cluster,
            "namespace": target.namespace,
            "workload": "deployment/shop-api",
            "container": "shop-api",
            "argocdApplication": f"shop-api-{target.environment}",
            "syncRevision": _hash(f"gitops/{name}").hex()[:40],
            "image": f"{REPOSITORY}:{TAG}@{image.digest}",
        },
    )


# --- the story ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Story:
    deliveries: list[Delivery]
    digests: dict[str, str]
    commit: str


def story() -> Story:
    """Every delivery of the story, in the order the systems would send them."""
    d: list[Delivery] = []
    base_1, app = ORIGINAL.layers
    base_2, app_again = REBUILD.layers
    assert app == app_again  # the app layer is reproducible: only the base changed

    # 05-04: the merge and the release build.
    d.append(
        _cdevent(
            "change-merged",
            _at("2026-05-04 09:12:30"),
            "dev.cdevents.change.merged.0.3.0",
            _GH_SOURCE,
            {
                "id": f"pull/{PR}",
                "source": VCS_URL,
                "content": {"repository": {"id": IMAGE_PATH, "source": "https://github.com"}},
            },
            custom={"mergeCommitSha": COMMIT, "baseRef": "main", "mergedBy": MERGER},
            chain=BUILD_1,
        )
    )
    d.append(_build("build-1-started", _at("2026-05-04 09:12:41"), "started", BUILD_1, None))
    d.append(
        _distribution(
            "mount-base-1",
            _at("2026-05-04 09:15:02"),
            "mount",
            _blob_target(base_1, from_repository="acme/base/debian"),
            by=_CI,
            method="POST",
        )
    )
    d.append(
        _distribution(
            "push-app-layer",
            _at("2026-05-04 09:15:08"),
            "push",
            _blob_target(app),
            by=_CI,
            method="PUT",
        )
    )
    d.append(
        _distribution(
            "push-config-1",
            _at("2026-05-04 09:15:09"),
            "push",
            _blob_target(ORIGINAL.config),
            by=_CI,
            method="PUT",
        )
    )
    d.append(
        _distribution(
            "push-manifest-1-release",
            _at("2026-05-04 09:15:10"),
            "push",
            _manifest_target(ORIGINAL, TAG),
            by=_CI,
            method="PUT",
        )
    )
    d.append(
        _distribution(
            "push-manifest-1-sha",
            _at("2026-05-04 09:15:11"),
            "push",
            _manifest_target(ORIGINAL, SHA_TAG),
            by=_CI,
            method="PUT",
        )
    )
    d.append(_ghcr("ghcr-1", _at("2026-05-04 09:15:24"), ORIGINAL, 512004811, MERGER))
    d.append(_build("build-1-finished", _at("2026-05-04 09:15:40"), "finished", BUILD_1, ORIGINAL))

    # 05-04 / 05-05: staging, then prod (a prod node pulls it first).
    d.append(_service("deploy-staging", _at("2026-05-04 10:02:14"), "deployed", STAGING, ORIGINAL))
    d.append(
        _distribution(
            "node-head-1",
            _at("2026-05-05 08:30:03"),
            "pull",
            _manifest_target(ORIGINAL, TAG),
            by=_NODE,
            method="HEAD",
            nanos=118_406_221,
        )
    )
    d.append(
        _distribution(
            "node-get-1",
            _at("2026-05-05 08:30:03"),
            "pull",
            _manifest_target(ORIGINAL, None),
            by=_NODE,
            method="GET",
            nanos=161_930_504,
        )
    )
    d.append(
        _distribution(
            "node-config-1",
            _at("2026-05-05 08:30:04"),
            "pull",
            _blob_target(ORIGINAL.config),
            by=_NODE,
            method="GET",
        )
    )
    d.append(_service("deploy-prod", _at("2026-05-05 08:30:52"), "deployed", PROD, ORIGINAL))

    # 05-06: the DR site's Harbor proxy cache, pulled by a robot account.
    d.append(_harbor_pull_by_digest(_at("2026-05-06 02:15:40"), ORIGINAL, ROBOT))

    # 05-12: base-image CVE, rebuild from the same commit, pushed to the same tag.
    d.append(_build("build-2-started", _at("2026-05-12 16:40:07"), "started", BUILD_2, None))
    d.append(
        _distribution(
            "push-base-2",
            _at("2026-05-12 16:42:48"),
            "push",
            _blob_target(base_2),
            by=_CI,
            method="PUT",
        )
    )
    d.append(
        _distribution(  # BuildKit checks the app layer exists: a blob HEAD, no upload
            "head-app-layer-2",
            _at("2026-05-12 16:42:49"),
            "pull",
            _blob_target(app),
            by=_CI,
            method="HEAD",
        )
    )
    d.append(
        _distribution(
            "push-config-2",
            _at("2026-05-12 16:42:50"),
            "push",
            _blob_target(REBUILD.config),
            by=_CI,
            method="PUT",
        )
    )
    d.append(
        _distribution(
            "push-manifest-2-release",
            _at("2026-05-12 16:42:51"),
            "push",
            _manifest_target(REBUILD, TAG),
            by=_CI,
            method="PUT",
        )
    )
    d.append(_ghcr("ghcr-2", _at("2026-05-12 16:43:05"), REBUILD, 518877302, REBUILDER))
    d.append(_build("build-2-finished", _at("2026-05-12 16:43:20"), "finished", BUILD_2, REBUILD))
    d.append(
        _distribution(
            "node-head-2",
            _at("2026-05-12 17:05:02"),
            "pull",
            _manifest_target(REBUILD, TAG),
            by=_NODE,
            method="HEAD",
        )
    )
    d.append(
        _distribution(
            "node-get-2",
            _at("2026-05-12 17:05:03"),
            "pull",
            _manifest_target(REBUILD, None),
            by=_NODE,
            method="GET",
        )
    )
    d.append(_service("upgrade-prod", _at("2026-05-12 17:05:33"), "upgraded", PROD, REBUILD))

    # 05-26: clean-up deletes the original digest; the registry untags what pointed at it.
    delete_at = _at("2026-05-26 03:00:07")
    d.append(
        _distribution(
            "delete-manifest-1",
            delete_at,
            "delete",
            {"digest": ORIGINAL.digest, "repository": IMAGE_PATH},
            by=_GC,
            method="DELETE",
            request="gc-delete-1",
            instance="registry-01/boot-2",
            nanos=118_745_093,
        )
    )
    d.append(
        _distribution(
            "delete-tag-sha",
            delete_at,
            "delete",
            {"repository": IMAGE_PATH, "tag": SHA_TAG},
            by=_GC,
            method="DELETE",
            request="gc-delete-1",
            instance="registry-01/boot-2",
            nanos=118_790_412,
        )
    )
    return Story(
        deliveries=d,
        digests={"original": ORIGINAL.digest, "rebuild": REBUILD.digest},
        commit=COMMIT,
    )


def _try(digests: Mapping[str, str]) -> list[str]:
    old, new = digests["original"], digests["rebuild"]
    api = "http://127.0.0.1:8000/v1"
    pretty = "| python3 -m json.tool"
    body = json.dumps({"commit": COMMIT}, separators=(",", ":"))
    return [
        f"provenance trace {old}",
        f"provenance trace {new}",
        f"provenance blast-radius --commit {COMMIT}",
        f"provenance blast-radius --digest {old}",
        f"provenance blast-radius --actor {CI_PUSHER}",
        f"curl -s {api}/artifacts/{old} {pretty}",
        f"curl -s {api}/artifacts/{new}/timeline {pretty}",
        f"curl -s '{api}/artifacts/{new}/lineage?direction=both&depth=3' {pretty}",
        f"curl -s '{api}/tags/history?repository={REPOSITORY}&tag={TAG}' {pretty}",
        f"curl -s {api}/commits/{COMMIT} {pretty}",
        f"curl -s -X POST {api}/incidents/blast-radius -H 'content-type: application/json' "
        f"-d '{body}' {pretty}",
    ]


def load(db: Database, *, min_severity: str = DEFAULT_MIN_SEVERITY) -> dict[str, Any]:
    """Ingest the story (idempotent: a second load only finds duplicates), then project it
    (`min_severity`: the shell's `Settings.alert_min_severity`)."""
    plot = story()
    secrets = SourceSecrets()
    accepted = duplicates = 0
    for index, delivery in enumerate(plot.deliveries):
        try:
            outcome = ingest(db, delivery, secrets)
        except RejectedInput as exc:  # the story is ours: a refusal is a bug, here or there
            raise RuntimeError(
                f"demo delivery #{index} ({delivery.source}) was refused: "
                f"{type(exc).__name__}: {exc.detail}"
            ) from exc
        accepted += outcome.accepted
        duplicates += outcome.duplicates
    ProjectionRunner(db, min_severity=min_severity).catch_up()
    return _summary(plot, accepted, duplicates)


def post(client: ServiceClient) -> dict[str, Any]:
    """Send the story to a running service, delivery by delivery, as its sources would (the
    service projects it). A refusal raises the domain error the service answered."""
    plot = story()
    accepted = duplicates = 0
    for delivery in plot.deliveries:
        answer = client.ingest(
            delivery.source,
            delivery.body,
            content_type=delivery.content_type,
            headers=delivery.headers,
            params=delivery.params,
        )
        accepted += int(answer.get("accepted", 0))
        duplicates += int(answer.get("duplicates", 0))
    return _summary(plot, accepted, duplicates)


def _summary(plot: Story, accepted: int, duplicates: int) -> dict[str, Any]:
    return {
        "accepted": accepted,
        "duplicates": duplicates,
        "deliveries": len(plot.deliveries),
        "digests": dict(plot.digests),
        "commit": plot.commit,
        "repository": REPOSITORY,
        "tag": TAG,
        "try": _try(plot.digests),
    }


__all__ = [
    "COMMIT",
    "DEMO_WEBHOOK_SECRET",
    "REPOSITORY",
    "TAG",
    "Story",
    "load",
    "post",
    "story",
]
