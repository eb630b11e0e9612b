-- Add reported token usage to the current bucket (see proxy/ratelimit/redis_backend.py).
-- KEYS[1] hash of token buckets; ARGV[1] window (s); ARGV[2] tokens
if redis.replicate_commands then redis.replicate_commands() end  -- Redis < 5: TIME before writes
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local width = window / 60  -- TOKEN_BUCKETS in base.py
local idx = math.floor(now / width)
redis.call('HINCRBY', KEYS[1], string.format('%d', idx), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + math.ceil(width * 1000) + 1000)
return 1
