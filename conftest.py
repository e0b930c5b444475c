"""Session-wide fixtures: real Redis Cluster and PostgreSQL servers (devstack.testkit.fixtures)."""


# pytest's importlib mode names a test file after its path from the rootdir
# ("gateway/tests/test_x.py" -> "gateway.tests.test_x") and would create an empty
# namespace module for "gateway" or "shared" that shadows the real package. Importing
# the real packages first makes pytest attach the tests under them instead.
import gateway  # noqa: F401
import shared  # noqa: F401

pytest_plugins = ["devstack.testkit.fixtures", "devstack.testkit.assertions"]
