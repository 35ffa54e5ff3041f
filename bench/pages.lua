-- wrk script: GET /v1/leads?utm_source=linkedin&limit=50 (a source of 9% of leads seeded), following next_cursor
-- for five pages, then from the top again.
local cursor = nil
local page = 0

function request()
   local path = "/v1/leads?utm_source=linkedin&limit=50"
   if cursor then path = path .. "&cursor=" .. cursor end
   return wrk.format("GET", path, {["Authorization"] = "Bearer bench-key-0123456789abcdef"})
end

function response(status, headers, body)
   page = page + 1
   cursor = body:match('"next_cursor":"([0-9A-Z]+)"')
   if page == 5 then cursor = nil; page = 0 end
end

function done(summary, latency, requests)
   io.write(string.format("RPS %.1f\n", summary.requests / (summary.duration / 1e6)))
   io.write(string.format("P50 %.3f\n", latency:percentile(50) / 1000))
   io.write(string.format("P99 %.3f\n", latency:percentile(99) / 1000))
   io.write(string.format("ERRORS %d\n", summary.errors.status + summary.errors.read))
end
