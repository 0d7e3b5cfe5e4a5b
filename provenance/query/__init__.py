"""Query: graph -> answers. Artifacts, lineage and its rendering, blast radius,
deployments, the catalog, exports, checkpoints and the audit of the chain."""
