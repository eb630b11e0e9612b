-- Admit one request in every scope or in none (see proxy/ratelimit/redis_backend.py).
-- KEYS[1..n]  sorted sets, one per request scope: member = request id, score = time (s)
-- KEYS[n+1]   (when ARGV[3] ~= "") hash of token buckets: field = bucket index, value = tokens
-- ARGV[1] window (s)   ARGV[2] request id   ARGV[3] token limit or ""   ARGV[4..3+n] limits
-- Returns one string (one line to parse, not eight): "allowed refused retry_after best
-- best_remaining best_reset tokens_used tokens_reset"; refused is 0 (none), i (KEYS[i])
-- or n+1 (tokens); best is the scope with the least remaining; tokens_used is -1 without
-- a token check.
if redis.replicate_commands then redis.replicate_commands() end  -- Redis < 5: TIME before writes
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local cutoff = now - window
local ttl = math.ceil(window * 1000) + 1000
local n = #ARGV - 3
local refused, retry = 0, 0
local counts = {}
local best, best_rem = 0, 0

for i = 1, n do
  local key, limit = KEYS[i], tonumber(ARGV[3 + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  local c = redis.call('ZCARD', key)
  counts[i] = c
  if c >= limit then
    local e = redis.call('ZRANGE', key, c - limit, c - limit, 'WITHSCORES')
    local wait = tonumber(e[2]) + window - now
    if refused == 0 or wait > retry then refused, retry = i, wait end
  end
  if best == 0 or limit - c < best_rem then best, best_rem = i, limit - c end
end

local tok_used, tok_reset = -1, 0
if ARGV[3] ~= '' then
  local tkey, tlimit = KEYS[n + 1], tonumber(ARGV[3])
  local width = window / 60  -- TOKEN_BUCKETS in base.py
  local stale = cutoff / width - 1
  local raw = redis.call('HGETALL', tkey)
  local live = {}
  tok_used = 0
  for j = 1, #raw, 2 do
    local idx = tonumber(raw[j])
    if idx <= stale then
      redis.call('HDEL', tkey, raw[j])
    else
      local amount = tonumber(raw[j + 1])
      live[#live + 1] = {idx, amount}
      tok_used = tok_used + amount
    end
  end
  if #live > 0 then
    table.sort(live, function(a, b) return a[1] < b[1] end)
    tok_reset = (live[1][1] + 1) * width + window - now
  end
  if tok_used >= tlimit then
    local used = tok_used
    for j = 1, #live do
      used = used - live[j][2]
      if used < tlimit then
        local wait = (live[j][1] + 1) * width + window - now
        if refused == 0 or wait > retry then refused, retry = n + 1, wait end
        break
      end
    end
  end
end

local reset = 0
if refused == 0 then
  for i = 1, n do
    redis.call('ZADD', KEYS[i], now, ARGV[2])
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
  best_rem = best_rem - 1
end
if best > 0 then
  local e = redis.call('ZRANGE', KEYS[best], 0, 0, 'WITHSCORES')
  if #e > 0 then reset = tonumber(e[2]) + window - now end
end
return table.concat({refused == 0 and 1 or 0, refused, retry, best, best_rem, reset,
                     tok_used, tok_reset}, ' ')
