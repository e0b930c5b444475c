// The account pages' only script (served same-origin: CSP script-src 'self').
// A mailed token is read from the URL fragment, which no server ever sees, and is spent
// only by the POST a click sends. Tokens are kept in variables only: never in
// localStorage, sessionStorage or cookies, so they end with the page.
"use strict";

const JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"};

function $(id) {
  return document.getElementById(id);
}

function say(text, kind) {
  const message = $("message");
  message.textContent = text;
  message.className = "message " + (kind || "info");
}

async function problemText(response) {
  // RFC 9457 problem+json: show its detail (what the service says went wrong).
  try {
    const problem = await response.json();
    if (problem && (problem.detail || problem.title)) {
      return problem.detail || problem.title;
    }
  } catch (error) {
    // not JSON: fall through
  }
  return "The request failed (HTTP " + response.status + ").";
}

// The problem's machine-readable `code` (e.g. mfa_required), without consuming the body.
async function problemCode(response) {
  try {
    const problem = await response.clone().json();
    return problem && problem.code ? problem.code : "";
  } catch (error) {
    return "";
  }
}

async function call(method, path, body, accessToken) {
  const headers = body === undefined ? {"Accept": "application/json"} : {...JSON_HEADERS};
  if (accessToken) {
    headers["Authorization"] = "Bearer " + accessToken;
  }
  // same-origin: the login's HttpOnly device cookie (set by the service, unreadable
  // here) makes this browser a known client of the account for login throttling.
  const options = {method, headers, credentials: "same-origin", cache: "no-store"};
  if (body !== undefined) {
    options.body = JSON.stringify(body);
  }
  return fetch(path, options);
}

function busy(form, on) {
  for (const element of form.querySelectorAll("button, input")) {
    element.disabled = on;
  }
}

// Reads #token=... once, then drops the fragment from the address bar and history.
function takeFragmentToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (location.hash) {
    history.replaceState(null, "", location.pathname + location.search);
  }
  return token;
}

function tokenPage(formId, path, bodyFor, doneText) {
  const token = takeFragmentToken();
  const form = $(formId);
  if (!token) {
    say("This link has no token. Open the link from the mail again, or ask for a new mail.",
        "error");
    return;
  }
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = bodyFor(token);
    if (body === null) {
      return;
    }
    busy(form, true);
    say("Sending…", "info");
    try {
      const response = await call("POST", path, body);
      if (response.ok) {
        form.hidden = true;
        $("done").hidden = false;
        say(doneText, "ok");
        return;
      }
      say(await problemText(response), "error");
    } catch (error) {
      say("The service could not be reached. Try again.", "error");
    }
    busy(form, false);
  });
}

function resetBody(token) {
  const password = $("new-password").value;
  if (password !== $("repeat-password").value) {
    say("The two passwords differ.", "error");
    $("repeat-password").focus();
    return null;
  }
  return {token, new_password: password};
}

// The account page: signed-in state lives in this object only.
const session = {access: null, refresh: null, mfaToken: null};

async function authed(method, path, body) {
  let response = await call(method, path, body, session.access);
  if (response.status === 401 && session.refresh) {
    const refreshed = await call("POST", "/auth/refresh", {refresh_token: session.refresh});
    if (refreshed.ok) {
      keepTokens(await refreshed.json());
      response = await call(method, path, body, session.access);
    }
  }
  if (response.status === 401) {
    signedOut("Your session has ended. Sign in again.");
  }
  return response;
}

function keepTokens(pair) {
  session.access = pair.access_token;
  session.refresh = pair.refresh_token;
}

// A sensitive action (MFA on) answered 403 step_up_required: ask for the password and a
// code, take the fresh access token /auth/reauthenticate gives, and try once more.
let stepUpWaiter = null;

async function sensitive(method, path, body) {
  const response = await authed(method, path, body);
  if (response.status !== 403 || await problemCode(response) !== "step_up_required") {
    return response;
  }
  const form = $("reauth-form");
  form.hidden = false;
  say("Confirm it is you to go on.", "info");
  $("reauth-password").focus();
  const confirmed = await new Promise((resolve) => { stepUpWaiter = resolve; });
  form.hidden = true;
  form.reset();
  if (!confirmed) {
    return response;
  }
  return authed(method, path, body);
}

function stepUpForm() {
  const form = $("reauth-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    busy(form, true);
    try {
      const response = await authed("POST", "/auth/reauthenticate",
                                    {password: $("reauth-password").value,
                                     code: $("reauth-code").value.trim()});
      if (response.ok) {
        session.access = (await response.json()).access_token;
        const resolve = stepUpWaiter;
        stepUpWaiter = null;
        if (resolve) {
          resolve(true);
        }
      } else if (response.status !== 401) {
        say(await problemText(response), "error");
      }
    } catch (error) {
      say("The service could not be reached. Try again.", "error");
    }
    busy(form, false);
  });
  $("reauth-cancel").addEventListener("click", () => {
    const resolve = stepUpWaiter;
    stepUpWaiter = null;
    if (resolve) {
      resolve(false);
    }
    say("Nothing was changed.", "info");
  });
}

function signedOut(text) {
  session.access = null;
  session.refresh = null;
  session.mfaToken = null;
  $("signed-in").hidden = true;
  $("mfa-login-form").hidden = true;
  $("reauth-form").hidden = true;
  $("login-form").hidden = false;
  $("login-password").value = "";
  say(text, "info");
}

async function showProfile() {
  const response = await authed("GET", "/users/me");
  if (!response.ok) {
    if (response.status !== 401) {
      say(await problemText(response), "error");
    }
    return false;
  }
  const me = await response.json();
  $("profile-email").textContent = me.email;
  $("profile-name").textContent = me.display_name || "—";
  $("profile-verified").textContent = me.email_verified ? "yes" : "no";
  showMfaState(Boolean(me.mfa_enabled));
  return true;
}

function showMfaState(enabled) {
  $("mfa-status").textContent = enabled ? "on" : "off";
  $("mfa-start").hidden = enabled;
  $("mfa-on").hidden = !enabled;
  $("mfa-enrol-form").hidden = true;
}

function showRecoveryCodes(codes) {
  const list = $("mfa-recovery-codes");
  list.replaceChildren();
  for (const code of codes) {
    const item = document.createElement("li");
    const text = document.createElement("code");
    text.textContent = code;
    item.appendChild(text);
    list.appendChild(item);
  }
  $("mfa-recovery").hidden = false;
}

async function signedIn(pair) {
  keepTokens(pair);
  session.mfaToken = null;
  $("login-password").value = "";
  $("mfa-login-code").value = "";
  $("login-form").hidden = true;
  $("mfa-login-form").hidden = true;
  $("signed-in").hidden = false;
  if (await showProfile()) {
    await showSessions();
    say("You are signed in.", "ok");
  }
}

function mfaSection() {
  $("mfa-start").addEventListener("click", async () => {
    const response = await authed("POST", "/auth/mfa/totp");
    if (response.ok) {
      const enrolment = await response.json();
      $("mfa-qr").src = enrolment.qr_code;
      $("mfa-secret").textContent = enrolment.secret;
      $("mfa-start").hidden = true;
      $("mfa-enrol-form").hidden = false;
      $("mfa-enrol-code").focus();
    } else if (response.status !== 401) {
      say(await problemText(response), "error");
    }
  });

  const enrol = $("mfa-enrol-form");
  enrol.addEventListener("submit", async (event) => {
    event.preventDefault();
    busy(enrol, true);
    try {
      const response = await authed("POST", "/auth/mfa/totp/confirm",
                                    {code: $("mfa-enrol-code").value.trim()});
      if (response.ok) {
        enrol.reset();
        $("mfa-secret").textContent = "";
        $("mfa-qr").removeAttribute("src");
        showMfaState(true);
        showRecoveryCodes((await response.json()).recovery_codes);
        say("Two-step verification is on.", "ok");
      } else if (response.status !== 401) {
        say(await problemText(response), "error");
      }
    } catch (error) {
      say("The service could not be reached. Try again.", "error");
    }
    busy(enrol, false);
  });

  $("mfa-regenerate").addEventListener("click", async () => {
    const response = await sensitive("POST", "/auth/mfa/recovery-codes");
    if (response.ok) {
      showRecoveryCodes((await response.json()).recovery_codes);
      say("New recovery codes: the old ones no longer work.", "ok");
    } else if (response.status !== 401) {
      say(await problemText(response), "error");
    }
  });

  const disable = $("mfa-disable-form");
  disable.addEventListener("submit", async (event) => {
    event.preventDefault();
    busy(disable, true);
    try {
      const response = await sensitive("DELETE", "/auth/mfa/totp",
                                       {password: $("mfa-disable-password").value,
                                        code: $("mfa-disable-code").value.trim()});
      if (response.status === 204) {
        disable.reset();
        $("mfa-recovery").hidden = true;
        showMfaState(false);
        say("Two-step verification is off.", "ok");
      } else if (response.status !== 401) {
        say(await problemText(response), "error");
      }
    } catch (error) {
      say("The service could not be reached. Try again.", "error");
    }
    busy(disable, false);
  });
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function when(value) {
  return value ? new Date(value).toLocaleString() : "—";
}

async function showSessions() {
  const response = await authed("GET", "/auth/sessions");
  if (!response.ok) {
    if (response.status !== 401) {
      say(await problemText(response), "error");
    }
    return;
  }
  const tbody = $("sessions").querySelector("tbody");
  tbody.replaceChildren();
  for (const item of (await response.json()).items) {
    const row = document.createElement("tr");
    row.dataset.sessionId = item.id;
    if (item.current) {
      row.classList.add("current");
    }
    cell(row, when(item.created_at));
    cell(row, when(item.last_used_at));
    cell(row, item.ip || "—");
    cell(row, (item.user_agent || "—") + (item.current ? " (this browser)" : ""));
    const button = document.createElement("button");
    button.type = "button";
    button.className = "end-session";
    button.textContent = item.current ? "Sign out here" : "End session";
    button.setAttribute("aria-label", (item.current ? "Sign out this session, started "
                                                    : "End the session started ")
                                      + when(item.created_at));
    button.addEventListener("click", () => endSession(item.id, item.current));
    cell(row, "").appendChild(button);
    tbody.appendChild(row);
  }
}

async function endSession(id, current) {
  const response = await authed("DELETE", "/auth/sessions/" + encodeURIComponent(id));
  if (response.status === 204) {
    if (current) {
      signedOut("You are signed out.");
      return;
    }
    say("The session has ended.", "ok");
    await showSessions();
  } else if (response.status !== 401) {
    say(await problemText(response), "error");
  }
}

function accountPage() {
  const login = $("login-form");
  login.addEventListener("submit", async (event) => {
    event.preventDefault();
    busy(login, true);
    say("Signing in…", "info");
    try {
      const response = await call("POST", "/auth/login",
                                  {email: $("login-email").value,
                                   password: $("login-password").value});
      if (response.ok) {
        await signedIn(await response.json());
      } else if (response.status === 403 && await problemCode(response) === "mfa_required") {
        session.mfaToken = (await response.json()).mfa_token;
        $("login-password").value = "";
        login.hidden = true;
        $("mfa-login-form").hidden = false;
        $("mfa-login-code").focus();
        say("Enter a code to finish signing in.", "info");
      } else {
        say(await problemText(response), "error");
      }
    } catch (error) {
      say("The service could not be reached. Try again.", "error");
    }
    busy(login, false);
  });

  const mfaLogin = $("mfa-login-form");
  mfaLogin.addEventListener("submit", async (event) => {
    event.preventDefault();
    busy(mfaLogin, true);
    try {
      const response = await call("POST", "/auth/login/mfa",
                                  {mfa_token: session.mfaToken,
                                   code: $("mfa-login-code").value.trim()});
      if (response.ok) {
        await signedIn(await response.json());
      } else {
        say(await problemText(response), "error");
        const code = await problemCode(response);
        if (code === "invalid_mfa_token") {  // expired or spent: the password step again
          signedOut("Sign in again.");
        }
      }
    } catch (error) {
      say("The service could not be reached. Try again.", "error");
    }
    busy(mfaLogin, false);
  });

  mfaSection();
  stepUpForm();

  const passwordForm = $("password-form");
  passwordForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    busy(passwordForm, true);
    try {
      const response = await sensitive("POST", "/auth/password/change", {
        current_password: $("current-password").value,
        new_password: $("changed-password").value,
        sign_out_other_sessions: $("sign-out-others").checked,
      });
      if (response.status === 204) {
        passwordForm.reset();
        $("sign-out-others").checked = true;
        say("Your password is changed.", "ok");
        await showSessions();
      } else if (response.status !== 401) {
        say(await problemText(response), "error");
      }
    } catch (error) {
      say("The service could not be reached. Try again.", "error");
    }
    busy(passwordForm, false);
  });

  $("sign-out").addEventListener("click", async () => {
    if (session.refresh) {
      await call("POST", "/auth/logout", {refresh_token: session.refresh}, session.access);
    }
    signedOut("You are signed out.");
  });

  $("sign-out-everywhere").addEventListener("click", async () => {
    const response = await authed("DELETE", "/auth/sessions?include_current=true");
    if (response.status === 204) {
      signedOut("You are signed out everywhere.");
    } else if (response.status !== 401) {
      say(await problemText(response), "error");
    }
  });
}

// A mailed link pasted into a tab already showing this page changes only the fragment.
window.addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).has("token")) {
    location.reload();
  }
});

function start() {
  switch (document.body.dataset.page) {
    case "verify":
      tokenPage("confirm-form", "/auth/verify-email", (token) => ({token}),
                "Your email address is confirmed.");
      break;
    case "email":
      tokenPage("confirm-form", "/auth/email/change/confirm", (token) => ({token}),
                "Your account now uses the new address.");
      break;
    case "reset":
      tokenPage("reset-form", "/auth/password/reset", resetBody,
                "Your password is changed.");
      break;
    case "account":
      accountPage();
      break;
  }
}

start();
