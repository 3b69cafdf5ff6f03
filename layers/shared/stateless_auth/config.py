"""Settings from the environment, validated once at start-up (docs/configuration.md).

No process-wide cache: each handler module calls `load_settings()` once, at import, and
passes what it needs on. A function imported under another environment (the local API
imports each function under its own) gets settings of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from stateless_auth.domain.errors import ConfigError


@dataclass(frozen=True)
class IntSetting:
    name: str
    default: int
    low: int
    high: int


ACCESS_TOKEN_TTL = IntSetting("ACCESS_TOKEN_TTL_SECONDS", 900, 1, 86400)
REFRESH_TOKEN_TTL = IntSetting("REFRESH_TOKEN_TTL_SECONDS", 7776000, 1, 31536000)
MAX_FAILED_LOGINS = IntSetting("MAX_FAILED_LOGINS", 5, 1, 100)
LOCKOUT_SECONDS = IntSetting("LOCKOUT_SECONDS", 300, 1, 86400)
PASSWORD_MIN_LENGTH = IntSetting("PASSWORD_MIN_LENGTH", 15, 8, 64)
KEYS_REFRESH_SECONDS = IntSetting("KEYS_REFRESH_SECONDS", 300, 1, 3600)
JWKS_MAX_AGE = IntSetting("JWKS_MAX_AGE_SECONDS", 3600, 0, 21600)
VERIFY_EMAIL_TTL = IntSetting("VERIFY_EMAIL_TTL_SECONDS", 86400, 300, 604800)
PASSWORD_RESET_TTL = IntSetting("PASSWORD_RESET_TTL_SECONDS", 1800, 300, 86400)
MAX_EMAILS_PER_HOUR = IntSetting("MAX_EMAILS_PER_HOUR", 5, 1, 100)
EMAIL_VERIFICATION_MODES = ("required", "optional")
MFA_MODES = ("optional", "required")


def _int(env: Mapping[str, str], setting: IntSetting) -> int:
    raw = env.get(setting.name, "").strip()
    if raw == "":
        return setting.default
    try:
        value = int(raw, 10)
    except ValueError:
        raise ConfigError(f"{setting.name}={raw!r} is not a whole number") from None
    if not setting.low <= value <= setting.high:
        raise ConfigError(f"{setting.name}={value} is out of range {setting.low}-{setting.high}")
    return value


def _origins(raw: str) -> frozenset[str]:
    origins = set()
    for item in raw.split(","):
        origin = item.strip().rstrip("/").lower()
        if not origin:
            continue
        if "://" not in origin or origin == "*":
            raise ConfigError(
                f"ALLOWED_ORIGINS entry {item.strip()!r} is not an origin like https://app.example.com"
            )
        origins.add(origin)
    return frozenset(origins)


def _email_from(raw: str) -> str:
    value = raw.strip()
    local, _, domain = value.partition("@")
    if value and (
        value.count("@") != 1 or not local or not domain or any(c.isspace() for c in value)
    ):
        raise ConfigError(f"EMAIL_FROM={value!r} is not an email address")
    return value


def _app_url(raw: str) -> str:
    """Where links in emails point: an http(s) URL with no query or fragment (the links
    append `/verify-email#token=...`)."""
    value = raw.strip().rstrip("/")
    if not value:
        return ""
    if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
        raise ConfigError(
            f"APP_URL={value!r} must be an http(s) URL without query or fragment, such as"
            " https://app.example.com"
        )
    if any(c.isspace() for c in value):
        raise ConfigError(f"APP_URL={value!r} must not contain whitespace")
    return value


@dataclass(frozen=True)
class Settings:
    """Every setting of docs/configuration.md plus the names of the resources a function
    uses."""

    access_token_ttl: int
    refresh_token_ttl: int
    max_failed_logins: int
    lockout_seconds: int
    password_min_length: int
    allowed_origins: frozenset[str]
    jwt_issuer: str
    jwt_issuer_secret_id: str
    jwt_audience: str
    keys_refresh_seconds: int
    jwks_max_age: int
    users_table: str
    sessions_table: str
    signing_keys_secret_id: str
    public_keys_secret_id: str
    # The KMS key the signing key secret must be encrypted with (the rotation function's).
    signing_keys_kms_key_id: str
    # Email (CONTRACT §5, §7): whether unverified accounts may log in, link lifetimes,
    # the per-address mail limit, the sender, where links point, the mail queue.
    email_verification_required: bool = True
    verify_email_ttl: int = VERIFY_EMAIL_TTL.default
    password_reset_ttl: int = PASSWORD_RESET_TTL.default
    max_emails_per_hour: int = MAX_EMAILS_PER_HOUR.default
    email_from: str = ""
    app_url: str = ""
    mail_queue_url: str = ""
    # The second factor: whether every account must have one (MFA=required), and whether
    # this function is the enrolment authorizer (which also takes enrolment tokens).
    mfa_required: bool = False
    accept_mfa_enrollment_tokens: bool = False

    def require(self, attribute: str) -> str:
        """The named resource setting, or a ConfigError naming its variable."""
        value: str = getattr(self, attribute)
        if not value:
            raise ConfigError(f"{attribute.upper()} must be set for this function")
        return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate the settings (of `env`, else this process's environment);
    raises ConfigError with a clear message."""
    env = os.environ if env is None else env
    audience = env.get("JWT_AUDIENCE", "").strip()
    if not audience:
        raise ConfigError("JWT_AUDIENCE must be set (the stack and the local API set it)")
    issuer = env.get("JWT_ISSUER", "").strip().rstrip("/")
    if issuer and not issuer.startswith(("https://", "http://")):
        raise ConfigError(f"JWT_ISSUER={issuer!r} must be a URL (or empty)")
    mode = env.get("EMAIL_VERIFICATION", "").strip().lower() or "required"
    if mode not in EMAIL_VERIFICATION_MODES:
        raise ConfigError(f"EMAIL_VERIFICATION={mode!r} must be 'required' or 'optional'")
    mfa_mode = env.get("MFA", "").strip().lower() or "optional"
    if mfa_mode not in MFA_MODES:
        raise ConfigError(f"MFA={mfa_mode!r} must be 'optional' or 'required'")
    enrollment_tokens = env.get("ACCEPT_MFA_ENROLLMENT_TOKENS", "").strip().lower() or "false"
    if enrollment_tokens not in ("true", "false"):
        raise ConfigError(
            f"ACCEPT_MFA_ENROLLMENT_TOKENS={enrollment_tokens!r} must be 'true' or 'false'"
        )
    return Settings(
        access_token_ttl=_int(env, ACCESS_TOKEN_TTL),
        refresh_token_ttl=_int(env, REFRESH_TOKEN_TTL),
        max_failed_logins=_int(env, MAX_FAILED_LOGINS),
        lockout_seconds=_int(env, LOCKOUT_SECONDS),
        password_min_length=_int(env, PASSWORD_MIN_LENGTH),
        allowed_origins=_origins(env.get("ALLOWED_ORIGINS", "")),
        jwt_issuer=issuer,
        jwt_issuer_secret_id=env.get("JWT_ISSUER_SECRET_ID", "").strip(),
        jwt_audience=audience,
        keys_refresh_seconds=_int(env, KEYS_REFRESH_SECONDS),
        jwks_max_age=_int(env, JWKS_MAX_AGE),
        users_table=env.get("USERS_TABLE", "").strip(),
        sessions_table=env.get("SESSIONS_TABLE", "").strip(),
        signing_keys_secret_id=env.get("SIGNING_KEYS_SECRET_ID", "").strip(),
        public_keys_secret_id=env.get("PUBLIC_KEYS_SECRET_ID", "").strip(),
        signing_keys_kms_key_id=env.get("SIGNING_KEYS_KMS_KEY_ID", "").strip(),
        email_verification_required=mode == "required",
        verify_email_ttl=_int(env, VERIFY_EMAIL_TTL),
        password_reset_ttl=_int(env, PASSWORD_RESET_TTL),
        max_emails_per_hour=_int(env, MAX_EMAILS_PER_HOUR),
        email_from=_email_from(env.get("EMAIL_FROM", "")),
        app_url=_app_url(env.get("APP_URL", "")),
        mail_queue_url=env.get("MAIL_QUEUE_URL", "").strip(),
        mfa_required=mfa_mode == "required",
        accept_mfa_enrollment_tokens=enrollment_tokens == "true",
    )
