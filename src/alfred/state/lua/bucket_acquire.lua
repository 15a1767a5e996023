-- Token buckets, all-or-nothing: take every charge or none, in one atomic step.
-- KEYS[i]: bucket i (a hash: t = tokens, ts = last update in seconds).
-- ARGV[1]: now in seconds, or "" to use the server's clock (one clock for every gateway process).
-- ARGV[2 + 3(i-1) ..]: capacity, period_s, cost of charge i.
-- Returns {allowed, then per charge: remaining, reset_ms, retry_ms (-1: never fits)}.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local n = #KEYS
local levels, caps, rates, costs = {}, {}, {}, {}
local seen = {}
local fits = true
for i = 1, n do
  local cap = tonumber(ARGV[3 * i - 1])
  local rate = cap / tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local level = seen[KEYS[i]]
  if level == nil then
    local state = redis.call('HMGET', KEYS[i], 't', 'ts')
    if state[1] then
      local elapsed = math.max(0, now - tonumber(state[2]))
      level = math.min(cap, tonumber(state[1]) + elapsed * rate)
    else
      level = cap
    end
  end
  caps[i], rates[i], costs[i], levels[i] = cap, rate, cost, level
  if cost > level + 1e-9 then
    fits = false
    seen[KEYS[i]] = level
  else
    seen[KEYS[i]] = level - cost
  end
end
-- whole milliseconds, rounded up (with slack for float noise, so 0.999 s does not read as 1 s)
local function ms(seconds) return math.ceil(seconds * 1000 - 1e-6) end
local out = {fits and 1 or 0}
for i = 1, n do
  local level = levels[i]
  local retry = 0
  if fits then
    level = level - costs[i]
    redis.call('HSET', KEYS[i], 't', string.format('%.17g', level), 'ts', string.format('%.17g', now))
    redis.call('PEXPIRE', KEYS[i], math.ceil((caps[i] - level) / rates[i] * 1000) + 1000)
  elseif costs[i] > caps[i] then
    retry = -1
  elseif costs[i] > level + 1e-9 then
    retry = ms((costs[i] - level) / rates[i])
  end
  out[#out + 1] = math.floor(math.max(0, level) + 1e-9)
  out[#out + 1] = ms((caps[i] - level) / rates[i])
  out[#out + 1] = retry
end
return out
