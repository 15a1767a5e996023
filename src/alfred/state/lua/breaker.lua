-- The circuit breaker's state machine for one deployment, applied atomically.
-- The same machine, line for line, is MemoryBreakerStore in memory.py; tests hold both to one model.
-- KEYS[1]: the breaker's hash; KEYS[2]: its transition log (a list, newest first).
-- ARGV: op (allow | record | force | status), now ("" = server clock), slot_s, buckets,
--       failure_threshold ("" = none), error_rate_threshold ("" = none), min_requests, cooldown_s,
--       probe_timeout_s, history, then op arguments: record: success, probe (0/1); force: open | closed | none.
-- Hash fields: st (closed | open | half_open), fo (1 when pinned by an admin), oa (opened at),
--              pu (probe claimed until), and the window ring: i<k> (slot index), s<k>, f<k>.
local op = ARGV[1]
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local slot_s = tonumber(ARGV[3])
local buckets = tonumber(ARGV[4])
local threshold = tonumber(ARGV[5])
local rate_threshold = tonumber(ARGV[6])
local min_requests = tonumber(ARGV[7])
local cooldown = tonumber(ARGV[8])
local probe_timeout = tonumber(ARGV[9])
local history = tonumber(ARGV[10])
local key, log = KEYS[1], KEYS[2]

local function num(s) return string.format('%.17g', s) end

local raw = redis.call('HMGET', key, 'st', 'fo', 'oa', 'pu')
local st = raw[1] or 'closed'
local forced = raw[2] == '1'
local opened_at = tonumber(raw[3]) or 0
local probe_until = tonumber(raw[4]) or 0
local slot = math.floor(now / slot_s)

local function window()
  local s, f = 0, 0
  for k = 0, buckets - 1 do
    local v = redis.call('HMGET', key, 'i' .. k, 's' .. k, 'f' .. k)
    local idx = tonumber(v[1])
    if idx and idx > slot - buckets then
      s = s + (tonumber(v[2]) or 0)
      f = f + (tonumber(v[3]) or 0)
    end
  end
  return s, f
end

local function clear_window()
  for k = 0, buckets - 1 do
    redis.call('HDEL', key, 'i' .. k, 's' .. k, 'f' .. k)
  end
end

local function add(success)
  local k = slot % buckets
  if tonumber(redis.call('HGET', key, 'i' .. k)) ~= slot then
    redis.call('HSET', key, 'i' .. k, slot, 's' .. k, 0, 'f' .. k, 0)
  end
  redis.call('HINCRBY', key, success and ('s' .. k) or ('f' .. k), 1)
end

local function move(source, target, reason)
  redis.call('HSET', key, 'st', target)
  redis.call('LPUSH', log, num(now) .. '|' .. source .. '|' .. target .. '|' .. reason)
  redis.call('LTRIM', log, 0, history - 1)
  return {source, target, reason, num(now)}
end

local function reply(a, b, t)
  if t then return {a, b, t[1], t[2], t[3], t[4]} end
  return {a, b}
end

if op == 'allow' then
  if st == 'closed' then return reply(1, 0) end
  if st == 'open' then
    if forced or now < opened_at + cooldown then return reply(0, 0) end
    redis.call('HSET', key, 'pu', num(now + probe_timeout))
    return reply(1, 1, move('open', 'half_open', 'cooldown elapsed'))
  end
  if now >= probe_until then
    -- the last probe never reported: claim a fresh one rather than strand the deployment
    redis.call('HSET', key, 'pu', num(now + probe_timeout))
    return reply(1, 1)
  end
  return reply(0, 0)
end

if op == 'record' then
  local success = ARGV[11] == '1'
  local probe = ARGV[12] == '1'
  if st == 'closed' then
    add(success)
    if forced or success then return reply(0, 0) end
    local s, f = window()
    local total = s + f
    local reason = nil
    if threshold and f >= threshold then
      reason = f .. ' failures in window'
    elseif rate_threshold and total >= min_requests and total > 0 and f / total >= rate_threshold then
      reason = f .. ' of ' .. total .. ' failed in window'
    end
    if not reason then return reply(0, 0) end
    redis.call('HSET', key, 'oa', num(now), 'pu', 0)
    return reply(0, 0, move('closed', 'open', reason))
  end
  if st == 'half_open' and probe then
    redis.call('HSET', key, 'pu', 0)
    if success then
      clear_window()
      return reply(0, 0, move('half_open', 'closed', 'probe succeeded'))
    end
    redis.call('HSET', key, 'oa', num(now))
    return reply(0, 0, move('half_open', 'open', 'probe failed'))
  end
  return reply(0, 0)
end

if op == 'force' then
  local target = ARGV[11]
  clear_window()
  if target == 'open' then
    redis.call('HSET', key, 'fo', 1, 'oa', num(now), 'pu', 0)
    return reply(0, 0, move(st, 'open', 'forced open'))
  end
  redis.call('HSET', key, 'fo', target == 'closed' and 1 or 0, 'oa', 0, 'pu', 0)
  return reply(0, 0, move(st, 'closed', target == 'closed' and 'forced closed' or 'released'))
end

-- status
local s, f = window()
local effective = st
if st == 'open' and not forced and now >= opened_at + cooldown then effective = 'half_open' end
local probing = (st == 'half_open' and now < probe_until) and 1 or 0
local opened = ''
if st ~= 'closed' then opened = num(opened_at) end
return {effective, forced and 1 or 0, f, s, opened, probing}
