"""Temporal's standard client configuration: a profile file (TEMPORAL_CONFIG_FILE,
TEMPORAL_PROFILE) and the TEMPORAL_* variables become the options every client of the engine
connects with, merged with its data converter and interceptors.

What a platform engineer sets for Temporal Cloud (an API key; or mTLS) and for a self-hosted
cluster with mTLS is checked option by option; then real connections: through a profile to the
dev server, and with mTLS through a TLS-terminating proxy in front of it (the dev server itself
has no TLS flags: `temporal server start-dev --help`), whose client certificates come from a CA
made here with `cryptography`. A client without a certificate is refused there, so the test
proves the certificate was presented, not just configured.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, Interceptor
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from codec.encryption import EncryptionCodec, generate_key
from service.settings import Settings, SettingsError
from tests.harness import free_port

REPO = Path(__file__).resolve().parents[2]


def address_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


# --- certificates -----------------------------------------------------------------------------


class Pki:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, as PEM files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "postinterview test CA")])
        now = dt.datetime.now(dt.UTC)
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca = self._write("ca.pem", ca.public_bytes(serialization.Encoding.PEM))

        def issue(name: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> tuple[Path, Path]:
            key = ec.generate_private_key(ec.SECP256R1())
            certificate = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256())
            )
            key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            return self._write(f"{name}.pem", certificate.public_bytes(serialization.Encoding.PEM)), self._write(f"{name}.key", key_pem)

        self.server_cert, self.server_key = issue(
            "temporal-frontend", ExtendedKeyUsageOID.SERVER_AUTH, [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        )
        self.client_cert, self.client_key = issue("postinterview-worker", ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName("postinterview-worker")])

    def _write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


# --- a profile file and the variables -> connect options ----------------------------------------


def write_profiles(path: Path, pki: Pki) -> Path:
    path.write_text(
        f"""
[profile.default]
address = "temporal.internal:7233"
namespace = "hiring"

[profile.cloud-api-key]
address = "us-east-1.aws.api.temporal.io:7233"
namespace = "hiring.a1b2c"
api_key = "cloud-api-key-from-the-profile"

[profile.cloud-mtls]
address = "hiring.a1b2c.tmprl.cloud:7233"
namespace = "hiring.a1b2c"
[profile.cloud-mtls.tls]
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"

[profile.self-hosted]
address = "temporal-frontend.temporal.svc:7233"
namespace = "hiring"
[profile.self-hosted.tls]
server_name = "temporal-frontend"
server_ca_cert_path = "{pki.ca}"
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"
""",
        encoding="utf-8",
    )
    return path


def test_without_profile_or_variables_the_local_default_server_plaintext():
    connection = Settings.from_env({}).temporal_connection()
    assert connection.config == {"target_host": "localhost:7233", "namespace": "default"}
    assert connection.security() == "plaintext" and connection.profile is None


def test_the_default_profile_of_the_named_file(tmp_path: Path, pki: Pki):
    file = write_profiles(tmp_path / "temporal.toml", pki)
    connection = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(file)}).temporal_connection()
    assert connection.config == {"target_host": "temporal.internal:7233", "namespace": "hiring"}
    assert connection.profile == "default"


def test_temporal_cloud_with_an_api_key_from_a_profile(tmp_path: Path, pki: Pki):
    file = write_profiles(tmp_path / "temporal.toml", pki)
    connection = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(file), "TEMPORAL_PROFILE": "cloud-api-key"}).temporal_connection()
    assert connection.config == {
        "target_host": "us-east-1.aws.api.temporal.io:7233",
        "namespace": "hiring.a1b2c",
        "api_key": "cloud-api-key-from-the-profile",
        "tls": True,  # an API key is only ever sent over TLS
    }
    assert connection.security() == "tls + api key"


def test_temporal_cloud_with_an_api_key_from_variables_and_a_mounted_secret(tmp_path: Path):
    key_file = tmp_path / "temporal-api-key"
    key_file.write_text("cloud-api-key-from-a-secret\n")
    settings = Settings.from_env(
        {"TEMPORAL_ADDRESS": "hiring.a1b2c.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "hiring.a1b2c", "TEMPORAL_API_KEY_FILE": str(key_file)}
    )
    config = settings.temporal_connection().config
    assert config["api_key"] == "cloud-api-key-from-a-secret" and config["tls"] is True
    assert (config["target_host"], config["namespace"]) == ("hiring.a1b2c.tmprl.cloud:7233", "hiring.a1b2c")


def test_temporal_cloud_mtls_profile_reads_the_certificate_and_key(tmp_path: Path, pki: Pki):
    file = write_profiles(tmp_path / "temporal.toml", pki)
    connection = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(file), "TEMPORAL_PROFILE": "cloud-mtls"}).temporal_connection()
    tls = connection.config["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == pki.client_cert.read_bytes() and tls.client_private_key == pki.client_key.read_bytes()
    assert tls.server_root_ca_cert is None, "Temporal Cloud's CA is a public one: the system roots"
    assert connection.security() == "mtls" and "api_key" not in connection.config


def test_self_hosted_mtls_with_its_own_ca_and_server_name(tmp_path: Path, pki: Pki):
    file = write_profiles(tmp_path / "temporal.toml", pki)
    connection = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(file), "TEMPORAL_PROFILE": "self-hosted"}).temporal_connection()
    tls = connection.config["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.domain == "temporal-frontend"
    assert tls.server_root_ca_cert == pki.ca.read_bytes()
    assert tls.client_cert == pki.client_cert.read_bytes() and tls.client_private_key == pki.client_key.read_bytes()


def test_mtls_from_variables_alone_as_kubernetes_mounts_them(pki: Pki):
    settings = Settings.from_env(
        {
            "TEMPORAL_ADDRESS": "temporal-frontend.temporal.svc:7233",
            "TEMPORAL_NAMESPACE": "hiring",
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca),
            "TEMPORAL_TLS_SERVER_NAME": "temporal-frontend",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(pki.client_cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(pki.client_key),
        }
    )
    tls = settings.temporal_connection().config["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.domain, tls.server_root_ca_cert, tls.client_cert, tls.client_private_key) == (
        "temporal-frontend",
        pki.ca.read_bytes(),
        pki.client_cert.read_bytes(),
        pki.client_key.read_bytes(),
    )


def test_variables_win_over_the_profile(tmp_path: Path, pki: Pki):
    file = write_profiles(tmp_path / "temporal.toml", pki)
    settings = Settings.from_env(
        {
            "TEMPORAL_CONFIG_FILE": str(file),
            "TEMPORAL_PROFILE": "cloud-api-key",
            "TEMPORAL_NAMESPACE": "staging.a1b2c",
            "TEMPORAL_API_KEY": "rotated-key",
        }
    )
    config = settings.temporal_connection().config
    assert (config["target_host"], config["namespace"], config["api_key"]) == ("us-east-1.aws.api.temporal.io:7233", "staging.a1b2c", "rotated-key")


def test_tls_switched_on_and_off_by_the_variable(tmp_path: Path, pki: Pki):
    assert Settings.from_env({"TEMPORAL_TLS": "true"}).temporal_connection().config["tls"] == TLSConfig()
    file = write_profiles(tmp_path / "temporal.toml", pki)
    off = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(file), "TEMPORAL_PROFILE": "self-hosted", "TEMPORAL_TLS": "0"})
    assert off.temporal_connection().config["tls"] is False


def test_blank_variables_count_as_unset_as_compose_passes_them(tmp_path: Path, pki: Pki):
    file = write_profiles(tmp_path / "temporal.toml", pki)
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(file), "TEMPORAL_ADDRESS": "", "TEMPORAL_API_KEY": "", "TEMPORAL_TLS": ""})
    assert settings.temporal_connection().config == {"target_host": "temporal.internal:7233", "namespace": "hiring"}


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"}, "TEMPORAL_CONFIG_FILE='/nonexistent/temporal.toml': no such file"),
        ({"TEMPORAL_PROFILE": "cloud"}, "TEMPORAL_CONFIG_FILE names no file"),
        ({"TEMPORAL_TLS": "maybe"}, "TEMPORAL_TLS='maybe'"),
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "/some/cert.pem"}, "a client certificate and its key go together"),
        (
            {"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/c.pem", "TEMPORAL_TLS_CLIENT_KEY_PATH": "/nonexistent/k.pem"},
            "cannot read '/nonexistent/",
        ),
    ],
)
def test_an_unusable_setting_is_named(environ: dict[str, str], named: str):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ).temporal_connection()
    assert named in str(caught.value)


def test_a_profile_the_file_lacks_and_a_broken_file_are_named(tmp_path: Path, pki: Pki):
    file = write_profiles(tmp_path / "temporal.toml", pki)
    with pytest.raises(SettingsError, match="TEMPORAL_PROFILE='production'.*production"):
        Settings.from_env({"TEMPORAL_CONFIG_FILE": str(file), "TEMPORAL_PROFILE": "production"}).temporal_connection()
    broken = tmp_path / "broken.toml"
    broken.write_text("[profile.default\n")
    with pytest.raises(SettingsError, match="broken.toml"):
        Settings.from_env({"TEMPORAL_CONFIG_FILE": str(broken)}).temporal_connection()


def test_client_options_merge_the_connection_with_the_codec_and_interceptors(tmp_path: Path, pki: Pki):
    file = write_profiles(tmp_path / "temporal.toml", pki)
    key = f"k1:{generate_key()}"
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(file), "TEMPORAL_PROFILE": "cloud-api-key", "PAYLOAD_ENCRYPTION_KEYS": key})

    class Tracing(Interceptor):
        pass

    tracing = Tracing()
    options = settings.temporal_client_options(interceptors=[tracing])
    assert options["target_host"] == "us-east-1.aws.api.temporal.io:7233" and options["api_key"] == "cloud-api-key-from-the-profile"
    assert options["interceptors"] == [tracing]
    codec = options["data_converter"].payload_codec
    assert isinstance(codec, EncryptionCodec) and codec.key_id == "k1"


def test_run_with_its_own_dev_server_ignores_profiles_and_certificates(tmp_path: Path, pki: Pki):
    file = write_profiles(tmp_path / "temporal.toml", pki)
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(file), "TEMPORAL_PROFILE": "self-hosted", "TEMPORAL_API_KEY": "k"})
    local = settings.model_copy(update={"temporal_address": "127.0.0.1:7233", "temporal": settings.temporal.model_copy(update={"local_dev_server": True})})
    assert local.temporal_connection().config == {"target_host": "127.0.0.1:7233", "namespace": "default"}


# --- real connections -----------------------------------------------------------------------------


async def test_a_profile_reaches_the_dev_server(dev_env: WorkflowEnvironment, tmp_path: Path):
    profile = tmp_path / "temporal.toml"
    profile.write_text(f'[profile.local]\naddress = "{address_of(dev_env)}"\nnamespace = "{dev_env.client.namespace}"\n')
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(profile), "TEMPORAL_PROFILE": "local"})
    client = await Client.connect(**settings.temporal_client_options())
    system = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert system.server_version
    assert client.namespace == dev_env.client.namespace

    # The CLI as an operator runs it, with nothing but the profile to find the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env |= {"PYTHONPATH": str(REPO), "TEMPORAL_CONFIG_FILE": str(profile), "TEMPORAL_PROFILE": "local", "COLUMNS": "200"}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "cli.main", "list"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr


@asynccontextmanager
async def mtls_proxy(upstream: str, pki: Pki) -> AsyncIterator[int]:
    """A TLS-terminating TCP proxy in front of the dev server, as an ingress or a service mesh
    terminates mTLS in front of a cluster: it requires a client certificate from the CA, speaks
    HTTP/2 (ALPN h2, as gRPC needs) and passes the bytes on to the plaintext frontend."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, _, port = upstream.rpartition(":")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    proxy_port = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", proxy_port, ssl=context)
    try:
        yield proxy_port
    finally:
        server.close()


async def test_mtls_through_a_profile_to_a_tls_terminating_frontend(dev_env: WorkflowEnvironment, tmp_path: Path, pki: Pki):
    async with mtls_proxy(address_of(dev_env), pki) as port:
        profile = tmp_path / "temporal.toml"
        profile.write_text(
            f"""
[profile.self-hosted]
address = "127.0.0.1:{port}"
namespace = "{dev_env.client.namespace}"
[profile.self-hosted.tls]
server_name = "localhost"
server_ca_cert_path = "{pki.ca}"
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"
"""
        )
        settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(profile), "TEMPORAL_PROFILE": "self-hosted"})
        assert settings.temporal_connection().security() == "mtls"
        client = await Client.connect(**settings.temporal_client_options())
        assert await client.service_client.check_health()
        handles = [w async for w in client.list_workflows(limit=1)]
        assert isinstance(handles, list)

        # Without its certificate the same client is refused: the proxy really asks for it.
        anonymous = Settings.from_env(
            {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca), "TEMPORAL_TLS_SERVER_NAME": "localhost"}
        )
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(Client.connect(**anonymous.temporal_client_options()), timeout=30)
