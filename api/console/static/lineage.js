// The lineage graph: Cytoscape.js with the dagre layered layout (both vendored, see vendor/).
// Pan and zoom come with Cytoscape; a click selects a node and offers expand up/down and open.
import { api } from "./api.js";

const COLORS = {
  artifact: "#2563eb", commit: "#7c3aed", build: "#0891b2", builder: "#0e7490", tag: "#16a34a",
  repository: "#65a30d", deployment: "#ea580c", actor: "#db2777", key: "#a16207", image: "#64748b",
};
if (window.cytoscape && window.cytoscapeDagre) window.cytoscape.use(window.cytoscapeDagre);

function elements(lineage) {
  return [
    ...lineage.nodes.map((n) => ({ group: "nodes", data: { id: n.id, kind: n.kind, label: `${n.kind}\n${n.label}` } })),
    ...lineage.edges.map((e) => ({ group: "edges", data: { id: `${e.source}|${e.kind}|${e.target}|${e.since}`, source: e.source, target: e.target, kind: e.kind } })),
  ];
}

export function pageOf(id) {
  const [kind, ...rest] = id.split(":");
  const value = rest.join(":");
  if (kind === "artifact") return `/ui/artifacts/${value}`;
  if (["commit", "build", "builder", "actor", "key"].includes(kind)) return `/ui/blast-radius?${new URLSearchParams({ [kind]: value })}`;
  if (kind === "tag") return `/?${new URLSearchParams({ q: value })}`;
  if (kind === "repository") return `/?${new URLSearchParams({ repository: value })}`;
  if (kind === "deployment") return "/ui/deployments";
  return null;
}

export function drawLineage(container, panel, digest, lineage, depth) {
  const cy = window.cytoscape({
    container,
    elements: elements(lineage),
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: { shape: "round-rectangle", width: "label", height: "label", padding: "8px", label: "data(label)", "text-wrap": "wrap", "text-valign": "center", "font-size": 10, color: "#fff", "background-color": (n) => COLORS[n.data("kind")] || "#475569" } },
      { selector: `node[id = "artifact:${digest}"]`, style: { "border-width": 3, "border-color": "#0f172a" } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#facc15" } },
      { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#94a3b8", "target-arrow-color": "#94a3b8", label: "data(kind)", "font-size": 8, color: "#475569", "text-background-color": "#fff", "text-background-opacity": 0.8 } },
    ],
  });
  const layout = () => cy.layout({ name: window.cytoscapeDagre ? "dagre" : "breadthfirst", rankDir: "LR", nodeSep: 18, rankSep: 70 }).run();
  layout();
  container.cy = cy; // for tests and the curious: the graph's nodes are inspectable
  container.dataset.nodes = String(cy.nodes().length);

  // How far each artifact has been walked each way: an expand goes one level further.
  const levels = { [`artifact:${digest}`]: { up: depth, down: depth } };
  const expand = async (id, direction) => {
    const d = id.replace(/^artifact:/, "");
    const level = ((levels[id] ||= { up: 0, down: 0 })[direction] += 1);
    const more = await api(`/v1/artifacts/${d}/lineage?direction=${direction}&depth=${level}`);
    const fresh = elements(more).filter((el) => cy.getElementById(el.data.id).empty());
    cy.add(fresh);
    container.dataset.nodes = String(cy.nodes().length);
    layout();
    panel.querySelector(".status")?.replaceChildren(`${fresh.length} new elements`);
  };
  cy.on("tap", "node", (ev) => {
    const id = ev.target.id();
    const kind = ev.target.data("kind");
    const href = pageOf(id);
    panel.innerHTML = "";
    const title = document.createElement("code");
    title.textContent = id;
    panel.append(title, " ");
    if (kind === "artifact") {
      for (const dir of ["up", "down"]) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "secondary";
        b.id = `expand-${dir}`;
        b.textContent = `Expand ${dir}`;
        b.onclick = () => expand(id, dir);
        panel.append(b, " ");
      }
    }
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.id = "open-node";
      a.textContent = "Open its page";
      panel.append(a);
    }
    const status = document.createElement("span");
    status.className = "status muted";
    panel.append(" ", status);
  });
  cy.on("dbltap", "node", (ev) => {
    const href = pageOf(ev.target.id());
    if (href) window.consoleNavigate(href);
  });
  return cy;
}
