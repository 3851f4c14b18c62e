"""Settings read from ENTITLEMENTS_* environment variables, validated once at start-up.

settings.py is the table of variables, values.py parses one value, secret_key.py judges the
secret key, loader.py builds the Config.
"""

from .loader import Config, load_config
from .secret_key import SECRET_KEY_BITS
from .settings import ENVIRONMENTS, SETTINGS, Setting
from .values import ConfigError, parse_duration

__all__ = [
    "ENVIRONMENTS",
    "SECRET_KEY_BITS",
    "SETTINGS",
    "Config",
    "ConfigError",
    "Setting",
    "load_config",
    "parse_duration",
]
