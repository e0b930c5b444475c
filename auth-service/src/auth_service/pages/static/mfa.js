// The account page's second factor: enrolment (QR code or written key, then the recovery
// codes shown once), new recovery codes, turning MFA off, and the step-up a sensitive action
// may ask for. Loaded before account.js, which calls these once the user is signed in.
"use strict";

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
