"""The account pages in a real browser: headless Chromium (Debian's, driven by Selenium
through Debian's chromedriver) opens the links the stack really mailed (read from the
capture server's Maildir) through the gateway, and the account page signs in, lists the
sessions, ends one and signs out everywhere. Plus what a link scanner's GET can do: nothing.

Every wait is on a condition with a generous guard (HANG_GUARD); nothing asserts a time."""

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from devstack.mailcapture import captured
from devstack.testkit.addresses import next_client_address
from shared.totp import totp_code

HANG_GUARD = 60  # seconds for a page or a mail to show up; the verdict is what it shows
PASSWORD = "correct horse battery staple 42"
NEW_PASSWORD = "a brand new passphrase for this account 7"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGES = ("/account", "/account/verify", "/account/reset", "/account/email")


@pytest.fixture(scope="module")
def browser_gateway(request: pytest.FixtureRequest, gateway_url: str) -> str:
    """Where the browser goes. A browser always connects from 127.0.0.1, so every page,
    asset and fetch of every test shares one rate-limit bucket: on the native stack the
    browser gets a gateway of its own whose default bucket is large (the credential
    routes keep their policies); against a running stack, the stack's gateway."""
    if os.environ.get("E2E_GATEWAY_URL"):
        return gateway_url
    stack = request.getfixturevalue("stack")
    if not hasattr(stack, "add_gateway"):
        return gateway_url
    return str(stack.add_gateway(env={"RATE_LIMIT_REQUESTS": "1000"})).rstrip("/")


@pytest.fixture
def api(gateway_url: str) -> Iterator[httpx.Client]:
    """A JSON client of its own address (its own rate-limit bucket)."""
    transport = httpx.HTTPTransport(local_address=next_client_address())
    with httpx.Client(base_url=gateway_url, transport=transport, timeout=15) as client:
        yield client


def _email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def _register(api: httpx.Client, prefix: str) -> str:
    email = _email(prefix)
    response = api.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email


def _login(api: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = api.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _mailed_link(mail_dir: Path, to: str, page: str) -> str:
    """The newest link to `page` (e.g. /account/reset) mailed to `to`, waiting for one."""
    pattern = re.compile(rf"https?://[^\s\"'<>]+{re.escape(page)}#token=[A-Za-z0-9._~%-]+")
    deadline = time.monotonic() + HANG_GUARD
    while True:
        links = [link for mail in captured(mail_dir, to) for link in pattern.findall(mail.text)]
        if links:
            return links[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {page} link mailed to {to} in {mail_dir}")
        time.sleep(0.1)


def _token(link: str) -> str:
    return urlsplit(link).fragment.removeprefix("token=")


def _open_link(browser: webdriver.Chrome, link: str, gateway: str) -> None:
    """The mailed link, opened at the browser's gateway (same path and fragment), as a new
    document (from the same page, a link differing only in its fragment would not load)."""
    parts = urlsplit(link)
    browser.get("about:blank")
    browser.get(f"{gateway}{parts.path}#{parts.fragment}")


def _wait(browser: webdriver.Chrome, condition: Any) -> Any:
    try:
        return WebDriverWait(browser, HANG_GUARD).until(condition)
    except TimeoutException:
        print("page at the time-out:", browser.current_url, browser.page_source)
        raise


def _visible(browser: webdriver.Chrome, element_id: str) -> WebElement:
    element: WebElement = _wait(browser, ec.visibility_of_element_located((By.ID, element_id)))
    return element


def _message(browser: webdriver.Chrome) -> str:
    return str(browser.find_element(By.ID, "message").text)


def _no_token_in_history(browser: webdriver.Chrome) -> None:
    assert "#" not in browser.current_url
    assert browser.execute_script("return localStorage.length + sessionStorage.length") == 0
    assert browser.execute_script("return document.cookie") == ""


# -- HTTP: headers, and a GET spends nothing ------------------------------------------

@pytest.mark.parametrize("path", PAGES)
def test_pages_carry_strict_headers_through_the_gateway(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]
    for asset in re.findall(r'(?:src|href)="(/account/static/[^"]+)"', response.text):
        served = api.get(asset)
        assert served.status_code == 200, asset
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["content-security-policy"] == CSP
        assert served.headers["content-type"].startswith(
            "text/javascript" if ".js?" in asset else "text/css")


def test_a_scanners_get_of_a_mailed_link_spends_nothing(api: httpx.Client,
                                                        mail_dir: Path) -> None:
    email = _register(api, "scanned")
    link = _mailed_link(mail_dir, email, "/account/verify")
    token = _token(link)
    # What a link scanner can do: fetch the link (the fragment never leaves it), even with
    # the token moved into the query, and follow what the page references.
    path = urlsplit(link).path
    for url in (path, f"{path}?token={token}", f"{path}/{token}"):
        api.get(url)
    page = api.get(path)
    for asset in re.findall(r'(?:src|href)="(/account/static/[^"]+)"', page.text):
        api.get(asset)
    tokens = _login(api, email)
    assert api.get("/users/me", headers=_bearer(tokens)).json()["email_verified"] is False

    assert api.post("/auth/verify-email", json={"token": token}).status_code == 204
    assert api.get("/users/me", headers=_bearer(tokens)).json()["email_verified"] is True


# -- In the browser -------------------------------------------------------------------

def test_verify_email_from_the_mailed_link(browser: webdriver.Chrome, browser_gateway: str,
                                           api: httpx.Client, mail_dir: Path) -> None:
    email = _register(api, "verify")
    link = _mailed_link(mail_dir, email, "/account/verify")

    _open_link(browser, link, browser_gateway)
    _visible(browser, "confirm").click()
    _visible(browser, "done")
    assert "confirmed" in _message(browser)
    _no_token_in_history(browser)

    tokens = _login(api, email)
    me = api.get("/users/me", headers=_bearer(tokens))
    assert me.status_code == 200
    assert me.json()["email_verified"] is True
    # Single use: the same link a second time shows the service's problem detail.
    _open_link(browser, link, browser_gateway)
    _visible(browser, "confirm").click()
    _wait(browser, lambda driver: "error" in driver.find_element(By.ID, "message")
          .get_attribute("class"))
    assert _message(browser)


def test_reset_password_from_the_mailed_link(browser: webdriver.Chrome, browser_gateway: str,
                                             api: httpx.Client, mail_dir: Path) -> None:
    email = _register(api, "reset")
    old = _login(api, email)
    assert api.post("/auth/password/forgot", json={"email": email}).status_code == 202
    link = _mailed_link(mail_dir, email, "/account/reset")

    _open_link(browser, link, browser_gateway)
    _visible(browser, "new-password").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "repeat-password").send_keys(NEW_PASSWORD + "x")
    browser.find_element(By.ID, "reset").click()
    assert "differ" in _message(browser)  # checked in the page; nothing was sent
    repeat = browser.find_element(By.ID, "repeat-password")
    repeat.clear()
    repeat.send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "reset").click()
    _visible(browser, "done")
    _no_token_in_history(browser)

    assert api.post("/auth/login", json={"email": email, "password": PASSWORD}
                    ).status_code == 401
    _login(api, email, NEW_PASSWORD)
    refused = api.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
    assert refused.status_code == 401, refused.text


def _session_rows(browser: webdriver.Chrome) -> dict[str, bool]:
    """Session id -> marked current, read in one step (the page may be redrawing the list,
    so no element is kept across calls)."""
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#sessions tbody tr')]"
        ".map((row) => [row.dataset.sessionId, row.classList.contains('current')]);")
    return {str(sid): bool(current) for sid, current in rows}


def _end_session(browser: webdriver.Chrome, sid: str) -> None:
    browser.find_element(
        By.CSS_SELECTOR, f'#sessions tr[data-session-id="{sid}"] button.end-session').click()


def _sid(tokens: dict[str, Any]) -> str:
    return str(tokens["refresh_token"].split(".")[1])


def test_account_page_signs_in_lists_and_ends_sessions(
        browser: webdriver.Chrome, browser_gateway: str, api: httpx.Client) -> None:
    email = _register(api, "account")
    laptop, phone = _login(api, email), _login(api, email)

    browser.get(f"{browser_gateway}/account")
    _visible(browser, "login-email").send_keys(email)
    browser.find_element(By.ID, "login-password").send_keys("not the password")
    browser.find_element(By.ID, "login").click()
    _wait(browser, lambda driver: "error" in driver.find_element(By.ID, "message")
          .get_attribute("class"))
    assert _message(browser)  # the problem's detail, read out by the live region
    password = browser.find_element(By.ID, "login-password")
    password.clear()
    password.send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()

    _visible(browser, "signed-in")
    _wait(browser, lambda driver: len(_session_rows(driver)) == 3)
    assert browser.find_element(By.ID, "profile-email").text == email
    assert browser.find_element(By.ID, "profile-verified").text == "no"
    rows = _session_rows(browser)
    assert {_sid(laptop), _sid(phone)} < set(rows)
    current = [sid for sid, is_current in rows.items() if is_current]
    assert len(current) == 1
    assert current[0] not in (_sid(laptop), _sid(phone))
    _no_token_in_history(browser)

    _end_session(browser, _sid(phone))
    _wait(browser, lambda driver: set(_session_rows(driver)) == {_sid(laptop), current[0]})
    assert api.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]}
                    ).status_code == 401
    kept = api.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert kept.status_code == 200, kept.text

    browser.find_element(By.ID, "sign-out-everywhere").click()
    _visible(browser, "login-form")
    assert "everywhere" in _message(browser)
    assert not browser.find_element(By.ID, "signed-in").is_displayed()
    assert api.post("/auth/refresh", json={"refresh_token": kept.json()["refresh_token"]}
                    ).status_code == 401
    listed = api.get("/auth/sessions", headers=_bearer(_login(api, email)))
    assert [item["current"] for item in listed.json()["items"]] == [True]


def test_email_change_from_the_mailed_link(browser: webdriver.Chrome, browser_gateway: str,
                                           api: httpx.Client, mail_dir: Path) -> None:
    email, new_email = _register(api, "old"), _email("new")
    tokens = _login(api, email)
    asked = api.post("/auth/email/change", headers=_bearer(tokens),
                     json={"new_email": new_email, "current_password": PASSWORD})
    assert asked.status_code == 202, asked.text
    link = _mailed_link(mail_dir, new_email, "/account/email")

    _open_link(browser, link, browser_gateway)
    _visible(browser, "confirm").click()
    _visible(browser, "done")
    _no_token_in_history(browser)
    me = api.get("/users/me", headers=_bearer(_login(api, new_email)))
    assert (me.json()["email"], me.json()["email_verified"]) == (new_email, True)


def _sign_in(browser: webdriver.Chrome, gateway: str, email: str) -> None:
    browser.get("about:blank")
    browser.get(f"{gateway}/account")
    _visible(browser, "login-email").send_keys(email)
    browser.find_element(By.ID, "login-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _visible(browser, "signed-in")


def test_account_page_changes_the_password(browser: webdriver.Chrome, browser_gateway: str,
                                           api: httpx.Client) -> None:
    email = _register(api, "change")
    other = _login(api, email)
    _sign_in(browser, browser_gateway, email)
    _wait(browser, lambda driver: len(_session_rows(driver)) == 2)

    browser.find_element(By.ID, "current-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "changed-password").send_keys(NEW_PASSWORD)
    assert browser.find_element(By.ID, "sign-out-others").is_selected()
    browser.find_element(By.ID, "change-password").click()
    _wait(browser, lambda driver: "password is changed" in _message(driver))
    # The other session ended; this browser's goes on and is the only one listed.
    _wait(browser, lambda driver: len(_session_rows(driver)) == 1)
    assert api.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}
                    ).status_code == 401
    _login(api, email, NEW_PASSWORD)


# -- MFA: enrol from the page, step-up, sign in with a recovery code -------------------

def _recovery_codes(browser: webdriver.Chrome) -> list[str]:
    return [item.text for item in
            browser.find_elements(By.CSS_SELECTOR, "#mfa-recovery-codes li")]


def test_account_page_enrols_mfa_and_signs_in_with_a_second_factor(
        browser: webdriver.Chrome, browser_gateway: str, api: httpx.Client) -> None:
    email = _register(api, "mfa")
    _sign_in(browser, browser_gateway, email)
    _wait(browser, lambda driver: driver.find_element(By.ID, "mfa-status").text == "off")

    _visible(browser, "mfa-start").click()
    _wait(browser, lambda driver: driver.find_element(By.ID, "mfa-secret").text)
    secret = browser.find_element(By.ID, "mfa-secret").text
    qr = browser.find_element(By.ID, "mfa-qr")
    assert str(qr.get_attribute("src")).startswith("data:image/svg+xml")
    # The image really rendered (the CSP admits it): a QR code has a size.
    assert browser.execute_script("return arguments[0].naturalWidth", qr) > 0
    browser.find_element(By.ID, "mfa-enrol-code").send_keys(totp_code(secret))
    browser.find_element(By.ID, "mfa-confirm").click()
    _wait(browser, lambda driver: len(_recovery_codes(driver)) == 10)
    first_codes = _recovery_codes(browser)
    assert browser.find_element(By.ID, "mfa-status").text == "on"
    _no_token_in_history(browser)

    # This sign-in proved a password only: new recovery codes ask for a step-up first. The
    # next step's code (inside the accepted window): the enrolment's step is spent.
    browser.find_element(By.ID, "mfa-regenerate").click()
    _visible(browser, "reauth-form")
    browser.find_element(By.ID, "reauth-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "reauth-code").send_keys(totp_code(secret, step_offset=1))
    browser.find_element(By.ID, "reauth").click()
    _wait(browser, lambda driver: "old ones no longer work" in _message(driver))
    new_codes = _recovery_codes(browser)
    assert len(new_codes) == 10
    assert not set(new_codes) & set(first_codes)
    assert not browser.find_element(By.ID, "reauth-form").is_displayed()

    # The API agrees: a password alone is not enough, an old code is dead.
    password_step = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert password_step.status_code == 403, password_step.text
    assert password_step.json()["code"] == "mfa_required"
    old = api.post("/auth/login/mfa", json={"mfa_token": password_step.json()["mfa_token"],
                                            "code": first_codes[0]})
    assert old.status_code == 401, old.text

    # Signing in on the page: password, then a recovery code of the new set.
    browser.find_element(By.ID, "sign-out").click()
    _visible(browser, "login-form")
    browser.find_element(By.ID, "login-email").clear()
    browser.find_element(By.ID, "login-email").send_keys(email)
    browser.find_element(By.ID, "login-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _visible(browser, "mfa-login-form").find_element(By.ID, "mfa-login-code").send_keys(
        new_codes[0])
    browser.find_element(By.ID, "mfa-login").click()
    _visible(browser, "signed-in")
    _wait(browser, lambda driver: driver.find_element(By.ID, "mfa-status").text == "on")
    _no_token_in_history(browser)
