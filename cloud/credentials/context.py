"""What the members API needs beyond the app's `AppContext`: the key vault and how to
publish a changed list. Read from the environment once, on first use.

`WAYSTATION_ISSUER_PASSPHRASE` / `…_FILE` open the sealed keys;
`WAYSTATION_PUBLISH_LISTS` (default true) publishes a changed list to `WAYSTATION_BROKER`.

Member administration is for ops accounts with the admin role (`cloud.api.members`). The
shared `WAYSTATION_ADMIN_TOKEN` it replaced is retired: a server that still finds it in its
environment refuses to start (`cloud.settings.refuse_retired`), rather than silently ignoring a
line an operator believes protects something.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.credentials.issuer import KeyVault
from cloud.credentials.keys import load_passphrase
from cloud.credentials.publisher import PublishError, publish_lists
from cloud.settings import refuse_retired
from protocol.broker import BrokerUrl

log = logging.getLogger(__name__)

Publish = Callable[[bytes | None, bytes | None], None]
# The API waits this long for the broker when a list changed; the list is in the database
# either way, and `waystation members publish-db` sends it again.
PUBLISH_TIMEOUT_S = 3.0


class CredentialSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WAYSTATION_", extra="ignore", frozen=True)

    publish_lists: bool = Field(default=True, description="publish changed lists on MQTT")
    enrol_valid_days: int = Field(default=28, ge=1, le=366, description="certificate days")


@dataclass
class CredentialContext:
    settings: CredentialSettings
    vault: KeyVault
    publish: Publish | None = None

    @classmethod
    def from_env(cls, broker: BrokerUrl | None) -> CredentialContext:
        refuse_retired()
        settings = CredentialSettings()
        publish: Publish | None = None
        if settings.publish_lists and broker is not None:

            def publish(trust: bytes | None, revocations: bytes | None) -> None:
                publish_lists(broker, trust, revocations, timeout_s=PUBLISH_TIMEOUT_S)

        return cls(settings, KeyVault(load_passphrase()), publish)

    def try_publish(self, trust: bytes | None, revocations: bytes | None) -> bool:
        """Publish; False (logged) if there is no broker or it did not take the lists."""
        if self.publish is None:
            return False
        try:
            self.publish(trust, revocations)
        except (PublishError, OSError) as exc:
            log.warning("signed lists kept in the database, not published: %s", exc)
            return False
        return True
