"""A sender that only logs what it would send (development, tests)."""
import logging

from zope.interface import implementer

from .sender import SENT, ISender, token_hash

logger = logging.getLogger(__name__)


@implementer(ISender)
class LogSender:
    """Logs each push at INFO, naming the device by a hash of its token."""

    name = "log"
    timeout = None   # the dispatcher's send_timeout applies

    async def send(self, user_id, generation, device):
        """Return ``SENT`` after logging the push."""
        logger.info(
            "push (log only): user %s generation %d -> %s device %s (%s)",
            user_id, generation, device.platform, token_hash(device.token),
            device.environment)
        return SENT

    async def close(self):
        """Nothing to release."""
