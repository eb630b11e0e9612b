-- Reserve ARGV[2] nano-dollars against every budget, or against none.
-- KEYS: per budget, its state hash and its reservations' expiry set.
-- ARGV: reservation id, amount, seconds a reservation is held at most, then per budget:
--       limit, unix time the state may expire at (0: never), seed ('' when unknown).
-- Hash fields: spent, reserved, r:<id> = amount. Expired reservations (a replica that
-- died mid-request) are released first. Reply: {1} admitted; {0, i, remaining} budget i
-- does not fit; {2, i} budget i has no state here yet: call again with its seed from the
-- database; {3} this reservation was settled before it ran (its caller gave up waiting
-- for it): nothing is reserved.
local now = tonumber(redis.call('TIME')[1])
local rid, amount, hold = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = #KEYS / 2
if redis.call('ZSCORE', KEYS[2], 'x:' .. rid) then
  return {3}
end
for i = 1, n do
  local h, z, a = KEYS[2 * i - 1], KEYS[2 * i], 3 + 3 * (i - 1)
  if redis.call('HEXISTS', h, 'spent') == 0 then
    if ARGV[a + 3] == '' then
      return {2, i}
    end
    redis.call('HSET', h, 'spent', ARGV[a + 3], 'reserved', 0)
    if tonumber(ARGV[a + 2]) > 0 then
      redis.call('EXPIREAT', h, ARGV[a + 2])
    end
  end
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, id in ipairs(old) do
    local held = redis.call('HGET', h, 'r:' .. id)
    if held then
      redis.call('HINCRBY', h, 'reserved', -tonumber(held))
      redis.call('HDEL', h, 'r:' .. id)
    end
    redis.call('ZREM', z, id)
  end
  local spent = tonumber(redis.call('HGET', h, 'spent'))
  local reserved = tonumber(redis.call('HGET', h, 'reserved') or '0')
  local limit = tonumber(ARGV[a + 1])
  if spent + reserved + amount > limit then
    return {0, i, tostring(limit - spent - reserved)}
  end
end
for i = 1, n do
  local h, z, a = KEYS[2 * i - 1], KEYS[2 * i], 3 + 3 * (i - 1)
  redis.call('HINCRBY', h, 'reserved', amount)
  redis.call('HSET', h, 'r:' .. rid, amount)
  redis.call('ZADD', z, now + hold, rid)
  local at = tonumber(ARGV[a + 2])
  if at > 0 then
    redis.call('EXPIREAT', z, math.max(at, now + hold))
  else
    redis.call('EXPIRE', z, hold + 60)
  end
end
return {1}
