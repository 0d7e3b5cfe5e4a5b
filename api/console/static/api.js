// The public API, with the read token: asked once per browser session (sessionStorage).
const KEY = "provenance.read_token";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.title = (body && body.title) || "Error";
  }
}

let asking = null; // one dialog for every request waiting on a token

function askToken(message, refused) {
  if (asking) return asking;
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  const text = document.getElementById("token-message");
  text.textContent = message;
  text.className = refused ? "bad" : "";
  input.value = "";
  asking = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        asking = null;
        resolve(input.value.trim());
      },
      { once: true },
    );
  });
  dialog.showModal();
  input.focus();
  return asking;
}

export async function api(path, { method = "GET", body } = {}) {
  for (let attempt = 0; ; attempt++) {
    const token = sessionStorage.getItem(KEY);
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const isJson = (res.headers.get("content-type") || "").includes("json");
    const data = isJson ? await res.json() : await res.text();
    if (res.ok) return data;
    if ((res.status === 401 || res.status === 403) && attempt < 5) {
      const refused = Boolean(token);
      if (refused) sessionStorage.removeItem(KEY);
      const detail = (data && data.detail) || res.statusText;
      const msg = !refused
        ? "This service needs a read token. It is kept for this browser session only."
        : res.status === 403
          ? `That token may not read (403: ${detail}). Give a read token.`
          : `That token was refused (401: ${detail}). Check it and try again.`;
      const given = await askToken(msg, refused);
      if (!given) throw new ApiError(res.status, data);
      sessionStorage.setItem(KEY, given);
      continue;
    }
    throw new ApiError(res.status, typeof data === "object" ? data : { detail: String(data) });
  }
}
