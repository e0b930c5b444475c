// The pages a mailed link opens (verify, email, reset). The token is read from the URL
// fragment, which no server ever sees, and is spent only by the POST a click sends.
"use strict";

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

// A mailed link pasted into a tab already showing this page changes only the fragment.
window.addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).has("token")) {
    location.reload();
  }
});

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
    tokenPage("reset-form", "/auth/password/reset", resetBody, "Your password is changed.");
    break;
}
