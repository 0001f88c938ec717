// Signing in, the first-run setup, and the settings page: one's own password, API tokens (created, shown
// once with a copy button, revoked) and, for admins, users and their roles.

import * as api from "./api.js";
import { announce, el, focus, formatDateTime, formatRelative, toast } from "./dom.js";
import { confirmDelete, field, input, pageForm, select } from "./forms.js";
import { navigate } from "./router.js";
import { authState, currentUser, isAdmin, setSignedIn } from "./session.js";

const passwordInput = (autocomplete, props = {}) =>
  input({ type: "password", autocomplete, spellcheck: "false", ...props });

/** Where to go after signing in: the page that asked, if it is one of ours. */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next");
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login") ? next : "/";
}

function card(...children) {
  return el("section", { class: "auth-card panel" }, ...children);
}

export function mountLogin(main) {
  document.title = "Sign in · Homewatch";
  const username = field("username", "Username", input({ autocomplete: "username", autofocus: true, required: true }));
  const password = field("password", "Password", passwordInput("current-password", { required: true }));
  const form = pageForm({
    form: el("form", { class: "login-form" }, username, password),
    submitLabel: "Sign in",
    submit: () => api.post("/auth/login", { username: username.input.value, password: password.input.value }),
    done: (me) => {
      setSignedIn(me);
      announce(`Signed in as ${me.user.username}.`);
      navigate(nextPath(), { replace: true });
    },
  });
  main.replaceChildren(card(
    el("h1", {}, "Sign in to Homewatch"),
    form,
    authState().public_dashboard ? el("p", {}, el("a", { href: "/", "data-link": "" }, "Continue without signing in")) : null,
  ));
  focus(username.input);
  return {};
}

export function mountSetup(main) {
  document.title = "Set up · Homewatch";
  const token = field("token", "Setup token", input({ autofocus: true, required: true }),
    { hint: "Printed in the server's log as “setup token: …” (it changes at each start until setup is done)." });
  const username = field("username", "Your username", input({ autocomplete: "username", required: true }));
  const password = field("password", "Password", passwordInput("new-password", { required: true }),
    { hint: "At least 10 characters." });
  const confirm = field("confirm", "Password again", passwordInput("new-password", { required: true }));
  const form = pageForm({
    form: el("form", { class: "setup-form" }, token, username, password, confirm),
    submitLabel: "Create the admin and sign in",
    submit: () => {
      if (password.input.value !== confirm.input.value) {
        throw new api.ApiError(422, "Please correct the marked field.", [
          { field: "confirm", message: "does not match the password above" },
        ]);
      }
      return api.post("/setup", {
        token: token.input.value.trim(),
        username: username.input.value,
        password: password.input.value,
      });
    },
    done: (me) => {
      setSignedIn(me);
      toast(`Welcome, ${me.user.username}. Add your first tile to get started.`);
      navigate("/", { replace: true });
    },
  });
  main.replaceChildren(card(
    el("h1", {}, "Welcome to Homewatch"),
    el("p", {}, "Nobody can sign in yet: create the first admin. Only someone who can read the server's log can " +
      "do this, so the page is safe to leave open until then."),
    form,
    el("p", { class: "muted" }, "No access to the log? On the server, run ",
      el("code", {}, "homewatch user add --admin NAME"), ", or start it with ",
      el("code", {}, "HOMEWATCH_ADMIN_USER"), " and ", el("code", {}, "HOMEWATCH_ADMIN_PASSWORD"), "."),
  ));
  focus(token.input);
  return {};
}

export function mountSettings(main) {
  const view = new SettingsView(main);
  view.start();
  return view;
}

const EXPIRIES = [
  ["", "Never"],
  ["30", "In 30 days"],
  ["90", "In 90 days"],
  ["365", "In a year"],
];

class SettingsView {
  constructor(main) {
    this.main = main;
  }

  start() {
    document.title = "Settings · Homewatch";
    const user = currentUser();
    this.tokensBody = el("tbody");
    this.usersBody = el("tbody");
    this.reveal = el("div", { class: "token-reveal", hidden: true, role: "status" });
    const panels = [
      this.accountPanel(user),
      this.tokensPanel(),
      isAdmin() ? this.usersPanel() : null,
    ];
    this.main.replaceChildren(
      el("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, el("a", { href: "/", "data-link": "" }, "← All services")),
      el("h1", {}, "Settings"),
      ...panels.filter(Boolean));
    this.loadTokens();
    if (isAdmin()) this.loadUsers();
  }

  accountPanel(user) {
    const current = field("current_password", "Current password", passwordInput("current-password"));
    const next = field("new_password", "New password", passwordInput("new-password"), { hint: "At least 10 characters." });
    const confirm = field("confirm", "New password again", passwordInput("new-password"));
    const form = pageForm({
      title: "Change your password",
      form: el("form", { class: "password-form" }, current, next, confirm),
      submitLabel: "Change password",
      submit: () => {
        if (next.input.value !== confirm.input.value) {
          throw new api.ApiError(422, "Please correct the marked field.", [
            { field: "confirm", message: "does not match the new password" },
          ]);
        }
        return api.post("/auth/password", {
          current_password: current.input.value,
          new_password: next.input.value,
        });
      },
      done: () => {
        for (const wrapper of [current, next, confirm]) wrapper.input.value = "";
        toast("Password changed. Your other sessions have been signed out.");
      },
    });
    return el("section", { class: "panel", "aria-labelledby": "account-heading" },
      el("h2", { id: "account-heading" }, "Your account"),
      el("p", {}, "Signed in as ", el("strong", { class: "account-name" }, user.username), ` (${user.role}).`),
      form);
  }

  tokensPanel() {
    const name = field("name", "Name", input({ placeholder: "backup script", maxlength: 100 }));
    const scopes = isAdmin()
      ? [["read", "Read only"], ["write", "Read and write"]]
      : [["read", "Read only"]];
    const scope = field("scope", "Access", select(scopes, "read"));
    const expires = field("expires_at", "Expires", select(EXPIRIES, ""));
    const form = pageForm({
      title: "New API token",
      form: el("form", { class: "token-form form-row" }, name, scope, expires),
      submitLabel: "Create token",
      submit: () => {
        const days = Number(expires.input.value);
        const body = { name: name.input.value, scope: scope.input.value };
        if (days) body.expires_at = new Date(Date.now() + days * 86400000).toISOString();
        return api.post("/tokens", body);
      },
      done: (created) => {
        name.input.value = "";
        this.showToken(created);
        this.loadTokens();
      },
    });
    return el("section", { class: "panel", "aria-labelledby": "tokens-heading" },
      el("h2", { id: "tokens-heading" }, "API tokens"),
      el("p", { class: "muted" }, "For scripts and SDKs: send a token as ", el("code", {}, "Authorization: Bearer <token>"),
        ". The API is described at ", el("a", { href: "/api/docs" }, "/api/docs"), "."),
      form,
      this.reveal,
      el("div", { class: "table-wrap" }, el("table", { class: "results tokens" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col" }, "Name"), el("th", { scope: "col" }, "Access"),
          isAdmin() ? el("th", { scope: "col" }, "Owner") : null,
          el("th", { scope: "col" }, "Created"), el("th", { scope: "col" }, "Last used"),
          el("th", { scope: "col" }, "Expires"), el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Actions")))),
        this.tokensBody)));
  }

  /** The one time a token is shown: with a copy button, and said plainly. */
  showToken(created) {
    const value = el("input", { class: "token-value", readonly: true, value: created.token, "aria-label": "The new token",
      spellcheck: "false" });
    const copy = el("button", { type: "button", class: "button button-primary" }, "Copy");
    copy.addEventListener("click", async () => {
      value.select();
      try {
        await navigator.clipboard.writeText(created.token);
        copy.textContent = "Copied";
        announce("The token is copied.");
      } catch {
        // No clipboard access (a plain-http page): the text is selected for Ctrl+C.
        document.execCommand?.("copy");
        copy.textContent = "Selected: press Ctrl+C";
      }
    });
    this.reveal.replaceChildren(
      el("p", {}, el("strong", {}, `Your new token “${created.name}”. `),
        "Copy it now: it is shown only this once, and only its hash is kept."),
      el("div", { class: "token-copy" }, value, copy));
    this.reveal.hidden = false;
    focus(value);
    value.select();
  }

  async loadTokens() {
    let tokens;
    try {
      tokens = await api.get("/tokens");
    } catch (error) {
      toast(`Cannot load the tokens: ${error.message}`, "error");
      return;
    }
    const rows = tokens.map((token) => {
      const revoke = el("button", { type: "button", class: "button button-small button-danger", "aria-label": `Revoke ${token.name}` },
        "Revoke");
      revoke.addEventListener("click", () => this.revoke(token));
      return el("tr", { dataset: { tokenId: token.id } },
        el("td", {}, token.name),
        el("td", {}, token.scope === "write" ? "Read and write" : "Read only"),
        isAdmin() ? el("td", {}, token.username) : null,
        el("td", {}, el("time", { datetime: token.created_at }, formatDateTime(token.created_at))),
        el("td", {}, token.last_used_at ? el("time", { datetime: token.last_used_at, title: formatDateTime(token.last_used_at) },
          formatRelative(token.last_used_at)) : "Never"),
        el("td", {}, token.expires_at ? formatDateTime(token.expires_at) : "Never"),
        el("td", {}, revoke));
    });
    this.tokensBody.replaceChildren(...(rows.length ? rows
      : [el("tr", { class: "empty-row" }, el("td", { colspan: isAdmin() ? 7 : 6 }, "No tokens yet."))]));
  }

  async revoke(token) {
    const confirmed = await confirmDelete({
      title: `Revoke “${token.name}”?`,
      message: "Scripts using this token will stop working at once. This cannot be undone.",
      confirmLabel: "Revoke",
    });
    if (!confirmed) return;
    try {
      await api.del(`/tokens/${token.id}`);
      toast(`Token “${token.name}” revoked.`);
    } catch (error) {
      toast(error.message, "error");
    }
    this.loadTokens();
  }

  usersPanel() {
    const username = field("username", "Username", input({ autocomplete: "off", maxlength: 64 }));
    const password = field("password", "Password", passwordInput("new-password"), { hint: "At least 10 characters." });
    const role = field("role", "Role", select([["viewer", "Viewer (reads only)"], ["admin", "Admin (changes everything)"]], "viewer"));
    const form = pageForm({
      title: "Add a user",
      form: el("form", { class: "user-form form-row" }, username, password, role),
      submitLabel: "Add user",
      submit: () => api.post("/users", { username: username.input.value, password: password.input.value, role: role.input.value }),
      done: (user) => {
        username.input.value = "";
        password.input.value = "";
        toast(`${user.username} can sign in now.`);
        this.loadUsers();
      },
    });
    return el("section", { class: "panel", "aria-labelledby": "users-heading" },
      el("h2", { id: "users-heading" }, "Users"),
      el("div", { class: "table-wrap" }, el("table", { class: "results users" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col" }, "Username"), el("th", { scope: "col" }, "Role"),
          el("th", { scope: "col" }, "Added"), el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Actions")))),
        this.usersBody)),
      form);
  }

  async loadUsers() {
    let users;
    try {
      users = await api.get("/users");
    } catch (error) {
      toast(`Cannot load the users: ${error.message}`, "error");
      return;
    }
    const me = currentUser();
    this.usersBody.replaceChildren(...users.map((user) => {
      const role = select([["viewer", "Viewer"], ["admin", "Admin"]], user.role);
      role.setAttribute("aria-label", `Role of ${user.username}`);
      role.addEventListener("change", () => this.changeRole(user, role));
      const reset = el("button", { type: "button", class: "button button-small", "aria-label": `Set a new password for ${user.username}` },
        "Set password");
      reset.addEventListener("click", () => this.resetPassword(user));
      const remove = el("button", { type: "button", class: "button button-small button-danger", "aria-label": `Delete ${user.username}` },
        "Delete");
      remove.addEventListener("click", () => this.deleteUser(user));
      return el("tr", { dataset: { userId: user.id } },
        el("td", {}, user.username, user.id === me.id ? el("span", { class: "muted" }, " (you)") : null),
        el("td", {}, role),
        el("td", {}, formatDateTime(user.created_at)),
        el("td", { class: "row-actions" }, reset, user.id === me.id ? null : remove));
    }));
  }

  async changeRole(user, control) {
    try {
      await api.patch(`/users/${user.id}`, { role: control.value });
      toast(`${user.username} is now ${control.value === "admin" ? "an admin" : "a viewer"}.`);
    } catch (error) {
      toast(error.message, "error");
    }
    this.loadUsers();
  }

  async resetPassword(user) {
    const password = field("password", "New password", passwordInput("new-password", { autofocus: true }),
      { hint: "At least 10 characters. Their sessions end." });
    const dialogForm = el("form", {}, password);
    const heading = el("h2", {}, `New password for ${user.username}`);
    const cancel = el("button", { type: "button", class: "button" }, "Cancel");
    const dialog = el("dialog", { class: "dialog" });
    const form = pageForm({
      form: dialogForm,
      submitLabel: "Set password",
      submit: () => api.patch(`/users/${user.id}`, { password: password.input.value }),
      done: () => {
        dialog.close();
        toast(`New password set for ${user.username}; their sessions have ended.`);
      },
    });
    form.prepend(heading);
    form.querySelector(".form-actions").prepend(cancel);
    cancel.addEventListener("click", () => dialog.close());
    dialog.append(form);
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    focus(password.input);
  }

  async deleteUser(user) {
    const confirmed = await confirmDelete({
      title: `Delete ${user.username}?`,
      message: "They can no longer sign in; their tokens stop working. This cannot be undone.",
    });
    if (!confirmed) return;
    try {
      await api.del(`/users/${user.id}`);
      toast(`${user.username} deleted.`);
    } catch (error) {
      toast(error.message, "error");
    }
    this.loadUsers();
  }
}
