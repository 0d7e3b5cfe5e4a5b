// The console: one page shell, one module, built only on the public API (/v1/...).
// The read token (when auth is on) is asked once and kept in sessionStorage; nothing else is stored.
import { api, ApiError } from "./api.js";
import { drawLineage } from "./lineage.js";

const main = document.getElementById("main");
const short = (d) => (d ? String(d).replace(/^sha256:/, "").slice(0, 12) : "");
const esc = (v) =>
  String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fmt = (t) => (t ? esc(String(t).replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z")) : "");
const artLink = (d, label) => `<a class="mono" href="/ui/artifacts/${esc(d)}">${esc(label || short(d))}</a>`;
const badge = (ok, yes, no) => `<span class="badge ${ok ? "ok" : "bad"}">${esc(ok ? yes : no)}</span>`;
const q = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "")).toString();

// A scan's worst severity as a badge: critical/high are bad, the rest a warning.
const SEVERITIES = ["critical", "high", "medium", "low", "unknown"];
const severityBadge = (worst) =>
  worst ? `<span class="badge ${worst === "critical" || worst === "high" ? "bad" : "warn"} vulnerable" data-severity="${esc(worst)}">${esc(worst)}</span>` : "";

function table(headers, rows, empty = "none") {
  if (!rows.length) return `<p class="muted">${esc(empty)}</p>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

function showError(err) {
  const status = err instanceof ApiError ? ` (${err.status})` : "";
  let extra = "";
  if (err instanceof ApiError && err.body && err.body.candidates) {
    extra = `<ul>${err.body.candidates.map((c) => `<li>${artLink(c, c)}</li>`).join("")}</ul>`;
  }
  main.innerHTML = `<div class="error" id="error"><b>${esc(err.title || "Error")}${status}</b>: ${esc(err.message)}${extra}</div>`;
}

// --- search --------------------------------------------------------------------------

const KIND_LINK = {
  artifact: (i) => `/ui/artifacts/${i.id}`,
  tag: (i) => `/?${q({ q: i.id })}`,
  commit: (i) => `/ui/blast-radius?${q({ commit: i.id })}`,
  build: (i) => `/ui/blast-radius?${q({ build: i.id })}`,
  actor: (i) => `/ui/blast-radius?${q({ actor: i.id })}`,
  workload: (i) => `/ui/deployments?${q({ workload: i.id })}`,
  repository: (i) => `/?${q({ repository: i.id })}`,
};

async function searchPage(text) {
  document.getElementById("q").value = text;
  const res = await api(`/v1/search?${q({ q: text })}`);
  const byKind = {};
  for (const item of res.items) (byKind[item.kind] ||= []).push(item);
  const kinds = Object.keys(byKind);
  main.innerHTML = `<h1>Search: <code>${esc(text)}</code></h1>
    <section id="results">${
      kinds.length
        ? kinds
            .map(
              (k) => `<div class="results-kind" data-kind="${esc(k)}"><h2>${esc(k)} (${byKind[k].length})</h2><ul>${byKind[k]
                .map((i) => `<li><a class="result" data-kind="${esc(k)}" href="${esc(KIND_LINK[k](i))}">${esc(i.label)}</a> <span class="muted mono">${esc(i.id)}</span></li>`)
                .join("")}</ul></div>`,
            )
            .join("")
        : `<p class="muted">Nothing matches. A digest prefix needs 12 hex characters, a commit prefix 7.</p>`
    }</section>`;
}

async function homePage(params) {
  if (params.get("q")) return searchPage(params.get("q"));
  const repository = params.get("repository");
  const [repos, arts] = await Promise.all([
    api("/v1/repositories?limit=50"),
    api(`/v1/artifacts?${q({ repository, limit: 25 })}`),
  ]);
  main.innerHTML = `<h1>${repository ? `Repository <code>${esc(repository)}</code>` : "Overview"}</h1>
    <div class="grid">
    <section><h2>Repositories</h2>${table(
      ["repository", "tags", "artifacts", "last push"],
      repos.items.map((r) => [`<a href="/?${q({ repository: r.repository })}">${esc(r.repository)}</a>`, r.tags, r.artifacts, fmt(r.last_push)]),
      "no repositories yet: send some events, or run `provenance demo`",
    )}</section>
    <section><h2>Artifacts${repository ? "" : " (newest first)"}</h2><div id="artifact-list"></div>
      <button type="button" class="secondary" id="artifacts-more" hidden>More</button></section></div>`;
  const items = [...arts.items];
  let cursor = arts.next_cursor;
  const show = () => {
    document.getElementById("artifact-list").innerHTML = table(
      ["digest", "tags", "first seen", ""],
      items.map((a) => [
        artLink(a.digest),
        a.tags.map((t) => `<code>${esc(t)}</code>`).join("<br>"),
        fmt(a.first_seen),
        [a.deployed ? '<span class="badge ok">running</span>' : "", badge(a.signed, "signed", "unsigned"), badge(a.attested, "attested", "unattested"), severityBadge(SEVERITIES.find((sev) => a.vulnerabilities && a.vulnerabilities[sev] > 0)), a.deleted ? '<span class="badge bad">deleted</span>' : ""].join(""),
      ]),
    );
    document.getElementById("artifacts-more").hidden = !cursor;
  };
  document.getElementById("artifacts-more").onclick = async () => {
    const more = await api(`/v1/artifacts?${q({ repository, limit: 25, cursor })}`);
    items.push(...more.items);
    cursor = more.next_cursor;
    show();
  };
  show();
}

// --- artifact ------------------------------------------------------------------------

function verdict(e) {
  const ok = e.verified === true;
  const why = ok ? "" : ` <span class="bad">${esc(e.reason || "not verified")}</span>`;
  return `${badge(ok, "verified", "not verified")}${why}`;
}

async function artifactPage(ref, params) {
  // What the graph draws first (?depth=N, default 2); a node's "expand" walks further.
  const GRAPH_DEPTH = Math.min(Math.max(Number(params.get("depth")) || 2, 1), 10);
  const a = await api(`/v1/artifacts/${encodeURIComponent(ref)}`);
  if (a.digest !== ref) history.replaceState(null, "", `/ui/artifacts/${a.digest}${location.search}`);
  const [timeline, lineage] = await Promise.all([
    api(`/v1/artifacts/${a.digest}/timeline?limit=200`),
    api(`/v1/artifacts/${a.digest}/lineage?direction=both&depth=${GRAPH_DEPTH}`),
  ]);
  const current = a.tags.filter((t) => t.current);
  const derived = lineage.edges.filter((e) => e.kind === "base_of" && e.source === `artifact:${a.digest}`).map((e) => e.target.replace(/^artifact:/, ""));
  const evidenceRows = (items) =>
    items.map((e) => [esc(e.kind || e.predicate_type || e.id?.split(":")[0] || ""), verdict(e), esc(e.key || e.signer || e.builder || ""), fmt(e.evaluated_at || e.since), `<span class="muted">${esc(e.policy_sha256 ? "policy " + e.policy_sha256.slice(0, 12) : "")}</span>`]);
  main.innerHTML = `<h1>Artifact <code>${esc(a.digest)}</code></h1>
    <p>${current.map((t) => `<span class="badge ok">${esc(t.repository)}:${esc(t.tag)}</span>`).join("")}
      ${a.deleted ? `<span class="badge bad">deleted ${fmt(a.deleted_at)}</span>` : ""}
      <span class="muted">first seen ${fmt(a.first_seen)} · ${esc(a.media_type || "")}</span>
      · <a href="/ui/blast-radius?${q({ digest: a.digest })}">blast radius</a></p>
    <section><h2>Lineage</h2><div id="graph-panel" class="muted">Click a node to see it; expand it up or down, or open its page. Scroll to zoom, drag to pan.</div><div id="graph"></div></section>
    <div class="grid">
    <section id="tags"><h2>Repositories and tags</h2>
      <p>${a.repositories.map((r) => `<a href="/?${q({ repository: r })}">${esc(r)}</a>`).join("<br>")}</p>
      ${table(["tag", "since", "until", ""], a.tags.map((t) => [`<code>${esc(t.repository)}:${esc(t.tag)}</code>`, fmt(t.since), t.until ? fmt(t.until) : "", t.current ? '<span class="badge ok">current</span>' : '<span class="badge warn">moved on</span>']), "no tags")}
      <div id="tag-history"></div></section>
    <section id="verdicts"><h2>Signatures</h2>${table(["", "verdict", "key / signer", "when", ""], evidenceRows(a.signatures), "no signatures")}
      <h2>Attestations</h2>${table(["", "verdict", "builder / key", "when", ""], evidenceRows(a.attestations), "no attestations")}</section>
    <section id="builds"><h2>Builds and commits</h2>
      ${table(["build"], a.builds.map((b) => [`<a href="/ui/blast-radius?${q({ build: b })}" class="mono">${esc(b)}</a>`]), "no build record")}
      ${table(["commit", "evidence", "repository"], a.commits.map((c) => [`<a class="mono" href="/ui/blast-radius?${q({ commit: c.sha })}">${esc(c.sha.slice(0, 12))}</a>`, c.evidence === "build" ? '<span class="badge ok">build record</span>' : '<span class="badge warn">claim (OCI label)</span>', esc(c.vcs_url || "")]), "no commit")}</section>
    <section><h2>Base images</h2>${table(["digest"], a.base_images.map((d) => [artLink(d, d)]), "none known")}
      <h2>Derived images</h2>${table(["digest"], derived.map((d) => [artLink(d, d)]), "none known")}</section>
    <section id="deployments"><h2>Where it runs and ran</h2>${table(
      ["environment", "cluster / namespace", "workload", "since", "until", ""],
      a.deployments.map((d) => [esc(d.environment || ""), `${esc(d.cluster || "-")}/${esc(d.namespace || "-")}`, `<code>${esc(d.workload)}</code> ${esc(d.container || "")}`, fmt(d.since), fmt(d.until), d.active ? '<span class="badge ok">running</span>' : '<span class="badge warn">ended</span>']),
      "never deployed",
    )}</section>
    <section id="vulnerabilities"><h2>Vulnerabilities</h2>${table(
      ["scanner", "scanned", "worst", ...SEVERITIES, "ids"],
      (a.vulnerabilities || []).map((s) => [
        esc(s.scanner),
        fmt(s.time),
        severityBadge(s.worst) || '<span class="badge ok">clean</span>',
        ...SEVERITIES.map((sev) => esc(String(s.summary[sev] || 0))),
        s.ids_known
          ? s.vulnerabilities.slice(0, 20).map((v) => `<a class="mono" href="/ui/blast-radius?${q({ vulnerability: v.id })}">${esc(v.id)}</a>`).join(" ") + (s.vulnerabilities.length > 20 ? ` <span class="muted">+${s.vulnerabilities.length - 20}</span>` : "")
          : '<span class="muted">counts only</span>',
      ]),
      "never scanned",
    )}</section>
    <section><h2>Pulls</h2><p><b>${a.pulls.count}</b> pulls${a.pulls.last ? `, last ${fmt(a.pulls.last)}` : ""}</p>
      <p>${a.pulls.actors.map((x) => `<a href="/ui/blast-radius?${q({ actor: x })}">${esc(x)}</a>`).join(", ")}</p></section>
    </div>
    <section id="timeline"><h2>Timeline</h2><div id="timeline-rows"></div>
      <button type="button" class="secondary" id="timeline-more" hidden>More events</button></section>`;
  const events = [...timeline.events];
  let nextCursor = timeline.next_cursor;
  const showTimeline = () => {
    document.getElementById("timeline-rows").innerHTML = table(
      ["seq", "time", "event", "source", "actor", "detail"],
      events.map((e) => [e.seq, fmt(e.time), `<code>${esc(e.type)}</code>`, esc(e.source), esc(e.actor || ""), `<span class="mono">${esc([e.repository && e.tag ? `${e.repository}:${e.tag}` : e.repository, e.environment, e.workload].filter(Boolean).join(" "))}</span>`]),
    );
    document.getElementById("timeline-more").hidden = !nextCursor;
  };
  document.getElementById("timeline-more").onclick = async () => {
    const more = await api(`/v1/artifacts/${a.digest}/timeline?${q({ limit: 200, cursor: nextCursor })}`);
    events.push(...more.events);
    nextCursor = more.next_cursor;
    showTimeline();
  };
  showTimeline();
  drawLineage(document.getElementById("graph"), document.getElementById("graph-panel"), a.digest, lineage, GRAPH_DEPTH);
  const histories = await Promise.all(
    [...new Map(a.tags.map((t) => [`${t.repository}:${t.tag}`, t])).values()].map((t) =>
      api(`/v1/tags/history?${q({ repository: t.repository, tag: t.tag })}`).catch(() => null),
    ),
  );
  document.getElementById("tag-history").innerHTML = histories
    .filter(Boolean)
    .map((h) => `<h2>History of <code>${esc(h.repository)}:${esc(h.tag)}</code></h2>${table(["digest", "since", "until"], h.history.map((p) => [artLink(p.digest), fmt(p.since), fmt(p.until)]))}`)
    .join("");
}

// --- blast radius --------------------------------------------------------------------

const BLAST_KEYS = ["digest", "commit", "build", "builder", "key", "actor", "vulnerability"];
const LISTS = {
  artifacts: ["digest", (x) => [artLink(x.digest, x.digest)]],
  derived: ["digest", (x) => [artLink(x.digest, x.digest)]],
  builds: ["build", (x) => [`<code>${esc(x.build)}</code>`]],
  tags: ["tag", (x) => [`<code>${esc(x.repository)}:${esc(x.tag)}</code>`]],
  deployments: ["deployment", (x) => [`${esc(x.environment || "")} <code>${esc(x.cluster || "-")}/${esc(x.namespace || "-")}/${esc(x.workload)}</code> ${artLink(x.digest)} ${x.active ? '<span class="badge bad">running</span>' : '<span class="badge">ended</span>'}`]],
  pullers: ["puller", (x) => [`${esc(x.actor)} <span class="muted">${esc(x.client || "")}</span> ×${x.count}, last ${fmt(x.last)}`]],
};

function blastBody(key, value, asOf, cursor) {
  const body = { [key]: value, limit: 100 };
  if (asOf) body.as_of = new Date(asOf).toISOString();
  if (cursor) body.cursor = cursor;
  return body;
}

async function blastPage(params) {
  const key = BLAST_KEYS.find((k) => params.get(k)) || "digest";
  const value = params.get(key) || "";
  const asOf = params.get("as_of") || "";
  main.innerHTML = `<h1>Blast radius</h1>
    <form class="controls" id="blast-form">
      <label>key<select name="key">${BLAST_KEYS.map((k) => `<option ${k === key ? "selected" : ""}>${k}</option>`).join("")}</select></label>
      <label>value<input name="value" size="60" class="mono" value="${esc(value)}" placeholder="digest, prefix, repo:tag, commit, ..."></label>
      <label>as of (UTC, optional)<input name="as_of" type="datetime-local" step="1" value="${esc(asOf.replace(/Z$/, "").slice(0, 19))}"></label>
      <button type="submit">Show</button>
    </form><div id="blast"></div>`;
  document.getElementById("blast-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const at = f.get("as_of") ? new Date(f.get("as_of") + "Z").toISOString() : "";
    navigate(`/ui/blast-radius?${q({ [f.get("key")]: f.get("value").trim(), as_of: at })}`);
  });
  if (!value) return;
  const out = document.getElementById("blast");
  const first = await api("/v1/incidents/blast-radius", { method: "POST", body: blastBody(key, value, asOf) });
  const pages = [first];
  const render = () => {
    const shown = Object.fromEntries(Object.keys(LISTS).map((k) => [k, pages.flatMap((p) => p[k] || [])]));
    const last = pages[pages.length - 1];
    out.innerHTML = `<div class="counts" id="counts">${Object.entries(first.counts)
      .map(([k, n]) => `<div class="count" data-kind="${esc(k)}"><b>${n}</b>${esc(k)}</div>`)
      .join("")}</div>
      ${first.truncated ? '<p class="error">The walk stopped at its size limit: the lists are incomplete.</p>' : ""}
      <p><button type="button" class="secondary" id="csv">Download CSV (all pages)</button>
      ${last.next_cursor ? '<button type="button" id="more">Next page</button>' : ""}</p>
      ${Object.entries(LISTS)
        .filter(([k]) => (first.counts[k] || 0) > 0)
        .map(([k, [head, cells]]) => `<section data-list="${k}"><h2>${esc(k)} (${shown[k].length} of ${first.counts[k]})</h2>${table([head, "path"], shown[k].map((x) => [...cells(x), `<span class="path mono">${esc((x.path || []).join(" → "))}</span>`]))}</section>`)
        .join("")}`;
    const more = document.getElementById("more");
    if (more)
      more.onclick = async () => {
        pages.push(await api("/v1/incidents/blast-radius", { method: "POST", body: blastBody(key, value, asOf, last.next_cursor) }));
        render();
      };
    document.getElementById("csv").onclick = () => downloadCsv(key, value, asOf);
  };
  render();
}

async function downloadCsv(key, value, asOf) {
  const rows = [["list", "digest", "repository", "tag", "environment", "cluster", "namespace", "workload", "active", "actor", "count", "build", "path"]];
  let cursor = null;
  do {
    const page = await api("/v1/incidents/blast-radius", { method: "POST", body: blastBody(key, value, asOf, cursor) });
    for (const list of Object.keys(LISTS))
      for (const x of page[list] || [])
        rows.push([list, x.digest, x.repository, x.tag, x.environment, x.cluster, x.namespace, x.workload, x.active, x.actor, x.count, x.build, (x.path || []).join(" > ")]);
    cursor = page.next_cursor;
  } while (cursor);
  const csv = rows.map((r) => r.map((c) => `"${String(c ?? "").replace(/"/g, '""')}"`).join(",")).join("\r\n");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
  link.download = `blast-radius-${key}-${short(value) || value}.csv`;
  link.click();
}

// --- deployments ---------------------------------------------------------------------

async function deploymentsPage(params) {
  const environment = params.get("environment") || "";
  const asOf = params.get("as_of") || "";
  const workloadFilter = params.get("workload") || "";
  const res = await api(`/v1/deployments?${q({ environment, as_of: asOf })}`);
  const items = res.items.filter((d) => !workloadFilter || d.workload === workloadFilter);
  const envs = [...new Set(items.map((d) => d.environment || d.cluster || "-"))].sort();
  const rows = new Map();
  for (const d of items) {
    const key = `${d.workload} ${d.container || ""}`;
    if (!rows.has(key)) rows.set(key, { workload: d.workload, container: d.container, cells: {} });
    (rows.get(key).cells[d.environment || d.cluster || "-"] ||= []).push(d);
  }
  const cell = (list) =>
    (list || [])
      .map((d) => `<div class="cell">${d.digest ? artLink(d.digest) : `<code>${esc(d.image || "?")}</code>`} ${badge(d.signed, "signed", "unsigned")}${badge(d.attested, "attested", "unattested")}${d.pinned === false ? '<span class="badge warn">by tag</span>' : ""}${severityBadge(d.severity)}<br><span class="muted">${esc(d.namespace || "")} since ${fmt(d.since)}</span></div>`)
      .join("");
  main.innerHTML = `<h1>Deployments${asOf ? ` as of ${fmt(asOf)}` : " now"}</h1>
    <form class="controls" id="asof-form">
      <label>environment<input name="environment" value="${esc(environment)}" placeholder="all"></label>
      <label>time slider: <span id="slider-at">${asOf ? fmt(asOf) : "now"}</span><input id="as-of-slider" type="range" min="0" max="1000" step="1" style="width:22rem"></label>
      <label>as of (UTC)<input id="as-of" name="as_of" type="datetime-local" step="1" value="${esc(asOf.replace(/Z$/, "").slice(0, 19))}"></label>
      <button type="submit">Show</button> <button type="button" class="secondary" id="now">Now</button>
    </form>
    <section id="matrix">${rows.size ? table(
      ["workload", ...envs, ""],
      [...rows.values()].map((r) => {
        const digests = new Set(Object.values(r.cells).flat().map((d) => d.digest));
        return [`<code>${esc(r.workload)}</code> <span class="muted">${esc(r.container || "")}</span>`, ...envs.map((e) => cell(r.cells[e])), digests.size > 1 ? '<span class="badge warn">drift</span>' : ""];
      }),
    ) : '<p class="muted" id="no-deployments">Nothing was running then.</p>'}</section>`;
  document.getElementById("asof-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const at = f.get("as_of") ? new Date(f.get("as_of") + "Z").toISOString() : "";
    navigate(`/ui/deployments?${q({ environment: f.get("environment"), as_of: at, workload: workloadFilter })}`);
  });
  document.getElementById("now").onclick = () => navigate(`/ui/deployments?${q({ environment })}`);
  // The slider spans from the first deployment the service knows (now: all of them) to now.
  const everything = asOf ? (await api(`/v1/deployments?${q({ environment })}`)).items : res.items;
  const start = Math.min(...everything.concat(res.items).map((d) => Date.parse(d.since)).filter(Number.isFinite), Date.now() - 86400000);
  const end = Date.now();
  const slider = document.getElementById("as-of-slider");
  const at = (v) => new Date(start + ((end - start) * v) / 1000);
  slider.value = String(asOf ? Math.round(((Date.parse(asOf) - start) / (end - start)) * 1000) : 1000);
  slider.oninput = () => { document.getElementById("slider-at").textContent = fmt(at(Number(slider.value)).toISOString()); };
  slider.onchange = () => {
    const when = Number(slider.value) >= 1000 ? "" : at(Number(slider.value)).toISOString().replace(/\.\d+Z$/, "Z");
    navigate(`/ui/deployments?${q({ environment, as_of: when, workload: workloadFilter })}`);
  };
}

// --- alerts and audit ----------------------------------------------------------------

const ALERT_KINDS = ["", "tag_moved", "unsigned_deployed", "unattested_deployed", "deleted_while_deployed", "new_puller", "vulnerable_deployed"];

function details(obj) {
  return Object.entries(obj || {})
    .filter(([, v]) => v !== null && v !== "")
    .map(([k, v]) => `<span class="muted">${esc(k)}</span> ${typeof v === "string" && /^sha256:[0-9a-f]{64}$/.test(v) ? artLink(v) : `<code>${esc(typeof v === "object" ? JSON.stringify(v) : v)}</code>`}`)
    .join("<br>");
}

async function alertsPage(params) {
  const kind = params.get("kind") || "";
  const since = params.get("since") || "";
  const res = await api(`/v1/alerts?${q({ kind, since, limit: 500 })}`);
  main.innerHTML = `<h1>Alerts</h1>
    <form class="controls" id="alert-form">
      <label>kind<select name="kind">${ALERT_KINDS.map((k) => `<option value="${k}" ${k === kind ? "selected" : ""}>${k || "all"}</option>`).join("")}</select></label>
      <label>since (UTC)<input name="since" type="datetime-local" value="${esc(since.replace(/Z$/, "").slice(0, 16))}"></label>
      <button type="submit">Filter</button></form>
    <section id="alerts">${table(
      ["time", "kind", "digest", "repository", "details", "log entries"],
      res.items.map((a) => [fmt(a.time), `<span class="badge warn">${esc(a.kind)}</span>`, a.digest ? artLink(a.digest) : "", esc(a.repository || ""), details(a.details), a.events.join(", ")]),
      "no alerts",
    )}</section>`;
  document.getElementById("alert-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    navigate(`/ui/alerts?${q({ kind: f.get("kind"), since: f.get("since") ? new Date(f.get("since") + "Z").toISOString() : "" })}`);
  });
}

async function auditPage() {
  const [verify, checkpoint] = await Promise.all([api("/v1/audit/verify"), api("/v1/audit/checkpoint").catch((e) => ({ error: e }))]);
  main.innerHTML = `<h1>Audit</h1>
    <section id="chain"><h2>Hash chain</h2>
      <p>${badge(verify.ok, "intact", "broken")} <b>${verify.entries}</b> entries${verify.ok ? "" : `, first bad entry ${esc(verify.first_bad_seq)}: ${esc(verify.reason)}`}</p>
      <p>head <code>${esc(verify.head)}</code></p></section>
    <section id="checkpoint"><h2>Latest signed checkpoint</h2>${
      checkpoint.error
        ? `<p class="error">${esc(checkpoint.error.message)}</p>`
        : `<p><b>${checkpoint.entries}</b> entries, head <code>${esc(checkpoint.head)}</code>, at ${fmt(checkpoint.time)}</p>
           <p><a id="checkpoint-download" download="checkpoint.json" href="data:application/json,${encodeURIComponent(JSON.stringify(checkpoint))}">Download checkpoint.json</a></p>`
    }</section>
    <section><h2>Verify it offline</h2>
      <pre>curl -s -H "Authorization: Bearer $READ_TOKEN" $URL/v1/audit/checkpoint > checkpoint.json
curl -s -H "Authorization: Bearer $READ_TOKEN" $URL/v1/keys/signing > service.pub.pem
# with a copy of the log (or on the service's host):
provenance audit verify --checkpoint checkpoint.json --key service.pub.pem</pre>
      <p class="muted">The checkpoint's <code>signature</code> is a DSSE envelope over <code>entries</code>, <code>head</code> and <code>time</code>,
      signed with the service key: any DSSE verifier checks it with <code>service.pub.pem</code>; <code>audit verify</code> also proves the log extends it.</p></section>`;
}

// --- retention -------------------------------------------------------------------------

async function retentionPage(params) {
  const repository = params.get("repository") || "";
  const unusedSince = params.get("unused_since") || "";
  main.innerHTML = `<h1>Retention</h1>
    <form class="controls" id="retention-form">
      <label>repository<input name="repository" size="50" value="${esc(repository)}"></label>
      <label>unused since (UTC)<input name="unused_since" type="datetime-local" value="${esc(unusedSince.replace(/Z$/, "").slice(0, 16))}"></label>
      <button type="submit">Show</button></form><div id="retention"></div>`;
  document.getElementById("retention-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    navigate(`/ui/retention?${q({ repository: f.get("repository"), unused_since: f.get("unused_since") ? new Date(f.get("unused_since") + "Z").toISOString() : "" })}`);
  });
  if (!repository) return;
  const out = document.getElementById("retention");
  let report;
  try {
    report = await api(`/v1/reports/retention?${q({ repository, unused_since: unusedSince })}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && !err.body?.type?.endsWith("not-found")) {
      out.innerHTML = '<p class="muted">This service does not serve the retention report (GET /v1/reports/retention) yet.</p>';
      return;
    }
    throw err;
  }
  out.innerHTML = `<div class="counts">${Object.entries(report.summary || {}).map(([k, n]) => `<div class="count"><b>${n}</b>${esc(k)}</div>`).join("")}</div>
    <section>${table(["digest", "verdict", "reasons", "tags", "last pull", "last deployed"], report.items.map((i) => [artLink(i.digest), `<span class="badge ${i.verdict === "keep" ? "ok" : "bad"}">${esc(i.verdict)}</span>`, esc((i.reasons || []).join(", ")), esc((i.tags || []).join(", ")), fmt(i.last_pull), fmt(i.last_deployed)]))}</section>`;
}

// --- router --------------------------------------------------------------------------

async function route() {
  const { pathname, searchParams } = new URL(location.href);
  main.innerHTML = '<p class="muted">Loading...</p>';
  try {
    if (pathname === "/" || pathname === "/ui" || pathname === "/ui/") await homePage(searchParams);
    else if (pathname.startsWith("/ui/artifacts/")) await artifactPage(decodeURIComponent(pathname.slice("/ui/artifacts/".length)), searchParams);
    else if (pathname.startsWith("/ui/blast-radius")) await blastPage(searchParams);
    else if (pathname.startsWith("/ui/deployments")) await deploymentsPage(searchParams);
    else if (pathname.startsWith("/ui/alerts")) await alertsPage(searchParams);
    else if (pathname.startsWith("/ui/audit")) await auditPage();
    else if (pathname.startsWith("/ui/retention")) await retentionPage(searchParams);
    else main.innerHTML = `<div class="error">No such page: <code>${esc(pathname)}</code></div>`;
  } catch (err) {
    showError(err);
  }
}

export function navigate(url) {
  history.pushState(null, "", url);
  route();
}
window.consoleNavigate = navigate;

document.getElementById("search").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = document.getElementById("q").value.trim();
  if (text) navigate(`/?${q({ q: text })}`);
});
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a");
  if (!a || a.target || a.hasAttribute("download") || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !(url.pathname === "/" || url.pathname.startsWith("/ui/"))) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", route);
route();
