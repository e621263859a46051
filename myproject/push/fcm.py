"""FCM sender: data-only "poll now" messages through pyfcm 2 (HTTP v1).

pyfcm is synchronous (requests) and blocks: it sleeps in the calling thread
on ``Retry-After`` (and then tries again, without bound), and its urllib3
adapter retries 502/503 up to ten times with backoff.  So this sender runs
pyfcm in its own thread pool, never on the event loop, and makes one send
one HTTP request (``_OneShotFCM``): retrying, with backoff and
``Retry-After``, is the dispatcher's job.

Authentication is pyfcm's: Google service-account credentials that sign a
JWT and trade it for an access token at the file's ``token_uri``.  Tests
write a service-account file whose ``token_uri`` is the fake server's, and
point pyfcm's ``FCM_END_POINT_BASE`` at the fake with ``server``.
"""
import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import requests
from google.oauth2 import service_account
from pyfcm import FCMNotification
from pyfcm.errors import InvalidDataError
from pyramid.exceptions import ConfigurationError
from requests.adapters import HTTPAdapter
from zope.interface import implementer

from .backoff import parse_retry_after
from .sender import SENT, ISender, Outcome, Result, collapse_id

logger = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"

#: FCM error codes meaning the token will never work again.
DEAD_TOKEN_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
#: FCM error codes worth another try later.
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "QUOTA_EXCEEDED", "INTERNAL"})


def message_options(user_id, generation):
    """Return pyfcm ``notify``/``parse_payload`` keywords for a sync push."""
    key = collapse_id(user_id)
    return {
        "data_payload": {"type": "sync", "generation": str(generation)},
        "android_config": {"collapse_key": key, "priority": "normal"},
        "apns_config": {
            "headers": {
                "apns-priority": "5",
                "apns-push-type": "background",
                "apns-collapse-id": key,
            },
            "payload": {"aps": {"content-available": 1}},
        },
    }


def classify(status, body, headers):
    """Return the ``Result`` of an FCM v1 answer (``body`` as parsed JSON)."""
    if status == 200:
        return SENT
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    details = [d for d in error.get("details") or () if isinstance(d, dict)]
    codes = {d.get("errorCode") for d in details} - {None}
    reason = ",".join(sorted(codes)) or str(error.get("status") or "")
    if codes & DEAD_TOKEN_CODES:
        return Result(Outcome.PRUNE, status, reason)
    if status == 400 and _names_the_token(error, details):
        return Result(Outcome.PRUNE, status, "invalid registration token")
    if status == 429 or status >= 500 or codes & TRANSIENT_CODES:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return Result(Outcome.RETRY, status, reason, retry_after)
    return Result(Outcome.FAIL, status, reason)


def _names_the_token(error, details):
    """Return whether an INVALID_ARGUMENT error is about the token itself."""
    for detail in details:
        for violation in detail.get("fieldViolations") or ():
            if isinstance(violation, dict) and violation.get("field") == "message.token":
                return True
    return "registration token" in str(error.get("message", "")).lower()


class _OneShotFCM(FCMNotification):
    """pyfcm's client, one HTTP request per send, the response returned as is."""

    def send_request(self, payload=None, timeout=None):
        """Return the ``requests`` response of one POST (re-authenticating once
        on ACCESS_TOKEN_EXPIRED, as pyfcm does); never sleeps."""
        response = self.requests_session.post(
            self.fcm_end_point, data=payload, timeout=timeout)
        if self._is_access_token_expired(response):
            self.thread_local.token_expiry = 0
            response = self.requests_session.post(
                self.fcm_end_point, data=payload, timeout=timeout)
        return response


@implementer(ISender)
class FCMSender:
    """Sends data-only messages to FCM with a service account.

    ``project_id``, when given, wins over the file's.  ``server`` replaces
    ``https://fcm.googleapis.com`` (tests).  Raises ``ValueError`` for a
    file that is not a service-account key.
    """

    name = "fcm"
    timeout = None   # the dispatcher's send_timeout applies

    def __init__(self, *, service_account_file, project_id=None, server=None,
                 timeout=10.0, workers=4):
        with open(service_account_file, encoding="utf-8") as f:
            info = json.load(f)
        if project_id:
            info["project_id"] = project_id
        credentials = service_account.Credentials.from_service_account_info(
            info, scopes=[SCOPE])
        if not credentials.project_id:
            raise ValueError("no project id in the settings or the file")
        self._client = _OneShotFCM(
            credentials=credentials,
            adapter=HTTPAdapter(max_retries=0, pool_maxsize=workers),
        )
        if server:
            self._client.FCM_END_POINT_BASE = server.rstrip("/") + "/v1/projects"
        self._project_id = credentials.project_id
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="push-fcm")

    def __repr__(self):
        return f"<FCMSender project={self._project_id!r}>"

    async def send(self, user_id, generation, device):
        """Return the ``Result`` of one message to ``device`` (sent off the loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self.send_blocking, user_id, generation,
            device.token)

    def send_blocking(self, user_id, generation, token):
        """Send one message from the calling thread; return its ``Result``."""
        body = self._client.parse_payload(
            fcm_token=token, **message_options(user_id, generation))
        try:
            response = self._client.send_request(body, self._timeout)
        except requests.RequestException as exc:
            return Result(Outcome.RETRY, None, type(exc).__name__)
        except InvalidDataError as exc:
            # pyfcm wraps every failure to get an access token in this.
            logger.warning("fcm: no access token: %s", exc)
            return Result(Outcome.RETRY, None, "no access token")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return classify(response.status_code, answer, response.headers)

    async def close(self):
        """Stop the worker threads (a request in progress finishes alone)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def sender_from_settings(settings):
    """Return an ``FCMSender`` from the parsed ``myproject.push.fcm.*``.

    Raises ``ConfigurationError`` for an unreadable or unusable file.
    """
    key = "myproject.push.fcm.service_account_file"
    path = settings.push_fcm_service_account_file
    try:
        return FCMSender(
            service_account_file=path,
            project_id=settings.push_fcm_project_id or None,
            server=settings.push_fcm_server or None,
            timeout=settings.push_fcm_timeout,
            workers=settings.push_fcm_workers)
    except OSError as exc:
        raise ConfigurationError(
            f"{key}: cannot read {path} ({type(exc).__name__})") from None
    except ValueError as exc:
        raise ConfigurationError(f"{key} {path}: {exc}") from None
