"""``RedisJobStore``: one Redis hash per job (``state``, ``tenant``, ``data``) with a TTL.

The compare-and-set on the state is a Lua script, so gateway processes and workers on other hosts
agree on which of two racing writers finished a job. Creating a job also pushes its id onto a list
capped with LTRIM (``{prefix}recent``), the only listing kept: the newest jobs for the admin API.
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

from alfred.images.jobs import RECENT_JOBS, ImageJob, JobState, decode_job, encode_job, scrubbed

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'tenant', ARGV[2], 'data', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('LPUSH', KEYS[2], ARGV[5])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
return 1
"""

_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return 0 end
for i = 4, #ARGV do
  if ARGV[i] == current then
    redis.call('HSET', KEYS[1], 'state', ARGV[1], 'data', ARGV[2])
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return 1
  end
end
return 0
"""


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class RedisJobStore:
    """Jobs as Redis hashes under ``{prefix}job:{id}``; every write refreshes the TTL."""

    def __init__(
        self,
        client: Redis,
        prefix: str = "alfred:images:",
        ttl_s: float = 7 * 24 * 3600,
        recent_max: int = RECENT_JOBS,
    ) -> None:
        self._client = client
        self._prefix = prefix + "job:"
        self._recent_key = prefix + "recent"
        self._recent_max = recent_max
        self._ttl_ms = str(max(1, math.ceil(ttl_s * 1000)))
        self._create = client.register_script(_CREATE)
        self._transition = client.register_script(_TRANSITION)

    async def create(self, job: ImageJob) -> None:
        data = encode_job(scrubbed(job.copy()))
        created = await self._create(
            keys=[self._prefix + job.id, self._recent_key],
            args=[job.state.value, job.tenant, data, self._ttl_ms, job.id, self._recent_max],
        )
        if not int(created):
            raise ValueError(f"job {job.id} already exists")

    async def get(self, job_id: str) -> ImageJob | None:
        data = await self._client.hget(self._prefix + job_id, "data")
        return None if data is None else decode_job(_bytes(data))

    async def get_for(self, tenant: str, job_id: str) -> ImageJob | None:
        owner, data = await self._client.hmget(self._prefix + job_id, ["tenant", "data"])
        if data is None or owner is None:
            return None
        owner_text = owner.decode() if isinstance(owner, bytes) else str(owner)
        return decode_job(_bytes(data)) if owner_text == tenant else None

    async def transition(self, job: ImageJob, allowed_from: frozenset[JobState]) -> bool:
        data = encode_job(scrubbed(job.copy()))
        args = [job.state.value, data, self._ttl_ms, *sorted(s.value for s in allowed_from)]
        return bool(int(await self._transition(keys=[self._prefix + job.id], args=args)))

    async def recent(self, limit: int) -> list[ImageJob]:
        count = min(limit, self._recent_max)
        if count <= 0:
            return []
        ids = await self._client.lrange(self._recent_key, 0, count - 1)
        async with self._client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(self._prefix + _bytes(job_id).decode(), "data")
            datas = await pipe.execute()
        return [decode_job(_bytes(data)) for data in datas if data is not None]

    async def close(self) -> None:
        return None  # the client belongs to whoever built it
