// Who is using the page: the signed-in user (from GET /auth/me), or nobody; and what the server allows
// before anyone signs in (GET /auth/state: is setup needed, is the dashboard public). Views ask `canEdit()`
// to decide whether to offer changes: the server refuses them anyway, this only keeps the page honest.

import * as api from "./api.js";

let me = null;
let state = { setup_required: false, public_dashboard: false };
const listeners = new Set();

export async function loadSession() {
  const [authState, who] = await Promise.all([
    api.get("/auth/state"),
    api.get("/auth/me").catch((error) => {
      if (error.status === 401) return null;
      throw error;
    }),
  ]);
  state = authState;
  me = who;
  notify();
}

export function currentUser() {
  return me?.user ?? null;
}

export function authState() {
  return state;
}

/** May this viewer change the dashboard? Admins signed in through the page. */
export function canEdit() {
  return me?.user?.role === "admin" && me.via === "session";
}

export function isAdmin() {
  return me?.user?.role === "admin";
}

/** May this viewer see the dashboard at all? */
export function canRead() {
  return Boolean(me) || state.public_dashboard;
}

export function setSignedIn(who) {
  me = who;
  state = { ...state, setup_required: false };
  notify();
}

export async function signOut() {
  try {
    await api.post("/auth/logout");
  } finally {
    me = null;
    notify();
  }
}

export function forgetUser() {
  me = null;
  notify();
}

export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify() {
  for (const listener of listeners) listener(me);
}
