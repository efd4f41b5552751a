"""The gateway's config: one loader, typed values, errors that name file, key and reason."""

from gateway.config.errors import ConfigError
from gateway.config.loader import (
    CONFIG_ENV,
    CarbonSettings,
    GatewayConfig,
    GatewaySettings,
    default_config_path,
    load_config,
    parse_config,
)
from gateway.config.models import ModelEntry
from gateway.config.observability import ObservabilitySettings
from gateway.config.secrets import Secret, resolve_secret
from gateway.config.store import StoreSettings
from gateway.config.tenants import StaticTenant

__all__ = [
    "CONFIG_ENV",
    "CarbonSettings",
    "ConfigError",
    "GatewayConfig",
    "GatewaySettings",
    "ModelEntry",
    "ObservabilitySettings",
    "Secret",
    "StaticTenant",
    "StoreSettings",
    "default_config_path",
    "load_config",
    "parse_config",
    "resolve_secret",
]
