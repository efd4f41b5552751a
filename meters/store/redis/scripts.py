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
Lua would format large numbers in exponent notation, so the scripts never compute a value
they write except by HINCRBY with the caller's strings.
"""

from meters.store.records import COUNTER_FIELDS

_DROP = """
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
    _DROP
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
    _DROP
    + """
local row, tokens, spend, gco2e = portion(ARGV[2])
if row then take(ARGV[1], row, tokens, spend, gco2e) else drop(ARGV[1], ARGV[2]) end
return 1
"""
)

# ARGV: prefix, lease id, requests, tokens, spend, gco2e, minute window.
# Gives back what a lease never handed out (`take` drops it once it holds nothing).
RETURN_LEASE = (
    _DROP
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
    _DROP
    + """
return redis.call('ZCARD', purge(ARGV[1], ARGV[2], ARGV[3]))
"""
)

# ARGV[1]: a JSON array of requests (one tenant), each an array: 1 prefix, 2 tenant, 3 reservation id or '', 4 request id, 5 idempotency ttl s,
# 6 request already counted at reserve '1'/'0', 7 fallback scopes ("\n"-joined),
# 8/9 minute window and expireat, 10/11 day window and expireat, 12/13 month window and expireat,
# 14 tokens, 15 spend, 16 gco2e, 17 day (YYYY-MM-DD), 18 daily usage expireat, 19 month (YYYY-MM),
# 20 model, 21 ledger entry (JSON), 22 ledger MINID, 23 now (ms), 24 n_tags, 25.. the nf usage counters
# (records.COUNTER_FIELDS, in that order; nf = 11: 25..35), then the tags (25 + nf ..).
# Ledger ids follow the store's clock (kept increasing), so MINID trimming and range reads agree.
# After the tags, at 25 + nf + n_tags: monthly aggregates' expireat, provider, currency, label id, packed counters.
# Returns 1 when counted, 0 when this request id was already counted: one per request of the batch, in order.
SETTLE = (
    _DROP
    + """
-- The caller packs a batch of one tenant's requests into one JSON array of argument arrays (strings, see
-- encoding.py.packed_batch): one script call per tenant and chunk of a batch, each request settled as before.
-- The counters of limit windows, daily usage, the month's and the day's totals are summed over the call per
-- key and field and written once at its end (a chunk's requests share windows, days and labels: ~40 fewer
-- calls a request). Sums stay exact: an amount of 15 digits or more is written at once, by HINCRBY with the
-- caller's string; smaller ones are summed as doubles while the sum stays below 2^53, written before it would not.
-- In the order first seen (a script's writes stay deterministic, as replication by commands needs).
local sums, summed, expiry, expiring = {}, {}, {}, {}
local function add(key, field, amount)
  if #amount >= 15 then redis.call('HINCRBY', key, field, amount) return end
  local fields = sums[key]
  if not fields then
    fields = {}
    sums[key] = fields
  end
  if not fields[field] then
    fields[field] = 0
    summed[#summed + 1] = {key, field}
  end
  local sum = fields[field] + tonumber(amount)
  if sum >= 9007199254740992 then
    -- Past 2^53 a double may round: what the call summed so far is written first.
    redis.call('HINCRBY', key, field, string.format('%d', fields[field]))
    sum = tonumber(amount)
  end
  fields[field] = sum
end
local function expire_at(key, at)
  local current = expiry[key]
  if not current then expiring[#expiring + 1] = key end
  if not current or tonumber(at) > tonumber(current) then expiry[key] = at end
end
-- Report rows (packed counters, comma-separated) are summed per key and field over the call too, and merged into
-- the stored row once at the end: the 11 counters added exactly (Lua numbers while a sum stays below 2^53, digit
-- strings past it), a year row's 12th and 13th values (its first and last month, YYYYMM) kept as min and max.
local packs, packed_rows = {}, {}
local function bigadd(x, y)
  if #x < 16 and #y < 16 then return string.format('%d', tonumber(x) + tonumber(y)) end
  local out, carry, i, j = {}, 0, #x, #y
  while i > 0 or j > 0 or carry > 0 do
    local d = carry
    if i > 0 then d = d + tonumber(string.sub(x, i, i)) end
    if j > 0 then d = d + tonumber(string.sub(y, j, j)) end
    out[#out + 1] = d % 10
    carry = math.floor(d / 10)
    i = i - 1
    j = j - 1
  end
  return string.reverse(table.concat(out))
end
local function plus(a, v)
  if type(a) == 'number' and #v < 16 then
    local s = a + tonumber(v)
    if s < 9007199254740992 then return s end
  end
  if type(a) == 'number' then a = string.format('%d', a) end
  return bigadd(a, v)
end
local function counters(inc)
  local values = {}
  for v in string.gmatch(inc, '[^,]+') do values[#values + 1] = v end
  return values
end
-- `values`: a row's counters (digit strings, `counters`); `month` (YYYYMM, a year row's) or nil.
local function addpacked(key, field, values, month)
  local fields = packs[key]
  if not fields then
    fields = {}
    packs[key] = fields
  end
  local acc = fields[field]
  if not acc then
    acc = {}
    fields[field] = acc
    packed_rows[#packed_rows + 1] = {key, field}
  end
  for n, v in ipairs(values) do acc[n] = plus(acc[n] or 0, v) end
  if month then
    local n = #values
    acc[n + 1] = math.min(acc[n + 1] or month, month)
    acc[n + 2] = math.max(acc[n + 2] or month, month)
  end
end
local function flush()
  for _, pair in ipairs(summed) do
    redis.call('HINCRBY', pair[1], pair[2], string.format('%d', sums[pair[1]][pair[2]]))
  end
  -- A row that cannot be read or written (a key of another type) fails alone; the first error is raised once
  -- every other write is made.
  local failed = nil
  for _, pair in ipairs(packed_rows) do
    local acc, out = packs[pair[1]][pair[2]], {}
    for n, v in ipairs(acc) do
      out[n] = (n < 12 and type(v) == 'number') and string.format('%d', v) or v
    end
    local old = redis.pcall('HGET', pair[1], pair[2])
    if type(old) == 'table' and old.err then
      failed = failed or old.err
    else
      if old then
        local a = {}
        for v in string.gmatch(old, '[^,]+') do a[#a + 1] = v end
        for n = 1, #out do
          if n == 12 then
            out[n] = math.min(tonumber(a[n] or out[n]), out[n])
          elseif n == 13 then
            out[n] = math.max(tonumber(a[n] or out[n]), out[n])
          else
            out[n] = bigadd(a[n] or '0', out[n])
          end
        end
      end
      local set = redis.pcall('HSET', pair[1], pair[2], table.concat(out, ','))
      if type(set) == 'table' and set.err then failed = failed or set.err end
    end
  end
  for _, key in ipairs(expiring) do redis.call('EXPIREAT', key, expiry[key]) end
  if failed then error(failed) end
end
local function settle(ARGV)
local p, tenant, rid = ARGV[1], ARGV[2], ARGV[3]
local scopes = nil
local row, tokens, spend, gco2e = portion(rid)
if rid ~= '' and not row then
  scopes = drop(p, rid)
end
local done = tk(p, 'done', tenant, '|' .. ARGV[4])
if not redis.call('SET', done, '1', 'NX', 'EX', ARGV[5]) then return 0 end
-- A portion is taken off its lease only by the settle that counts it.
if row then scopes = take(p, row, tokens, spend, gco2e) end
local windows = {{ARGV[8], ARGV[9]}, {ARGV[10], ARGV[11]}, {ARGV[12], ARGV[13]}}
for scope in string.gmatch(scopes or ARGV[7], '[^\\n]+') do
  local base = tk(p, 'w', tenant, scope .. '|')
  if ARGV[6] ~= '1' then add(base .. ARGV[8], 'requests', '1') end
  for w, window in ipairs(windows) do
    local wkey = base .. window[1]
    if ARGV[14] ~= '0' then add(wkey, 'tokens', ARGV[14]) end
    if w == 3 then
      if ARGV[15] ~= '0' then add(wkey, 'spend', ARGV[15]) end
      if ARGV[16] ~= '0' then add(wkey, 'gco2e', ARGV[16]) end
    end
    expire_at(wkey, window[2])
  end
end
local fields = {__COUNTER_FIELDS__}
local nf = #fields
local function add_usage(key, label)
  for f, field in ipairs(fields) do
    local amount = ARGV[24 + f]
    if amount ~= '0' then add(key, label .. '\\t' .. field, amount) end
  end
  expire_at(key, ARGV[18])
end
-- Daily rows are kept per model (tag) and currency: "<model>\\t<currency>\\t<field>" (records.usage_label).
local currency = '\\t' .. ARGV[25 + nf + tonumber(ARGV[24]) + 2]
add_usage(tk(p, 'u', tenant, '|' .. ARGV[17]), ARGV[20] .. currency)
for t = 1, tonumber(ARGV[24]) do add_usage(tk(p, 'ut', tenant, '|' .. ARGV[17]), ARGV[24 + nf + t] .. currency) end
local mkey = tk(p, 'um', tenant, '|' .. ARGV[19])
if ARGV[16] ~= '0' then add(mkey, 'gco2e', ARGV[16]) end
expire_at(mkey, ARGV[18])
local n_tags = tonumber(ARGV[24])
local base = 25 + nf + n_tags
local label, packed = ARGV[base + 3], ARGV[base + 4]
local tail = '{' .. tenant .. '}|' .. ARGV[19]
local rakey = p .. 'ra:' .. tail
local rafield = ARGV[20] .. '\\t' .. ARGV[base + 1] .. '\\t' .. ARGV[base + 2] .. '\\t' .. label
local values = counters(packed)
addpacked(rakey, rafield, values, nil)
expire_at(rakey, ARGV[base])
local month_number = string.sub(ARGV[19], 1, 4) .. string.sub(ARGV[19], 6, 7)
local rykey = p .. 'ry:{' .. tenant .. '}|' .. string.sub(ARGV[19], 1, 4)
addpacked(rykey, rafield, values, tonumber(month_number))
expire_at(rykey, ARGV[base])
if n_tags > 0 then
  local rtkey = p .. 'rt:' .. tail
  for t = 1, n_tags do addpacked(rtkey, ARGV[24 + nf + t] .. '\\t' .. ARGV[20] .. '\\t' .. label, values, nil) end
  expire_at(rtkey, ARGV[base])
end
local rdkey = p .. 'rd:' .. tail
if ARGV[16] ~= '0' then add(rdkey, ARGV[17], ARGV[16]) end
expire_at(rdkey, ARGV[base])
local lkey = tk(p, 'l', tenant)
local id_ms = tonumber(ARGV[23])
local last = redis.call('XREVRANGE', lkey, '+', '-', 'COUNT', 1)
if last[1] then
  local last_ms = tonumber(string.match(last[1][1], '^(%d+)'))
  if last_ms > id_ms then id_ms = last_ms end
end
local entry = redis.call('XADD', lkey, 'MINID', '~', ARGV[22], string.format('%d-*', id_ms), 'r', ARGV[21])
redis.call('SET', done, entry, 'XX', 'KEEPTTL')
return 1
end
local results = {}
for n, args in ipairs(cjson.decode(ARGV[1])) do
  local ok, result = pcall(settle, args)
  if not ok then
    -- Redis keeps what a failed script wrote: the requests settled before this one get their sums too, as
    -- when every write was made at once (the caller then retries the call's requests one by one).
    flush()
    error(result)
  end
  results[n] = result
end
flush()
return results
"""
).replace("__COUNTER_FIELDS__", ", ".join(f"'{field}'" for field in COUNTER_FIELDS))

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
