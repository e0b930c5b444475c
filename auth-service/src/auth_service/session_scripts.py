"""The Lua scripts of auth_service.session_store (keys and fields: its docstring). Each
runs in the slot of one user's `{u:<user id>}` hash tag; keys of other sessions of that user
are built in the script from the session key prefix passed in ARGV (same slot)."""

NOW = """
local clock = redis.call('TIME')
local now_s = tonumber(clock[1])
local now_ms = now_s * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: index, session, token. ARGV: sid, ttl_s, max sessions, ip, ua, amr, created
# ('' = now), session key prefix, auth_time ('' = created). Adopting an existing session
# (a legacy family's migration) only adds the token. Reply: {'created', evicted sid...}
# or {'revoked'}.
CREATE = NOW + """
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
local revoked = redis.call('HGET', KEYS[2], 'revoked')
if revoked and revoked ~= '' then return {'revoked'} end
if not revoked then
  local created = ARGV[7]
  if created == '' then created = now_s end
  local auth_time = ARGV[9]
  if not auth_time or auth_time == '' then auth_time = created end
  redis.call('HSET', KEYS[2], 'created', created, 'last_used', now_s, 'ip', ARGV[4],
             'ua', ARGV[5], 'amr', ARGV[6], 'auth_time', auth_time, 'revoked', '')
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('ZADD', KEYS[1], now_ms + ttl * 1000, ARGV[1])
end
redis.call('HSET', KEYS[3], 'state', 'live')
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('EXPIRE', KEYS[1], ttl)
local reply = {'created'}
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over > 0 then
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, over)) do
    if #reply > over then break end
    if sid ~= ARGV[1] then
      local key = ARGV[8] .. sid
      if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'revoked', 'evicted') end
      redis.call('ZREM', KEYS[1], sid)
      table.insert(reply, sid)
    end
  end
end
return reply
"""

# KEYS: session, token, grace, successor token, index. ARGV: mode (check|rotate), grace_ms,
# ttl_s, [successor refresh, access, expires_in, hash], sid. A live or rotated reply
# carries the session's amr and auth_time (a session from before auth_time: its creation).
PRESENT = NOW + """
local m = redis.call('HMGET', KEYS[1], 'revoked', 'amr', 'auth_time', 'created')
if not m[1] then return {'invalid'} end
local auth_time = m[3] or m[4] or ''
if m[1] ~= '' then return {'revoked', m[1]} end
local t = redis.call('HMGET', KEYS[2], 'state', 'spent_at')
if not t[1] then return {'invalid'} end
local grace_ms = tonumber(ARGV[2])
if t[1] == 'spent' then
  if now_ms - tonumber(t[2]) <= grace_ms then
    local g = redis.call('HMGET', KEYS[3], 'refresh', 'access', 'expires_in')
    if g[1] then return {'replay', g[1], g[2], g[3]} end
  end
  redis.call('HSET', KEYS[1], 'revoked', 'reused')
  redis.call('ZREM', KEYS[5], ARGV[8])
  return {'reused'}
end
if ARGV[1] == 'check' then return {'live', m[2], auth_time} end
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], 'state', 'spent', 'spent_at', now_ms, 'next', ARGV[7])
redis.call('HSET', KEYS[4], 'state', 'live')
redis.call('EXPIRE', KEYS[4], ttl)
if grace_ms > 0 then
  redis.call('HSET', KEYS[3], 'refresh', ARGV[4], 'access', ARGV[5], 'expires_in', ARGV[6])
  redis.call('PEXPIRE', KEYS[3], grace_ms)
end
redis.call('HSET', KEYS[1], 'last_used', now_s)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[5], now_ms + ttl * 1000, ARGV[8])
redis.call('EXPIRE', KEYS[5], ttl)
return {'rotated', m[2], auth_time}
"""

# KEYS: index. ARGV: reason, session key prefix, sid... Reply per sid: 0 unknown, 1 ended
# now, 2 ended before (so a retried request publishes its revocation again).
END = """
local reply = {}
for i = 3, #ARGV do
  local key = ARGV[2] .. ARGV[i]
  local revoked = redis.call('HGET', key, 'revoked')
  redis.call('ZREM', KEYS[1], ARGV[i])
  if not revoked then
    table.insert(reply, 0)
  elseif revoked ~= '' then
    table.insert(reply, 2)
  else
    redis.call('HSET', key, 'revoked', ARGV[1])
    table.insert(reply, 1)
  end
end
return reply
"""

# KEYS: session. ARGV: auth_time, amr. A reauthentication (step-up) on a live session, so
# the tokens its refreshes mint carry it. Reply: 1, or 0 when the session is not live.
REAUTHENTICATED = """
if redis.call('HGET', KEYS[1], 'revoked') ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'auth_time', ARGV[1], 'amr', ARGV[2])
return 1
"""

# KEYS: index. ARGV: session key prefix. Reply: sid, created, last_used, ip, ua, amr, ...
LIST = NOW + """
local reply = {}
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now_ms, '+inf')) do
  local m = redis.call('HMGET', ARGV[1] .. sid, 'created', 'last_used', 'ip', 'ua', 'amr',
                       'revoked')
  if m[1] and m[6] == '' then
    for _, value in ipairs({sid, m[1], m[2], m[3] or '', m[4] or '', m[5] or ''}) do
      table.insert(reply, value)
    end
  end
end
return reply
"""
