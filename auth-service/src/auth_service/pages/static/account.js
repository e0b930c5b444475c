// The account page: sign in (with a second factor when the account has one), profile,
// password change, sessions. The signed-in state lives in the `session` object only.
"use strict";

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

if (document.body.dataset.page === "account") {
  accountPage();
}
