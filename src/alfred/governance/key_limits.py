"""A key's own rpm/tpm limits for the rate-limit stage, which runs before auth in the seed's order.

The admin API sets ``rpm_limit``/``tpm_limit`` on a key; the rate-limit stage needs them before the
auth stage has filled ``call.identity``. This lookup asks the authenticator, whose per-process cache
answers in microseconds (and whose negative cache keeps a flood of bad keys off the database). A
credential the authenticator refuses yields ``None``: its bucket (the credential's keyed hash) is then
limited by the configured key default, and the auth stage refuses the call right after.
"""

from __future__ import annotations

from alfred.errors import AlfredError
from alfred.governance.authenticator import Authenticator
from alfred.pipeline.call import Call
from alfred.pipeline.rate_limit import KeyLimits, identity_key_limits
from alfred.routing.settings import RateValue


def key_limits_from(authenticator: Authenticator) -> KeyLimits:
    async def lookup(call: Call) -> RateValue | None:
        if call.identity.key_id is not None:  # auth already ran (a config that orders it first)
            return await identity_key_limits(call)
        try:
            identity = await authenticator.authenticate(call.headers)
        except AlfredError:
            return None
        rpm, tpm = identity.rpm_limit, identity.tpm_limit
        return RateValue(rpm=rpm, tpm=tpm) if rpm or tpm else None

    return lookup
