"""Lua scripts that make reserve / settle / release atomic on Redis, one tenant's keys each.

Key layout under the store's prefix P (see keys.py): every key of a tenant T carries the hash tag {T},
so each script touches one slot and runs on Redis Cluster (scope ids look like t:<tenant>, k:<key>,
m:<tenant>:<model>; a scope's keys carry the tag of the tenant whose request counts in it):
  P w:{T}<scope>|<window>  hash requests/tokens/spend/gco2e used in a limit window (expires after it)
  P o:{T}<scope>           hash tokens/spend/gco2e held by outstanding reservations
  P r:{T}<id>              hash of one reservation: tenant, scopes ("\\n"-joined), tokens, spend, gco2e;
                           ids are 32 hex digits followed by the tenant id (keys.reservation_tenant)
  P rz:{T}                 zset of the tenant's reservation ids by expiry (ms); expired ones are
                           purged (their holds given back) before every check. KEYS[1] of every script.
  P done:{T}|<request_id>  idempotency mark of a counted request; its value is the request's
                           ledger entry id (for GET /v1/carbon/requests/{id})
  P u:{T}|<day>            hash "<model>\\t<currency>\\t<field>" daily usage ("<model>\\t<field>" before the
                           currency was kept); P ut:{T}|<day> the same per tag
  P um:{T}|<month>         hash gco2e: the tenant's month so far
  P l:{T}                  stream: the usage ledger (trimmed to `ledger_retention_days` at every write)
  Report aggregates (aggregates.MONTH_FIELDS as comma-separated integers, added exactly):
  P ra:{T}|<month>         hash "<model>\t<provider>\t<currency>\t<label id>" -> packed counters
  P ry:{T}|<year>          the same per year, each value followed by the line's first and last month (YYYYMM)
  P rt:{T}|<month>         hash "<tag>\t<model>\t<label id>" -> packed counters
  P rd:{T}|<month>         hash "<day>" -> the tenant's gCO2e of that day (nano-g)
Global keys (the tenant directory under {dir}, the set of tenants with a ledger P{ltenants}, the label
registry P labels:{labels} (label id -> label JSON, HSETNX), the audited imports P aud:{audited}|<month>
(field "versions" and one field per version) and P audm:{audited} (months with an import)) are written
by separate commands, never inside a tenant's script. Amounts are integer strings (tokens, nano-units):
Lua would format large numbers in exponent notation, so a script writes a value it computed only as
`string.format('%d')` of a double below 2^53, or as digits it added itself (SETTLE's sums, settle_script.py).
"""

# The helpers every tenant script starts with (settle_script.py's too).
DROP = """
-- A key of tenant t: P <kind>:{t}<rest> (one hash slot per tenant).
local function tk(p, kind, t, rest) return p .. kind .. ':{' .. t .. '}' .. (rest or '') end
-- The tenant a reservation (or lease) id belongs to: its id is 32 hex digits and the tenant id.
local function owner(id) return string.sub(id, 33) end

local function drop(p, id)
  local t = owner(id)
  local rkey = tk(p, 'r', t, id)
  local r = redis.call('HMGET', rkey, 'scopes', 'tokens', 'spend', 'gco2e')
  if not r[1] then return false end
  redis.call('ZREM', tk(p, 'rz', t), id)
  for scope in string.gmatch(r[1], '[^\\n]+') do
    local okey = tk(p, 'o', t, scope)
    if r[2] ~= '0' then redis.call('HINCRBY', okey, 'tokens', '-' .. r[2]) end
    if r[3] ~= '0' then redis.call('HINCRBY', okey, 'spend', '-' .. r[3]) end
    if r[4] ~= '0' then redis.call('HINCRBY', okey, 'gco2e', '-' .. r[4]) end
  end
  redis.call('DEL', rkey)
  return r[1]
end

-- Take a request's portion (tokens, spend, gco2e strings) off a lease and off its scopes' holds.
local function take(p, id, tokens, spend, gco2e)
  local t = owner(id)
  local rkey = tk(p, 'r', t, id)
  local scopes = redis.call('HGET', rkey, 'scopes')
  if not scopes then return false end
  local amounts = {tokens = tokens, spend = spend, gco2e = gco2e}
  for quantity, amount in pairs(amounts) do
    if amount ~= '0' then
      redis.call('HINCRBY', rkey, quantity, '-' .. amount)
      for scope in string.gmatch(scopes, '[^\\n]+') do
        redis.call('HINCRBY', tk(p, 'o', t, scope), quantity, '-' .. amount)
      end
    end
  end
  -- A lease left holding nothing has handed out everything and every request came back: drop it.
  local left = redis.call('HMGET', rkey, 'tokens', 'spend', 'gco2e')
  if left[1] == '0' and left[2] == '0' and left[3] == '0' then drop(p, id) end
  return scopes
end

local function portion(id)
  return string.match(id, '^([^/]+)/(%d+)/(%d+)/(%d+)$')
end

local function purge(p, tenant, now_ms)
  local zkey = tk(p, 'rz', tenant)
  local expired = redis.call('ZRANGEBYSCORE', zkey, '-inf', now_ms)
  for _, id in ipairs(expired) do drop(p, id) end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now_ms) end
  return zkey
end
"""

# ARGV: prefix, tenant, reservation id, now_ms, expires_ms, tokens, spend, gco2e, minute window,
# minute window expireat, month (for the tenant's month total), n_checks,
# n_checks x (scope, window, quantity, limit, blocks 0/1), n_scopes, n_scopes x scope,
# lease (0, or the most requests' worth a lease may hold), lease share (see portions.lease_size).
# Returns {requests reserved (0 = none, 1, or a lease's count), tenant month gco2e, current of each check...}.
RESERVE = (
    DROP
    + """
-- The caller packs every argument into one JSON array of strings (see encoding.py.packed_args):
-- one argument to encode instead of forty, and the same strings the script always read.
local ARGV = cjson.decode(ARGV[1])
local p, tenant, rid = ARGV[1], ARGV[2], ARGV[3]
local zkey = purge(p, tenant, ARGV[4])
local held = {tokens = ARGV[6], spend = ARGV[7], gco2e = ARGV[8]}
local this = {requests = 1, tokens = tonumber(ARGV[6]), spend = tonumber(ARGV[7]), gco2e = tonumber(ARGV[8])}
local n_checks = tonumber(ARGV[12])
local i = 13
local result = {1, redis.call('HGET', tk(p, 'um', tenant, '|' .. ARGV[11]), 'gco2e') or '0'}
for c = 1, n_checks do
  local scope, window, quantity = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local current = tonumber(redis.call('HGET', tk(p, 'w', tenant, scope .. '|' .. window), quantity) or '0')
  if quantity ~= 'requests' then
    current = current + tonumber(redis.call('HGET', tk(p, 'o', tenant, scope), quantity) or '0')
  end
  result[c + 2] = current
  if ARGV[i + 4] == '1' and current + this[quantity] > tonumber(ARGV[i + 3]) then result[1] = 0 end
  i = i + 5
end
if result[1] == 0 then return result end
local n_scopes = tonumber(ARGV[i])
local lease, share = tonumber(ARGV[i + n_scopes + 1]), tonumber(ARGV[i + n_scopes + 2])
if lease >= 2 then
  -- As many requests' worth as every limit (warnings too) has room for `share` times over.
  local count, j = lease, 13
  for c = 1, n_checks do
    local per = this[ARGV[j + 2]] * share
    if per > 0 then count = math.min(count, math.floor((tonumber(ARGV[j + 3]) - result[c + 2]) / per)) end
    j = j + 5
  end
  if count < 2 then result[1] = 0; return result end
  result[1] = count
  for quantity, amount in pairs(held) do held[quantity] = string.format('%d', count * tonumber(amount)) end
end
local scopes = {}
for s = 1, n_scopes do scopes[s] = ARGV[i + s] end
redis.call('HSET', tk(p, 'r', tenant, rid), 'scopes', table.concat(scopes, '\\n'), 'tenant', tenant,
  'tokens', held.tokens, 'spend', held.spend, 'gco2e', held.gco2e)
redis.call('ZADD', zkey, ARGV[5], rid)
for _, scope in ipairs(scopes) do
  local okey = tk(p, 'o', tenant, scope)
  for quantity, amount in pairs(held) do
    if amount ~= '0' then redis.call('HINCRBY', okey, quantity, amount) end
  end
  local wkey = tk(p, 'w', tenant, scope .. '|' .. ARGV[9])
  redis.call('HINCRBY', wkey, 'requests', result[1])
  redis.call('EXPIREAT', wkey, ARGV[10])
end
return result
"""
)

# ARGV: prefix, reservation id (or a portion id: only that portion is taken off its lease)
RELEASE = (
    DROP
    + """
local row, tokens, spend, gco2e = portion(ARGV[2])
if row then take(ARGV[1], row, tokens, spend, gco2e) else drop(ARGV[1], ARGV[2]) end
return 1
"""
)

# ARGV: prefix, lease id, requests, tokens, spend, gco2e, minute window.
# Gives back what a lease never handed out (`take` drops it once it holds nothing).
RETURN_LEASE = (
    DROP
    + """
local p = ARGV[1]
local scopes = take(p, ARGV[2], ARGV[4], ARGV[5], ARGV[6])
if scopes and ARGV[3] ~= '0' then
  for scope in string.gmatch(scopes, '[^\\n]+') do
    local wkey = tk(p, 'w', owner(ARGV[2]), scope .. '|' .. ARGV[7])
    if redis.call('EXISTS', wkey) == 1 then redis.call('HINCRBY', wkey, 'requests', '-' .. ARGV[3]) end
  end
end
return 1
"""
)

# ARGV: prefix, tenant, now_ms. Returns the number of live reservations.
OUTSTANDING = (
    DROP
    + """
return redis.call('ZCARD', purge(ARGV[1], ARGV[2], ARGV[3]))
"""
)

# KEYS: P aud:{audited}|<month>, P audm:{audited}. ARGV: month, imported_at, import JSON.
# The month's next version (1, 2, ...): a re-import is a restatement, never an overwrite.
ADD_AUDITED = """
local version = redis.call('HINCRBY', KEYS[1], 'versions', 1)
redis.call('HSET', KEYS[1], tostring(version), ARGV[2] .. '\\n' .. ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return version
"""

# ARGV: prefix, key hash. Returns {tenant json, key json} or {} (one round trip on the hot path).
RESOLVE_KEY = """
local key = redis.call('GET', ARGV[1] .. '{dir}key:' .. ARGV[2])
if not key then return {} end
local tenant_id = cjson.decode(key)['tenant_id']
local tenant = redis.call('GET', ARGV[1] .. '{dir}tenant:' .. tenant_id)
if not tenant then return {} end
return {tenant, key}
"""
