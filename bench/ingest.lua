-- wrk script for bench/ingest.py: replays pre-built webhook requests in order, one wrk thread.
--
-- Usage (bench/ingest.py runs it): wrk -t1 -c50 -d10s -s bench/ingest.lua <url> -- <requests file>
-- The requests file holds complete HTTP/1.1 requests, each preceded by its length in bytes on a
-- line of its own. Python builds them (bearer headers, JaaS signatures), so this script only
-- hands them out: wrk's per-request Lua cost stays a table lookup.
--
-- After the run, done() prints one JSON line with what Python needs to verify the run:
-- how many requests were handed out ("sent", in file order, so the first `sent` of the file),
-- the answers by status class, and wrk's latency percentiles in microseconds.

local requests = {}
local count = 0
sent = 0
answered_2xx = 0
answered_other = 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local f = assert(io.open(args[1], "rb"))
   local data = f:read("*a")
   f:close()
   local pos = 1
   while pos <= #data do
      local eol = data:find("\n", pos, true)
      local length = tonumber(data:sub(pos, eol - 1))
      count = count + 1
      requests[count] = data:sub(eol + 1, eol + length)
      pos = eol + length + 1
   end
end

function request()
   sent = sent + 1
   if sent > count then
      -- Out of prepared requests: redeliver from the start (the service stores them once).
      return requests[((sent - 1) % count) + 1]
   end
   return requests[sent]
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      answered_2xx = answered_2xx + 1
   else
      answered_other = answered_other + 1
   end
end

function done(summary, latency, requests_stats)
   local sent_total, ok, other = 0, 0, 0
   for _, thread in ipairs(threads) do
      sent_total = sent_total + thread:get("sent")
      ok = ok + thread:get("answered_2xx")
      other = other + thread:get("answered_other")
   end
   local e = summary.errors
   io.write(string.format(
      'WRK-RESULT {"sent":%d,"completed":%d,"duration_us":%d,"answered_2xx":%d,"answered_other":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      sent_total, summary.requests, summary.duration, ok, other,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
