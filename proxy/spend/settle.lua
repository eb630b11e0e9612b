-- Settle a reservation: release it and add the actual cost to spent.
-- KEYS: per budget, its state hash and its reservations' expiry set.
-- ARGV: reservation id, actual cost (nano-dollars), seconds a reservation is held at most.
-- A hash without 'spent' (Redis lost it) is left alone: the database has the cost and
-- the next reservation reloads the state from there. A reservation not held here (its
-- script has not run, or never will) leaves the mark 'x:<id>' in the expiry set for
-- 'hold' seconds: reserve.lua then reserves nothing for it.
local rid, actual, hold = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = tonumber(redis.call('TIME')[1])
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local held = redis.call('HGET', h, 'r:' .. rid)
  if held then
    redis.call('HINCRBY', h, 'reserved', -tonumber(held))
    redis.call('HDEL', h, 'r:' .. rid)
    redis.call('ZREM', z, rid)
  else
    redis.call('ZADD', z, now + hold, 'x:' .. rid)
    if redis.call('TTL', z) < 0 then
      redis.call('EXPIRE', z, hold + 60)
    end
  end
  if actual > 0 and redis.call('HEXISTS', h, 'spent') == 1 then
    redis.call('HINCRBY', h, 'spent', actual)
  end
end
return 1
