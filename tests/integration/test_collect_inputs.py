"""Bad input fails fast with a clear message and no network call; sign-in problems say how to sign in;
sovereign clouds use their own endpoints and scopes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import acrlib
from acrlib.collection import Options


@pytest.mark.parametrize(("arguments", "message"), [
    ({"cloud": "mars"}, "unknown cloud 'mars'"),
    ({"registries": "([unclosed"}, "invalid registry regex"),
    ({"registries": []}, "registries is an empty list"),
    ({"registries": ["no_underscores"]}, "invalid registry name 'no_underscores'"),
    ({"subscriptions": ["not-a-guid"]}, "malformed subscription id 'not-a-guid'"),
    ({"subscriptions": []}, "subscriptions is empty"),
    ({"arm_endpoint": "http://127.0.0.1:1"}, "must be an https:// URL"),
    ({"page_size": 0}, "page_size must be an integer from 1 to 1000"),
    ({"referrers": "some"}, "referrers must be one of"),
    ({"connection_verify": "/no/such/ca.pem"}, "is not a file"),
])
def test_bad_input_is_a_value_error_before_any_request(tiny, arguments, message):
    tiny.reset_stats()
    connection = {**tiny.connection(), **arguments}
    with pytest.raises(ValueError, match=message):
        acrlib.collect(progress=False, **connection)
    assert tiny.stats().height == 0, "no request reached the emulator"


def test_a_filter_matching_no_registry_names_what_exists(tiny):
    with pytest.raises(ValueError, match=r"no registry matches registry pattern 'nothing-like-this'.*contoso"):
        acrlib.collect(**tiny.connection(), registries="nothing-like-this", progress=False)


def test_a_credential_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="credential must be an azure-core TokenCredential"):
        acrlib.collect(credential="my-password", progress=False)


def test_without_any_credential_the_message_says_how_to_sign_in(tiny, tmp_path):
    # DefaultAzureCredential in a clean environment: no service principal, no Azure CLI login, no managed
    # identity reachable. The emulator stands in for ARM so nothing leaves this machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    env.update(HOME=str(tmp_path), PATH="/usr/bin:/bin", AZURE_CONFIG_DIR=str(tmp_path / "az"))
    code = (
        "import acrlib, sys\n"
        "try:\n"
        f"    acrlib.collect(arm_endpoint={tiny.arm_endpoint!r}, connection_verify={tiny.ca_path!r}, progress=False)\n"
        "except acrlib.SignInRequired as e:\n"
        "    print('SIGNIN:', e); sys.exit(0)\n"
        "sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    message = done.stdout
    assert "az login" in message and "AZURE_CLIENT_SECRET" in message and "managed identity" in message
    assert "Traceback" not in message


class RecordingCredential:
    """Wraps the emulator's credential and records the scopes asked for (a test double of Azure's
    credential, not of acrlib)."""

    def __init__(self, inner):
        self.inner = inner
        self.scopes: list[str] = []

    def get_token(self, *scopes, **kwargs):
        self.scopes += scopes
        return self.inner.get_token(*scopes, **kwargs)


@pytest.mark.parametrize(("cloud", "arm_scope", "logs_scope"), [
    ("public", "https://management.azure.com/.default", "https://api.loganalytics.io/.default"),
    ("china", "https://management.chinacloudapi.cn/.default", "https://api.loganalytics.azure.cn/.default"),
    ("usgov", "https://management.core.usgovcloudapi.net/.default", "https://api.loganalytics.us/.default"),
])
def test_each_cloud_asks_for_its_own_scopes_and_the_acr_audience(tiny, tiny_truth, cloud, arm_scope, logs_scope):
    credential = RecordingCredential(tiny.credential())
    inventory = acrlib.collect(credential=credential, arm_endpoint=tiny.arm_endpoint, logs_endpoint=tiny.logs_endpoint,
                               connection_verify=tiny.ca_path, cloud=cloud, progress=False)
    assert set(credential.scopes) == {arm_scope, logs_scope, "https://containerregistry.azure.net/.default"}
    assert inventory.registries.height == tiny_truth["registries"].height and inventory.complete
    assert inventory.metadata["cloud"] == cloud


@pytest.mark.parametrize(("cloud", "endpoint", "authority"), [
    ("public", "https://management.azure.com", "login.microsoftonline.com"),
    ("china", "https://management.chinacloudapi.cn", "login.chinacloudapi.cn"),
    ("usgov", "https://management.usgovcloudapi.net", "login.microsoftonline.us"),
])
def test_each_cloud_has_its_endpoint_and_default_credential_authority(cloud, endpoint, authority):
    opts = Options(cloud=cloud)
    assert opts.cloud.arm_endpoint == endpoint and opts.cloud.authority == authority

    def authorities(obj, depth=0):  # azure-identity keeps the authority on its inner credentials
        found = set()
        for key, value in vars(obj).items():
            if "authority" in key and isinstance(value, str):
                found.add(value)
            elif depth < 2 and hasattr(value, "__dict__"):
                found |= authorities(value, depth + 1)
        return found

    seen = set().union(*(authorities(c) for c in opts.credential.credentials))
    assert seen and all(authority in a for a in seen)


def test_no_secret_reaches_tables_errors_snapshots_or_reprs(tmp_path):
    from acrlib.emulator import Emulator, Faults

    with Emulator("tiny", faults=Faults(denied=("contosodevacr",), error_rate=0.05, seed=3)) as emu:
        credential = emu.credential()
        inventory = acrlib.collect(credential=credential, arm_endpoint=emu.arm_endpoint,
                                   logs_endpoint=emu.logs_endpoint, connection_verify=emu.ca_path, progress=False)
        secret = emu._secret  # the emulator's signing key: nothing acrlib writes may contain it or a token
    path = inventory.to_parquet(tmp_path)
    blobs = b"".join(p.read_bytes() for p in path.iterdir())
    texts = [repr(inventory), repr(credential), repr(emu), str(inventory.errors.rows())]
    assert inventory.errors.height > 0
    for text in [*texts, blobs.decode("latin-1")]:
        assert "eyJ" not in text, "a JWT leaked"
        assert secret not in text


def test_an_unreachable_resource_graph_is_one_clear_error(tiny):
    import socket

    from acrlib.errors import RequestFailed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(RequestFailed, match=rf"CONNECTION_ERROR: cannot reach https://127.0.0.1:{closed}"):
        acrlib.collect(credential=tiny.credential(), arm_endpoint=f"https://127.0.0.1:{closed}",
                       connection_verify=tiny.ca_path, progress=False)


def test_a_resource_graph_refusal_names_the_code(tiny):
    from acrlib.errors import ArmError

    # ARM refuses a token it cannot verify; the error carries ARM's own code and message
    class Unverifiable:
        def get_token(self, *scopes, **kwargs):
            from azure.core.credentials import AccessToken

            return AccessToken("not-a-jwt", 4102444800)

    with pytest.raises(ArmError, match="InvalidAuthenticationToken"):
        acrlib.collect(credential=Unverifiable(), arm_endpoint=tiny.arm_endpoint, connection_verify=tiny.ca_path,
                       progress=False)
