// The page's only way to the server: JSON over the public API under /api/v1. Errors arrive as RFC 9457
// problem details; they become an ApiError that carries the status, the server's detail and its per-field
// errors, so forms can show each message next to the field it names.

export const API = "/api/v1";

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the server could not be reached
   * @param {string} message what went wrong, in words a person can act on
   * @param {{field: string, message: string}[]} fieldErrors
   */
  constructor(status, message, fieldErrors = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fieldErrors = fieldErrors;
  }

  get unreachable() {
    return this.status === 0 || this.status === 503;
  }
}

const UNREACHABLE =
  "Cannot reach the Homewatch server. Nothing was changed; check that it is running and try again.";

/**
 * Calls the API and returns the parsed JSON body (null for 204).
 * @param {string} method
 * @param {string} path under /api/v1, such as `/groups`
 * @param {unknown} [body] sent as JSON
 */
export async function request(method, path, body, contentType = "application/json") {
  // The custom header tells the server this comes from Homewatch's own page (a cross-site form cannot send it).
  const init = { method, headers: { Accept: "application/json", "X-Homewatch-Request": "1" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = contentType;
    init.body = contentType === "application/json" ? JSON.stringify(body) : body;
  }
  let response;
  try {
    response = await (takeEarly(method, path) ?? fetch(API + path, init));
  } catch {
    throw new ApiError(0, UNREACHABLE);
  }
  if (!response) throw new ApiError(0, UNREACHABLE);
  if (response.status === 204) return null;
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const detail = parsed && typeof parsed.detail === "string" ? parsed.detail : null;
    const errors = parsed && Array.isArray(parsed.errors) ? parsed.errors : [];
    if (response.status === 401 && !path.startsWith("/auth/")) {
      // The session ended (expired, signed out elsewhere): the app asks the viewer to sign in again.
      window.dispatchEvent(new CustomEvent("homewatch:signed-out"));
    }
    const message =
      response.status === 503
        ? `The server cannot reach its database (${detail || "unavailable"}). Nothing was changed; try again.`
        : detail || `The server answered ${response.status} ${response.statusText}.`;
    throw new ApiError(response.status, message, errors);
  }
  return parsed;
}

/** A read theme-init.js started before the modules were in (once; the next read of the same path asks anew). */
function takeEarly(method, path) {
  const early = method === "GET" ? window.homewatchEarly?.[path] : undefined;
  if (early) delete window.homewatchEarly[path];
  return early;
}

/** POSTs raw bytes (an uploaded file) and returns the parsed JSON answer. */
export const upload = (path, bytes) => request("POST", path, bytes, "application/octet-stream");

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body ?? {});
export const patch = (path, body) => request("PATCH", path, body);
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);
