"""The auth service's operations, each with the clients it needs passed in explicitly and
raising the domain errors of auth_service.errors; the routes only translate."""

from auth_service.use_cases.account import AccountFlows
from auth_service.use_cases.login import Login
from auth_service.use_cases.logout import Logout
from auth_service.use_cases.mfa import MfaManagement
from auth_service.use_cases.mfa_login import MfaLogin, Reauthenticate
from auth_service.use_cases.refresh import Refresh
from auth_service.use_cases.register import Register
from auth_service.use_cases.second_factor import SecondFactor, StepUp
from auth_service.use_cases.sessions import SessionAdmin, Sessions

__all__ = ["AccountFlows", "Login", "Logout", "MfaLogin", "MfaManagement", "Reauthenticate",
           "Refresh", "Register", "SecondFactor", "SessionAdmin", "Sessions", "StepUp"]
