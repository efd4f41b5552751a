"""SETTLE, the Lua script that counts a chunk of one tenant's finished requests on Redis, atomically (see
scripts.py for the key layout and the helpers it starts with): each request settled once (its idempotency mark),
its lease portion or reservation taken off, its limit windows, daily usage, month and report rows added, its
ledger entry appended.
"""

from meters.store.records import COUNTER_FIELDS
from meters.store.redis.scripts import DROP

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
    DROP
    + """
-- The caller packs a batch of one tenant's requests into one JSON array of argument arrays (strings, see
-- settle_args.py): one script call per tenant and chunk of a batch, each request settled as before.
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
