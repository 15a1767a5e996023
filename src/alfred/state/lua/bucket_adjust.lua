-- Token-bucket corrections (reservation → real usage): apply every charge unconditionally.
-- A positive cost may take a bucket below zero (debt, repaid by refill); a negative one refunds,
-- never past capacity. KEYS and ARGV as in bucket_acquire.lua.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
for i = 1, #KEYS do
  local cap = tonumber(ARGV[3 * i - 1])
  local rate = cap / tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local state = redis.call('HMGET', KEYS[i], 't', 'ts')
  local level = cap
  if state[1] then
    local elapsed = math.max(0, now - tonumber(state[2]))
    level = math.min(cap, tonumber(state[1]) + elapsed * rate)
  end
  level = math.min(cap, level - cost)
  redis.call('HSET', KEYS[i], 't', string.format('%.17g', level), 'ts', string.format('%.17g', now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((cap - level) / rate * 1000) + 1000)
end
return #KEYS
