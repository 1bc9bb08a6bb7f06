"""``Ensign(...)`` construction: pyensign's credential rules and errors, go-ensign's
environment variables, the no-authentication mode for local servers, TLS by default, and
secrets kept out of reprs and messages."""

from __future__ import annotations

import json

import pytest

from pyensign_fast.ensign import Ensign
from pyensign_fast.exceptions import AuthenticationError, EnsignRPCError

ENV = (
    "ENSIGN_CLIENT_ID",
    "ENSIGN_CLIENT_SECRET",
    "ENSIGN_ENDPOINT",
    "ENSIGN_INSECURE",
    "ENSIGN_AUTH_URL",
    "ENSIGN_NO_AUTHENTICATION",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_credentials_from_arguments_and_environment(monkeypatch):
    Ensign(client_id="id", client_secret="secret")
    monkeypatch.setenv("ENSIGN_CLIENT_ID", "env-id")
    monkeypatch.setenv("ENSIGN_CLIENT_SECRET", "env-secret")
    Ensign()


def test_missing_credentials_are_value_errors():
    with pytest.raises(ValueError, match="client_id is required"):
        Ensign(client_secret="secret")
    with pytest.raises(ValueError, match="client_secret is required"):
        Ensign(client_id="id")


def test_credentials_must_be_strings():
    with pytest.raises(TypeError, match="client_id must be a string"):
        Ensign(client_id=42, client_secret="secret")
    with pytest.raises(TypeError, match="client_secret must be a string"):
        Ensign(client_id="id", client_secret=b"secret")


def test_credentials_file(tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"ClientID": "id", "ClientSecret": "secret"}))
    Ensign(cred_path=str(path))
    with pytest.raises(ValueError, match="Credentials file not found"):
        Ensign(cred_path=str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="Credentials file has invalid JSON"):
        Ensign(cred_path=str(bad))
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"ClientID": "id"}))
    with pytest.raises(ValueError, match="ClientSecret"):
        Ensign(cred_path=str(partial))


def test_endpoint_must_be_host_and_port():
    for endpoint in ("localhost", ":5356", "localhost:", ""):
        with pytest.raises(ValueError, match="Invalid address:port format"):
            Ensign(client_id="id", client_secret="secret", endpoint=endpoint)


def test_no_authentication_needs_no_credentials(monkeypatch):
    c = Ensign(endpoint="localhost:5356", insecure=True, auth_url="")
    assert c.auth_url is None
    Ensign(endpoint="localhost:5356", insecure=True, auth_url=None)
    monkeypatch.setenv("ENSIGN_NO_AUTHENTICATION", "yes")
    assert Ensign(endpoint="localhost:5356").auth_url is None


def test_go_ensign_environment_variables(monkeypatch):
    monkeypatch.setenv("ENSIGN_ENDPOINT", "ensign.example.com:5356")
    monkeypatch.setenv("ENSIGN_INSECURE", "true")
    monkeypatch.setenv("ENSIGN_AUTH_URL", "http://auth.example.com")
    c = Ensign(client_id="id", client_secret="secret")
    assert (c.endpoint, c.insecure, c.auth_url) == (
        "ensign.example.com:5356",
        True,
        "http://auth.example.com",
    )
    # Explicit arguments win over the environment.
    c = Ensign(client_id="id", client_secret="secret", endpoint="other:1", auth_url="http://x")
    assert (c.endpoint, c.auth_url) == ("other:1", "http://x")


def test_tls_is_on_by_default():
    assert Ensign(client_id="id", client_secret="secret").insecure is False


def test_secrets_stay_out_of_reprs():
    c = Ensign(client_id="the-id", client_secret="hunter2-secret")
    assert "hunter2-secret" not in repr(c)
    assert "hunter2-secret" not in repr(c._core)


async def test_tls_against_a_plaintext_server_fails_clearly(server, monkeypatch):
    c = Ensign(endpoint=server.endpoint, insecure=False, auth_url="")
    with pytest.raises(EnsignRPCError) as err:
        await c.create_topic("x")
    assert err.value.name == "UNAVAILABLE"
    await c.close()


async def test_authenticated_client_against_the_local_auth_server():
    from pyensign_fast.server import LocalEnsign

    async with LocalEnsign(auth=True) as srv:
        async with srv.client() as c:
            await c.create_topic("secured")
            from pyensign_fast.events import Event

            e = Event(b"{}", "application/json")
            await c.publish("secured", e)
            await e.wait_for_ack()
        wrong = srv.client(client_secret="not-the-secret")
        with pytest.raises(AuthenticationError) as err:
            await wrong.create_topic("nope")
        assert "not-the-secret" not in str(err.value)
        await wrong.close()
