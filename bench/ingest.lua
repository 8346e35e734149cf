-- wrk script for bench/ingest.py: sends each pre-built webhook request once, in order, then stops.
--
-- Usage (bench/ingest.py runs it):
--   wrk -t1 -c50 -d600s -s bench/ingest.lua <url> -- <requests file> <marker file>
-- The requests file holds complete HTTP/1.1 requests, each preceded by its length in bytes on a
-- line of its own. Python builds them (bearer headers, JaaS signatures), so this script only
-- hands them out: wrk's per-request Lua cost stays a table lookup.
--
-- wrk runs for a duration, not a count, and does not say which answer belongs to which request.
-- So once every prepared request has been handed out, connections that ask for more get a cheap
-- filler (GET of an unknown path, answered 404, never a webhook). When all prepared requests are
-- answered the script creates the marker file and the driver interrupts wrk. If every one of them
-- got a 2xx, every one was acknowledged: the check afterwards is exact. The run's duration is
-- measured here, from the first request handed out to the last answer (CLOCK_MONOTONIC via
-- LuaJIT's ffi), since wrk's own covers its whole -d.
--
-- done() prints one JSON line: requests handed out and answered, answers by class, and wrk's
-- latency percentiles in microseconds (fillers, at most one per connection, are included).

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")

local function now_us()
   ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
   return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local requests = {}
local count = 0
local filler = nil
sent = 0
first_sent_us = 0
last_answer_us = 0
answered_2xx = 0
answered_other = 0
fillers = 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   marker_path = args[2]
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
   filler = wrk.format("GET", "/bench-filler-not-a-webhook")
end

-- wrk calls request() once before the run to inspect the request (script_verify_request in
-- wrk.c); that request is never sent. Answer it without counting it as handed out.
local verified = false

function request()
   if not verified then
      verified = true
      return requests[1]
   end
   if sent < count then
      if sent == 0 then
         first_sent_us = now_us()
      end
      sent = sent + 1
      return requests[sent]
   end
   fillers = fillers + 1
   return filler
end

function response(status, headers, body)
   if status == 404 then
      return -- a filler's answer (prepared requests go to known deployments)
   end
   if status >= 200 and status < 300 then
      answered_2xx = answered_2xx + 1
   else
      answered_other = answered_other + 1
   end
   if answered_2xx + answered_other == count then
      last_answer_us = now_us()
      -- Tell the driver (it then interrupts wrk, whose main thread would otherwise sleep out
      -- the whole -d) and stop this thread.
      local marker = io.open(marker_path, "w")
      marker:close()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests_stats)
   local sent_total, ok, other, filled, first, last = 0, 0, 0, 0, nil, 0
   for _, thread in ipairs(threads) do
      local started = thread:get("first_sent_us")
      if first == nil or started < first then
         first = started
      end
      last = math.max(last, thread:get("last_answer_us"))
      sent_total = sent_total + thread:get("sent")
      ok = ok + thread:get("answered_2xx")
      other = other + thread:get("answered_other")
      filled = filled + thread:get("fillers")
   end
   local e = summary.errors
   io.write(string.format(
      'WRK-RESULT {"sent":%d,"completed":%d,"duration_us":%d,"all_answered_us":%d,"answered_2xx":%d,"answered_other":%d,' ..
      '"fillers":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      sent_total, summary.requests, summary.duration, last > 0 and last - first or 0, ok, other, filled,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
