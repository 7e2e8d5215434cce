"""The settings model: every variable read from the environment once, secrets also from files
(NAME_FILE, as containers mount them), defaults when unset, errors that name the variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from domain.contract import TASK_QUEUE
from service.settings import DEFAULT_DATABASE_URL, Settings, SettingsError, WorkerOptions, environment_variables

SECRETS = [
    "PAYLOAD_ENCRYPTION_KEYS",
    "LINK_SIGNING_KEYS",
    "GREENHOUSE_WEBHOOK_SECRET",
    "LEVER_WEBHOOK_SIGNATURE_TOKEN",
    "ASHBY_WEBHOOK_SECRET",
    "EVENTS_WEBHOOK_SECRET",
    "CODEC_SERVER_TOKEN",
    "SMTP_PASSWORD",
    "SLACK_WEBHOOK_URL",
    "GREENHOUSE_HARVEST_API_KEY",
    "LEVER_API_KEY",
    "ASHBY_API_KEY",
]


def test_defaults_when_nothing_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config/policy.toml here: the default policy file is not used
    settings = Settings.from_env({})
    assert (settings.temporal_address, settings.temporal_namespace, settings.task_queue) == ("localhost:7233", "default", TASK_QUEUE)
    assert settings.database_url == DEFAULT_DATABASE_URL and settings.policy_file is None and settings.log_level == "INFO"
    assert settings.worker.options() == WorkerOptions()
    assert settings.links.signer() is None and settings.links.ttl() == timedelta(days=14)
    assert settings.payload_codec() is None and not settings.channels().configured
    assert settings.inbox.temporal_ui_url is None and settings.intake.secrets() == {}
    assert settings.intake.forwarder_max_attempts() == 12
    assert settings.codec_server.allowed_origins() == ("http://localhost:8233",) and settings.codec_server.bearer_token() is None
    # Settings(...) is what it is given plus the defaults; it never reads the environment itself.
    monkeypatch.setenv("TEMPORAL_ADDRESS", "elsewhere:7233")
    assert Settings().temporal_address == "localhost:7233"


def test_the_default_policy_file_is_used_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "policy.toml").write_text("")
    assert Settings.from_env({}).policy_file == Path("config/policy.toml")
    assert Settings.from_env({"POLICY_FILE": "/etc/policy.toml"}).policy_file == Path("/etc/policy.toml")


def test_values_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TEMPORAL_ADDRESS": "temporal:7233",
            "TEMPORAL_NAMESPACE": "hiring",
            "TASK_QUEUE": "q",
            "DATABASE_URL": "postgresql+psycopg://db/x",
            "LOG_LEVEL": "debug",
            "TEMPORAL_UI_URL": "http://ui:8080",
            "WORKER_TUNER": "resource-based",
            "LINK_SIGNING_KEYS": "new, old",
            "PUBLIC_BASE_URL": "https://jobs.example",
            "GREENHOUSE_WEBHOOK_SECRET": "gh",
            "SMTP_HOST": "smtp.example",
            "SMTP_FROM": "talent@agency.example",
            "LEVER_API_KEY": "lk",
            "LEVER_NOTES_USER_ID": "u1",
            "INTAKE_MAX_ATTEMPTS": "5",
            "UNRELATED": "ignored",
        }
    )
    assert (settings.temporal_address, settings.temporal_namespace, settings.task_queue) == ("temporal:7233", "hiring", "q")
    assert settings.database_url == "postgresql+psycopg://db/x" and settings.log_level == "DEBUG"
    assert settings.inbox.temporal_ui_url == "http://ui:8080" and settings.worker.options().tuner == "resource-based"
    signer = settings.links.signer()
    assert signer is not None and signer.base_url == "https://jobs.example" and settings.links.keys() == ["new", "old"]
    assert settings.intake.secrets() == {"GREENHOUSE_WEBHOOK_SECRET": "gh"} and settings.intake.forwarder_max_attempts() == 5
    channels = settings.channels()
    assert channels.smtp is not None and channels.smtp.host == "smtp.example"
    assert settings.ats.vendor_settings() == {"LEVER_API_KEY": "lk", "LEVER_NOTES_USER_ID": "u1"}


@pytest.mark.parametrize("name", SECRETS)
def test_every_secret_may_come_from_a_file(name: str, tmp_path: Path) -> None:
    assert name in environment_variables(secrets_only=True)
    secret = tmp_path / "secret"
    secret.write_text("from-the-file\n")
    from_file = Settings.from_env({f"{name}_FILE": str(secret)})
    from_env = Settings.from_env({name: "from-the-file"})
    assert from_file == from_env
    # A blank NAME (compose passes `${NAME:-}` through) does not count as set.
    assert Settings.from_env({name: "", f"{name}_FILE": str(secret)}) == from_env


def test_secrets_read_from_files_reach_the_components(tmp_path: Path) -> None:
    (tmp_path / "link-keys").write_text("k-new,k-old\n")
    (tmp_path / "smtp-password").write_text("p4ss")
    settings = Settings.from_env(
        {
            "LINK_SIGNING_KEYS_FILE": str(tmp_path / "link-keys"),
            "SMTP_HOST": "smtp.example",
            "SMTP_FROM": "talent@agency.example",
            "SMTP_USERNAME": "talent",
            "SMTP_PASSWORD_FILE": str(tmp_path / "smtp-password"),
            "PUBLIC_BASE_URL": "https://jobs.example",
        }
    )
    assert settings.links.keys() == ["k-new", "k-old"]
    smtp = settings.channels().smtp
    assert smtp is not None and (smtp.username, smtp.password) == ("talent", "p4ss")
    assert "p4ss" not in repr(settings) and "k-new" not in repr(settings)


def test_a_secret_given_both_ways_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x")
    with pytest.raises(SettingsError, match="LINK_SIGNING_KEYS and LINK_SIGNING_KEYS_FILE are both set"):
        Settings.from_env({"LINK_SIGNING_KEYS": "y", "LINK_SIGNING_KEYS_FILE": str(secret)})


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SMTP_PASSWORD_FILE=.*missing.*cannot read it"):
        Settings.from_env({"SMTP_PASSWORD_FILE": str(tmp_path / "missing")})


def test_only_secrets_are_read_from_files(tmp_path: Path) -> None:
    file = tmp_path / "address"
    file.write_text("elsewhere:7233")
    assert Settings.from_env({"TEMPORAL_ADDRESS_FILE": str(file)}).temporal_address == "localhost:7233"


@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("WORKER_TUNER", "adaptive", "WORKER_TUNER='adaptive': use one of fixed, resource-based"),
        ("WORKER_MAX_CONCURRENT_ACTIVITIES", "many", "WORKER_MAX_CONCURRENT_ACTIVITIES='many' is not a whole number"),
        ("LINK_TTL_DAYS", "soon", "LINK_TTL_DAYS must be a number of days, not 'soon'"),
        ("SMTP_PORT", "smtp", "SMTP_PORT must be a port number, not 'smtp'"),
        ("PAYLOAD_ENCRYPTION_KEYS", "k1", "PAYLOAD_ENCRYPTION_KEYS entry 1 (k1) is not key_id:base64key"),
        ("INTAKE_MAX_ATTEMPTS", "0", "INTAKE_MAX_ATTEMPTS=0: must be at least 1"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_when_its_component_is_built(name: str, value: str, expected: str) -> None:
    settings = Settings.from_env({name: value, "SMTP_HOST": "h", "SMTP_FROM": "a@b"})  # reading never fails on a value
    build = {
        "WORKER_TUNER": lambda: settings.worker.options(),
        "WORKER_MAX_CONCURRENT_ACTIVITIES": lambda: settings.worker.options(),
        "LINK_TTL_DAYS": lambda: settings.links.ttl(),
        "SMTP_PORT": lambda: settings.channels(),
        "PAYLOAD_ENCRYPTION_KEYS": lambda: settings.payload_codec(),
        "INTAKE_MAX_ATTEMPTS": lambda: settings.intake.forwarder_max_attempts(),
    }[name]
    with pytest.raises(ValueError) as refused:
        build()
    assert expected in str(refused.value)


def test_the_ats_section_declares_every_setting_the_vendor_apis_look_up() -> None:
    from activities.ats_api import VENDORS
    from service.settings import AtsApiSection

    declared = set(environment_variables(AtsApiSection))
    for vendor in VENDORS.values():
        wanted = {vendor.key_setting, vendor.url_setting} | ({vendor.notes_user_setting} if vendor.notes_user_setting else set())
        assert wanted <= declared, f"{vendor.name}: {sorted(wanted - declared)} not in AtsApiSection"


def test_variables_added_by_the_local_run_are_checked_like_the_rest() -> None:
    settings = Settings.from_env({"TEMPORAL_NAMESPACE": "hiring", "LINK_TTL_DAYS": "3"})
    local = settings.with_variables({"LINK_SIGNING_KEYS": "local-key", "POSTINTERVIEW_LOCAL_RUN": "1", "DATABASE_URL": "sqlite:///x.sqlite3"})
    assert local.temporal_namespace == "hiring" and local.database_url == "sqlite:///x.sqlite3"
    assert local.links.keys() == ["local-key"] and local.links.ttl() == timedelta(days=3) and local.links.local_run == "1"
    assert "local-key" not in repr(local)
    assert "database_url" not in settings.model_fields_set and "database_url" in local.model_fields_set
    assert settings.with_variables({}) is settings
