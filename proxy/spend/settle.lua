-- Settle a reservation: release it and add the actual cost to spent.
-- KEYS: per budget, its state hash and its reservations' expiry set.
-- ARGV: reservation id, actual cost (nano-dollars).
-- A hash without 'spent' (Redis lost it) is left alone: the database has the cost and
-- the next reservation reloads the state from there.
local rid, actual = ARGV[1], tonumber(ARGV[2])
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local held = redis.call('HGET', h, 'r:' .. rid)
  if held then
    redis.call('HINCRBY', h, 'reserved', -tonumber(held))
    redis.call('HDEL', h, 'r:' .. rid)
    redis.call('ZREM', z, rid)
  end
  if actual > 0 and redis.call('HEXISTS', h, 'spent') == 1 then
    redis.call('HINCRBY', h, 'spent', actual)
  end
end
return 1
